//! The connection tracker: the one entry point of the capture side.

use std::collections::HashMap;

use crate::config::Config;
use crate::detect::detect;
use crate::proto::{new_parser, Ctx, ProtocolParser};
use crate::record::Record;
use crate::stats::Stats;
use crate::types::{Chunk, ConnId, ConnMeta, Direction, Protocol, Role};

/// Per-connection parsing state for every connection the capture reports.
///
/// Feed it chunks in the order the syscalls returned; it detects each connection's protocol,
/// settles the role, and appends finished exchanges to the caller's vector.
pub struct Tracker {
    config: Config,
    conns: HashMap<ConnId, Conn>,
    stats: Stats,
}

enum State {
    Detecting,
    Parsing(Box<dyn ProtocolParser>),
    Opaque,
}

struct Conn {
    meta: ConnMeta,
    state: State,
    request_dir: Option<Direction>,
    attempts: u32,
    /// Chunks seen since detection gave up (every [`REDETECT_EVERY`] it looks again).
    opaque_chunks: u32,
    last_ts: u64,
    /// Short chunks that detection could not judge yet, per direction, with the time of the
    /// first of them (a request line split into tiny writes still gets detected).
    probe: [(Vec<u8>, u64); 2],
}

/// Most bytes kept per direction for detection.
const PROBE: usize = 256;

/// An undetected connection gets one more detection attempt every this many chunks.
const REDETECT_EVERY: u32 = 64;

/// Fixed bytes of one tracked connection besides its parser's heap (map slot and state).
const CONN_OVERHEAD: usize = std::mem::size_of::<Conn>() + std::mem::size_of::<ConnId>() + 16;

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(Config::default())
    }
}

impl Tracker {
    /// A tracker with no connections.
    pub fn new(config: Config) -> Tracker {
        Tracker {
            config,
            conns: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// The options in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Tell the tracker what is known of a connection before its first chunk (role, ports,
    /// transport, protocol). Calling it again for a known connection updates hints that are
    /// not settled yet.
    pub fn open(&mut self, conn: ConnId, meta: ConnMeta) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.meta = ConnMeta {
                transport: meta.transport,
                role: c.meta.role.or(meta.role),
                local_port: c.meta.local_port.or(meta.local_port),
                remote_port: c.meta.remote_port.or(meta.remote_port),
                protocol: c.meta.protocol.or(meta.protocol),
            };
            if c.request_dir.is_none() {
                c.request_dir = meta.role.map(Role::request_direction);
            }
            return;
        }
        if self.conns.len() >= self.config.max_connections {
            self.stats.untracked_connections += 1;
            return;
        }
        self.conns.insert(
            conn,
            Conn {
                meta,
                state: State::Detecting,
                request_dir: meta.role.map(Role::request_direction),
                attempts: 0,
                opaque_chunks: 0,
                last_ts: 0,
                probe: Default::default(),
            },
        );
    }

