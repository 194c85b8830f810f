//! Ring-buffer records → typed values (bounds-checked: a short record is `Malformed`,
//! never a panic).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::layout::{self, HDR};

/// The header fields of a process record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Written (true) or read (false) by the process.
    pub egress: bool,
    /// `layout::ROLE_SERVER` / `ROLE_CLIENT` as the kernel tracked it.
    pub role: u8,
    /// `layout::FLAG_*`.
    pub flags: u8,
    /// Process id (tgid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Descriptor.
    pub fd: u32,
    /// CLOCK_MONOTONIC ns.
    pub ts: u64,
    /// DATA: bytes moved; OPEN: local port if known.
    pub total: u64,
    /// Records of this connection lost before this one.
    pub lost_before: u32,
    /// Command name.
    pub comm: String,
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Raw<'a> {
    /// Bytes moved on a tracked socket.
    Data(Header, &'a [u8]),
    /// A connection became tracked; the peer address when the sockaddr was readable.
    Open(Header, Option<SocketAddr>),
    /// A tracked descriptor was closed.
    Close(Header),
    /// A passive TCP connection was established: (local, peer).
    Established(SocketAddr, SocketAddr),
    /// A record that does not parse (counted, never trusted).
    Malformed,
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

fn header(b: &[u8]) -> Option<Header> {
    let comm = b.get(40..56)?;
    let end = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
    Some(Header {
        egress: *b.get(1)? != 0,
        role: *b.get(2)?,
        flags: *b.get(3)?,
        pid: u32_at(b, 4)?,
        tid: u32_at(b, 8)?,
        fd: u32_at(b, 12)?,
        ts: u64_at(b, 16)?,
        total: u64_at(b, 24)?,
        lost_before: u32_at(b, 36)?,
        comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
    })
}

/// A `struct sockaddr_in`/`sockaddr_in6` as bytes (port and address in network order).
pub fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16_at(b, 0)?;
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match family {
        2 => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        10 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => None,
    }
}

fn established(p: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let family = u16_at(p, 0)?;
    let sport = u16_at(p, 2)?;
    let dport = u16_at(p, 4)?;
    let (s, d) = if family == 10 {
        let s: [u8; 16] = p.get(16..32)?.try_into().ok()?;
        let d: [u8; 16] = p.get(32..48)?.try_into().ok()?;
        (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(d)))
    } else {
        let s: [u8; 4] = p.get(8..12)?.try_into().ok()?;
        let d: [u8; 4] = p.get(12..16)?.try_into().ok()?;
        (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(d)))
    };
    Some((SocketAddr::new(s, sport), SocketAddr::new(d, dport)))
}

/// Decodes one record.
pub fn decode(b: &[u8]) -> Raw<'_> {
    let Some(kind) = b.first().copied() else {
        return Raw::Malformed;
    };
    let cap = u32_at(b, 32).unwrap_or(0) as usize;
    let payload = match b.get(HDR..HDR + cap) {
        Some(p) => p,
        None => return Raw::Malformed,
    };
    match kind {
        layout::KIND_EST => match established(payload) {
            Some((local, peer)) => Raw::Established(local, peer),
            None => Raw::Malformed,
        },
        k => {
            let Some(h) = header(b) else {
                return Raw::Malformed;
            };
            match k {
                layout::KIND_DATA => Raw::Data(h, payload),
                layout::KIND_OPEN => Raw::Open(h, sockaddr(payload)),
                layout::KIND_CLOSE => Raw::Close(h),
                _ => Raw::Malformed,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn short_or_unknown_records_are_malformed() {
        assert_eq!(decode(&[]), Raw::Malformed);
        assert_eq!(decode(&[1, 0, 0]), Raw::Malformed);
        let mut b = vec![0u8; HDR + 4];
        b[0] = 9;
        assert_eq!(decode(&b), Raw::Malformed);
        b[0] = layout::KIND_DATA;
        b[32] = 200; // claims more payload than there is
        assert_eq!(decode(&b), Raw::Malformed);
    }

    #[test]
    fn data_and_sockaddr_decode() {
        let mut b = vec![0u8; HDR + 3];
        b[0] = layout::KIND_DATA;
        b[1] = 1;
        b[2] = layout::ROLE_SERVER;
        b[4..8].copy_from_slice(&77u32.to_le_bytes());
        b[24..32].copy_from_slice(&5000u64.to_le_bytes());
        b[32..36].copy_from_slice(&3u32.to_le_bytes());
        b[40..45].copy_from_slice(b"nginx");
        b[HDR..].copy_from_slice(b"GET");
        match decode(&b) {
            Raw::Data(h, p) => {
                assert_eq!(
                    (h.pid, h.total, h.egress, h.comm.as_str()),
                    (77, 5000, true, "nginx")
                );
                assert_eq!(p, b"GET");
            }
            other => panic!("{other:?}"),
        }
        let sa = [2u8, 0, 0x1f, 0x90, 127, 0, 0, 1];
        assert_eq!(sockaddr(&sa), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(sockaddr(&[1, 0, 0, 0]), None);
    }
}
