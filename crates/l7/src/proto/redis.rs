//! Redis RESP2/RESP3: commands (arrays of bulk strings, or inline), replies paired in order.
//!
//! Bulk payloads are skipped by length. Pushes (`>`) are out of band and pair with nothing;
//! an attribute (`|`) belongs to the reply after it.

use std::collections::VecDeque;

use super::{drive, ByteStream, Ctx, Framed, Interrupt, Parsed, ProtocolParser, Side};
use crate::record::{Detail, Outcome, Record, RedisRecord};
use crate::types::{Direction, Protocol};

/// Longest command name kept.
const MAX_COMMAND: usize = 32;

/// Deepest nesting of aggregates followed.
const MAX_DEPTH: usize = 32;

/// Redis parser state of one connection.
#[derive(Debug, Default)]
pub struct Redis {
    streams: [ByteStream; 2],
    core: Core,
}

impl Redis {
    /// A parser at the start of a connection.
    pub fn new() -> Redis {
        Redis::default()
    }
}

#[derive(Debug)]
struct Pending {
    command: String,
    ts: u64,
    bytes: u64,
}

/// The command being read.
#[derive(Debug, Default)]
struct Command {
    /// Bulk strings still to come.
    left: u64,
    name: Option<String>,
    ts: u64,
    bytes: u64,
}

/// The reply being read.
#[derive(Debug, Default)]
struct Reply {
    /// Elements left in each open aggregate, innermost last; flag: it is an attribute.
    stack: Vec<(u64, bool)>,
    /// A bulk payload is being skipped (ends a value when done).
    in_bulk: bool,
    error: Option<String>,
    bytes: u64,
    /// The top-level value is a push (pairs with no command).
    push: bool,
    /// When its first byte was seen.
    ts: u64,
}

#[derive(Debug, Default)]
struct Core {
    pending: VecDeque<Pending>,
    cmd: Option<Command>,
    reply: Reply,
}

fn line(buf: &[u8]) -> Option<&[u8]> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some(&buf[..end])
}

