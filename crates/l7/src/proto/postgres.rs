//! PostgreSQL frontend/backend protocol 3.0.
//!
//! A request is a simple Query, or an extended-protocol batch (Parse/Bind/Execute...) up to
//! its Sync; ReadyForQuery ends it. Requests pair with ReadyForQuery in order, so pipelined
//! batches work. The startup message, SSLRequest/GSSENCRequest and their one-byte answers are
//! skipped; an accepted SSLRequest means TLS follows, and parsing of the connection stops.
//! Message bodies are read only as far as needed (statement text's first keyword, the
//! SQLSTATE) and skipped by length.

use std::collections::{HashMap, VecDeque};

use super::{drive, ByteStream, Ctx, Framed, Interrupt, Parsed, ProtocolParser, Side};
use crate::record::{Detail, Outcome, PgRecord, QueryKind, Record};
use crate::types::{Direction, Protocol};

/// Body bytes of a message looked at (a statement's start, an error's fields).
const LOOK: usize = 1024;

/// PostgreSQL parser state of one connection.
#[derive(Debug, Default)]
pub struct Postgres {
    streams: [ByteStream; 2],
    core: Core,
}

impl Postgres {
    /// A parser at the start of a connection (or in its middle: the startup is optional).
    pub fn new() -> Postgres {
        Postgres::default()
    }
}

#[derive(Debug)]
struct Pending {
    kind: QueryKind,
    extended: bool,
    ts: u64,
    bytes: u64,
}

/// An extended-protocol batch before its Sync.
#[derive(Debug)]
struct Batch {
    kind: Option<QueryKind>,
    ts: u64,
    bytes: u64,
}

#[derive(Debug, Default)]
struct Core {
    frontend_started: bool,
    /// An SSLRequest or GSSENCRequest waits for its one-byte answer.
    encryption_asked: bool,
    stopped: bool,
    pending: VecDeque<Pending>,
    batch: Option<Batch>,
    statements: HashMap<String, QueryKind>,
    portals: HashMap<String, QueryKind>,
    /// Of the response being read.
    tag: Option<String>,
    error: Option<String>,
    resp_bytes: u64,
    /// When the response being read began.
    resp_ts: Option<u64>,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A NUL-terminated string at the start of `b`, and what follows it.
fn cstr(b: &[u8]) -> (String, &[u8]) {
    match b.iter().position(|&c| c == 0) {
        Some(i) => (String::from_utf8_lossy(&b[..i]).into_owned(), &b[i + 1..]),
        None => (String::from_utf8_lossy(b).into_owned(), &[]),
    }
}

impl Core {
    fn push(&mut self, p: Pending, ctx: &mut Ctx<'_>) {
        if self.pending.len() >= ctx.config.max_pending {
            ctx.stats.dropped_requests += 1;
            if let Some(old) = self.pending.pop_front() {
                emit(old, None, None, 0, 0, Outcome::Dropped, ctx);
            }
        }
        self.pending.push_back(p);
    }

    fn remember<V: Copy>(map: &mut HashMap<String, V>, name: String, v: V, cap: usize) {
        if map.len() >= cap && !map.contains_key(&name) {
            // Forget everything rather than track which is oldest: a miss only costs the
            // kind of a later Execute (reported as unknown).
            map.clear();
        }
        map.insert(name, v);
    }

    fn batch(&mut self, start_ts: u64) -> &mut Batch {
        self.batch.get_or_insert(Batch {
            kind: None,
            ts: start_ts,
            bytes: 0,
        })
    }

