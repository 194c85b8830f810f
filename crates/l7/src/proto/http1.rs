//! HTTP/1.0 and HTTP/1.1 (headers parsed with httparse).
//!
//! Requests queue per connection in the order they were read (pipelining); each final
//! response takes the oldest. Bodies are skipped by count — Content-Length, chunked sizes, or
//! (responses only) until close — counting uncaptured bytes too. 1xx responses other than
//! 101 are not final. HEAD, 204 and 304 responses have no body. A 101 or a successful CONNECT
//! ends parsing of the connection.

use std::collections::VecDeque;

use super::{drive, ByteStream, Ctx, Framed, Interrupt, Parsed, ProtocolParser, Side};
use crate::record::{Detail, HttpRecord, HttpVersion, Outcome, Record};
use crate::types::{Direction, Protocol};

/// Most headers looked at in one message (more is a parse error, counted).
const MAX_HEADERS: usize = 64;

/// HTTP/1 parser state of one connection.
#[derive(Debug, Default)]
pub struct Http1 {
    streams: [ByteStream; 2],
    core: Core,
    switch: Option<super::Upgrade>,
}

impl Http1 {
    /// A parser at the start of a connection.
    pub fn new() -> Http1 {
        Http1::default()
    }
}

/// A request waiting for its response.
#[derive(Debug, Clone)]
struct Pending {
    seq: u64,
    rec: HttpRecord,
    start_ts: u64,
    bytes: u64,
    head: bool,
    connect: bool,
    partial: bool,
    /// It asked to upgrade to h2c.
    h2c: bool,
}

/// The response being read.
#[derive(Debug)]
struct Current {
    req: Option<Pending>,
    status: u16,
    bytes: u64,
    partial: bool,
}

/// Where a side is inside a body.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Between messages (or in a header).
    #[default]
    None,
    /// Content-Length bytes being skipped.
    Length,
    /// A chunked body: the next thing is a chunk-size line.
    ChunkSize,
    /// Skipping one chunk's data and CRLF.
    ChunkData,
    /// After the last chunk: trailer lines up to an empty line.
    Trailers,
    /// A response body that ends at close.
    UntilClose,
}

#[derive(Debug, Default)]
struct Core {
    pending: VecDeque<Pending>,
    seq: u64,
    /// The request whose body is being read (its seq).
    req_seq: u64,
    req_body: Body,
    resp_body: Body,
    current: Option<Current>,
    /// Bytes of 1xx responses seen before the final one.
    informational: Option<u64>,
    /// A 101 or CONNECT: both directions stop.
    upgraded: bool,
    /// When the response side last showed bytes.
    resp_last_ts: u64,
    /// Flush the queue after the current response (its request's header was cut).
    flush_after: bool,
    /// A 101 to `Upgrade: h2c`: the request (record, start, bytes) HTTP/2 continues.
    h2c: Option<(HttpRecord, u64, u64)>,
}

impl Core {
    fn add_request_bytes(&mut self, n: u64) {
        let seq = self.req_seq;
        if let Some(p) = self.pending.iter_mut().rev().find(|p| p.seq == seq) {
            p.bytes = p.bytes.saturating_add(n);
        } else if let Some(p) = self.current.as_mut().and_then(|c| c.req.as_mut()) {
            if p.seq == seq {
                p.bytes = p.bytes.saturating_add(n);
            }
        }
    }

    fn add_response_bytes(&mut self, n: u64) {
        if let Some(c) = self.current.as_mut() {
            c.bytes = c.bytes.saturating_add(n);
        }
    }

    fn push(&mut self, p: Pending, ctx: &mut Ctx<'_>) {
        if self.pending.len() >= ctx.config.max_pending {
            ctx.stats.dropped_requests += 1;
            if let Some(old) = self.pending.pop_front() {
                emit_request_only(old, Outcome::Dropped, ctx);
            }
        }
        self.pending.push_back(p);
    }

    /// The request a response first seen at `resp_ts` answers: the oldest waiting, unless it
    /// was seen after the response began (a response cannot precede its request: it belongs
    /// to a request the capture missed, and pairing it would be wrong).
    fn take_request(&mut self, resp_ts: u64) -> Option<Pending> {
        if self.pending.front().is_some_and(|p| p.start_ts > resp_ts) {
            return None;
        }
        let p = self.pending.pop_front()?;
        // Its header was cut by the capture, and the unseen rest may have held more
        // requests: their responses come next, so the requests queued behind it cannot be
        // paired safely (they are flushed once this response is out).
        self.flush_after = p.partial;
        Some(p)
    }

