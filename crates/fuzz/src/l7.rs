//! The `l7` target: captured traffic through [`kestrel_l7::Tracker`].
//!
//! An input is a *tape*: a first byte of connection hints, then operations — a chunk (its
//! direction, connection, uncaptured gap and bytes), records lost, a close. Inputs are made
//! from valid exchanges of every protocol (HTTP/1 pipelined, HTTP/2 with HPACK, Redis,
//! PostgreSQL, DNS), mutated and cut at random points with random gaps, or random bytes.
//! Properties: no panic, per-connection memory within [`MEMORY_BOUND`], every kept string
//! within the configured field limit, and the record count in the stats equal to the
//! records emitted.

use kestrel_l7::{
    Chunk, Config, ConnId, ConnMeta, Detail, Direction, Record, Role, Tracker, Transport,
};

use crate::rng::Rng;

/// Most bytes one connection may hold under [`config`] (buffers, queues, tables, streams).
pub const MEMORY_BOUND: usize = 256 * 1024;

/// The tracker options the target runs with: small limits, so they are reached.
pub fn config() -> Config {
    Config {
        capture_sensitive: false,
        keep_user_agent: true,
        max_buffer: 4096,
        max_pending: 16,
        max_field: 256,
        max_streams: 16,
        max_hpack_table: 8192,
        max_connections: 8,
        detect_attempts: 8,
        max_statements: 32,
    }
}

/// Run one tape. `Ok(true)` when it produced records.
pub fn run(tape: &[u8]) -> Result<bool, String> {
    run_measured(tape).map(|o| !o.records.is_empty())
}

/// What one tape did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The records emitted.
    pub records: Vec<Record>,
    /// The most bytes one connection held after any operation.
    pub peak_memory: usize,
    /// The tracker's counters at the end.
    pub stats: kestrel_l7::Stats,
}

/// Run one tape and report what it did (`Err` when a property fails).
pub fn run_measured(tape: &[u8]) -> Result<Outcome, String> {
    let mut peak = 0;
    let Some((&hints, mut ops)) = tape.split_first() else {
        return Ok(Outcome::default());
    };
    let mut config = config();
    config.capture_sensitive = hints & 0x40 != 0;
    let max_field = config.max_field;
    let mut t = Tracker::new(config);
    let meta = meta(hints);
    let conns = [ConnId(1), ConnId(2)];
    for c in conns {
        t.open(c, meta);
    }
    let mut out: Vec<Record> = Vec::new();
    let mut ts = 1_000u64;
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        ts += 1_000;
        let conn = conns[usize::from(op >> 2 & 1)];
        match op & 3 {
            0 | 1 => {
                let dir = if op & 3 == 0 {
                    Direction::Ingress
                } else {
                    Direction::Egress
                };
                let g = u64::from(op >> 3);
                let gap = if g == 0 { 0 } else { g * g * 37 };
                let (len, rest) = match ops {
                    [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
                    _ => (0, &[][..]),
                };
                let n = len.min(rest.len()).min(8192);
                let (bytes, rest) = rest.split_at(n);
                ops = rest;
                t.feed(
                    &Chunk {
                        conn,
                        direction: dir,
                        role: None,
                        timestamp_ns: ts,
                        bytes,
                        total_len: n as u64 + gap,
                        truncated: gap > 0,
                    },
                    &mut out,
                );
            }
            2 => t.lost(conn, u64::from(op >> 3) + 1, &mut out),
            _ => {
                t.close(conn, ts, &mut out);
                t.open(conn, meta);
            }
        }
        for c in conns {
            let m = t.conn_memory(c).unwrap_or(0);
            peak = peak.max(m);
            if m > MEMORY_BOUND {
                return Err(format!(
                    "connection {} holds {m} bytes (bound {MEMORY_BOUND})",
                    c.0
                ));
            }
        }
    }
    for c in conns {
        t.close(c, ts + 1, &mut out);
    }
    if t.stats().records != out.len() as u64 {
        return Err(format!(
            "stats count {} records, {} were emitted",
            t.stats().records,
            out.len()
        ));
    }
    for r in &out {
        check_record(r, max_field)?;
    }
    Ok(Outcome {
        records: out,
        peak_memory: peak,
        stats: t.stats().clone(),
    })
}