fn number(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

impl Core {
    fn push(&mut self, p: Pending, ctx: &mut Ctx<'_>) {
        if self.pending.len() >= ctx.config.max_pending {
            ctx.stats.dropped_requests += 1;
            if let Some(old) = self.pending.pop_front() {
                let ts = old.ts;
                emit(old, None, 0, ts, Outcome::Dropped, ctx);
            }
        }
        self.pending.push_back(p);
    }

    fn command_done(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(c) = self.cmd.take() {
            let p = Pending {
                command: c.name.unwrap_or_else(|| "UNKNOWN".into()),
                ts: c.ts,
                bytes: c.bytes,
            };
            self.push(p, ctx);
        }
    }

    fn parse_request(&mut self, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        if self.cmd.is_none() && buf.first() != Some(&b'*') {
            // An inline command (redis-cli, telnet): a line ended by LF or CRLF.
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                return if buf.len() > 64 * 1024 {
                    Parsed::Error
                } else {
                    Parsed::Incomplete
                };
            };
            let l = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
            let text = String::from_utf8_lossy(l);
            if let Some(word) = text.split_whitespace().next() {
                let p = Pending {
                    command: super::cut(&word.to_ascii_uppercase(), MAX_COMMAND),
                    ts: start_ts,
                    bytes: end as u64 + 1,
                };
                self.push(p, ctx);
            }
            return Parsed::Consumed {
                n: end + 1,
                skip: 0,
            };
        }
        let Some(l) = line(buf) else {
            return if buf.len() > 64 * 1024 {
                Parsed::Error
            } else {
                Parsed::Incomplete
            };
        };
        let n = l.len() + 2;
        let Some(c) = self.cmd.as_mut() else {
            // `*<count>` (checked above): a command of that many bulk strings.
            let Some(count) = l.get(1..).and_then(number) else {
                return Parsed::Error;
            };
            if count > 0 {
                self.cmd = Some(Command {
                    left: count as u64,
                    name: None,
                    ts: start_ts,
                    bytes: n as u64,
                });
            }
            return Parsed::Consumed { n, skip: 0 };
        };
        // Inside a command: `$len` then the payload.
        if l.first() != Some(&b'$') {
            return Parsed::Error;
        }
        let Some(len) = number(&l[1..]).filter(|v| *v >= 0) else {
            return Parsed::Error;
        };
        let len = len as u64;
        let want_name = c.name.is_none();
        if want_name && len as usize <= MAX_COMMAND && buf.len() < n + len as usize + 2 {
            // Parse again when the name is here.
            return Parsed::Incomplete;
        }
        c.left -= 1;
        c.bytes = c.bytes.saturating_add(n as u64 + len + 2);
        let last = c.left == 0;
        if want_name && len as usize <= MAX_COMMAND {
            let need = n + len as usize + 2;
            // Invalid UTF-8 widens in the lossy conversion: cut after it.
            let name = String::from_utf8_lossy(&buf[n..n + len as usize]).to_ascii_uppercase();
            c.name = Some(super::cut(&name, MAX_COMMAND));
            if last {
                self.command_done(ctx);
            }
            return Parsed::Consumed { n: need, skip: 0 };
        }
        if want_name {
            c.name = Some("UNKNOWN".into());
        }
        Parsed::Consumed { n, skip: len + 2 }
    }

    /// One value of a reply ended.
    fn value_done(&mut self, ctx: &mut Ctx<'_>) {
        let r = &mut self.reply;
        loop {
            match r.stack.last_mut() {
                None => break,
                Some((left, _)) => {
                    *left -= 1;
                    if *left > 0 {
                        return;
                    }
                }
            }
            let attr = r.stack.pop().is_some_and(|(_, a)| a);
            if attr && r.stack.is_empty() {
                // An attribute ended; the reply proper follows.
                return;
            }
        }
        self.reply_done(ctx);
    }

    fn reply_done(&mut self, ctx: &mut Ctx<'_>) {
        let r = std::mem::take(&mut self.reply);
        if r.push {
            return;
        }
        // A reply that began before a command was seen does not answer it.
        let front_ok = self.pending.front().is_some_and(|p| p.ts <= r.ts);
        let next = if front_ok {
            self.pending.pop_front()
        } else {
            None
        };
        match next {
            Some(p) => {
                let ts = ctx.ts;
                emit(p, r.error, r.bytes, ts, Outcome::Complete, ctx);
            }
            None => ctx.stats.unmatched_responses += 1,
        }
    }

    fn parse_reply(&mut self, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        let Some(l) = line(buf) else {
            return if buf.len() > 64 * 1024 {
                Parsed::Error
            } else {
                Parsed::Incomplete
            };
        };
        let n = l.len() + 2;
        let Some(&t) = l.first() else {
            return Parsed::Error;
        };
        let top = self.reply.stack.is_empty();
        if top && self.reply.bytes == 0 {
            self.reply.ts = start_ts;
        }
        self.reply.bytes += n as u64;
        match t {
            b'+' | b':' | b'_' | b',' | b'#' | b'(' => {
                self.value_done(ctx);
                Parsed::Consumed { n, skip: 0 }
            }
            b'-' => {
                if top {
                    let text = String::from_utf8_lossy(&l[1..]);
                    self.reply.error = Some(super::cut(&text, ctx.config.max_field));
                }
                self.value_done(ctx);
                Parsed::Consumed { n, skip: 0 }
            }
            b'$' | b'=' | b'!' => {
                let Some(len) = number(&l[1..]) else {
                    return Parsed::Error;
                };
                if len < 0 {
                    self.value_done(ctx);
                    return Parsed::Consumed { n, skip: 0 };
                }
                let len = len as u64 + 2;
                if t == b'!' && top {
                    let need = n + len as usize;
                    if (len as usize) <= ctx.config.max_field && buf.len() < need {
                        self.reply.bytes -= n as u64;
                        return Parsed::Incomplete;
                    }
                    let text = buf.get(n..need.saturating_sub(2)).unwrap_or(b"bulk error");
                    let text = String::from_utf8_lossy(text);
                    self.reply.error = Some(super::cut(&text, ctx.config.max_field));
                }
                self.reply.bytes = self.reply.bytes.saturating_add(len);
                self.reply.in_bulk = true;
                Parsed::Consumed { n, skip: len }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let Some(count) = number(&l[1..]) else {
                    return Parsed::Error;
                };
                let count = if t == b'%' || t == b'|' {
                    count.saturating_mul(2)
                } else {
                    count
                };
                if top && t == b'>' {
                    self.reply.push = true;
                }
                if count <= 0 {
                    self.value_done(ctx);
                    return Parsed::Consumed { n, skip: 0 };
                }
                if self.reply.stack.len() >= MAX_DEPTH {
                    return Parsed::Error;
                }
                self.reply.stack.push((count as u64, t == b'|'));
                Parsed::Consumed { n, skip: 0 }
            }
            _ => Parsed::Error,
        }
    }
}