    /// The response being read is finished at `ctx.ts`.
    fn finish_response(&mut self, outcome: Outcome, ctx: &mut Ctx<'_>) {
        self.emit_response(outcome, ctx);
        if std::mem::take(&mut self.flush_after) {
            self.flush(Outcome::Partial, ctx);
        }
    }

    fn emit_response(&mut self, outcome: Outcome, ctx: &mut Ctx<'_>) {
        self.resp_body = Body::None;
        let Some(c) = self.current.take() else {
            return;
        };
        let Some(req) = c.req else {
            ctx.stats.unmatched_responses += 1;
            return;
        };
        let outcome = if (c.partial || req.partial) && outcome == Outcome::Complete {
            Outcome::Partial
        } else {
            outcome
        };
        let mut rec = req.rec;
        rec.status = Some(c.status);
        ctx.emit(Record {
            conn: ctx.conn,
            role: ctx.role(),
            start_ns: req.start_ts,
            end_ns: ctx.ts.max(req.start_ts),
            request_bytes: req.bytes,
            response_bytes: c.bytes,
            outcome,
            detail: Detail::Http(rec),
        });
    }

    /// Every request still waiting is emitted without a response.
    fn flush(&mut self, outcome: Outcome, ctx: &mut Ctx<'_>) {
        while let Some(p) = self.pending.pop_front() {
            if outcome == Outcome::Dropped {
                ctx.stats.dropped_requests += 1;
            }
            emit_request_only(p, outcome, ctx);
        }
    }

    fn parse_request(&mut self, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        if self.req_body == Body::ChunkSize || self.req_body == Body::Trailers {
            return self.parse_chunked(Side::Request, buf, ctx);
        }
        // Uninitialised slots: no 64-header memset per request (httparse's safe API).
        let mut headers =
            [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let n = match req.parse_with_uninit_headers(buf, &mut headers) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Parsed::Incomplete,
            Err(_) => return Parsed::Error,
        };
        let method = req.method.unwrap_or("");
        let mut rec = HttpRecord {
            version: if req.version == Some(0) {
                HttpVersion::Http10
            } else {
                HttpVersion::Http11
            },
            method: Some(ctx.field(method)),
            path: req.path.map(|p| path_field(p, ctx)),
            ..HttpRecord::default()
        };
        let mut framing = Framing::default();
        for h in req.headers.iter() {
            framing.header(h, &mut rec, ctx);
        }
        self.seq += 1;
        self.req_seq = self.seq;
        let body = if framing.chunked {
            self.req_body = Body::ChunkSize;
            0
        } else {
            let len = framing.length.unwrap_or(0);
            self.req_body = if len > 0 { Body::Length } else { Body::None };
            len
        };
        let p = Pending {
            seq: self.seq,
            rec,
            start_ts,
            bytes: (n as u64).saturating_add(body),
            head: method.eq_ignore_ascii_case("HEAD"),
            connect: method.eq_ignore_ascii_case("CONNECT"),
            partial: false,
            h2c: framing.h2c,
        };
        self.push(p, ctx);
        Parsed::Consumed { n, skip: body }
    }

