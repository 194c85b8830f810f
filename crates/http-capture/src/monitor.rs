//! Decoded records → connection table → [`kestrel_l7::Tracker`] → [`Exchange`]s with the
//! process and address facts a line or a metric needs. No I/O except the small /proc reads
//! that classify a connection once (cgroup filter, unverified accepts).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kestrel_l7::{Chunk, Config, ConnId, ConnMeta, Direction, Record, Role, Tracker, Transport};

use crate::decode::{Header, Raw};
use crate::layout;
use crate::seed::Seeded;

/// Which exchanges to keep (everything else is not even parsed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this process.
    pub pid: Option<u32>,
    /// Only connections with this local or peer port.
    pub port: Option<u16>,
    /// Only processes with this command name.
    pub comm: Option<String>,
    /// Only processes in this cgroup (v2 path, e.g. `/system.slice/nginx.service`, or a
    /// path under /sys/fs/cgroup) or below it.
    pub cgroup: Option<String>,
    /// Only this side.
    pub role: Option<Role>,
}

/// One finished exchange, with who and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Wall-clock ns (Unix epoch) of the request's start.
    pub wall_ns: u64,
    /// Process.
    pub pid: u32,
    /// Command name.
    pub comm: String,
    /// Local address when known.
    pub local: Option<SocketAddr>,
    /// Peer address when known.
    pub peer: Option<SocketAddr>,
    /// The parsed record.
    pub record: Record,
}

/// Counters of the capture side (the parser's are [`Tracker::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonitorStats {
    /// Records read from the ring buffer.
    pub records: u64,
    /// Records that did not decode.
    pub malformed: u64,
    /// Data records (chunks fed or filtered).
    pub chunks: u64,
    /// Bytes of data records whose copy from user memory failed.
    pub copy_failed: u64,
    /// Records lost in the kernel, as reported per connection.
    pub lost_per_conn: u64,
    /// Connections seen.
    pub connections: u64,
    /// Connections skipped by the filter.
    pub filtered: u64,
    /// Accepted sockets /proc showed were not TCP (forgotten in the kernel).
    pub not_tcp: u64,
}

struct Conn {
    id: ConnId,
    wanted: bool,
}

/// The userspace half of the pipeline.
pub struct Monitor {
    tracker: Tracker,
    filter: Filter,
    conns: HashMap<(u32, u32), Conn>,
    info: HashMap<ConnId, (u32, String, Option<SocketAddr>, Option<SocketAddr>)>,
    est: HashMap<SocketAddr, SocketAddr>,
    est_order: VecDeque<SocketAddr>,
    cgroups: HashMap<u32, bool>,
    next: u64,
    wall_offset: i128,
    records: Vec<Record>,
    untrack: Vec<(u32, u32)>,
    proc: PathBuf,
    /// Counters.
    pub stats: MonitorStats,
}

const EST_KEEP: usize = 65_536;

impl Monitor {
    /// A monitor parsing with `config`, keeping what `filter` lets through.
    pub fn new(config: Config, filter: Filter) -> Monitor {
        let mono = now_mono();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        Monitor {
            tracker: Tracker::new(config),
            filter,
            conns: HashMap::new(),
            info: HashMap::new(),
            est: HashMap::new(),
            est_order: VecDeque::new(),
            cgroups: HashMap::new(),
            next: 1,
            wall_offset: wall - mono as i128,
            records: Vec::new(),
            untrack: Vec::new(),
            proc: PathBuf::from("/proc"),
            stats: MonitorStats::default(),
        }
    }

    /// The parser (for its statistics and memory).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// `(pid, fd)` pairs the kernel should forget (drained by the caller).
    pub fn take_untrack(&mut self) -> Vec<(u32, u32)> {
        std::mem::take(&mut self.untrack)
    }

    /// Registers connections found in /proc at start-up.
    pub fn seed(&mut self, seeded: &[Seeded]) {
        for s in seeded {
            let comm = std::fs::read_to_string(self.proc.join(format!("{}/comm", s.pid)))
                .map(|c| c.trim_end().to_string())
                .unwrap_or_default();
            self.open(s.pid, s.fd, comm, s.role, Some(s.local), Some(s.peer));
        }
    }

    fn open(
        &mut self,
        pid: u32,
        fd: u32,
        comm: String,
        role: Role,
        local: Option<SocketAddr>,
        peer: Option<SocketAddr>,
    ) -> ConnId {
        let id = ConnId(self.next);
        self.next += 1;
        self.stats.connections += 1;
        let wanted = self.wanted(pid, &comm, role, local, peer);
        if !wanted {
            self.stats.filtered += 1;
        } else {
            self.tracker.open(
                id,
                ConnMeta {
                    transport: Transport::Tcp,
                    role: Some(role),
                    local_port: local.map(|a| a.port()),
                    remote_port: peer.map(|a| a.port()),
                    protocol: None,
                },
            );
            self.info.insert(id, (pid, comm, local, peer));
        }
        if let Some(old) = self.conns.insert((pid, fd), Conn { id, wanted }) {
            // The fd was reused without a close we saw (lost record): finish the old one.
            if old.wanted {
                self.tracker.close(old.id, 0, &mut self.records);
            }
        }
        id
    }

