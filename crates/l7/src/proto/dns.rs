//! DNS over UDP (one datagram per chunk) and TCP (two-byte length prefixes).
//!
//! Queries wait by id; the response with the same id (and question name) ends the exchange.
//! Queries unanswered for [`TIMEOUT_NS`] are emitted as dropped, so a socket never closed
//! does not keep them.

use std::collections::VecDeque;

use super::{drive, ByteStream, Ctx, Framed, Interrupt, Parsed, ProtocolParser, Side};
use crate::record::{Detail, DnsRecord, Outcome, Record};
use crate::types::{Direction, Protocol, Transport};

/// A query with no answer after this long is given up (10 s).
pub const TIMEOUT_NS: u64 = 10_000_000_000;

/// Bytes of a TCP message looked at (header and question fit; the rest is skipped).
const HEAD: usize = 512;

/// Most compression pointers followed in one name (loops end here).
const MAX_JUMPS: usize = 16;

/// DNS parser state of one socket or connection.
#[derive(Debug, Default)]
pub struct Dns {
    streams: [ByteStream; 2],
    core: Core,
}

impl Dns {
    /// A parser with nothing pending.
    pub fn new() -> Dns {
        Dns::default()
    }
}

#[derive(Debug)]
struct Pending {
    id: u16,
    name: String,
    qtype: u16,
    ts: u64,
    bytes: u64,
}

#[derive(Debug, Default)]
struct Core {
    pending: VecDeque<Pending>,
}

/// A parsed DNS header and first question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Id.
    pub id: u16,
    /// QR bit: a response.
    pub response: bool,
    /// RCODE.
    pub rcode: u8,
    /// ANCOUNT.
    pub answers: u16,
    /// First question name (dotted, lower case; `.` for the root).
    pub name: String,
    /// First question type.
    pub qtype: u16,
}

/// Parse the header and first question of a DNS message.
pub fn parse_message(b: &[u8]) -> Option<Message> {
    if b.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([b[0], b[1]]);
    let flags = u16::from_be_bytes([b[2], b[3]]);
    let qd = u16::from_be_bytes([b[4], b[5]]);
    let answers = u16::from_be_bytes([b[6], b[7]]);
    if qd == 0 {
        return None;
    }
    let (name, end) = read_name(b, 12)?;
    let qtype = u16::from_be_bytes([*b.get(end)?, *b.get(end + 1)?]);
    Some(Message {
        id,
        response: flags & 0x8000 != 0,
        rcode: (flags & 0xf) as u8,
        answers,
        name,
        qtype,
    })
}

/// A possibly compressed name at `at`; returns the name and the offset after it (after
/// the first pointer when compressed). Pointers must point backwards, at most
/// 16 of them: a loop ends as an error, not a hang.
pub fn read_name(b: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *b.get(at)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let after = end.unwrap_or(at + 1);
                    if name.is_empty() {
                        name.push('.');
                    }
                    return Some((name, after));
                }
                let label = b.get(at + 1..at + 1 + len)?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &c in label {
                    match c {
                        b'.' => name.push_str("\\."),
                        0x21..=0x7e => name.push(c.to_ascii_lowercase() as char),
                        _ => name.push_str(&format!("\\{c:03}")),
                    }
                }
                if name.len() > 255 * 4 {
                    return None;
                }
                at += 1 + len;
            }
            0xc0 => {
                let target = ((len & 0x3f) << 8) | *b.get(at + 1)? as usize;
                if target >= at || jumps >= MAX_JUMPS {
                    return None;
                }
                jumps += 1;
                if end.is_none() {
                    end = Some(at + 2);
                }
                at = target;
            }
            _ => return None,
        }
    }
}

