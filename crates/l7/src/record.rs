//! The records parsers emit: one per request/response exchange.

use crate::types::{ConnId, Protocol, Role};

/// One finished exchange (request and its response, or a request cut by close or loss).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The connection.
    pub conn: ConnId,
    /// The traced process's role.
    pub role: Role,
    /// When the request's first byte was seen (ns).
    pub start_ns: u64,
    /// When the response's last byte was seen (ns); equals `start_ns` with no response.
    pub end_ns: u64,
    /// Bytes of the request on the wire (headers and body; counted from the syscall lengths).
    pub request_bytes: u64,
    /// Bytes of the response on the wire (0 without a response).
    pub response_bytes: u64,
    /// How the exchange ended.
    pub outcome: Outcome,
    /// What the protocol says.
    pub detail: Detail,
}

impl Record {
    /// `end_ns - start_ns`.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// True when the exchange failed, by the OpenTelemetry semantic conventions: HTTP 5xx on
    /// the server side, 4xx or 5xx on the client side, a gRPC status other than OK, a reset
    /// stream, a DNS rcode other than NOERROR, a Redis error reply, a PostgreSQL error.
    /// An exchange without a response is not counted as an error here (see `outcome`).
    pub fn is_error(&self) -> bool {
        match &self.detail {
            Detail::Http(h) => {
                if let Some(g) = h.grpc.as_ref().and_then(|g| g.status) {
                    return g != 0;
                }
                let limit = if self.role == Role::Server { 500 } else { 400 };
                h.status.is_some_and(|s| s >= limit) || self.outcome == Outcome::Reset
            }
            Detail::Dns(d) => d.rcode.is_some_and(|r| r != 0),
            Detail::Redis(r) => r.error.is_some(),
            Detail::Postgres(p) => p.error_code.is_some(),
        }
    }

    /// The protocol of this record.
    pub fn protocol(&self) -> Protocol {
        match &self.detail {
            Detail::Http(h) if h.version == HttpVersion::Http2 => Protocol::Http2,
            Detail::Http(_) => Protocol::Http1,
            Detail::Dns(_) => Protocol::Dns,
            Detail::Redis(_) => Protocol::Redis,
            Detail::Postgres(_) => Protocol::Postgres,
        }
    }
}

/// How an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Request and response both seen whole (bodies counted by length).
    Complete,
    /// Part of the exchange was not seen (capture truncation inside headers, a gap where a
    /// length was expected, an oversized header): fields present are right, some may be absent.
    Partial,
    /// The connection closed before the response ended (close-delimited responses that
    /// end at close are `Complete`).
    Closed,
    /// The request was dropped (queue full or records lost); no response was matched.
    Dropped,
    /// The stream was reset (HTTP/2 RST_STREAM).
    Reset,
}

/// Protocol-specific fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    /// HTTP/1.x or HTTP/2 (and gRPC over it).
    Http(HttpRecord),
    /// DNS.
    Dns(DnsRecord),
    /// Redis.
    Redis(RedisRecord),
    /// PostgreSQL.
    Postgres(PgRecord),
}

/// HTTP version of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    #[default]
    Http11,
    /// HTTP/2.
    Http2,
}

/// An HTTP request and response.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HttpRecord {
    /// Version (of the request; HTTP/1.0 when only a 1.0 response was seen).
    pub version: HttpVersion,
    /// The method (`GET`...), None when not seen or undecodable.
    pub method: Option<String>,
    /// The path, query string stripped unless `capture_sensitive`; at most
    /// [`crate::Config::max_field`] bytes.
    pub path: Option<String>,
    /// The final status (never a 1xx unless the exchange switched protocols: 101).
    pub status: Option<u16>,
    /// Host header or `:authority`.
    pub host: Option<String>,
    /// User-Agent, when [`crate::Config::keep_user_agent`] is set.
    pub user_agent: Option<String>,
    /// The response's content-type (HTTP/2 only; request's when the response has none).
    pub content_type: Option<String>,
    /// Authorization header, kept only with `capture_sensitive`.
    pub authorization: Option<String>,
    /// Cookie header, kept only with `capture_sensitive`.
    pub cookie: Option<String>,
    /// gRPC fields, for `content-type: application/grpc*`.
    pub grpc: Option<GrpcInfo>,
    /// HTTP/2 stream id (0 for HTTP/1).
    pub stream_id: u32,
    /// HTTP/2 only: the headers could not be decoded (connection first seen mid-stream, or
    /// compression state lost): method/path/status are None rather than possibly wrong.
    pub undecodable: bool,
    /// RST_STREAM error code, when the stream was reset.
    pub reset_code: Option<u32>,
}

