//! Options and memory limits of a [`crate::Tracker`].

/// Tracker options and the limits that bound memory.
///
/// Per connection, worst case (every string at `max_field`, every queue full):
/// - HTTP/1: `2 * max_buffer + max_pending * (6 * max_field + 200)` — 137 KiB with the
///   defaults; Redis and PostgreSQL keep less per pending request (no strings but a command
///   name; PostgreSQL adds `2 * max_statements * ~100` for statement and portal names).
/// - HTTP/2: `4 * max_buffer` (two frame buffers, two CONTINUATION blocks)
///   `+ 2 * (max_hpack_table + max_hpack_table / 32 * 56)` (tables and their entry slots)
///   `+ max_streams * (8 * max_field + 500)` — about 650 KiB with the defaults.
/// - DNS: `max_pending * (max_field + 64)`.
///
/// Typical connections hold a few hundred bytes between messages (a large buffer is given
/// back once empty; [`crate::Tracker::conn_memory`] reports the figure). The
/// [`crate::Tracker`] holds at most `max_connections` connections.
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
            max_pending: 32,
            max_field: 512,
            max_streams: 128,
            max_hpack_table: 16 * 1024,
            max_connections: 65_536,
            detect_attempts: 16,
            max_statements: 256,
        }
    }
}