fn meta(hints: u8) -> ConnMeta {
    let (local, remote) = match hints & 7 {
        1 => (Some(80), None),
        2 => (None, Some(53)),
        3 => (None, Some(6379)),
        4 => (Some(5432), None),
        5 => (Some(443), None),
        6 => (None, Some(8080)),
        _ => (None, None),
    };
    ConnMeta {
        transport: if hints & 8 != 0 {
            Transport::Udp
        } else {
            Transport::Tcp
        },
        role: match hints >> 4 & 3 {
            1 => Some(Role::Server),
            2 => Some(Role::Client),
            _ => None,
        },
        local_port: local,
        remote_port: remote,
        protocol: None,
    }
}

fn check_record(r: &Record, max: usize) -> Result<(), String> {
    let too_long = |what: &str, s: &Option<String>, limit: usize| match s {
        Some(v) if v.len() > limit => {
            Err(format!("{what} of {} bytes kept (limit {limit})", v.len()))
        }
        _ => Ok(()),
    };
    if r.end_ns < r.start_ns {
        return Err(format!("record ends before it starts: {r:?}"));
    }
    match &r.detail {
        Detail::Http(h) => {
            for (what, s) in [
                ("method", &h.method),
                ("path", &h.path),
                ("host", &h.host),
                ("user-agent", &h.user_agent),
                ("content-type", &h.content_type),
            ] {
                too_long(what, s, max)?;
            }
            if h.authorization.is_some() || h.cookie.is_some() {
                // Kept only with capture_sensitive; the tape's hint decides, so check sizes.
                too_long("authorization", &h.authorization, max)?;
                too_long("cookie", &h.cookie, max)?;
            }
        }
        Detail::Dns(d) => too_long("dns name", &Some(d.name.clone()), max)?,
        Detail::Redis(d) => {
            too_long("redis command", &Some(d.command.clone()), 32)?;
            too_long("redis error", &d.error, max)?;
        }
        Detail::Postgres(p) => {
            too_long("command tag", &p.command_tag, 64)?;
            too_long("sqlstate", &p.error_code, 16)?;
        }
    }
    Ok(())
}

/// One exchange: (direction, bytes) writes in order.
type Exchange = Vec<(Direction, Vec<u8>)>;

/// A new input: a valid exchange of some protocol (maybe mutated), or random bytes, as a tape.
pub fn input(rng: &mut Rng) -> Vec<u8> {
    let (hints, mut ex) = match rng.below(7) {
        0 => (rng.below(256) as u8 & !0x08, http1(rng)),
        1 => (0, http2(rng)),
        2 => (3, redis(rng)),
        3 => (4, postgres(rng)),
        4 => (if rng.one_in(2) { 0x0a } else { 2 }, dns(rng)),
        5 => (1, random_exchange(rng)),
        _ => (rng.below(256) as u8, random_exchange(rng)),
    };
    if !rng.one_in(4) {
        mutate(rng, &mut ex);
    }
    tape(rng, hints, &ex)
}

/// Encode an exchange as a tape, cut at random points, with random gaps, losses and closes.
pub fn tape(rng: &mut Rng, hints: u8, ex: &Exchange) -> Vec<u8> {
    let mut t = vec![hints];
    let conn_bit = if rng.one_in(8) { 4 } else { 0 };
    for (dir, bytes) in ex {
        let mut at = 0;
        while at < bytes.len() || (bytes.is_empty() && at == 0) {
            let n = if rng.one_in(3) {
                bytes.len() - at
            } else {
                1 + rng.below((bytes.len() - at).max(1))
            };
            let n = n.min(bytes.len() - at);
            let gap = if rng.one_in(10) {
                1 + rng.below(31) as u8
            } else {
                0
            };
            let d = if *dir == Direction::Ingress { 0 } else { 1 };
            t.push(d | conn_bit | gap << 3);
            t.extend_from_slice(&(n as u16).to_le_bytes());
            t.extend_from_slice(&bytes[at..at + n]);
            at += n;
            if bytes.is_empty() {
                break;
            }
            if rng.one_in(60) {
                t.push(2 | conn_bit | (rng.below(4) as u8) << 3);
            }
        }
        if rng.one_in(40) {
            t.push(3 | conn_bit);
        }
    }
    t
}