impl Core {
    fn message(&mut self, b: &[u8], bytes: u64, ctx: &mut Ctx<'_>) -> bool {
        let Some(m) = parse_message(b) else {
            ctx.stats.parse_errors += 1;
            return false;
        };
        self.expire(ctx);
        if !m.response {
            if self.pending.len() >= ctx.config.max_pending {
                ctx.stats.dropped_requests += 1;
                if let Some(old) = self.pending.pop_front() {
                    emit(old, None, 0, ctx.ts, Outcome::Dropped, ctx);
                }
            }
            self.pending.push_back(Pending {
                id: m.id,
                name: super::cut(&m.name, ctx.config.max_field),
                qtype: m.qtype,
                ts: ctx.ts,
                bytes,
            });
            return true;
        }
        let name = super::cut(&m.name, ctx.config.max_field);
        let pos = self
            .pending
            .iter()
            .position(|p| p.id == m.id && p.name == name)
            .or_else(|| self.pending.iter().position(|p| p.id == m.id));
        match pos.and_then(|i| self.pending.remove(i)) {
            Some(p) => {
                let ts = ctx.ts;
                emit_full(p, &m, bytes, ts, ctx);
            }
            None => ctx.stats.unmatched_responses += 1,
        }
        true
    }

    /// Queries older than the timeout are given up.
    fn expire(&mut self, ctx: &mut Ctx<'_>) {
        while self
            .pending
            .front()
            .is_some_and(|p| ctx.ts.saturating_sub(p.ts) > TIMEOUT_NS)
        {
            if let Some(p) = self.pending.pop_front() {
                ctx.stats.dropped_requests += 1;
                let ts = p.ts;
                emit(p, None, 0, ts, Outcome::Dropped, ctx);
            }
        }
    }
}

fn emit_full(p: Pending, m: &Message, bytes: u64, ts: u64, ctx: &mut Ctx<'_>) {
    let answers = m.answers;
    emit(p, Some(m.rcode), bytes, ts, Outcome::Complete, ctx);
    if let Some(Record {
        detail: Detail::Dns(d),
        ..
    }) = ctx.out.last_mut()
    {
        d.answers = answers;
    }
}

fn emit(
    p: Pending,
    rcode: Option<u8>,
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
        detail: Detail::Dns(DnsRecord {
            id: p.id,
            name: p.name,
            qtype: p.qtype,
            rcode,
            answers: 0,
        }),
    });
}

impl Framed for Core {
    fn parse(&mut self, _side: Side, buf: &[u8], _start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        if buf.len() < 2 {
            return Parsed::Incomplete;
        }
        let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
        let m = len.min(HEAD);
        if buf.len() < 2 + m {
            return Parsed::Incomplete;
        }
        if !self.message(&buf[2..2 + m], 2 + len as u64, ctx) {
            return Parsed::Error;
        }
        Parsed::Consumed {
            n: 2 + m,
            skip: (len - m) as u64,
        }
    }

    fn skip_done(&mut self, _side: Side, _ctx: &mut Ctx<'_>) {}

    fn interrupted(&mut self, _: Side, _: &[u8], _: u64, _: Interrupt, _: u64, _: &mut Ctx<'_>) {}

    fn can_start(&self, _side: Side, data: &[u8]) -> bool {
        data.len() >= 14 && parse_message(&data[2..]).is_some()
    }
}

impl ProtocolParser for Dns {
    fn protocol(&self) -> Protocol {
        Protocol::Dns
    }

    fn feed(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], gap: u64) {
        if ctx.transport == Transport::Udp {
            // One datagram: the header and question are at its start even when truncated.
            if !self.core.message(data, data.len() as u64 + gap, ctx) {
                ctx.stats.unparsed_bytes += data.len() as u64 + gap;
            }
            return;
        }
        let side = ctx.side(dir);
        drive(
            &mut self.streams[side.index()],
            &mut self.core,
            side,
            data,
            gap,
            ctx,
        );
    }

    fn lost(&mut self, _ctx: &mut Ctx<'_>) {
        // Datagrams are independent; TCP framing restarts at the next chunk.
        for s in &mut self.streams {
            s.reset();
        }
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(p) = self.core.pending.pop_front() {
            let ts = p.ts;
            emit(p, None, 0, ts, Outcome::Closed, ctx);
        }
    }

    fn memory(&self) -> usize {
        self.streams.iter().map(ByteStream::memory).sum::<usize>()
            + self
                .core
                .pending
                .iter()
                .map(|p| std::mem::size_of::<Pending>() + p.name.capacity())
                .sum::<usize>()
    }
}
