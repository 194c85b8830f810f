//! The fd table: (pid, fd) → what the fd is (a file's path, a socket's addresses), kept from
//! open/socket/connect/bind/accept/dup/close events, copied on fork and trimmed on exec.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

/// What kind of object an fd refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// A regular file (or anything opened by path that is not a directory).
    File,
    /// A directory.
    Directory,
    /// An IPv4 socket.
    Ipv4,
    /// An IPv6 socket.
    Ipv6,
    /// A unix socket.
    Unix,
    /// A pipe.
    Pipe,
    /// An eventfd.
    Event,
    /// A signalfd.
    Signalfd,
    /// An epoll fd.
    Eventpoll,
    /// An inotify fd.
    Inotify,
    /// A timerfd.
    Timerfd,
    /// A netlink socket.
    Netlink,
    /// A memfd.
    Memfd,
    /// A packet socket (AF_PACKET).
    Packet,
    /// Anything else.
    Other,
}

impl FdKind {
    /// `fd.type`.
    pub fn name(self) -> &'static str {
        match self {
            FdKind::File => "file",
            FdKind::Directory => "directory",
            FdKind::Ipv4 => "ipv4",
            FdKind::Ipv6 => "ipv6",
            FdKind::Unix => "unix",
            FdKind::Pipe => "pipe",
            FdKind::Event => "event",
            FdKind::Signalfd => "signalfd",
            FdKind::Eventpoll => "eventpoll",
            FdKind::Inotify => "inotify",
            FdKind::Timerfd => "timerfd",
            FdKind::Netlink => "netlink",
            FdKind::Memfd => "memfd",
            FdKind::Packet => "packet",
            FdKind::Other => "unknown",
        }
    }

    /// `fd.typechar`.
    pub fn typechar(self) -> char {
        match self {
            FdKind::File => 'f',
            FdKind::Directory => 'd',
            FdKind::Ipv4 => '4',
            FdKind::Ipv6 => '6',
            FdKind::Unix => 'u',
            FdKind::Pipe => 'p',
            FdKind::Event => 'e',
            FdKind::Signalfd => 's',
            FdKind::Eventpoll => 'l',
            FdKind::Inotify => 'i',
            FdKind::Timerfd => 't',
            FdKind::Netlink => 'n',
            FdKind::Memfd => 'm',
            FdKind::Packet | FdKind::Other => 'o',
        }
    }
}

/// Transport protocol of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// SOCK_STREAM on inet.
    Tcp,
    /// SOCK_DGRAM on inet.
    Udp,
    /// IPPROTO_ICMP / ICMPV6.
    Icmp,
    /// SOCK_RAW or unknown.
    Raw,
}

impl L4 {
    /// `fd.l4proto`.
    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Icmp => "icmp",
            L4::Raw => "raw",
        }
    }
}

/// A socket's addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockInfo {
    /// Protocol.
    pub l4: L4,
    /// Local address, when bound or known.
    pub local: Option<SocketAddr>,
    /// Peer address, when connected or accepted.
    pub remote: Option<SocketAddr>,
    /// True when this side is the server (accepted), false for connect.
    pub local_is_server: bool,
}

impl SockInfo {
    /// Server side address.
    pub fn server(&self) -> Option<SocketAddr> {
        if self.local_is_server {
            self.local
        } else {
            self.remote
        }
    }
    /// Client side address.
    pub fn client(&self) -> Option<SocketAddr> {
        if self.local_is_server {
            self.remote
        } else {
            self.local
        }
    }
}

/// One fd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdInfo {
    /// Kind.
    pub kind: FdKind,
    /// `fd.name`: resolved path, socket tuple, or `memfd:NAME`.
    pub name: String,
    /// The path as passed to open (files), else `name`.
    pub raw_name: String,
    /// Sockets.
    pub sock: Option<SockInfo>,
    /// Closed on exec.
    pub cloexec: bool,
}

impl FdInfo {
    /// A file or directory.
    pub fn file(path: String, raw: String, dir: bool, cloexec: bool) -> FdInfo {
        FdInfo {
            kind: if dir { FdKind::Directory } else { FdKind::File },
            name: path,
            raw_name: raw,
            sock: None,
            cloexec,
        }
    }

    /// Recompute a socket's `fd.name` (`cip:cport->sip:sport`, Falco's tuple form).
    pub fn refresh_tuple(&mut self) {
        if let Some(s) = &self.sock {
            let show = |a: Option<SocketAddr>| match a {
                Some(SocketAddr::V4(v)) => format!("{}:{}", v.ip(), v.port()),
                Some(SocketAddr::V6(v)) => format!("{}:{}", v.ip(), v.port()),
                None => "0.0.0.0:0".into(),
            };
            self.name = format!("{}->{}", show(s.client()), show(s.server()));
            self.raw_name.clone_from(&self.name);
        }
    }
}

/// The fd table: per process, its fds (per-process maps so fork, exec and exit touch only
/// that process's fds).
#[derive(Clone, Debug, Default)]
pub struct FdTable {
    procs: HashMap<u32, HashMap<i64, FdInfo>>,
}

