//! HTTP/2 (RFC 9113) and gRPC over it: frames, streams, HPACK per direction.
//!
//! A connection seen from its start (the client preface, a SETTINGS first from the server)
//! decodes every header block. One first seen mid-stream decodes what HPACK lets it know
//! (static entries, literals, entries inserted since) and marks a record `undecodable` when
//! its method, path or status is not knowable — it never guesses. Bytes lost in a direction
//! (capture truncation past a frame boundary, lost chunks) make that direction's table
//! unknown again, with the same rule.

pub mod frame;
pub mod hpack;
pub mod huffman;

use std::collections::BTreeMap;

use self::frame::{flag, kind, FrameHeader, HEADER_LEN, MAX_PAYLOAD};
use self::hpack::{Decoder, Field, Slot};
use super::http1::{path_field, record_heap};
use super::{drive, ByteStream, Ctx, Framed, Interrupt, Parsed, ProtocolParser, Side};
use crate::detect::H2_PREFACE;
use crate::record::{Detail, GrpcInfo, HttpRecord, HttpVersion, Outcome, Record};
use crate::types::{Direction, Protocol};

/// HTTP/2 parser state of one connection.
#[derive(Debug, Default)]
pub struct Http2 {
    streams: [ByteStream; 2],
    core: Core,
}

impl Http2 {
    /// A parser for a new (or newly seen) connection.
    pub fn new() -> Http2 {
        Http2::default()
    }

    /// A parser for a connection upgraded from HTTP/1.1 (`Upgrade: h2c`, then 101): the
    /// HTTP/1 request (`rec`, first seen at `start_ts`, `bytes` long, sent in `request_dir`)
    /// is stream 1, half-closed by the client; its response comes as HTTP/2.
    pub(crate) fn upgraded(seed: (HttpRecord, u64, u64), request_dir: Direction) -> Http2 {
        let (rec, start_ts, bytes) = seed;
        let mut h = Http2::default();
        let mut s = Stream {
            rec,
            request_dir: Some(request_dir),
            ..Stream::default()
        };
        s.half[request_dir.index()] = Half {
            headers: true,
            data: false,
            ended: true,
            first_ts: start_ts,
            last_ts: start_ts,
            bytes,
        };
        h.core.streams.insert(1, s);
        h
    }
}

/// A header block being continued by CONTINUATION frames.
#[derive(Debug)]
struct Cont {
    stream: u32,
    block: Vec<u8>,
    end_stream: bool,
    push: bool,
}

/// One direction's framing and compression state.
#[derive(Debug, Default)]
struct Dir {
    started: bool,
    preface: bool,
    decoder: Option<Decoder>,
    cont: Option<Cont>,
    /// A DATA frame with END_STREAM whose payload is being skipped.
    pending_end: Option<u32>,
    /// The largest SETTINGS_HEADER_TABLE_SIZE the receiver of this direction announced.
    table_limit: Option<usize>,
}

/// One direction of one stream.
#[derive(Debug, Default, Clone)]
struct Half {
    /// A header block was seen (decodable or not).
    headers: bool,
    /// Data was seen after the first header block (so a later block is trailers).
    data: bool,
    ended: bool,
    first_ts: u64,
    last_ts: u64,
    bytes: u64,
}

#[derive(Debug, Default)]
struct Stream {
    half: [Half; 2],
    rec: HttpRecord,
    /// Which direction carried the request, as the headers said.
    request_dir: Option<Direction>,
    /// A final (non-1xx) status was seen.
    final_status: bool,
    grpc_status: Option<u32>,
    /// A response block had a field we could not name and no grpc-status we could read.
    grpc_unknown: bool,
    response_content_type: Option<String>,
}

#[derive(Debug, Default)]
struct Core {
    dirs: [Dir; 2],
    streams: BTreeMap<u32, Stream>,
}

/// The fields of one decoded block that records use.
#[derive(Debug, Default)]
struct Block {
    ok: bool,
    unknown_name: bool,
    method: Option<Slot>,
    path: Option<Slot>,
    authority: Option<Slot>,
    status: Option<Slot>,
    content_type: Option<Slot>,
    grpc_status: Option<Slot>,
    user_agent: Option<Slot>,
    authorization: Option<Slot>,
    cookie: Option<Slot>,
}