fn emit(
    p: Pending,
    error: Option<String>,
    resp_bytes: u64,
    end: u64,
    outcome: Outcome,
    ctx: &mut Ctx<'_>,
) {
    let end = if outcome == Outcome::Complete {
        end
    } else {
        p.ts
    };
    ctx.emit(Record {
        conn: ctx.conn,
        role: ctx.role(),
        start_ns: p.ts,
        end_ns: end.max(p.ts),
        request_bytes: p.bytes,
        response_bytes: resp_bytes,
        outcome,
        detail: Detail::Redis(RedisRecord {
            command: p.command,
            error,
        }),
    });
}

impl Framed for Core {
    fn parse(&mut self, side: Side, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        match side {
            Side::Request => self.parse_request(buf, start_ts, ctx),
            Side::Response => self.parse_reply(buf, start_ts, ctx),
        }
    }

    fn skip_done(&mut self, side: Side, ctx: &mut Ctx<'_>) {
        match side {
            Side::Request => {
                if self.cmd.as_ref().is_some_and(|c| c.left == 0) {
                    self.command_done(ctx);
                }
            }
            Side::Response => {
                if self.reply.in_bulk {
                    self.reply.in_bulk = false;
                    self.value_done(ctx);
                }
            }
        }
    }

    fn interrupted(
        &mut self,
        side: Side,
        _: &[u8],
        _: u64,
        why: Interrupt,
        _: u64,
        ctx: &mut Ctx<'_>,
    ) {
        match side {
            Side::Request => {
                // A command cut short still happened; its name may be known.
                if self.cmd.is_some() {
                    self.command_done(ctx);
                }
                if why == Interrupt::GapAtBoundary {
                    // Commands we cannot see were sent: pairing is lost.
                    self.flush(Outcome::Dropped, ctx);
                }
            }
            Side::Response => {
                let partial = std::mem::take(&mut self.reply);
                if !partial.stack.is_empty() || partial.in_bulk || partial.bytes > 0 {
                    if let Some(p) = self.pending.pop_front() {
                        let ts = ctx.ts;
                        emit(p, partial.error, partial.bytes, ts, Outcome::Partial, ctx);
                    }
                }
                if why == Interrupt::GapAtBoundary {
                    self.flush(Outcome::Dropped, ctx);
                }
            }
        }
    }

    fn can_start(&self, side: Side, data: &[u8]) -> bool {
        match side {
            Side::Request => data.first() == Some(&b'*'),
            Side::Response => data.first().is_some_and(|c| b"+-:$*_,#(=!~>%|".contains(c)),
        }
    }
}

impl Core {
    fn flush(&mut self, outcome: Outcome, ctx: &mut Ctx<'_>) {
        while let Some(p) = self.pending.pop_front() {
            if outcome == Outcome::Dropped {
                ctx.stats.dropped_requests += 1;
            }
            let ts = p.ts;
            emit(p, None, 0, ts, outcome, ctx);
        }
    }
}

impl ProtocolParser for Redis {
    fn protocol(&self) -> Protocol {
        Protocol::Redis
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
    }

    fn lost(&mut self, ctx: &mut Ctx<'_>) {
        for s in &mut self.streams {
            s.reset();
        }
        self.core.cmd = None;
        self.core.reply = Reply::default();
        self.core.flush(Outcome::Dropped, ctx);
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        self.core.flush(Outcome::Closed, ctx);
        for s in &mut self.streams {
            s.stop();
        }
    }

    fn memory(&self) -> usize {
        self.streams.iter().map(ByteStream::memory).sum::<usize>()
            + self.core.reply.stack.capacity() * 16
            + self
                .core
                .pending
                .iter()
                .map(|p| std::mem::size_of::<Pending>() + p.command.capacity())
                .sum::<usize>()
    }
}