    fn frontend(&mut self, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        if !self.frontend_started {
            if buf.len() < 8 {
                return Parsed::Incomplete;
            }
            let len = be32(buf) as u64;
            let code = be32(&buf[4..]);
            if matches!(code, 196_608 | 80_877_102 | 80_877_103 | 80_877_104) && len >= 8 {
                if matches!(code, 80_877_103 | 80_877_104) {
                    // The startup message follows the one-byte answer.
                    self.encryption_asked = true;
                } else {
                    self.frontend_started = true;
                }
                return Parsed::Consumed {
                    n: 8,
                    skip: len - 8,
                };
            }
            // Seen mid-connection: typed messages from here.
            self.frontend_started = true;
        }
        if buf.len() < 5 {
            return Parsed::Incomplete;
        }
        let t = buf[0];
        let len = be32(&buf[1..]) as u64;
        if len < 4 {
            return Parsed::Error;
        }
        let body_len = len - 4;
        let look = body_len.min(LOOK as u64) as usize;
        let needs_body = matches!(t, b'Q' | b'P' | b'B' | b'E');
        if needs_body && buf.len() < 5 + look {
            return Parsed::Incomplete;
        }
        let body = &buf[5..5 + if needs_body { look } else { 0 }];
        let total = 1 + len;
        let cap = ctx.config.max_statements;
        match t {
            b'Q' => {
                let (sql, _) = cstr(body);
                self.push(
                    Pending {
                        kind: QueryKind::of(&sql),
                        extended: false,
                        ts: start_ts,
                        bytes: total,
                    },
                    ctx,
                );
            }
            b'P' => {
                let (name, rest) = cstr(body);
                let (sql, _) = cstr(rest);
                let kind = QueryKind::of(&sql);
                Self::remember(&mut self.statements, super::cut(&name, 64), kind, cap);
                let b = self.batch(start_ts);
                b.bytes += total;
            }
            b'B' => {
                let (portal, rest) = cstr(body);
                let (stmt, _) = cstr(rest);
                let stmt = super::cut(&stmt, 64);
                let kind = self
                    .statements
                    .get(&stmt)
                    .copied()
                    .unwrap_or(QueryKind::Unknown);
                Self::remember(&mut self.portals, super::cut(&portal, 64), kind, cap);
                self.batch(start_ts).bytes += total;
            }
            b'E' => {
                let (portal, _) = cstr(body);
                let portal = super::cut(&portal, 64);
                let kind = self
                    .portals
                    .get(&portal)
                    .copied()
                    .unwrap_or(QueryKind::Unknown);
                let b = self.batch(start_ts);
                b.bytes += total;
                b.kind.get_or_insert(kind);
            }
            b'S' => {
                let b = self.batch.take().unwrap_or(Batch {
                    kind: None,
                    ts: start_ts,
                    bytes: 0,
                });
                self.push(
                    Pending {
                        kind: b.kind.unwrap_or(QueryKind::Unknown),
                        extended: true,
                        ts: b.ts,
                        bytes: b.bytes + total,
                    },
                    ctx,
                );
            }
            b'D' | b'C' | b'H' => {
                if let Some(b) = self.batch.as_mut() {
                    b.bytes += total;
                }
            }
            b'X' | b'p' | b'F' | b'd' | b'c' | b'f' => {}
            _ => return Parsed::Error,
        }
        let used = body.len();
        Parsed::Consumed {
            n: 5 + used,
            skip: body_len - used as u64,
        }
    }

    fn backend(&mut self, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        if self.encryption_asked {
            self.encryption_asked = false;
            match buf[0] {
                b'S' | b'G' => {
                    // Encryption accepted: what follows is TLS (or GSSAPI), not ours to read.
                    self.stopped = true;
                    ctx.stats.upgraded += 1;
                    return Parsed::Stop { n: 1 };
                }
                b'N' => return Parsed::Consumed { n: 1, skip: 0 },
                _ => {}
            }
        }
        if buf.len() < 5 {
            return Parsed::Incomplete;
        }
        let t = buf[0];
        let len = be32(&buf[1..]) as u64;
        if len < 4 {
            return Parsed::Error;
        }
        let body_len = len - 4;
        let look = body_len.min(LOOK as u64) as usize;
        let needs_body = matches!(t, b'C' | b'E');
        if needs_body && buf.len() < 5 + look {
            return Parsed::Incomplete;
        }
        let body = &buf[5..5 + if needs_body { look } else { 0 }];
        self.resp_bytes = self.resp_bytes.saturating_add(1 + len);
        if self.resp_ts.is_none() && !matches!(t, b'N' | b'A' | b'S') {
            // Notices, notifications and parameter changes may come unasked.
            self.resp_ts = Some(start_ts);
        }
        match t {
            b'C' => {
                let (tag, _) = cstr(body);
                self.tag = Some(super::cut(&tag, 64));
            }
            b'E' => {
                let mut rest = body;
                while let Some((&field, after)) = rest.split_first() {
                    if field == 0 {
                        break;
                    }
                    let (value, after) = cstr(after);
                    if field == b'C' {
                        self.error = Some(super::cut(&value, 16));
                    }
                    rest = after;
                }
                if self.error.is_none() {
                    self.error = Some("?????".into());
                }
            }
            b'Z' => {
                let bytes = std::mem::take(&mut self.resp_bytes);
                let tag = self.tag.take();
                let error = self.error.take();
                let began = self.resp_ts.take().unwrap_or(start_ts);
                // An answer that began before the request was seen does not answer it.
                let front_ok = self.pending.front().is_some_and(|p| p.ts <= began);
                let next = if front_ok {
                    self.pending.pop_front()
                } else {
                    None
                };
                match next {
                    Some(p) => emit(p, tag, error, bytes, ctx.ts, Outcome::Complete, ctx),
                    // The ReadyForQuery after startup answers no request.
                    None => {
                        if tag.is_some() || error.is_some() {
                            ctx.stats.unmatched_responses += 1;
                        }
                    }
                }
            }
            b'R' | b'S' | b'K' | b'T' | b'D' | b'I' | b'1' | b'2' | b'3' | b'N' | b'n' | b's'
            | b't' | b'A' | b'G' | b'H' | b'W' | b'd' | b'c' | b'V' | b'v' => {}
            _ => return Parsed::Error,
        }
        let used = body.len();
        Parsed::Consumed {
            n: 5 + used,
            skip: body_len - used as u64,
        }
    }

