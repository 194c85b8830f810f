//! kestrel's L7 parsers: bytes in, records out. No I/O, no BPF, no clock.
//!
//! The capture side (syscall tracepoints, TLS uprobes) reports each read and write of a
//! connection as a [`Chunk`]: the first bytes copied, the real length moved, the direction
//! seen from the traced process. A [`Tracker`] keeps per-connection state, detects the
//! protocol from the first bytes ([`detect`]), and runs that protocol's parser (one module
//! of [`proto`] each, one trait [`proto::ProtocolParser`]). Finished exchanges come out as
//! [`Record`]s: HTTP/1.x (pipelined requests paired in order), HTTP/2 and gRPC (HPACK with
//! per-direction dynamic tables; a connection first seen mid-stream gives records marked
//! `undecodable`, never a guessed path), DNS, Redis and PostgreSQL. [`route`] turns paths
//! into low-cardinality route templates.
//!
//! What is not turned into a record is counted in [`Stats`]; every buffer and queue has a
//! bound from [`Config`] (see its docs for the per-connection total).
//!
//! It owns parsing and pairing; it knows nothing of where bytes come from, of processes,
//! or of metrics and their names.
//!
//! ```
//! use kestrel_l7::{Chunk, ConnId, Detail, Direction, Tracker};
//!
//! let mut t = Tracker::default();
//! let mut out = Vec::new();
//! let c = ConnId(1);
//! t.feed(&Chunk::whole(c, Direction::Ingress, 1_000, b"GET /users/42?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"), &mut out);
//! t.feed(&Chunk::whole(c, Direction::Egress, 3_000, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), &mut out);
//! let Detail::Http(h) = &out[0].detail else { unreachable!() };
//! assert_eq!((h.path.as_deref(), h.status), (Some("/users/42"), Some(200)));
//! assert_eq!(out[0].duration_ns(), 2_000);
//! assert_eq!(kestrel_l7::route::template("/users/42"), "/users/{id}");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod detect;
pub mod proto;
pub mod record;
pub mod route;
pub mod stats;
pub mod tracker;
pub mod types;

pub use config::Config;
pub use record::{
    Detail, DnsRecord, GrpcInfo, HttpRecord, HttpVersion, Outcome, PgRecord, QueryKind, Record,
    RedisRecord,
};
pub use stats::Stats;
pub use tracker::Tracker;
pub use types::{Chunk, ConnId, ConnMeta, Direction, Protocol, Role, Transport};