/// gRPC fields of an HTTP/2 exchange.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GrpcInfo {
    /// `package.Service` from `/package.Service/Method`.
    pub service: Option<String>,
    /// `Method` from `/package.Service/Method`.
    pub method: Option<String>,
    /// `grpc-status` from trailers (or a trailers-only response).
    pub status: Option<u32>,
}

/// A DNS query and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRecord {
    /// The message id.
    pub id: u16,
    /// The first question's name, dotted, lower-cased as sent (no trailing dot; `.` for root).
    pub name: String,
    /// The first question's type (1 A, 28 AAAA, ...).
    pub qtype: u16,
    /// The response code (0 NOERROR, 3 NXDOMAIN...), None when no answer was seen.
    pub rcode: Option<u8>,
    /// Number of answer records.
    pub answers: u16,
}

/// A Redis command and its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisRecord {
    /// The command name, upper-cased (`GET`, `SET`...), at most 32 bytes.
    pub command: String,
    /// The error reply (`ERR unknown command ...`), at most `max_field` bytes; None for success.
    pub error: Option<String>,
}

/// What a SQL statement does: its first keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// SELECT (and the read-only forms the first keyword calls SELECT).
    Select,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// BEGIN or START.
    Begin,
    /// COMMIT or END.
    Commit,
    /// ROLLBACK or ABORT.
    Rollback,
    /// Anything else (WITH, COPY, SET, CREATE...).
    Other,
    /// The statement text was not seen (a named prepared statement parsed before capture).
    Unknown,
}

impl QueryKind {
    /// The kind of a statement, from its first keyword (comments and whitespace skipped).
    pub fn of(sql: &str) -> QueryKind {
        let mut s = sql;
        loop {
            s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
            if let Some(rest) = s.strip_prefix("--") {
                s = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
            } else if let Some(rest) = s.strip_prefix("/*") {
                s = rest.split_once("*/").map(|(_, r)| r).unwrap_or("");
            } else {
                break;
            }
        }
        let word: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .take(16)
            .collect::<String>()
            .to_ascii_uppercase();
        match word.as_str() {
            "SELECT" | "VALUES" | "TABLE" | "SHOW" => QueryKind::Select,
            "INSERT" => QueryKind::Insert,
            "UPDATE" => QueryKind::Update,
            "DELETE" => QueryKind::Delete,
            "BEGIN" | "START" => QueryKind::Begin,
            "COMMIT" | "END" => QueryKind::Commit,
            "ROLLBACK" | "ABORT" => QueryKind::Rollback,
            _ => QueryKind::Other,
        }
    }

    /// Upper-case name (`SELECT`, ..., `OTHER`, `UNKNOWN`).
    pub fn name(self) -> &'static str {
        match self {
            QueryKind::Select => "SELECT",
            QueryKind::Insert => "INSERT",
            QueryKind::Update => "UPDATE",
            QueryKind::Delete => "DELETE",
            QueryKind::Begin => "BEGIN",
            QueryKind::Commit => "COMMIT",
            QueryKind::Rollback => "ROLLBACK",
            QueryKind::Other => "OTHER",
            QueryKind::Unknown => "UNKNOWN",
        }
    }
}

/// A PostgreSQL request: a simple Query, or an extended-protocol batch up to Sync, ended by
/// ReadyForQuery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgRecord {
    /// The first statement's kind.
    pub kind: QueryKind,
    /// The last CommandComplete tag (`SELECT 3`, `INSERT 0 1`), at most 64 bytes.
    pub command_tag: Option<String>,
    /// The SQLSTATE of an ErrorResponse (`42P01`...), None for success.
    pub error_code: Option<String>,
    /// True for the extended protocol (Parse/Bind/Execute).
    pub extended: bool,
}