    fn parse_response(&mut self, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        if self.resp_body == Body::ChunkSize || self.resp_body == Body::Trailers {
            return self.parse_chunked(Side::Response, buf, ctx);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Parsed::Incomplete,
            Err(_) => return Parsed::Error,
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // Informational: not the final response; its bytes count for the exchange.
            *self.informational.get_or_insert(0) += n as u64;
            return Parsed::Consumed { n, skip: 0 };
        }
        let mut framing = Framing::default();
        let mut scratch = HttpRecord::default();
        for h in resp.headers.iter() {
            framing.header(h, &mut scratch, ctx);
        }
        let req = self.take_request(start_ts);
        let head = req.as_ref().is_some_and(|r| r.head);
        let connect = req.as_ref().is_some_and(|r| r.connect);
        let carry = self.informational.take().unwrap_or(0);
        self.current = Some(Current {
            req,
            status,
            bytes: n as u64 + carry,
            partial: false,
        });
        if status == 101 || (connect && (200..300).contains(&status)) {
            // The connection now speaks something else.
            ctx.stats.upgraded += 1;
            self.upgraded = true;
            let h2c = framing.h2c
                && self
                    .current
                    .as_ref()
                    .and_then(|c| c.req.as_ref())
                    .is_some_and(|r| r.h2c);
            if status == 101 && h2c {
                // HTTP/2 answers this request on stream 1 (RFC 7540 3.2).
                self.h2c = self
                    .current
                    .take()
                    .and_then(|c| c.req)
                    .map(|r| (r.rec, r.start_ts, r.bytes));
            } else {
                self.finish_response(Outcome::Complete, ctx);
            }
            return Parsed::Stop { n };
        }
        if head || status == 204 || status == 304 {
            self.finish_response(Outcome::Complete, ctx);
            return Parsed::Consumed { n, skip: 0 };
        }
        if framing.chunked {
            self.resp_body = Body::ChunkSize;
            return Parsed::Consumed { n, skip: 0 };
        }
        match framing.length {
            Some(0) => {
                self.finish_response(Outcome::Complete, ctx);
                Parsed::Consumed { n, skip: 0 }
            }
            Some(len) => {
                self.resp_body = Body::Length;
                self.add_response_bytes(len);
                Parsed::Consumed { n, skip: len }
            }
            None => {
                // Close-delimited: everything up to close is the body.
                self.resp_body = Body::UntilClose;
                Parsed::Consumed { n, skip: u64::MAX }
            }
        }
    }

    /// A chunk-size line or a trailer line of a chunked body on `side`.
    fn parse_chunked(&mut self, side: Side, buf: &[u8], ctx: &mut Ctx<'_>) -> Parsed {
        let Some(eol) = find_crlf(buf) else {
            // A size line is short; a long one is garbage.
            return if buf.len() > 1024 {
                Parsed::Error
            } else {
                Parsed::Incomplete
            };
        };
        let line = &buf[..eol];
        let n = eol + 2;
        let state = match side {
            Side::Request => self.req_body,
            Side::Response => self.resp_body,
        };
        if state == Body::Trailers {
            self.count(side, n as u64);
            if line.is_empty() {
                self.body_done(side, ctx);
            }
            return Parsed::Consumed { n, skip: 0 };
        }
        let hex_end = line
            .iter()
            .position(|b| !b.is_ascii_hexdigit())
            .unwrap_or(line.len());
        if hex_end == 0 || hex_end > 15 {
            return Parsed::Error;
        }
        let Some(size) = std::str::from_utf8(&line[..hex_end])
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            return Parsed::Error;
        };
        self.count(side, n as u64);
        if size == 0 {
            self.set_body(side, Body::Trailers);
            return Parsed::Consumed { n, skip: 0 };
        }
        self.set_body(side, Body::ChunkData);
        self.count(side, size + 2);
        Parsed::Consumed { n, skip: size + 2 }
    }

    fn count(&mut self, side: Side, n: u64) {
        match side {
            Side::Request => self.add_request_bytes(n),
            Side::Response => self.add_response_bytes(n),
        }
    }

    fn set_body(&mut self, side: Side, b: Body) {
        match side {
            Side::Request => self.req_body = b,
            Side::Response => self.resp_body = b,
        }
    }

    /// A body on `side` ended at `ctx.ts`.
    fn body_done(&mut self, side: Side, ctx: &mut Ctx<'_>) {
        match side {
            Side::Request => self.req_body = Body::None,
            Side::Response => self.finish_response(Outcome::Complete, ctx),
        }
    }
}

/// What headers say about the body, and the fields a record keeps.
#[derive(Default)]
struct Framing {
    length: Option<u64>,
    chunked: bool,
    /// `Upgrade: h2c`.
    h2c: bool,
}

impl Framing {
    fn header(&mut self, h: &httparse::Header<'_>, rec: &mut HttpRecord, ctx: &Ctx<'_>) {
        let value = || String::from_utf8_lossy(h.value);
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            self.length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            self.chunked = value().to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("upgrade") {
            self.h2c = value()
                .split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("h2c"));
        } else if name.eq_ignore_ascii_case("host") {
            rec.host = Some(ctx.field(value().trim()));
        } else if name.eq_ignore_ascii_case("user-agent") {
            if ctx.config.keep_user_agent {
                rec.user_agent = Some(ctx.field(value().trim()));
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            rec.content_type = Some(ctx.field(value().trim()));
        } else if name.eq_ignore_ascii_case("authorization") {
            if ctx.config.capture_sensitive {
                rec.authorization = Some(ctx.field(&value()));
            }
        } else if name.eq_ignore_ascii_case("cookie") && ctx.config.capture_sensitive {
            rec.cookie = Some(ctx.field(&value()));
        }
    }
}