    fn flush(&mut self, outcome: Outcome, ctx: &mut Ctx<'_>) {
        while let Some(p) = self.pending.pop_front() {
            if outcome == Outcome::Dropped {
                ctx.stats.dropped_requests += 1;
            }
            emit(p, None, None, 0, 0, outcome, ctx);
        }
    }
}

fn emit(
    p: Pending,
    tag: Option<String>,
    error: Option<String>,
    resp_bytes: u64,
    end: u64,
    outcome: Outcome,
    ctx: &mut Ctx<'_>,
) {
    ctx.emit(Record {
        conn: ctx.conn,
        role: ctx.role(),
        start_ns: p.ts,
        end_ns: end.max(p.ts),
        request_bytes: p.bytes,
        response_bytes: resp_bytes,
        outcome,
        detail: Detail::Postgres(PgRecord {
            kind: p.kind,
            command_tag: tag,
            error_code: error,
            extended: p.extended,
        }),
    });
}

impl Framed for Core {
    fn parse(&mut self, side: Side, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        match side {
            Side::Request => self.frontend(buf, start_ts, ctx),
            Side::Response => self.backend(buf, start_ts, ctx),
        }
    }

    fn skip_done(&mut self, _side: Side, _ctx: &mut Ctx<'_>) {}

    fn interrupted(
        &mut self,
        side: Side,
        _: &[u8],
        _: u64,
        why: Interrupt,
        _: u64,
        ctx: &mut Ctx<'_>,
    ) {
        if why == Interrupt::GapAtBoundary {
            // Unseen messages: pairing with ReadyForQuery is lost.
            self.flush(Outcome::Dropped, ctx);
            if side == Side::Response {
                self.tag = None;
                self.error = None;
                self.resp_bytes = 0;
                self.resp_ts = None;
            }
        }
    }

    fn can_start(&self, side: Side, data: &[u8]) -> bool {
        if data.len() < 5 {
            return false;
        }
        let len = be32(&data[1..]);
        let ok_len = (4..1 << 30).contains(&len);
        ok_len
            && match side {
                Side::Request => b"QPBESDCHXpFdcf".contains(&data[0]),
                Side::Response => b"RSKTDIC123NnstAGHWdcEZVv".contains(&data[0]),
            }
    }
}

impl ProtocolParser for Postgres {
    fn protocol(&self) -> Protocol {
        Protocol::Postgres
    }

    fn feed(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], gap: u64) {
        let side = ctx.side(dir);
        drive(
            &mut self.streams[side.index()],
            &mut self.core,
            side,
            data,
            gap,
            ctx,
        );
        if self.core.stopped {
            if let Some((rest, gap)) = self.streams[side.index()].take_leftover() {
                ctx.stats.unparsed_bytes += rest.len() as u64 + gap;
            }
            for s in &mut self.streams {
                s.stop();
            }
        }
    }

    fn lost(&mut self, ctx: &mut Ctx<'_>) {
        for s in &mut self.streams {
            s.reset();
        }
        self.core.frontend_started = true;
        self.core.batch = None;
        self.core.flush(Outcome::Dropped, ctx);
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        self.core.flush(Outcome::Closed, ctx);
        for s in &mut self.streams {
            s.stop();
        }
    }

    fn memory(&self) -> usize {
        let names =
            |m: &HashMap<String, QueryKind>| m.keys().map(|k| k.capacity() + 40).sum::<usize>();
        self.streams.iter().map(ByteStream::memory).sum::<usize>()
            + names(&self.core.statements)
            + names(&self.core.portals)
            + self.core.pending.len() * std::mem::size_of::<Pending>()
    }
}