impl Block {
    fn from(fields: Option<Vec<Field>>) -> Block {
        let Some(fields) = fields else {
            return Block::default();
        };
        let mut b = Block {
            ok: true,
            ..Block::default()
        };
        for f in fields {
            let Some(name) = f.name.known() else {
                b.unknown_name = true;
                continue;
            };
            let slot = match name {
                b":method" => &mut b.method,
                b":path" => &mut b.path,
                b":authority" | b"host" => &mut b.authority,
                b":status" => &mut b.status,
                b"content-type" => &mut b.content_type,
                b"grpc-status" => &mut b.grpc_status,
                b"user-agent" => &mut b.user_agent,
                b"authorization" => &mut b.authorization,
                b"cookie" => &mut b.cookie,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(f.value);
            }
        }
        b
    }

    /// Usable for a request: decoded, method and path known. (An unknown name elsewhere in
    /// the block cannot be a second :method or :path: pseudo-headers are unique.)
    fn request_known(&self) -> bool {
        self.ok && known(&self.method).is_some() && known(&self.path).is_some()
    }
}

/// Even stream ids are opened by the server (server push, RFC 9113 5.1.1): not requests.
fn pushed(id: u32) -> bool {
    id.is_multiple_of(2)
}

fn known(s: &Option<Slot>) -> Option<String> {
    s.as_ref()
        .and_then(Slot::known)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn dir_of(side: Side) -> Direction {
    // Http2 keeps its two streams by direction, not by request/response.
    match side {
        Side::Request => Direction::Ingress,
        Side::Response => Direction::Egress,
    }
}

fn side_of(dir: Direction) -> Side {
    match dir {
        Direction::Ingress => Side::Request,
        Direction::Egress => Side::Response,
    }
}

impl Core {
    fn decoder(&mut self, dir: Direction, ctx: &Ctx<'_>) -> &mut Decoder {
        let cap = ctx.config.max_hpack_table;
        self.dirs[dir.index()]
            .decoder
            .get_or_insert_with(|| Decoder::mid_stream(cap))
    }

    /// First bytes of a direction: the preface, or a first frame. Decides whether its
    /// decoder saw the start of the connection.
    fn start(&mut self, dir: Direction, buf: &[u8], ctx: &mut Ctx<'_>) -> Option<Parsed> {
        let d = dir.index();
        if self.dirs[d].started {
            return None;
        }
        if buf.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(buf) {
            return Some(Parsed::Incomplete);
        }
        self.dirs[d].started = true;
        let cap = ctx.config.max_hpack_table;
        let other = &self.dirs[1 - d];
        if buf.starts_with(H2_PREFACE) {
            self.dirs[d].preface = true;
            let mut dec = Decoder::new(cap);
            if let Some(limit) = self.dirs[d].table_limit {
                dec.set_limit(limit);
            }
            self.dirs[d].decoder = Some(dec);
            ctx.request_dir = Some(dir);
            return Some(Parsed::Consumed {
                n: H2_PREFACE.len(),
                skip: 0,
            });
        }
        let settings_first = FrameHeader::parse(buf)
            .is_some_and(|h| h.kind == kind::SETTINGS && h.flags & flag::ACK == 0);
        let fresh = settings_first && (!other.started || other.preface);
        let mut dec = if fresh {
            Decoder::new(cap)
        } else {
            Decoder::mid_stream(cap)
        };
        if let Some(limit) = self.dirs[d].table_limit {
            dec.set_limit(limit);
        }
        self.dirs[d].decoder = Some(dec);
        if !fresh && !self.dirs[1 - d].preface {
            // Neither side began here: a server direction taken for fresh (SETTINGS first)
            // was not, so its references past what it saw are unknown.
            if let Some(other) = self.dirs[1 - d].decoder.as_mut() {
                other.set_incomplete();
            }
        }
        None
    }

    fn stream(&mut self, id: u32, ctx: &mut Ctx<'_>) -> Option<&mut Stream> {
        if !self.streams.contains_key(&id) {
            if self.streams.len() >= ctx.config.max_streams.max(1) {
                // Evict the oldest: a stream whose end we never saw must not pin memory.
                ctx.stats.dropped_streams += 1;
                if let Some((&old, _)) = self.streams.iter().next() {
                    self.emit(old, Outcome::Dropped, ctx);
                }
            }
            self.streams.insert(id, Stream::default());
        }
        self.streams.get_mut(&id)
    }

    fn account(&mut self, dir: Direction, id: u32, bytes: u64, ctx: &mut Ctx<'_>) {
        if pushed(id) {
            return;
        }
        let ts = ctx.ts;
        if let Some(s) = self.stream(id, ctx) {
            let h = &mut s.half[dir.index()];
            if h.bytes == 0 && h.first_ts == 0 {
                h.first_ts = ts;
            }
            h.bytes += bytes;
            h.last_ts = ts;
        }
    }

    fn parse_frame(&mut self, dir: Direction, buf: &[u8], ctx: &mut Ctx<'_>) -> Parsed {
        if let Some(p) = self.start(dir, buf, ctx) {
            return p;
        }
        let Some(h) = FrameHeader::parse(buf) else {
            return Parsed::Incomplete;
        };
        if h.len > MAX_PAYLOAD {
            return Parsed::Error;
        }
        let d = dir.index();
        if self.dirs[d].cont.is_some() && h.kind != kind::CONTINUATION {
            // RFC 9113 6.10: nothing may come between HEADERS and its CONTINUATIONs.
            return Parsed::Error;
        }
        let total = HEADER_LEN as u64 + u64::from(h.len);
        match h.kind {
            kind::DATA => {
                if h.stream == 0 {
                    return Parsed::Error;
                }
                self.account(dir, h.stream, total, ctx);
                if let Some(s) = self.streams.get_mut(&h.stream) {
                    if s.half[d].headers {
                        s.half[d].data = true;
                    }
                }
                if h.flags & flag::END_STREAM != 0 {
                    if h.len == 0 {
                        self.end(dir, h.stream, ctx);
                    } else {
                        self.dirs[d].pending_end = Some(h.stream);
                    }
                }
                Parsed::Consumed {
                    n: HEADER_LEN,
                    skip: u64::from(h.len),
                }
            }
            kind::HEADERS
            | kind::CONTINUATION
            | kind::PUSH_PROMISE
            | kind::SETTINGS
            | kind::RST_STREAM => {
                let need = HEADER_LEN + h.len as usize;
                if need > ctx.config.max_buffer.max(64) {
                    // A header block too big to hold: skip it, and with it the table.
                    ctx.stats.oversized += 1;
                    self.lose(dir, ctx);
                    if h.stream != 0 && h.kind != kind::SETTINGS {
                        self.account(dir, h.stream, total, ctx);
                        if let Some(s) = self.streams.get_mut(&h.stream) {
                            s.half[d].headers = true;
                            s.rec.undecodable = true;
                        }
                    }
                    return Parsed::Consumed {
                        n: HEADER_LEN,
                        skip: u64::from(h.len),
                    };
                }
                if buf.len() < need {
                    return Parsed::Incomplete;
                }
                let payload = &buf[HEADER_LEN..need];
                if self.frame_with_payload(dir, h, payload, ctx).is_err() {
                    return Parsed::Error;
                }
                Parsed::Consumed { n: need, skip: 0 }
            }
            _ => {
                // PRIORITY, PING, GOAWAY, WINDOW_UPDATE, unknown types: nothing we need.
                Parsed::Consumed {
                    n: HEADER_LEN,
                    skip: u64::from(h.len),
                }
            }
        }
    }

    fn frame_with_payload(
        &mut self,
        dir: Direction,
        h: FrameHeader,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<(), ()> {
        let d = dir.index();
        let total = HEADER_LEN as u64 + u64::from(h.len);
        match h.kind {
            kind::SETTINGS if h.flags & flag::ACK == 0 => {
                for e in payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([e[0], e[1]]);
                    let v = u32::from_be_bytes([e[2], e[3], e[4], e[5]]) as usize;
                    if id == 1 {
                        // The peer may now use tables up to v for what it sends us (kept
                        // for a decoder that starts later).
                        let other = &mut self.dirs[dir.flip().index()];
                        other.table_limit = Some(other.table_limit.unwrap_or(0).max(v));
                        if let Some(dec) = other.decoder.as_mut() {
                            dec.set_limit(v);
                        }
                    }
                }
            }
            kind::RST_STREAM => {
                if h.stream == 0 || payload.len() < 4 {
                    return Err(());
                }
                let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                if let Some(s) = self.streams.get_mut(&h.stream) {
                    s.rec.reset_code = Some(code);
                    s.half[d].last_ts = ctx.ts;
                    self.emit(h.stream, Outcome::Reset, ctx);
                }
            }
            kind::HEADERS | kind::PUSH_PROMISE => {
                if h.stream == 0 {
                    return Err(());
                }
                let mut p = payload;
                let mut pad = 0usize;
                if h.flags & flag::PADDED != 0 {
                    pad = usize::from(*p.first().ok_or(())?);
                    p = &p[1..];
                }
                let push = h.kind == kind::PUSH_PROMISE;
                if push {
                    p = p.get(4..).ok_or(())?;
                } else if h.flags & flag::PRIORITY != 0 {
                    p = p.get(5..).ok_or(())?;
                }
                if pad > p.len() {
                    return Err(());
                }
                let block = &p[..p.len() - pad];
                let end_stream = !push && h.flags & flag::END_STREAM != 0;
                if !push {
                    self.account(dir, h.stream, total, ctx);
                }
                if h.flags & flag::END_HEADERS != 0 {
                    self.block(dir, h.stream, block, end_stream, push, ctx);
                } else {
                    self.dirs[d].cont = Some(Cont {
                        stream: h.stream,
                        block: block.to_vec(),
                        end_stream,
                        push,
                    });
                }
            }
            kind::CONTINUATION => {
                let Some(mut c) = self.dirs[d].cont.take() else {
                    return Err(());
                };
                if c.stream != h.stream {
                    return Err(());
                }
                if !c.push {
                    self.account(dir, h.stream, total, ctx);
                }
                if c.block.len() + payload.len() > ctx.config.max_buffer.max(64) {
                    ctx.stats.oversized += 1;
                    self.lose(dir, ctx);
                    if let Some(s) = self.streams.get_mut(&h.stream) {
                        s.half[d].headers = true;
                        s.rec.undecodable = true;
                    }
                    return Ok(());
                }
                c.block.extend_from_slice(payload);
                if h.flags & flag::END_HEADERS != 0 {
                    self.block(dir, c.stream, &c.block, c.end_stream, c.push, ctx);
                } else {
                    self.dirs[d].cont = Some(c);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A complete header block of `stream` from `dir`.
    fn block(
        &mut self,
        dir: Direction,
        id: u32,
        block: &[u8],
        end_stream: bool,
        push: bool,
        ctx: &mut Ctx<'_>,
    ) {
        let fields = match self.decoder(dir, ctx).decode(block) {
            Ok(f) => Some(f),
            Err(_) => {
                ctx.stats.hpack_failures += 1;
                None
            }
        };
        if push || pushed(id) {
            // Decoded only to keep the table in step; pushed streams are not exchanges we report.
            return;
        }
        let b = Block::from(fields);
        // Decoded pseudo-headers say which side asks; they beat a role hint.
        let said = if known(&b.method).is_some() {
            Some(dir)
        } else if known(&b.status).is_some() {
            Some(dir.flip())
        } else {
            None
        };
        if let Some(r) = said {
            if ctx.request_dir.is_some_and(|old| old != r) {
                ctx.stats.role_conflicts += 1;
            }
            ctx.request_dir = Some(r);
        }
        let is_request = ctx.request_dir.map(|r| r == dir);
        let d = dir.index();
        let config_sensitive = ctx.config.capture_sensitive;
        let keep_ua = ctx.config.keep_user_agent;
        let max = ctx.config.max_field;
        let path = known(&b.path).map(|p| path_field(&p, ctx));
        let Some(s) = self.stream(id, ctx) else {
            return;
        };
        let first = !s.half[d].headers;
        s.half[d].headers = true;
        let cut = |v: Option<String>| v.map(|v| super::cut(&v, max));
        match is_request {
            None => s.rec.undecodable = true,
            Some(true) => {
                if first {
                    s.request_dir = Some(dir);
                    if !b.request_known() {
                        s.rec.undecodable = true;
                    }
                    s.rec.method = cut(known(&b.method));
                    s.rec.path = path;
                    s.rec.host = cut(known(&b.authority));
                    s.rec.content_type = cut(known(&b.content_type));
                    if keep_ua {
                        s.rec.user_agent = cut(known(&b.user_agent));
                    }
                    if config_sensitive {
                        s.rec.authorization = cut(known(&b.authorization));
                        s.rec.cookie = cut(known(&b.cookie));
                    }
                }
            }
            Some(false) => {
                let trailers = s.final_status || s.half[d].data;
                if !b.ok {
                    // A block we cannot read: its status or grpc-status is not knowable.
                    s.rec.undecodable = true;
                } else if !trailers {
                    match known(&b.status).and_then(|v| v.parse::<u16>().ok()) {
                        Some(st) if (100..200).contains(&st) => {}
                        Some(st) => {
                            s.rec.status = Some(st);
                            s.final_status = true;
                        }
                        None => s.rec.undecodable = true,
                    }
                    if let Some(ct) = known(&b.content_type) {
                        s.response_content_type = Some(super::cut(&ct, max));
                    }
                }
                if b.ok {
                    if let Some(g) = known(&b.grpc_status).and_then(|v| v.trim().parse().ok()) {
                        s.grpc_status = Some(g);
                    } else if b.unknown_name {
                        // grpc-status may have been the field we could not read.
                        s.grpc_unknown = true;
                    }
                }
            }
        }
        if end_stream {
            self.end(dir, id, ctx);
        }
    }

    /// `dir` of stream `id` ended (END_STREAM) at `ctx.ts`.
    fn end(&mut self, dir: Direction, id: u32, ctx: &mut Ctx<'_>) {
        let ts = ctx.ts;
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let h = &mut s.half[dir.index()];
        h.ended = true;
        h.last_ts = ts;
        let request_dir = s.request_dir.or(ctx.request_dir);
        let both = s.half[0].ended && s.half[1].ended;
        if both || request_dir.is_some_and(|r| r != dir) {
            self.emit(id, Outcome::Complete, ctx);
        }
    }

    /// Emit and forget stream `id`.
    fn emit(&mut self, id: u32, outcome: Outcome, ctx: &mut Ctx<'_>) {
        let Some(s) = self.streams.remove(&id) else {
            return;
        };
        let Some(req_dir) = s.request_dir.or(ctx.request_dir) else {
            // Which half is the request is unknown: count it, emit nothing misleading.
            ctx.stats.undecodable += 1;
            let mut rec = s.rec;
            rec.undecodable = true;
            rec.method = None;
            rec.path = None;
            rec.status = None;
            self.push(id, rec, &s.half[0], &s.half[1], outcome, ctx);
            return;
        };
        let req = &s.half[req_dir.index()];
        let resp = &s.half[req_dir.flip().index()];
        let mut rec = s.rec;
        if !req.headers {
            // The stream began before we looked.
            rec.undecodable = true;
        }
        if outcome == Outcome::Complete && !s.final_status {
            rec.undecodable = true;
        }
        if rec.content_type.is_none() || s.response_content_type.is_some() {
            rec.content_type = s.response_content_type.or(rec.content_type);
        }
        let grpc = rec
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/grpc"));
        if grpc && s.grpc_status.is_none() && s.grpc_unknown {
            rec.undecodable = true;
        }
        if grpc {
            let (service, method) = match rec.path.as_deref().and_then(|p| p.strip_prefix('/')) {
                Some(p) => match p.split_once('/') {
                    Some((svc, m)) => (Some(svc.to_string()), Some(m.to_string())),
                    None => (None, None),
                },
                None => (None, None),
            };
            rec.grpc = Some(GrpcInfo {
                service,
                method,
                status: s.grpc_status,
            });
        }
        if rec.undecodable {
            ctx.stats.undecodable += 1;
        }
        let (req, resp) = (req.clone(), resp.clone());
        self.push(id, rec, &req, &resp, outcome, ctx);
    }

    fn push(
        &mut self,
        id: u32,
        mut rec: HttpRecord,
        req: &Half,
        resp: &Half,
        outcome: Outcome,
        ctx: &mut Ctx<'_>,
    ) {
        rec.version = HttpVersion::Http2;
        rec.stream_id = id;
        let start = if req.headers || req.bytes > 0 {
            req.first_ts
        } else {
            resp.first_ts
        };
        let outcome = if rec.undecodable && outcome == Outcome::Complete {
            Outcome::Partial
        } else {
            outcome
        };
        ctx.emit(Record {
            conn: ctx.conn,
            role: ctx.role(),
            start_ns: start,
            end_ns: resp.last_ts.max(req.last_ts).max(start),
            request_bytes: req.bytes,
            response_bytes: resp.bytes,
            outcome,
            detail: Detail::Http(rec),
        });
    }

    /// Bytes of `dir` were lost: its table is unknown, a header block in progress is gone.
    fn lose(&mut self, dir: Direction, ctx: &Ctx<'_>) {
        let d = dir.index();
        if let Some(c) = self.dirs[d].cont.take() {
            if let Some(s) = self.streams.get_mut(&c.stream) {
                s.half[d].headers = true;
                s.rec.undecodable = true;
            }
        }
        self.dirs[d].pending_end = None;
        self.decoder(dir, ctx).forget();
    }
}

impl Framed for Core {
    fn parse(&mut self, side: Side, buf: &[u8], _start_ts: u64, ctx: &mut Ctx<'_>) -> Parsed {
        self.parse_frame(dir_of(side), buf, ctx)
    }

    fn skip_done(&mut self, side: Side, ctx: &mut Ctx<'_>) {
        let dir = dir_of(side);
        if let Some(id) = self.dirs[dir.index()].pending_end.take() {
            self.end(dir, id, ctx);
        }
    }

    fn interrupted(
        &mut self,
        side: Side,
        _buf: &[u8],
        _more: u64,
        _why: Interrupt,
        _start_ts: u64,
        ctx: &mut Ctx<'_>,
    ) {
        let dir = dir_of(side);
        self.dirs[dir.index()].started = true;
        self.lose(dir, ctx);
    }

    fn can_start(&self, _side: Side, data: &[u8]) -> bool {
        frame::plausible_frames(data, u64::MAX)
    }
}

impl ProtocolParser for Http2 {
    fn protocol(&self) -> Protocol {
        Protocol::Http2
    }

    fn feed(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], gap: u64) {
        let side = side_of(dir);
        drive(
            &mut self.streams[dir.index()],
            &mut self.core,
            side,
            data,
            gap,
            ctx,
        );
    }

    fn lost(&mut self, ctx: &mut Ctx<'_>) {
        for dir in [Direction::Ingress, Direction::Egress] {
            self.streams[dir.index()].reset();
            self.core.dirs[dir.index()].started = true;
            self.core.lose(dir, ctx);
        }
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        let ids: Vec<u32> = self.core.streams.keys().copied().collect();
        for id in ids {
            self.core.emit(id, Outcome::Closed, ctx);
        }
        for s in &mut self.streams {
            s.stop();
        }
    }

    fn memory(&self) -> usize {
        self.streams.iter().map(ByteStream::memory).sum::<usize>()
            + self
                .core
                .dirs
                .iter()
                .map(|d| {
                    d.decoder.as_ref().map_or(0, Decoder::memory)
                        + d.cont.as_ref().map_or(0, |c| c.block.capacity())
                })
                .sum::<usize>()
            + self
                .core
                .streams
                .values()
                .map(|s| {
                    std::mem::size_of::<Stream>()
                        + 48
                        + record_heap(&s.rec)
                        + s.response_content_type.as_ref().map_or(0, String::capacity)
                })
                .sum::<usize>()
    }
}
