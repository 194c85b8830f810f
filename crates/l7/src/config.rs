//! Options and memory limits of a [`crate::Tracker`].

/// Tracker options. The defaults bound one connection to roughly
/// `2 * max_buffer + max_pending * (3 * max_field + 128)` bytes for HTTP/1, Redis and
/// PostgreSQL, plus for HTTP/2 `2 * max_hpack_table + max_streams * (4 * max_field + 160)`.
/// With the defaults: about 36 KiB (HTTP/1) and about 190 KiB worst case (HTTP/2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Keep query strings, Authorization and Cookie headers (`--capture-sensitive`).
    pub capture_sensitive: bool,
    /// Keep the User-Agent header.
    pub keep_user_agent: bool,
    /// Bytes buffered per direction while a message header is incomplete; a header longer
    /// than this is given up on (counted in [`crate::Stats::oversized`]).
    pub max_buffer: usize,
    /// Requests waiting for their responses per connection (pipelining depth); further
    /// requests are dropped and counted.
    pub max_pending: usize,
    /// Longest kept string field (path, host, error text); longer ones are cut.
    pub max_field: usize,
    /// Concurrent HTTP/2 streams tracked per connection.
    pub max_streams: usize,
    /// Largest HPACK dynamic table tracked per direction (bytes as RFC 7541 counts them); a
    /// peer announcing more makes that direction undecodable.
    pub max_hpack_table: usize,
    /// Connections tracked at once; chunks of further ones are counted and ignored.
    pub max_connections: usize,
    /// Chunks a connection may show before detection gives up on it.
    pub detect_attempts: u32,
    /// Prepared statements remembered per PostgreSQL connection.
    pub max_statements: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capture_sensitive: false,
            keep_user_agent: true,
            max_buffer: 16 * 1024,
            max_pending: 64,
            max_field: 1024,
            max_streams: 128,
            max_hpack_table: 64 * 1024,
            max_connections: 65_536,
            detect_attempts: 16,
            max_statements: 256,
        }
    }
}
