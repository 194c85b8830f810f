//! The vocabulary the capture side speaks: connections, directions, roles and chunks.

/// An opaque connection id chosen by the capture side (e.g. a socket cookie, or pid+fd+generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Which way bytes moved, seen from the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Read by the traced process (read, recv*, SSL_read).
    Ingress,
    /// Written by the traced process (write, send*, SSL_write).
    Egress,
}

impl Direction {
    /// The other direction.
    pub fn flip(self) -> Direction {
        match self {
            Direction::Ingress => Direction::Egress,
            Direction::Egress => Direction::Ingress,
        }
    }

    /// 0 for ingress, 1 for egress (an index into per-direction arrays).
    pub(crate) fn index(self) -> usize {
        match self {
            Direction::Ingress => 0,
            Direction::Egress => 1,
        }
    }
}

/// The traced process's role in a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// It accepted the connection / answers requests (requests are read: ingress).
    Server,
    /// It connected / sends requests (requests are written: egress).
    Client,
}

impl Role {
    /// The direction requests travel in for this role.
    pub fn request_direction(self) -> Direction {
        match self {
            Role::Server => Direction::Ingress,
            Role::Client => Direction::Egress,
        }
    }

    /// The role whose requests travel in `dir`.
    pub fn from_request_direction(dir: Direction) -> Role {
        match dir {
            Direction::Ingress => Role::Server,
            Direction::Egress => Role::Client,
        }
    }
}

/// Transport of a connection (DNS needs to know: UDP datagrams vs. TCP length prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// A TCP stream (the default).
    #[default]
    Tcp,
    /// UDP datagrams: every chunk is one whole datagram.
    Udp,
}

/// The application protocols this crate parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.0 and HTTP/1.1.
    Http1,
    /// HTTP/2 (h2c with prior knowledge, or h2 after TLS ALPN), including gRPC.
    Http2,
    /// DNS over UDP or TCP.
    Dns,
    /// Redis RESP (2 and the common parts of 3).
    Redis,
    /// The PostgreSQL frontend/backend protocol, version 3.
    Postgres,
}

impl Protocol {
    /// A short lower-case name (`http1`, `http2`, `dns`, `redis`, `postgres`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
            Protocol::Dns => "dns",
            Protocol::Redis => "redis",
            Protocol::Postgres => "postgres",
        }
    }
}

/// What the capture side knows about a connection when it first sees it. Everything is
/// optional: a chunk for a connection never opened gets the defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnMeta {
    /// TCP (default) or UDP.
    pub transport: Transport,
    /// The traced process's role, when the kernel knows it (accept vs. connect). Leave it
    /// None when unknown: it decides direction for bytes that do not (HTTP/2 mid-stream);
    /// bytes that do (a request line, a status line, a preface) override it.
    pub role: Option<Role>,
    /// The local port (a hint for detection: 53, 5432, 6379...).
    pub local_port: Option<u16>,
    /// The remote port (a hint for detection).
    pub remote_port: Option<u16>,
    /// The protocol, when the capture side knows it (e.g. TLS ALPN said `h2`). Skips detection.
    pub protocol: Option<Protocol>,
}

impl ConnMeta {
    /// True when either port equals `port`.
    pub fn has_port(&self, port: u16) -> bool {
        self.local_port == Some(port) || self.remote_port == Some(port)
    }
}

/// One captured read or write of one connection.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// The connection.
    pub conn: ConnId,
    /// Read (ingress) or written (egress) by the traced process.
    pub direction: Direction,
    /// The role, when the capture side knows it (overrides nothing once a role is settled).
    pub role: Option<Role>,
    /// When the syscall returned, in nanoseconds (any monotonic clock, the same for all chunks).
    pub timestamp_ns: u64,
    /// The first bytes of the payload (at most what the capture copied). May be empty: a
    /// sendfile/splice of `n` bytes is reported as empty bytes with `total_len = n`, and
    /// counts against the body being skipped.
    pub bytes: &'a [u8],
    /// The real length of the read or write; the bytes after `bytes.len()` were not captured
    /// and are skipped by counting. A value below `bytes.len()` is treated as `bytes.len()`.
    pub total_len: u64,
    /// Set by the capture when it copied fewer bytes than the syscall moved (redundant with
    /// `total_len > bytes.len()`, kept for the record of what the kernel said).
    pub truncated: bool,
}

impl<'a> Chunk<'a> {
    /// A whole (untruncated) chunk.
    pub fn whole(
        conn: ConnId,
        direction: Direction,
        timestamp_ns: u64,
        bytes: &'a [u8],
    ) -> Chunk<'a> {
        Chunk {
            conn,
            direction,
            role: None,
            timestamp_ns,
            bytes,
            total_len: bytes.len() as u64,
            truncated: false,
        }
    }

    /// The number of bytes after the captured ones that were not copied.
    pub fn gap(&self) -> u64 {
        self.total_len.saturating_sub(self.bytes.len() as u64)
    }
}
