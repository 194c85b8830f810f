//! Connections that existed before the capture started, found in /proc: every
//! `/proc/PID/fd/N -> socket:[INODE]` whose inode is an ESTABLISHED line of
//! /proc/net/tcp{,6}. The role comes from the local port: a port some socket listens on
//! makes the process the server.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use kestrel_l7::Role;

/// A connection found at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeded {
    /// Process.
    pub pid: u32,
    /// Descriptor.
    pub fd: u32,
    /// Server when the local port is a listening port.
    pub role: Role,
    /// Local address.
    pub local: SocketAddr,
    /// Peer address.
    pub peer: SocketAddr,
}

/// One line of /proc/net/tcp{,6}.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpLine {
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// State (1 ESTABLISHED, 10 LISTEN).
    pub state: u8,
    /// Socket inode.
    pub inode: u64,
}

fn addr(hex: &str) -> Option<SocketAddr> {
    let (a, p) = hex.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let ip = match a.len() {
        8 => {
            let v = u32::from_str_radix(a, 16).ok()?;
            // The kernel prints the address as a host-order u32 of network-order bytes.
            IpAddr::V4(Ipv4Addr::from(v.to_le_bytes()))
        }
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                let w = u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16).ok()?;
                b[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Parses /proc/net/tcp text (lines that do not parse are skipped).
pub fn parse_tcp(text: &str) -> Vec<TcpLine> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(TcpLine {
                local: addr(f.get(1)?)?,
                remote: addr(f.get(2)?)?,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// The TCP table of `proc` (v4 and v6).
pub fn tcp_table(proc: &Path) -> Vec<TcpLine> {
    let mut v = Vec::new();
    for f in ["net/tcp", "net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(proc.join(f)) {
            v.extend(parse_tcp(&t));
        }
    }
    v
}

/// Whether `pid`'s descriptor `fd` is a TCP socket (for accepted sockets the kernel could
/// not classify).
pub fn is_tcp(proc: &Path, pid: u32, fd: u32) -> bool {
    let Some(inode) = socket_inode(proc, pid, fd) else {
        return false;
    };
    tcp_table(proc).iter().any(|l| l.inode == inode)
}

fn socket_inode(proc: &Path, pid: u32, fd: u32) -> Option<u64> {
    let link = std::fs::read_link(proc.join(format!("{pid}/fd/{fd}"))).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// Every established TCP connection of every process (or of `only`).
pub fn scan(proc: &Path, only: Option<u32>) -> Vec<Seeded> {
    let table = tcp_table(proc);
    let listening: HashSet<u16> = table
        .iter()
        .filter(|l| l.state == 10)
        .map(|l| l.local.port())
        .collect();
    let est: HashMap<u64, &TcpLine> = table
        .iter()
        .filter(|l| l.state == 1 && l.inode != 0)
        .map(|l| (l.inode, l))
        .collect();
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(proc) else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if only.is_some_and(|p| p != pid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        for f in fds.flatten() {
            let Some(fd) = f.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Some(inode) = socket_inode(proc, pid, fd) else {
                continue;
            };
            if let Some(l) = est.get(&inode) {
                out.push(Seeded {
                    pid,
                    fd,
                    role: if listening.contains(&l.local.port()) {
                        Role::Server
                    } else {
                        Role::Client
                    },
                    local: l.local,
                    peer: l.remote,
                });
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_parse() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 12346 1\n";
        let v = parse_tcp(t);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(v[0].state, 10);
        assert_eq!(v[1].remote, "127.0.0.1:54321".parse().unwrap());
        assert_eq!(v[1].inode, 12346);
        let v6 = "h\n 0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 7 1\n";
        assert_eq!(parse_tcp(v6)[0].local, "[::1]:80".parse().unwrap());
    }
}