fn mutate(rng: &mut Rng, ex: &mut Exchange) {
    for _ in 0..1 + rng.below(4) {
        let Some(i) = (!ex.is_empty()).then(|| rng.below(ex.len())) else {
            return;
        };
        let b = &mut ex[i].1;
        let len = b.len();
        match rng.below(8) {
            0 if len > 0 => {
                let j = rng.below(len);
                b[j] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let j = rng.below(len);
                b[j] = [0, 0xff, 0x7f, 0x80, b'\r', b'\n', b'9', b' '][rng.below(8)];
            }
            2 => {
                let j = rng.below(len + 1);
                let junk: Vec<u8> = (0..1 + rng.below(16))
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                b.splice(j..j, junk);
            }
            3 if len > 0 => {
                let j = rng.below(len);
                let k = (j + 1 + rng.below(32)).min(len);
                b.drain(j..k);
            }
            4 if len > 0 => {
                let j = rng.below(len);
                let k = (j + 1 + rng.below(64)).min(len);
                let dup = b[j..k].to_vec();
                b.splice(k..k, dup);
            }
            5 if len > 0 => {
                // A number made huge: lengths near u64::MAX, i64::MAX, u32::MAX.
                let j = rng.below(len);
                let huge: &[u8] = [
                    &b"18446744073709551615"[..],
                    b"9223372036854775807",
                    b"4294967295",
                    b"ffffffffffffffff",
                    b"-1",
                ][rng.below(5)];
                let end = (j..len)
                    .find(|&k| !b[k].is_ascii_alphanumeric())
                    .unwrap_or(len);
                b.splice(j..end, huge.iter().copied());
            }
            6 => {
                let d = ex[i].0.flip();
                let copy = ex[rng.below(ex.len())].1.clone();
                ex.insert(rng.below(ex.len() + 1), (d, copy));
            }
            _ => {
                if ex.len() > 1 {
                    let j = rng.below(ex.len());
                    ex.remove(j);
                }
            }
        }
    }
}

