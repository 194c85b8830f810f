//! Counters of what was not turned into records: nothing is dropped silently.

/// Totals over all connections of a [`crate::Tracker`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Chunks fed.
    pub chunks: u64,
    /// Records emitted.
    pub records: u64,
    /// Bytes (by syscall length) that no parser could use: undetected connections, bytes
    /// discarded while resynchronising after an error or a gap.
    pub unparsed_bytes: u64,
    /// Parse errors (malformed messages); each makes the parser resynchronise.
    pub parse_errors: u64,
    /// Headers longer than [`crate::Config::max_buffer`].
    pub oversized: u64,
    /// Messages whose header was cut by capture truncation.
    pub truncated_headers: u64,
    /// Requests dropped because the pending queue was full, or on loss/close without a response.
    pub dropped_requests: u64,
    /// Responses with no pending request to match.
    pub unmatched_responses: u64,
    /// Records the capture side reported lost (`Tracker::lost`).
    pub lost_chunks: u64,
    /// Connections whose protocol was never recognised.
    pub undetected_connections: u64,
    /// Connections not tracked because [`crate::Config::max_connections`] was reached.
    pub untracked_connections: u64,
    /// HTTP/2 records marked undecodable.
    pub undecodable: u64,
    /// HTTP/2 header blocks that failed to decode (HPACK errors, unknown references).
    pub hpack_failures: u64,
    /// HTTP/2 streams not tracked because [`crate::Config::max_streams`] was reached.
    pub dropped_streams: u64,
    /// HTTP/1 response bodies that never came through the capture (sent by sendfile or
    /// splice), finished when the client sent its next request.
    pub unseen_bodies: u64,
    /// Connections whose role hint contradicted their first bytes (the bytes won).
    pub role_conflicts: u64,
    /// Connections closed.
    pub closed_connections: u64,
    /// Connections that upgraded away from a parsed protocol (101, CONNECT, TLS after
    /// SSLRequest); their further bytes are ignored.
    pub upgraded: u64,
}