    fn wanted(
        &mut self,
        pid: u32,
        comm: &str,
        role: Role,
        local: Option<SocketAddr>,
        peer: Option<SocketAddr>,
    ) -> bool {
        let f = &self.filter;
        if f.pid.is_some_and(|p| p != pid) || f.role.is_some_and(|r| r != role) {
            return false;
        }
        if f.comm.as_deref().is_some_and(|c| c != comm) {
            return false;
        }
        if let Some(port) = f.port {
            let hit =
                local.is_some_and(|a| a.port() == port) || peer.is_some_and(|a| a.port() == port);
            if !hit {
                return false;
            }
        }
        if let Some(cg) = f.cgroup.clone() {
            let proc = self.proc.clone();
            return *self
                .cgroups
                .entry(pid)
                .or_insert_with(|| in_cgroup(&proc, pid, &cg));
        }
        true
    }

    /// Handles one record; finished exchanges are appended to `out`.
    pub fn handle(&mut self, raw: Raw<'_>, out: &mut Vec<Exchange>) {
        self.stats.records += 1;
        match raw {
            Raw::Malformed => self.stats.malformed += 1,
            Raw::Established(local, peer) => {
                if self.est.insert(peer, local).is_none() {
                    self.est_order.push_back(peer);
                }
                while self.est_order.len() > EST_KEEP {
                    if let Some(old) = self.est_order.pop_front() {
                        self.est.remove(&old);
                    }
                }
            }
            Raw::Open(h, peer) => {
                let role = role_of(h.role);
                if h.flags & layout::FLAG_UNVERIFIED != 0
                    && !crate::seed::is_tcp(&self.proc, h.pid, h.fd)
                {
                    self.stats.not_tcp += 1;
                    self.untrack.push((h.pid, h.fd));
                    return;
                }
                let local = match role {
                    Role::Server => peer.and_then(|p| self.est.remove(&p)),
                    Role::Client => {
                        // The local port came from SYN_SENT; the address is the kernel's choice.
                        let port = h.total as u16;
                        (port != 0).then(|| {
                            let ip = match peer {
                                Some(SocketAddr::V6(_)) => std::net::Ipv6Addr::UNSPECIFIED.into(),
                                _ => std::net::Ipv4Addr::UNSPECIFIED.into(),
                            };
                            SocketAddr::new(ip, port)
                        })
                    }
                };
                self.open(h.pid, h.fd, h.comm, role, local, peer);
            }
            Raw::Data(h, bytes) => {
                self.stats.chunks += 1;
                if h.flags & layout::FLAG_COPY_FAILED != 0 {
                    self.stats.copy_failed += 1;
                }
                let (id, wanted) = self.conn_for(&h);
                if !wanted {
                    return;
                }
                if h.lost_before > 0 {
                    self.stats.lost_per_conn += u64::from(h.lost_before);
                    self.tracker
                        .lost(id, u64::from(h.lost_before), &mut self.records);
                }
                let ts = h.ts;
                self.tracker.feed(
                    &Chunk {
                        conn: id,
                        direction: if h.egress {
                            Direction::Egress
                        } else {
                            Direction::Ingress
                        },
                        role: Some(role_of(h.role)),
                        timestamp_ns: ts,
                        bytes,
                        total_len: h.total,
                        truncated: h.total > bytes.len() as u64,
                    },
                    &mut self.records,
                );
            }
            Raw::Close(h) => {
                if let Some(c) = self.conns.remove(&(h.pid, h.fd)) {
                    if c.wanted {
                        if h.lost_before > 0 {
                            self.stats.lost_per_conn += u64::from(h.lost_before);
                            self.tracker
                                .lost(c.id, u64::from(h.lost_before), &mut self.records);
                        }
                        self.tracker.close(c.id, h.ts, &mut self.records);
                    }
                    self.emit(out);
                    self.info.remove(&c.id);
                    return;
                }
            }
        }
        self.emit(out);
    }

    /// The connection of a data record, created when its open was lost or predates us.
    fn conn_for(&mut self, h: &Header) -> (ConnId, bool) {
        if let Some(c) = self.conns.get(&(h.pid, h.fd)) {
            return (c.id, c.wanted);
        }
        let id = self.open(h.pid, h.fd, h.comm.clone(), role_of(h.role), None, None);
        let wanted = self.conns.get(&(h.pid, h.fd)).is_some_and(|c| c.wanted);
        (id, wanted)
    }