    /// One captured read or write. Finished exchanges are appended to `out`.
    pub fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<Record>) {
        self.stats.chunks += 1;
        let total = chunk.total_len.max(chunk.bytes.len() as u64);
        let gap = total - chunk.bytes.len() as u64;
        if !self.conns.contains_key(&chunk.conn) {
            if self.conns.len() >= self.config.max_connections {
                self.stats.untracked_connections += 1;
                self.stats.unparsed_bytes += total;
                return;
            }
            self.open(chunk.conn, ConnMeta::default());
        }
        let Some(c) = self.conns.get_mut(&chunk.conn) else {
            return;
        };
        c.last_ts = chunk.timestamp_ns;
        if c.request_dir.is_none() {
            if let Some(role) = chunk.role.or(c.meta.role) {
                c.request_dir = Some(role.request_direction());
            }
        }
        let mut early: Option<(Vec<u8>, u64)> = None;
        if let State::Opaque = c.state {
            // A connection joined in the middle of a long message may show a message start
            // later: look again now and then (detection is cheap and rejects noise).
            c.opaque_chunks = c.opaque_chunks.wrapping_add(1);
            if c.opaque_chunks % REDETECT_EVERY == 0 {
                c.state = State::Detecting;
                c.attempts = self.config.detect_attempts.saturating_sub(1);
            }
        }
        if let State::Detecting = c.state {
            let d = chunk.direction.index();
            let joined: Vec<u8>;
            let probe_len = c.probe[d].0.len();
            let seen: &[u8] = if probe_len == 0 {
                chunk.bytes
            } else {
                joined = [c.probe[d].0.as_slice(), chunk.bytes].concat();
                &joined
            };
            let found = match c.meta.protocol {
                Some(protocol) => Some(protocol),
                None => detect(seen, total + probe_len as u64, chunk.direction, &c.meta).map(|d| {
                    // What the bytes say about direction beats a role hint: a request line
                    // written by the process makes it the client, whatever the hint said.
                    let evidence = match d.is_request {
                        Some(true) => Some(chunk.direction),
                        Some(false) => Some(chunk.direction.flip()),
                        None => None,
                    };
                    if let Some(e) = evidence {
                        if c.request_dir.is_some_and(|r| r != e) {
                            self.stats.role_conflicts += 1;
                        }
                        c.request_dir = Some(e);
                    }
                    d.protocol
                }),
            };
            match found {
                Some(p) => {
                    c.state = State::Parsing(new_parser(p));
                    let other = std::mem::take(&mut c.probe[1 - d]);
                    self.stats.unparsed_bytes += other.0.len() as u64;
                    let mine = std::mem::take(&mut c.probe[d]);
                    if !mine.0.is_empty() {
                        early = Some(mine);
                    }
                }
                None => {
                    c.attempts += 1;
                    if gap == 0 && seen.len() < PROBE {
                        let first_ts = if probe_len == 0 {
                            chunk.timestamp_ns
                        } else {
                            c.probe[d].1
                        };
                        c.probe[d] = (seen.to_vec(), first_ts);
                    } else {
                        self.stats.unparsed_bytes += total + probe_len as u64;
                        c.probe[d] = Default::default();
                    }
                    if c.attempts >= self.config.detect_attempts {
                        if c.opaque_chunks == 0 {
                            // Counted once, not at every later look.
                            self.stats.undetected_connections += 1;
                        }
                        for p in &mut c.probe {
                            self.stats.unparsed_bytes += p.0.len() as u64;
                            *p = Default::default();
                        }
                        c.state = State::Opaque;
                    }
                    return;
                }
            }
        }
        match &mut c.state {
            State::Parsing(parser) => {
                let mut ctx = Ctx {
                    conn: chunk.conn,
                    ts: chunk.timestamp_ns,
                    request_dir: c.request_dir,
                    transport: c.meta.transport,
                    config: &self.config,
                    stats: &mut self.stats,
                    out,
                };
                if let Some((bytes, ts)) = early {
                    ctx.ts = ts;
                    parser.feed(&mut ctx, chunk.direction, &bytes, 0);
                    ctx.ts = chunk.timestamp_ns;
                }
                parser.feed(&mut ctx, chunk.direction, chunk.bytes, gap);
                if let Some(up) = parser.upgrade() {
                    *parser = up.parser;
                    parser.feed(&mut ctx, up.direction, &up.bytes, up.gap);
                }
                c.request_dir = ctx.request_dir;
            }
            State::Opaque => self.stats.unparsed_bytes += total,
            State::Detecting => {}
        }
    }

    /// The capture lost `n` records of this connection (ring buffer full): parsers drop what
    /// they were in the middle of and resynchronise.
    pub fn lost(&mut self, conn: ConnId, n: u64, out: &mut Vec<Record>) {
        self.stats.lost_chunks += n;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let State::Parsing(parser) = &mut c.state {
            let mut ctx = Ctx {
                conn,
                ts: c.last_ts,
                request_dir: c.request_dir,
                transport: c.meta.transport,
                config: &self.config,
                stats: &mut self.stats,
                out,
            };
            parser.lost(&mut ctx);
            c.request_dir = ctx.request_dir;
        }
    }

    /// The connection closed at `ts`: close-delimited responses finish, requests still
    /// waiting are emitted with [`crate::Outcome::Closed`], and the state is freed.
    pub fn close(&mut self, conn: ConnId, ts: u64, out: &mut Vec<Record>) {
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        self.stats.closed_connections += 1;
        if let State::Parsing(parser) = &mut c.state {
            let mut ctx = Ctx {
                conn,
                ts: ts.max(c.last_ts),
                request_dir: c.request_dir,
                transport: c.meta.transport,
                config: &self.config,
                stats: &mut self.stats,
                out,
            };
            parser.close(&mut ctx);
        }
    }

    /// Close every connection at `ts` (at exit: requests still waiting come out as
    /// [`crate::Outcome::Closed`] instead of vanishing).
    pub fn close_all(&mut self, ts: u64, out: &mut Vec<Record>) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id, ts, out);
        }
    }

    /// Close every connection with no chunk since `now_ns - idle_ns` (for connections whose
    /// close the capture missed). Returns how many were closed.
    pub fn expire_idle(&mut self, now_ns: u64, idle_ns: u64, out: &mut Vec<Record>) -> usize {
        let old: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| now_ns.saturating_sub(c.last_ts) > idle_ns)
            .map(|(id, _)| *id)
            .collect();
        for id in &old {
            let ts = self.conns.get(id).map_or(now_ns, |c| c.last_ts);
            self.close(*id, ts, out);
        }
        old.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Connections tracked now.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The protocol detected for `conn`, once detected.
    pub fn protocol(&self, conn: ConnId) -> Option<Protocol> {
        match &self.conns.get(&conn)?.state {
            State::Parsing(p) => Some(p.protocol()),
            _ => None,
        }
    }

    /// The role settled for `conn`, once settled.
    pub fn role(&self, conn: ConnId) -> Option<Role> {
        self.conns
            .get(&conn)?
            .request_dir
            .map(Role::from_request_direction)
    }

    /// Approximate heap bytes held for `conn` (parser buffers, queues, tables).
    pub fn conn_memory(&self, conn: ConnId) -> Option<usize> {
        let c = self.conns.get(&conn)?;
        Some(
            CONN_OVERHEAD
                + c.probe.iter().map(|p| p.0.capacity()).sum::<usize>()
                + match &c.state {
                    State::Parsing(p) => p.memory(),
                    _ => 0,
                },
        )
    }

    /// Approximate heap bytes held for all connections.
    pub fn memory(&self) -> usize {
        self.conns
            .keys()
            .filter_map(|id| self.conn_memory(*id))
            .sum()
    }
}
