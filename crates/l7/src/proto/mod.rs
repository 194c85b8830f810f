//! Protocol parsers: one module per protocol, each implementing [`ProtocolParser`].
//!
//! The tracker hands a parser the bytes of one chunk (`data`, what was captured) followed by
//! `gap` bytes that the syscall moved but the capture did not copy. Parsers count gaps
//! against body lengths and treat a gap inside a header as truncation.

pub mod dns;
pub mod http1;
pub mod http2;
pub mod postgres;
pub mod redis;

use crate::config::Config;
use crate::record::Record;
use crate::stats::Stats;
use crate::types::{ConnId, Direction, Protocol, Role, Transport};

/// What a parser sees of its connection while handling one event.
pub struct Ctx<'a> {
    /// The connection.
    pub conn: ConnId,
    /// The timestamp of the chunk (or of the close) being handled.
    pub ts: u64,
    /// The direction requests travel in, once known (from the role hint or detection);
    /// HTTP/2 may settle it itself from the headers it decodes.
    pub request_dir: Option<Direction>,
    /// The transport (DNS frames TCP with length prefixes).
    pub transport: Transport,
    /// Options and limits.
    pub config: &'a Config,
    /// Counters.
    pub stats: &'a mut Stats,
    /// Where records go.
    pub out: &'a mut Vec<Record>,
}

impl Ctx<'_> {
    /// The traced process's role (client when nothing tells).
    pub fn role(&self) -> Role {
        self.request_dir
            .map(Role::from_request_direction)
            .unwrap_or(Role::Client)
    }

    /// Which side `dir` is (requests when nothing tells).
    pub(crate) fn side(&self, dir: Direction) -> Side {
        match self.request_dir {
            Some(r) if r != dir => Side::Response,
            _ => Side::Request,
        }
    }

    /// Emit a record.
    pub fn emit(&mut self, r: Record) {
        self.stats.records += 1;
        self.out.push(r);
    }

    /// Cut `s` to at most `max_field` bytes on a character boundary.
    pub(crate) fn field(&self, s: &str) -> String {
        cut(s, self.config.max_field)
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The one shape of a protocol parser: per-connection state fed chunk by chunk.
pub trait ProtocolParser: Send {
    /// The protocol parsed.
    fn protocol(&self) -> Protocol;
    /// One chunk: `data` captured, then `gap` bytes not captured.
    fn feed(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], gap: u64);
    /// The capture lost some chunks of this connection: stream positions are unknown.
    fn lost(&mut self, ctx: &mut Ctx<'_>);
    /// The connection closed: finish close-delimited messages, flush what is pending.
    fn close(&mut self, ctx: &mut Ctx<'_>);
    /// Bytes of heap this parser holds (approximate, for the memory bound).
    fn memory(&self) -> usize;
    /// After a feed: the connection switched protocol (HTTP/1 `Upgrade: h2c`). Returns the
    /// parser to continue with, and the bytes of the last chunk (direction, bytes, gap) that
    /// belong to it.
    fn upgrade(&mut self) -> Option<Upgrade> {
        None
    }
}

/// A parser taking over a connection, and the rest of the chunk that switched it.
pub struct Upgrade {
    /// The new parser.
    pub parser: Box<dyn ProtocolParser>,
    /// Direction of the rest.
    pub direction: Direction,
    /// Captured bytes after the switching message.
    pub bytes: Vec<u8>,
    /// Uncaptured bytes after them.
    pub gap: u64,
}

/// A new parser for `protocol`.
pub fn new_parser(protocol: Protocol) -> Box<dyn ProtocolParser> {
    match protocol {
        Protocol::Http1 => Box::new(http1::Http1::new()),
        Protocol::Http2 => Box::new(http2::Http2::new()),
        Protocol::Dns => Box::new(dns::Dns::new()),
        Protocol::Redis => Box::new(redis::Redis::new()),
        Protocol::Postgres => Box::new(postgres::Postgres::new()),
    }
}

/// Request or response side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

impl Side {
    pub(crate) fn index(self) -> usize {
        match self {
            Side::Request => 0,
            Side::Response => 1,
        }
    }
}

/// What a framed parser made of the start of its buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Not enough bytes yet.
    Incomplete,
    /// `n` buffered bytes used; then skip `skip` more (a body), calling `skip_done` after.
    Consumed { n: usize, skip: u64 },
    /// Malformed: resynchronise at the next chunk.
    Error,
    /// Stop parsing this side for good after `n` bytes (upgrade, TLS); what follows is kept
    /// for [`ByteStream::take_leftover`].
    Stop { n: usize },
}

/// Why a message was cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// Uncaptured bytes where a header was being read (`buf` holds what was seen).
    Truncated,
    /// Uncaptured bytes began a new message (none of it seen).
    GapAtBoundary,
    /// The header outgrew the buffer.
    Oversized,
    /// A parse error.
    Error,
}

