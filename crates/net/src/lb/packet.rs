//! Frames for tests and benchmarks: Ethernet/IPv4/TCP|UDP with correct checksums, and
//! checkers that recompute every checksum of a frame from scratch.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Internet checksum (RFC 1071) of `b`, big-endian words.
pub fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, seg: &[u8]) -> u16 {
    let mut p = Vec::with_capacity(12 + seg.len());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.push(0);
    p.push(proto);
    p.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    p.extend_from_slice(seg);
    checksum(&p)
}

/// An IPv4 packet (20-byte header) carrying `proto` and `l4` (checksum filled by the caller).
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(l4);
    ip
}

fn ether(ip: Vec<u8>) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    f.extend_from_slice(&ip);
    f
}

/// A TCP segment `src → dst` with `flags` (0x02 SYN, 0x10 ACK) and `payload`.
pub fn tcp_frame(src: SocketAddrV4, dst: SocketAddrV4, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(payload);
    let c = l4_checksum(*src.ip(), *dst.ip(), 6, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ether(ipv4(*src.ip(), *dst.ip(), 6, &t))
}

/// A UDP datagram `src → dst` with `payload` (checksum computed unless `no_checksum`).
pub fn udp_frame(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
    no_checksum: bool,
) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&src.port().to_be_bytes());
    u[2..4].copy_from_slice(&dst.port().to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    if !no_checksum {
        let mut c = l4_checksum(*src.ip(), *dst.ip(), 17, &u);
        if c == 0 {
            c = 0xffff;
        }
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    ether(ipv4(*src.ip(), *dst.ip(), 17, &u))
}

/// An ICMP error (type 3 code 4, "fragmentation needed") from `router` to `to`, quoting the
/// first 28 bytes of `quoted` (an Ethernet frame).
pub fn icmp_error(router: Ipv4Addr, to: Ipv4Addr, quoted: &[u8]) -> Vec<u8> {
    let inner = quoted.get(14..14 + 28).unwrap_or(&[]);
    let mut m = vec![3u8, 4, 0, 0, 0, 0, 0x05, 0xdc];
    m.extend_from_slice(inner);
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ether(ipv4(router, to, 1, &m))
}

/// What a frame carries, after checking every checksum in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// IP source.
    pub src: Ipv4Addr,
    /// IP destination.
    pub dst: Ipv4Addr,
    /// IP protocol.
    pub proto: u8,
    /// Ports (TCP/UDP) or 0.
    pub sport: u16,
    /// Destination port or 0.
    pub dport: u16,
    /// TTL.
    pub ttl: u8,
    /// For IP-in-IP: the inner packet, parsed.
    pub inner: Option<Box<Parsed>>,
}

/// Parses an Ethernet/IPv4 frame, verifying the IP header checksum and the TCP/UDP checksum
/// by recomputing them. `Err` names what is wrong.
pub fn parse(frame: &[u8]) -> Result<Parsed, String> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return Err("not Ethernet/IPv4".to_string());
    }
    let mut dst_mac = [0u8; 6];
    dst_mac.copy_from_slice(&frame[0..6]);
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&frame[6..12]);
    let mut p = parse_ip(&frame[14..])?;
    p.dst_mac = dst_mac;
    p.src_mac = src_mac;
    Ok(p)
}

fn parse_ip(ip: &[u8]) -> Result<Parsed, String> {
    if ip.len() < 20 || ip[0] != 0x45 {
        return Err("not a 20-byte IPv4 header".to_string());
    }
    if checksum(&ip[..20]) != 0 {
        return Err(format!(
            "bad IPv4 header checksum {:02x}{:02x}",
            ip[10], ip[11]
        ));
    }
    let tot = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if tot > ip.len() || tot < 20 {
        return Err(format!("IPv4 total length {tot} but {} bytes", ip.len()));
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let l4 = &ip[20..tot];
    let mut p = Parsed {
        dst_mac: [0; 6],
        src_mac: [0; 6],
        src,
        dst,
        proto: ip[9],
        sport: 0,
        dport: 0,
        ttl: ip[8],
        inner: None,
    };
    match ip[9] {
        6 | 17 if l4.len() >= 8 => {
            p.sport = u16::from_be_bytes([l4[0], l4[1]]);
            p.dport = u16::from_be_bytes([l4[2], l4[3]]);
            let zero_udp = ip[9] == 17 && l4[6] == 0 && l4[7] == 0;
            if !zero_udp && l4_checksum(src, dst, ip[9], l4) != 0 {
                return Err(format!(
                    "bad {} checksum",
                    if ip[9] == 6 { "TCP" } else { "UDP" }
                ));
            }
        }
        4 => p.inner = Some(Box::new(parse_ip(l4)?)),
        _ => {}
    }
    Ok(p)
}
