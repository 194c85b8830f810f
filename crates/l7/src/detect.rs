//! Protocol detection from the first bytes of a connection, helped by port hints.
//!
//! Detection looks at one chunk at a time, the first of a connection or the first after
//! detection failed on earlier ones. It answers with the protocol and, when the bytes tell,
//! whether they are a request (so the direction of requests, hence the role, follows).

use crate::proto::http2::frame;
use crate::types::{ConnMeta, Direction, Protocol, Transport};

/// What detection decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detected {
    /// The protocol.
    pub protocol: Protocol,
    /// True when the bytes are a request, false when a response, None when they do not say.
    pub is_request: Option<bool>,
}

/// The HTTP/2 connection preface a client sends first.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Methods that start an HTTP/1 request line.
const METHODS: &[&str] = &[
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "PATCH",
    "CONNECT",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "SEARCH",
    "PURGE",
];

/// Whether bytes moving in `dir` are requests, from which side owns the well-known `port`.
fn by_port(meta: &ConnMeta, port: u16, dir: Direction) -> Option<bool> {
    if meta.remote_port == Some(port) {
        Some(dir == Direction::Egress)
    } else if meta.local_port == Some(port) {
        Some(dir == Direction::Ingress)
    } else {
        None
    }
}

/// Detect the protocol of a connection from `bytes` (the start of a chunk moving in `dir`),
/// with `total_len` the syscall length of that chunk.
pub fn detect(bytes: &[u8], total_len: u64, dir: Direction, meta: &ConnMeta) -> Option<Detected> {
    let req = |protocol| {
        Some(Detected {
            protocol,
            is_request: Some(true),
        })
    };
    let resp = |protocol| {
        Some(Detected {
            protocol,
            is_request: Some(false),
        })
    };
    if bytes.is_empty() {
        return None;
    }
    if meta.transport == Transport::Udp {
        return dns_message(bytes).map(|qr| Detected {
            protocol: Protocol::Dns,
            is_request: by_port(meta, 53, dir).or(Some(!qr)),
        });
    }
    if bytes.len() >= 4 && H2_PREFACE.starts_with(&bytes[..bytes.len().min(H2_PREFACE.len())]) {
        return req(Protocol::Http2);
    }
    if http1_request_line(bytes) {
        return req(Protocol::Http1);
    }
    if bytes.starts_with(b"HTTP/1.") {
        return resp(Protocol::Http1);
    }
    if postgres_startup(bytes) {
        return req(Protocol::Postgres);
    }
    if redis_command(bytes) {
        return req(Protocol::Redis);
    }
    if meta.has_port(53) && bytes.len() >= 14 {
        let n = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
        if n >= 12 {
            if let Some(qr) = dns_message(&bytes[2..]) {
                return Some(Detected {
                    protocol: Protocol::Dns,
                    is_request: by_port(meta, 53, dir).or(Some(!qr)),
                });
            }
        }
    }
    if meta.has_port(6379) && redis_reply(bytes) {
        return Some(Detected {
            protocol: Protocol::Redis,
            is_request: by_port(meta, 6379, dir),
        });
    }
    if meta.has_port(5432) {
        if let Some(is_request) = postgres_message(bytes) {
            return Some(Detected {
                protocol: Protocol::Postgres,
                is_request: by_port(meta, 5432, dir).or(Some(is_request)),
            });
        }
    }
    if frame::plausible_frames(bytes, total_len) {
        // Mid-stream HTTP/2: the decoded headers will tell which side asks.
        return Some(Detected {
            protocol: Protocol::Http2,
            is_request: None,
        });
    }
    None
}

/// `METHOD SP` followed by a target: the start of an HTTP/1 request.
pub(crate) fn http1_request_line(b: &[u8]) -> bool {
    METHODS.iter().any(|m| {
        b.len() > m.len() + 1 && b.starts_with(m.as_bytes()) && b[m.len()] == b' ' && {
            let t = b[m.len() + 1];
            t == b'/' || t == b'*' || t.is_ascii_alphabetic()
        }
    })
}

/// A startup message, SSLRequest, GSSENCRequest or CancelRequest.
fn postgres_startup(b: &[u8]) -> bool {
    if b.len() < 8 {
        return false;
    }
    let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let code = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    match code {
        196_608 => (9..=10_000).contains(&len),
        80_877_103 | 80_877_104 => len == 8,
        80_877_102 => len == 16,
        _ => false,
    }
}

/// A typed PostgreSQL message with a sane length: Some(true) for a frontend one.
fn postgres_message(b: &[u8]) -> Option<bool> {
    if b.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
    if !(4..=1 << 24).contains(&len) {
        return None;
    }
    match b[0] {
        b'Q' | b'P' | b'B' | b'E' | b'S' | b'X' | b'p' | b'D' | b'C' | b'H' | b'F' => {
            // 'D', 'C', 'S' are also backend types; a client speaks first, so prefer it.
            Some(true)
        }
        b'R' | b'Z' | b'T' | b'K' | b'1' | b'2' | b'N' => Some(false),
        _ => None,
    }
}

/// `*<n>\r\n$` (an array of bulk strings): a RESP command.
fn redis_command(b: &[u8]) -> bool {
    let Some(rest) = b.strip_prefix(b"*") else {
        return false;
    };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=6).contains(&digits) && rest[digits..].starts_with(b"\r\n$")
}

/// A RESP reply's first byte and line.
fn redis_reply(b: &[u8]) -> bool {
    matches!(
        b[0],
        b'+' | b'-' | b':' | b'$' | b'*' | b'_' | b'%' | b'#' | b','
    ) && b.windows(2).any(|w| w == b"\r\n")
}

/// A DNS header with one question and a standard opcode: Some(QR bit).
fn dns_message(b: &[u8]) -> Option<bool> {
    if b.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([b[2], b[3]]);
    let qd = u16::from_be_bytes([b[4], b[5]]);
    let opcode = (flags >> 11) & 0xf;
    if qd != 1 || opcode > 2 || (flags >> 6) & 1 != 0 {
        return None;
    }
    Some(flags & 0x8000 != 0)
}