fn random_exchange(rng: &mut Rng) -> Exchange {
    (0..1 + rng.below(6))
        .map(|_| {
            let dir = if rng.one_in(2) {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            let max = if rng.one_in(8) { 6000 } else { 300 };
            let n = rng.below(max);
            (dir, (0..n).map(|_| rng.next_u64() as u8).collect())
        })
        .collect()
}

const PATHS: &[&str] = &[
    "/",
    "/missing",
    "/index.html",
    "/users/42?token=x",
    "/a/b/c",
];

fn http1(rng: &mut Rng) -> Exchange {
    let mut ex = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let k = 1 + rng.below(3);
        let mut reqs = Vec::new();
        let mut resps = Vec::new();
        for _ in 0..k {
            let path = PATHS[rng.below(PATHS.len())];
            match rng.below(4) {
                0 => reqs.extend_from_slice(
                    format!("POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello").as_bytes(),
                ),
                1 => reqs.extend_from_slice(
                    format!("PUT {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\nCookie: a=b\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
                        .as_bytes(),
                ),
                2 => reqs.extend_from_slice(format!("HEAD {path} HTTP/1.0\r\n\r\n").as_bytes()),
                _ => reqs.extend_from_slice(
                    format!("GET {path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n\r\n").as_bytes(),
                ),
            }
            match rng.below(4) {
                0 => resps.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
                1 => resps.extend_from_slice(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\nT: 1\r\n\r\n",
                ),
                2 => resps.extend_from_slice(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!"),
                _ => resps.extend_from_slice(b"HTTP/1.0 200 OK\r\n\r\nuntil close"),
            }
        }
        ex.push((Direction::Ingress, reqs));
        ex.push((Direction::Egress, resps));
    }
    ex
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn lit_inc(name_index: u8, value: &str) -> Vec<u8> {
    let mut v = vec![0x40 | name_index, value.len() as u8];
    v.extend_from_slice(value.as_bytes());
    v
}

fn http2(rng: &mut Rng) -> Exchange {
    let mut client = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    client.extend(frame(4, 0, 0, &[0, 1, 0, 0, 0x10, 0]));
    let mut server = frame(4, 0, 0, &[]);
    let mut ex = Vec::new();
    for i in 0..1 + rng.below(4) as u32 {
        let id = 1 + 2 * i;
        let path = PATHS[rng.below(PATHS.len())];
        let block = if i == 0 || rng.one_in(2) {
            [
                vec![0x82, 0x86],
                lit_inc(4, path),
                lit_inc(1, "example.com"),
            ]
            .concat()
        } else {
            // References to what earlier blocks inserted.
            vec![0x82, 0x86, 0xbf, 0xbe]
        };
        let grpc = rng.one_in(3);
        let mut block = block;
        if grpc {
            block.extend(
                [0x00, 12]
                    .iter()
                    .chain(b"content-type")
                    .chain(&[16])
                    .chain(b"application/grpc"),
            );
        }
        client.extend(frame(1, 0x05, id, &block));
        server.extend(frame(1, 0x04, id, &[0x88]));
        server.extend(frame(0, 0, id, b"payload"));
        let trailers = [vec![0x00, 11], b"grpc-status".to_vec(), vec![1, b'5']].concat();
        server.extend(frame(1, 0x05, id, &trailers));
        if rng.one_in(3) {
            ex.push((Direction::Ingress, std::mem::take(&mut client)));
            ex.push((Direction::Egress, std::mem::take(&mut server)));
        }
    }
    ex.push((Direction::Ingress, client));
    ex.push((Direction::Egress, server));
    if rng.one_in(3) {
        // Seen mid-stream.
        ex.remove(0);
    } else if rng.one_in(3) {
        // Reached by `Upgrade: h2c` from HTTP/1.1: the 101 comes first, in the server's write.
        ex.insert(
            0,
            (
                Direction::Ingress,
                b"GET /up HTTP/1.1\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n".to_vec(),
            ),
        );
        if let Some((_, server)) = ex.iter_mut().find(|(d, _)| *d == Direction::Egress) {
            let mut s = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n".to_vec();
            s.append(server);
            *server = s;
        }
    }
    ex
}

fn redis(rng: &mut Rng) -> Exchange {
    let mut cmds = Vec::new();
    let mut replies = Vec::new();
    for _ in 0..1 + rng.below(5) {
        match rng.below(4) {
            0 => {
                cmds.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n");
                replies.extend_from_slice(b"+OK\r\n");
            }
            1 => {
                cmds.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
                replies.extend_from_slice(b"$5\r\nvalue\r\n");
            }
            2 => {
                cmds.extend_from_slice(b"PING\r\n");
                replies.extend_from_slice(b"-ERR nope\r\n");
            }
            _ => {
                cmds.extend_from_slice(b"*1\r\n$4\r\nKEYS\r\n");
                replies.extend_from_slice(b"*2\r\n$1\r\na\r\n%1\r\n+x\r\n:1\r\n");
            }
        }
    }
    vec![(Direction::Egress, cmds), (Direction::Ingress, replies)]
}

fn pg_msg(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn postgres(rng: &mut Rng) -> Exchange {
    let startup = b"\x00\x00\x00\x17\x00\x03\x00\x00user\x00app\x00\x00".to_vec();
    let ready = pg_msg(b'Z', b"I");
    let mut ex = vec![
        (Direction::Ingress, startup),
        (
            Direction::Egress,
            [pg_msg(b'R', &[0, 0, 0, 0]), ready.clone()].concat(),
        ),
    ];
    for _ in 0..1 + rng.below(3) {
        if rng.one_in(2) {
            ex.push((Direction::Ingress, pg_msg(b'Q', b"select 1\x00")));
            ex.push((
                Direction::Egress,
                [
                    pg_msg(b'D', b"\x00\x01\x00\x00\x00\x011"),
                    pg_msg(b'C', b"SELECT 1\x00"),
                    ready.clone(),
                ]
                .concat(),
            ));
        } else {
            ex.push((
                Direction::Ingress,
                [
                    pg_msg(b'P', b"s\x00update t set a=1\x00\x00\x00"),
                    pg_msg(b'B', b"\x00s\x00\x00\x00\x00\x00\x00\x00"),
                    pg_msg(b'E', b"\x00\x00\x00\x00\x00"),
                    pg_msg(b'S', b""),
                ]
                .concat(),
            ));
            ex.push((
                Direction::Egress,
                [
                    pg_msg(b'E', b"SERROR\x00C42P01\x00Mno\x00\x00"),
                    ready.clone(),
                ]
                .concat(),
            ));
        }
    }
    ex
}

fn dns(rng: &mut Rng) -> Exchange {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    let mut r = q.clone();
    r[2] = 0x81;
    r[3] = 0x80 | rng.below(6) as u8;
    r[7] = 1;
    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    let framed = |m: &[u8]| [&(m.len() as u16).to_be_bytes()[..], m].concat();
    if rng.one_in(2) {
        vec![(Direction::Egress, q), (Direction::Ingress, r)]
    } else {
        vec![
            (Direction::Egress, framed(&q)),
            (Direction::Ingress, framed(&r)),
        ]
    }
}