/// The path as kept: query string (and fragment) removed unless `capture_sensitive`.
pub(crate) fn path_field(path: &str, ctx: &Ctx<'_>) -> String {
    if ctx.config.capture_sensitive {
        ctx.field(path)
    } else {
        let end = path.find(['?', '#']).unwrap_or(path.len());
        ctx.field(&path[..end])
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn emit_request_only(p: Pending, outcome: Outcome, ctx: &mut Ctx<'_>) {
    ctx.emit(Record {
        conn: ctx.conn,
        role: ctx.role(),
        start_ns: p.start_ts,
        end_ns: p.start_ts,
        request_bytes: p.bytes,
        response_bytes: 0,
        outcome,
        detail: Detail::Http(p.rec),
    });
}

/// Method, target and version from a request line whose header could not be read whole.
fn partial_request_line(buf: &[u8]) -> Option<(String, String, HttpVersion)> {
    let line_end = find_crlf(buf).unwrap_or(buf.len());
    let line = std::str::from_utf8(&buf[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || target.is_empty() {
        return None;
    }
    let version = match parts.next() {
        Some("HTTP/1.0") => HttpVersion::Http10,
        _ => HttpVersion::Http11,
    };
    Some((method.to_string(), target.to_string(), version))
}

/// The status from a response line whose header could not be read whole.
fn partial_status_line(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

impl Framed for Core {
    fn parse(&mut self, side: Side, buf: &[u8], start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        match side {
            Side::Request => self.parse_request(buf, start_ts, ctx),
            Side::Response => self.parse_response(buf, start_ts, ctx),
        }
    }

    fn skip_done(&mut self, side: Side, ctx: &mut Ctx<'_>) {
        let state = match side {
            Side::Request => self.req_body,
            Side::Response => self.resp_body,
        };
        match state {
            Body::ChunkData => self.set_body(side, Body::ChunkSize),
            Body::Length => self.body_done(side, ctx),
            // UntilClose never ends by count; others have nothing to skip.
            _ => {}
        }
    }

    fn can_start(&self, side: Side, data: &[u8]) -> bool {
        match side {
            Side::Request => crate::detect::http1_request_line(data),
            Side::Response => data.starts_with(b"HTTP/1."),
        }
    }

    fn interrupted(
        &mut self,
        side: Side,
        buf: &[u8],
        more: u64,
        why: Interrupt,
        start_ts: u64,
        ctx: &mut Ctx<'_>,
    ) {
        match side {
            Side::Request => {
                let in_body = self.req_body != Body::None;
                self.req_body = Body::None;
                if in_body {
                    // The chunked framing is lost; the request itself was queued already.
                    return;
                }
                match why {
                    Interrupt::Truncated | Interrupt::Oversized => {
                        // Keep what the request line says; assume the message ends with
                        // this write (one request per write is the common case).
                        if let Some((method, target, version)) = partial_request_line(buf) {
                            self.seq += 1;
                            self.req_seq = self.seq;
                            let rec = HttpRecord {
                                version,
                                method: Some(ctx.field(&method)),
                                path: Some(path_field(&target, ctx)),
                                ..HttpRecord::default()
                            };
                            let p = Pending {
                                seq: self.seq,
                                rec,
                                start_ts,
                                bytes: buf.len() as u64 + more,
                                head: method == "HEAD",
                                connect: method == "CONNECT",
                                partial: true,
                                h2c: false,
                            };
                            self.push(p, ctx);
                        }
                    }
                    Interrupt::GapAtBoundary => {
                        // Requests we cannot see were written: the responses to come
                        // cannot be paired with what is queued.
                        self.flush(Outcome::Dropped, ctx);
                    }
                    Interrupt::Error => {}
                }
            }
            Side::Response => {
                if self.current.is_some() {
                    // Inside a body (chunked framing lost): the response ends here.
                    if let Some(c) = self.current.as_mut() {
                        c.partial = true;
                    }
                    self.finish_response(Outcome::Partial, ctx);
                    return;
                }
                match why {
                    Interrupt::Truncated | Interrupt::Oversized => {
                        if let Some(status) = partial_status_line(buf) {
                            let req = self.take_request(start_ts);
                            self.current = Some(Current {
                                req,
                                status,
                                bytes: buf.len() as u64 + more,
                                partial: true,
                            });
                            self.finish_response(Outcome::Partial, ctx);
                        }
                        // The unseen rest may hold the responses of requests queued behind
                        // this one: none of them may pair with a later response.
                        self.flush(Outcome::Partial, ctx);
                    }
                    Interrupt::GapAtBoundary => {
                        // Responses we cannot see were written, how many is unknown: every
                        // request waiting may have been answered there. Pairing a later
                        // response with one of them could be wrong, so none is kept.
                        self.flush(Outcome::Partial, ctx);
                    }
                    Interrupt::Error => {}
                }
            }
        }
    }
}

impl ProtocolParser for Http1 {
    fn protocol(&self) -> Protocol {
        Protocol::Http1
    }

    fn feed(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], gap: u64) {
        let side = ctx.side(dir);
        if side == Side::Response {
            self.core.resp_last_ts = ctx.ts;
        } else if self.core.resp_body == Body::Length
            && self.core.pending.is_empty()
            && self.streams[Side::Request.index()].idle()
            && crate::detect::http1_request_line(data)
        {
            // A new request while the last response's body is still owed: the body went by
            // a path the capture does not see (sendfile, splice), and a client that asks
            // again has had it. Finish that response at its last visible write.
            ctx.stats.unseen_bodies += 1;
            let now = ctx.ts;
            ctx.ts = self.core.resp_last_ts;
            self.core.finish_response(Outcome::Complete, ctx);
            ctx.ts = now;
            self.streams[Side::Response.index()].reset();
        }
        drive(
            &mut self.streams[side.index()],
            &mut self.core,
            side,
            data,
            gap,
            ctx,
        );
        if self.core.upgraded {
            let rest = self.streams[side.index()].take_leftover();
            for s in &mut self.streams {
                s.stop();
            }
            match (self.core.h2c.take(), rest) {
                (Some(seed), rest) => {
                    let (bytes, gap) = rest.unwrap_or_default();
                    let request_dir = dir.flip();
                    self.switch = Some(super::Upgrade {
                        parser: Box::new(super::http2::Http2::upgraded(seed, request_dir)),
                        direction: dir,
                        bytes,
                        gap,
                    });
                }
                (None, Some((bytes, gap))) => ctx.stats.unparsed_bytes += bytes.len() as u64 + gap,
                (None, None) => {}
            }
        }
    }

    fn lost(&mut self, ctx: &mut Ctx<'_>) {
        for s in &mut self.streams {
            s.reset();
        }
        self.core.req_body = Body::None;
        if self.core.current.is_some() {
            if let Some(c) = self.core.current.as_mut() {
                c.partial = true;
            }
            self.core.finish_response(Outcome::Partial, ctx);
        }
        self.core.flush(Outcome::Dropped, ctx);
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        if self.core.current.is_some() {
            let outcome = if self.core.resp_body == Body::UntilClose {
                // The skip counted down from u64::MAX: what it ate is the body.
                let body = u64::MAX - self.streams[Side::Response.index()].skip_left();
                self.core.add_response_bytes(body);
                Outcome::Complete
            } else {
                Outcome::Closed
            };
            self.core.finish_response(outcome, ctx);
        }
        self.core.flush(Outcome::Closed, ctx);
        for s in &mut self.streams {
            s.stop();
        }
    }

    fn upgrade(&mut self) -> Option<super::Upgrade> {
        self.switch.take()
    }

    fn memory(&self) -> usize {
        self.streams.iter().map(ByteStream::memory).sum::<usize>()
            + self.core.pending.capacity() * std::mem::size_of::<Pending>()
            + self
                .core
                .pending
                .iter()
                .map(|p| record_heap(&p.rec))
                .sum::<usize>()
    }
}

/// Heap bytes held by the strings of a record.
pub(crate) fn record_heap(r: &HttpRecord) -> usize {
    [
        &r.method,
        &r.path,
        &r.host,
        &r.user_agent,
        &r.content_type,
        &r.authorization,
        &r.cookie,
    ]
    .iter()
    .map(|s| s.as_ref().map_or(0, String::capacity))
    .sum()
}