/// A length-framed parser driven by [`drive`]: it parses headers from a bounded buffer and
/// asks for bodies to be skipped by count.
pub(crate) trait Framed {
    /// Parse the message starting at `buf[0]`, first seen at `start_ts`.
    fn parse(&mut self, side: Side, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed;
    /// The skip asked for by the last `Consumed` ended (at `ctx.ts`).
    fn skip_done(&mut self, side: Side, ctx: &mut Ctx<'_>);
    /// The current message was cut: `buf` holds its captured start (maybe empty), `more`
    /// counts the bytes of the same chunk after it that are lost.
    fn interrupted(
        &mut self,
        side: Side,
        buf: &[u8],
        more: u64,
        why: Interrupt,
        start_ts: u64,
        ctx: &mut Ctx<'_>,
    );
    /// After an interruption: may a message start at the beginning of `data`? Chunks that
    /// cannot start one are skipped (counted) until one can.
    fn can_start(&self, side: Side, data: &[u8]) -> bool;
}

/// One direction's unparsed bytes and pending skip.
#[derive(Debug, Default)]
pub(crate) struct ByteStream {
    buf: Vec<u8>,
    skip: u64,
    start_ts: u64,
    stopped: bool,
    resync: bool,
    /// What followed the message that stopped this direction (its bytes and gap).
    leftover: Option<(Vec<u8>, u64)>,
}

impl ByteStream {
    /// True at a message boundary (nothing buffered, nothing to skip).
    pub(crate) fn idle(&self) -> bool {
        self.buf.is_empty() && self.skip == 0
    }

    /// Bytes still to skip.
    pub(crate) fn skip_left(&self) -> u64 {
        self.skip
    }

    /// Forget the position (after loss): the next chunk starts a message.
    pub(crate) fn reset(&mut self) {
        self.buf = Vec::new();
        self.skip = 0;
    }

    /// Give back a large buffer once it is empty (a long header must not pin memory).
    fn shrink(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 4096 {
            self.buf = Vec::new();
        }
    }

    /// What followed the message that stopped this direction, once.
    pub(crate) fn take_leftover(&mut self) -> Option<(Vec<u8>, u64)> {
        self.leftover.take()
    }

    /// Stop this direction for good.
    pub(crate) fn stop(&mut self) {
        self.reset();
        self.stopped = true;
    }

    /// Heap bytes held.
    pub(crate) fn memory(&self) -> usize {
        self.buf.capacity()
    }
}

/// Feed one chunk of one side through a framed parser.
pub(crate) fn drive<P: Framed>(
    s: &mut ByteStream,
    p: &mut P,
    side: Side,
    mut data: &[u8],
    gap: u64,
    ctx: &mut Ctx<'_>,
) {
    if s.stopped {
        ctx.stats.unparsed_bytes += data.len() as u64 + gap;
        return;
    }
    let max = ctx.config.max_buffer.max(64);
    if s.resync {
        if !s.idle() || p.can_start(side, data) {
            s.resync = false;
        } else {
            ctx.stats.unparsed_bytes += data.len() as u64 + gap;
            return;
        }
    }
    loop {
        if s.skip > 0 {
            // Skip from what is buffered first, then from the chunk.
            let from_buf = (s.skip.min(s.buf.len() as u64)) as usize;
            if from_buf > 0 {
                s.buf.drain(..from_buf);
                s.skip -= from_buf as u64;
            }
            let from_data = (s.skip.min(data.len() as u64)) as usize;
            data = &data[from_data..];
            s.skip -= from_data as u64;
            if s.skip > 0 {
                break;
            }
            p.skip_done(side, ctx);
            s.start_ts = ctx.ts;
            continue;
        }
        if s.buf.is_empty() && !data.is_empty() {
            // Fast path: a message starts at the chunk's start, parse it in place (no copy).
            s.start_ts = ctx.ts;
            let view = &data[..data.len().min(max)];
            match p.parse(side, view, s.start_ts, ctx) {
                Parsed::Incomplete => {
                    if view.len() >= max {
                        ctx.stats.oversized += 1;
                        let more = (data.len() - view.len()) as u64 + gap;
                        s.resync = true;
                        p.interrupted(side, view, more, Interrupt::Oversized, s.start_ts, ctx);
                        ctx.stats.unparsed_bytes += view.len() as u64 + more;
                        return;
                    }
                    // Shorter than the buffer: keep it for the next chunk.
                    s.buf.extend_from_slice(view);
                    break;
                }
                Parsed::Consumed { n, skip } if n > 0 || skip > 0 => {
                    data = &data[n.min(data.len())..];
                    s.skip = skip;
                    continue;
                }
                Parsed::Consumed { .. } | Parsed::Error => {
                    ctx.stats.parse_errors += 1;
                    s.resync = true;
                    p.interrupted(side, data, gap, Interrupt::Error, s.start_ts, ctx);
                    ctx.stats.unparsed_bytes += data.len() as u64 + gap;
                    return;
                }
                Parsed::Stop { n } => {
                    let rest = data[n.min(data.len())..].to_vec();
                    s.stop();
                    s.leftover = Some((rest, gap));
                    return;
                }
            }
        }
        if !data.is_empty() {
            if s.buf.is_empty() {
                s.start_ts = ctx.ts;
            }
            let take = max.saturating_sub(s.buf.len()).min(data.len());
            s.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        if s.buf.is_empty() {
            break;
        }
        match p.parse(side, &s.buf, s.start_ts, ctx) {
            Parsed::Incomplete => {
                if s.buf.len() >= max {
                    ctx.stats.oversized += 1;
                    let buf = std::mem::take(&mut s.buf);
                    let more = data.len() as u64 + gap;
                    s.resync = true;
                    p.interrupted(side, &buf, more, Interrupt::Oversized, s.start_ts, ctx);
                    ctx.stats.unparsed_bytes += buf.len() as u64 + more;
                    return;
                }
                if data.is_empty() {
                    break;
                }
            }
            Parsed::Consumed { n, skip } => {
                let n = n.min(s.buf.len());
                s.buf.drain(..n);
                s.skip = skip;
                if skip == 0 {
                    s.start_ts = ctx.ts;
                }
                if n == 0 && skip == 0 {
                    // A parser that consumes nothing would loop: treat as an error.
                    return error(s, p, side, data.len() as u64 + gap, ctx);
                }
            }
            Parsed::Error => return error(s, p, side, data.len() as u64 + gap, ctx),
            Parsed::Stop { n } => {
                let mut rest = s.buf.get(n..).unwrap_or(&[]).to_vec();
                rest.extend_from_slice(data);
                s.stop();
                s.leftover = Some((rest, gap));
                return;
            }
        }
    }
    if gap == 0 {
        s.shrink();
        return;
    }
    if s.skip >= gap {
        s.skip -= gap;
        if s.skip == 0 {
            p.skip_done(side, ctx);
            s.start_ts = ctx.ts;
        }
        return;
    }
    let mut rest = gap;
    if s.skip > 0 {
        rest -= s.skip;
        s.skip = 0;
        p.skip_done(side, ctx);
    }
    ctx.stats.unparsed_bytes += rest;
    let buf = std::mem::take(&mut s.buf);
    s.resync = true;
    if buf.is_empty() {
        p.interrupted(side, &buf, rest, Interrupt::GapAtBoundary, ctx.ts, ctx);
    } else {
        ctx.stats.truncated_headers += 1;
        p.interrupted(side, &buf, rest, Interrupt::Truncated, s.start_ts, ctx);
    }
}

/// A parse error: drop the buffer and the rest of the chunk, resynchronise later.
fn error<P: Framed>(s: &mut ByteStream, p: &mut P, side: Side, more: u64, ctx: &mut Ctx<'_>) {
    ctx.stats.parse_errors += 1;
    let buf = std::mem::take(&mut s.buf);
    s.resync = true;
    p.interrupted(side, &buf, more, Interrupt::Error, s.start_ts, ctx);
    ctx.stats.unparsed_bytes += buf.len() as u64 + more;
}

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade")
            .field("protocol", &self.parser.protocol())
            .field("direction", &self.direction)
            .field("bytes", &self.bytes.len())
            .field("gap", &self.gap)
            .finish()
    }
}