impl FdTable {
    /// Empty.
    pub fn new() -> FdTable {
        FdTable::default()
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.procs.values().map(HashMap::len).sum()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.procs.values().all(HashMap::is_empty)
    }

    /// The fd `fd` of `pid`.
    pub fn get(&self, pid: u32, fd: i64) -> Option<&FdInfo> {
        self.procs.get(&pid)?.get(&fd)
    }

    /// The fd, reading `/proc/PID/fd/N` under `proc_root` on a miss (fds opened before the
    /// table existed). Only files and pipes are recognised from the link.
    pub fn get_or_load(&mut self, pid: u32, fd: i64, proc_root: Option<&Path>) -> Option<&FdInfo> {
        if self.get(pid, fd).is_none() {
            let root = proc_root?;
            let link =
                std::fs::read_link(root.join(pid.to_string()).join("fd").join(fd.to_string()))
                    .ok()?;
            let s = link.to_string_lossy().into_owned();
            let info = if s.starts_with('/') {
                FdInfo::file(s.clone(), s, false, false)
            } else if s.starts_with("pipe:") {
                FdInfo {
                    kind: FdKind::Pipe,
                    name: s.clone(),
                    raw_name: s,
                    sock: None,
                    cloexec: false,
                }
            } else {
                return None;
            };
            self.insert(pid, fd, info);
        }
        self.get(pid, fd)
    }

    /// Set an fd.
    pub fn insert(&mut self, pid: u32, fd: i64, info: FdInfo) {
        self.procs.entry(pid).or_default().insert(fd, info);
    }

    /// Mutable access.
    pub fn get_mut(&mut self, pid: u32, fd: i64) -> Option<&mut FdInfo> {
        self.procs.get_mut(&pid)?.get_mut(&fd)
    }

    /// Close.
    pub fn remove(&mut self, pid: u32, fd: i64) {
        if let Some(m) = self.procs.get_mut(&pid) {
            m.remove(&fd);
        }
    }

    /// dup: `new` refers to what `old` does (not close-on-exec unless `cloexec`).
    pub fn dup(&mut self, pid: u32, old: i64, new: i64, cloexec: bool) {
        if let Some(mut info) = self.get(pid, old).cloned() {
            info.cloexec = cloexec;
            self.insert(pid, new, info);
        } else {
            self.remove(pid, new);
        }
    }

    /// fork: the child gets copies of the parent's fds.
    pub fn on_fork(&mut self, parent: u32, child: u32) {
        if let Some(m) = self.procs.get(&parent).cloned() {
            self.procs.insert(child, m);
        }
    }

    /// exec: close-on-exec fds go.
    pub fn on_exec(&mut self, pid: u32) {
        if let Some(m) = self.procs.get_mut(&pid) {
            m.retain(|_, i| !i.cloexec);
        }
    }

    /// exit: all of the process's fds go.
    pub fn on_exit(&mut self, pid: u32) {
        self.procs.remove(&pid);
    }
}

/// `path` made absolute against `base` and normalised (`.`, `..`, doubled slashes), without
/// touching the file system.
pub fn resolve(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') || base.is_empty() {
        path.to_string()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if !joined.starts_with('/') {
        return parts.join("/");
    }
    format!("/{}", parts.join("/"))
}

/// The unspecified address of a family, for sockets without a known local address.
pub fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_paths() {
        assert_eq!(resolve("/home/u", "../../etc/./shadow"), "/etc/shadow");
        assert_eq!(resolve("/tmp", "/etc//passwd"), "/etc/passwd");
        assert_eq!(resolve("/", ".."), "/");
        assert_eq!(resolve("/a", "b/c"), "/a/b/c");
    }

    #[test]
    fn dup_fork_exec_close() {
        let mut t = FdTable::new();
        t.insert(1, 3, FdInfo::file("/a".into(), "a".into(), false, true));
        t.insert(1, 4, FdInfo::file("/b".into(), "b".into(), false, false));
        t.dup(1, 3, 0, false);
        assert_eq!(t.get(1, 0).map(|i| i.name.as_str()), Some("/a"));
        t.on_fork(1, 2);
        assert_eq!(t.get(2, 4).map(|i| i.name.as_str()), Some("/b"));
        t.on_exec(2);
        assert!(t.get(2, 3).is_none());
        assert!(t.get(2, 0).is_some());
        t.remove(1, 4);
        assert!(t.get(1, 4).is_none());
        t.on_exit(2);
        assert!(t.get(2, 0).is_none());
        let mut s = FdInfo {
            kind: FdKind::Ipv4,
            name: String::new(),
            raw_name: String::new(),
            sock: Some(SockInfo {
                l4: L4::Tcp,
                local: None,
                remote: Some("10.0.0.2:22".parse().expect("addr")),
                local_is_server: false,
            }),
            cloexec: false,
        };
        s.refresh_tuple();
        assert_eq!(s.name, "0.0.0.0:0->10.0.0.2:22");
    }
}