    fn emit(&mut self, out: &mut Vec<Exchange>) {
        for r in self.records.drain(..) {
            let Some((pid, comm, local, peer)) = self.info.get(&r.conn) else {
                continue;
            };
            let wall_ns = (i128::from(r.start_ns) + self.wall_offset).max(0) as u64;
            out.push(Exchange {
                wall_ns,
                pid: *pid,
                comm: comm.clone(),
                local: *local,
                peer: *peer,
                record: r,
            });
        }
    }

    /// Finishes every open connection (at exit: requests still waiting become records).
    pub fn finish(&mut self, out: &mut Vec<Exchange>) {
        let now = now_mono();
        let conns: Vec<Conn> = self.conns.drain().map(|(_, c)| c).collect();
        for c in &conns {
            if c.wanted {
                self.tracker.close(c.id, now, &mut self.records);
            }
        }
        self.emit(out);
    }

    /// Finishes connections idle for `idle_ns` (their close was never seen).
    pub fn expire(&mut self, idle_ns: u64, out: &mut Vec<Exchange>) {
        self.tracker
            .expire_idle(now_mono(), idle_ns, &mut self.records);
        self.emit(out);
    }
}

fn role_of(b: u8) -> Role {
    if b == layout::ROLE_CLIENT {
        Role::Client
    } else {
        Role::Server
    }
}

/// CLOCK_MONOTONIC now, the clock of bpf_ktime_get_ns.
pub fn now_mono() -> u64 {
    kestrel_sys::monotonic_ns()
}

/// Whether `pid` is in cgroup `path` or below (any hierarchy line of /proc/PID/cgroup).
fn in_cgroup(proc: &Path, pid: u32, path: &str) -> bool {
    let want = normalise_cgroup(path);
    let Ok(text) = std::fs::read_to_string(proc.join(format!("{pid}/cgroup"))) else {
        return false;
    };
    text.lines().any(|l| {
        let p = l.splitn(3, ':').nth(2).unwrap_or("");
        p == want || p.starts_with(&format!("{}/", want.trim_end_matches('/'))) || want == "/"
    })
}

/// `/sys/fs/cgroup/unified/a/b` and `/sys/fs/cgroup/a/b` → `/a/b`.
pub fn normalise_cgroup(path: &str) -> String {
    let mut p = path;
    for prefix in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        if let Some(rest) = p.strip_prefix(prefix) {
            p = rest;
            break;
        }
    }
    if p.is_empty() {
        "/".to_string()
    } else {
        p.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hdr(pid: u32, fd: u32, egress: bool, ts: u64, total: u64) -> Header {
        Header {
            egress,
            role: layout::ROLE_SERVER,
            flags: 0,
            pid,
            tid: pid,
            fd,
            ts,
            total,
            lost_before: 0,
            comm: "srv".into(),
        }
    }

    #[test]
    fn a_request_and_response_on_a_tracked_fd_make_one_exchange() {
        let mut m = Monitor::new(Config::default(), Filter::default());
        let mut out = Vec::new();
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:80".parse().unwrap();
        m.handle(Raw::Established(local, peer), &mut out);
        m.handle(Raw::Open(hdr(1, 5, false, 1, 0), Some(peer)), &mut out);
        let req = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
        m.handle(
            Raw::Data(hdr(1, 5, false, 10, req.len() as u64), req),
            &mut out,
        );
        let resp = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        m.handle(
            Raw::Data(hdr(1, 5, true, 30, resp.len() as u64), resp),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let e = &out[0];
        assert_eq!((e.pid, e.local, e.peer), (1, Some(local), Some(peer)));
        assert_eq!(e.record.duration_ns(), 20);
        match &e.record.detail {
            kestrel_l7::Detail::Http(h) => {
                assert_eq!(h.path.as_deref(), Some("/a"));
                assert_eq!(h.status, Some(404));
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn filtered_connections_are_not_parsed() {
        let mut m = Monitor::new(
            Config::default(),
            Filter {
                port: Some(8080),
                ..Filter::default()
            },
        );
        let mut out = Vec::new();
        let req = b"GET / HTTP/1.1\r\n\r\n";
        m.handle(
            Raw::Data(hdr(1, 5, false, 10, req.len() as u64), req),
            &mut out,
        );
        assert_eq!(m.stats.filtered, 1);
        assert_eq!(m.tracker().stats().chunks, 0);
    }

    #[test]
    fn cgroup_paths_normalise() {
        assert_eq!(normalise_cgroup("/sys/fs/cgroup/unified/a/b"), "/a/b");
        assert_eq!(normalise_cgroup("/sys/fs/cgroup"), "/");
        assert_eq!(normalise_cgroup("/x"), "/x");
    }
}
