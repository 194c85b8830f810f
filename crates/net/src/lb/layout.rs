//! The maps the lb programs share with userspace: their sizes and the byte layout of every
//! key and value, encoded and decoded in one place. Addresses and ports are kept in network
//! byte order, exactly as they sit in the packet, so the programs copy them without swaps.
//!
//! | map | kind | key | value |
//! |---|---|---|---|
//! | `services` | hash | [`SvcKey`] (vip, port, proto) | service index u32, flags u32 |
//! | `backends` | array | backend slot u32 | [`BackendValue`] (40 bytes) |
//! | `maglev` | array | service index × M + hash % M | backend slot u32 |
//! | `conns` | LRU hash | [`FlowKey`] client → VIP | [`ConnValue`] |
//! | `rnat` | LRU hash | [`FlowKey`] backend → client | [`RnatValue`] |
//! | `stats` | per-CPU array | see [`stat_service`], [`stat_backend`], [`Global`] | 4 × u64 |

use std::net::{Ipv4Addr, SocketAddrV4};

use super::config::{MAX_BACKENDS, MAX_SERVICES};

/// Service key: vip (4), port (2), proto (1), pad (1).
pub const SVC_KEY_SIZE: u32 = 8;
/// Service value: index (4), flags (4).
pub const SVC_VALUE_SIZE: u32 = 8;
/// Backend value size.
pub const BACKEND_VALUE_SIZE: u32 = 40;
/// Flow key: saddr, daddr, sport, dport, proto, 3 pad bytes.
pub const FLOW_KEY_SIZE: u32 = 16;
/// Connection value: backend slot (4), service (4), last seen ns (8, coarse monotonic clock).
pub const CONN_VALUE_SIZE: u32 = 16;
/// Reverse-NAT value: vip (4), vport (2), pad (2), service index (4), backend slot (4).
pub const RNAT_VALUE_SIZE: u32 = 16;
/// Counter value: packets, bytes, new flows, other (u64 each).
pub const STAT_VALUE_SIZE: u32 = 32;

/// Backend states (byte 6 of [`BackendValue`]).
pub const STATE_FREE: u8 = 0;
/// In the Maglev table, takes new flows.
pub const STATE_ACTIVE: u8 = 1;
/// Out of the table; flows already on it stay.
pub const STATE_DRAINING: u8 = 2;
/// Out of the table; flows on it move to a new choice at their next packet.
pub const STATE_REMOVED: u8 = 3;

/// Global counter slots after the services' and backends'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    /// IPv4 fragments (passed to the stack untranslated).
    Fragments = 0,
    /// ICMP errors quoting a known flow (passed to the stack).
    IcmpKnown = 1,
    /// Other ICMP errors to a VIP or not (passed).
    IcmpOther = 2,
    /// Packets to a service whose table is empty (dropped).
    NoBackend = 3,
    /// Flows whose backend was removed, re-chosen.
    Moved = 4,
    /// IPv4 packets with options (passed untranslated).
    IpOptions = 5,
    /// Replies translated back to the VIP (tc egress).
    Replies = 6,
}

/// Number of global slots.
pub const GLOBAL_SLOTS: u32 = 8;
/// Entries in the stats array.
pub const STAT_ENTRIES: u32 = MAX_SERVICES + MAX_BACKENDS + GLOBAL_SLOTS;

/// Stats slot of service `i`.
pub fn stat_service(i: u32) -> u32 {
    i
}
/// Stats slot of backend slot `b`.
pub fn stat_backend(b: u32) -> u32 {
    MAX_SERVICES + b
}
/// Stats slot of a global counter.
pub fn stat_global(g: Global) -> u32 {
    MAX_SERVICES + MAX_BACKENDS + g as u32
}

/// `services` key.
pub fn svc_key(vip: Ipv4Addr, port: u16, proto: u8) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&vip.octets());
    k[4..6].copy_from_slice(&port.to_be_bytes());
    k[6] = proto;
    k
}

/// `services` value.
pub fn svc_value(index: u32) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&index.to_ne_bytes());
    v
}

/// A flow key in the form the programs build it.
pub fn flow_key(src: SocketAddrV4, dst: SocketAddrV4, proto: u8) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(&src.ip().octets());
    k[4..8].copy_from_slice(&dst.ip().octets());
    k[8..10].copy_from_slice(&src.port().to_be_bytes());
    k[10..12].copy_from_slice(&dst.port().to_be_bytes());
    k[12] = proto;
    k
}

/// Decodes a flow key: (src, dst, proto).
pub fn parse_flow_key(k: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, u8)> {
    if k.len() < 13 {
        return None;
    }
    let ip = |o: usize| Ipv4Addr::new(k[o], k[o + 1], k[o + 2], k[o + 3]);
    let port = |o: usize| u16::from_be_bytes([k[o], k[o + 1]]);
    Some((
        SocketAddrV4::new(ip(0), port(8)),
        SocketAddrV4::new(ip(4), port(10)),
        k[12],
    ))
}

/// A connection-table value: (backend slot, service index, last seen ns).
pub fn parse_conn_value(v: &[u8]) -> Option<(u32, u32, u64)> {
    let w = |o: usize| {
        v.get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes)
    };
    let ts = v
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_ne_bytes)?;
    Some((w(0)?, w(4)?, ts))
}

/// One's-complement sum of 16-bit words in native order (how the programs load them), folded.
fn fold(mut s: u32) -> u32 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

fn words(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks(2)
        .map(|w| u32::from(u16::from_ne_bytes([w[0], *w.get(1).unwrap_or(&0)])))
}

/// The incremental-checksum delta (RFC 1624) for replacing the bytes `old` by `new` (equal
/// lengths, even): add it to the complemented checksum, fold, complement again.
pub fn csum_delta(old: &[u8], new: &[u8]) -> u32 {
    let s: u32 = words(old).map(|w| !w & 0xffff).sum::<u32>() + words(new).sum::<u32>();
    fold(s)
}

/// The delta that undoes `d`.
pub fn csum_negate(d: u32) -> u32 {
    !d & 0xffff
}

/// Everything the program needs about one backend slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendValue {
    /// Backend address.
    pub addr: SocketAddrV4,
    /// One of the `STATE_*` constants.
    pub state: u8,
    /// Index of its service.
    pub service: u32,
    /// IP header checksum delta vip → backend ip.
    pub ip_delta: u32,
    /// L4 checksum delta (pseudo-header address and port) vip:port → backend.
    pub l4_delta: u32,
    /// Partial sum of the ipip outer header without its length (ipip mode).
    pub ipip_base: u32,
    /// Next-hop MAC (dsr/ipip).
    pub mac: [u8; 6],
}

impl BackendValue {
    /// Computes the deltas for a backend of the service `vip:port`.
    pub fn new(
        addr: SocketAddrV4,
        state: u8,
        service: u32,
        vip: SocketAddrV4,
        mac: [u8; 6],
        ipip_source: Option<Ipv4Addr>,
    ) -> BackendValue {
        let ip_delta = csum_delta(&vip.ip().octets(), &addr.ip().octets());
        let mut old = vip.ip().octets().to_vec();
        old.extend_from_slice(&vip.port().to_be_bytes());
        let mut new = addr.ip().octets().to_vec();
        new.extend_from_slice(&addr.port().to_be_bytes());
        let l4_delta = csum_delta(&old, &new);
        let ipip_base = ipip_source.map_or(0, |src| {
            // The outer header with tot_len and checksum zero.
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[8] = 64;
            h[9] = 4;
            h[12..16].copy_from_slice(&src.octets());
            h[16..20].copy_from_slice(&addr.ip().octets());
            fold(words(&h).sum())
        });
        BackendValue {
            addr,
            state,
            service,
            ip_delta,
            l4_delta,
            ipip_base,
            mac,
        }
    }

    /// The 40-byte map value.
    pub fn encode(&self) -> [u8; 40] {
        let mut v = [0u8; 40];
        v[0..4].copy_from_slice(&self.addr.ip().octets());
        v[4..6].copy_from_slice(&self.addr.port().to_be_bytes());
        v[6] = self.state;
        v[8..12].copy_from_slice(&self.service.to_ne_bytes());
        v[12..16].copy_from_slice(&self.ip_delta.to_ne_bytes());
        v[16..20].copy_from_slice(&self.l4_delta.to_ne_bytes());
        v[20..24].copy_from_slice(&self.ipip_base.to_ne_bytes());
        v[24..30].copy_from_slice(&self.mac);
        v
    }

    /// Decodes a map value.
    pub fn decode(v: &[u8]) -> Option<BackendValue> {
        if v.len() < 40 {
            return None;
        }
        let w = |o: usize| u32::from_ne_bytes([v[o], v[o + 1], v[o + 2], v[o + 3]]);
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&v[24..30]);
        Some(BackendValue {
            addr: SocketAddrV4::new(
                Ipv4Addr::new(v[0], v[1], v[2], v[3]),
                u16::from_be_bytes([v[4], v[5]]),
            ),
            state: v[6],
            service: w(8),
            ip_delta: w(12),
            l4_delta: w(16),
            ipip_base: w(20),
            mac,
        })
    }
}

/// Offsets inside [`BackendValue::encode`], for the program.
pub mod be {
    /// Address (network order).
    pub const ADDR: i16 = 0;
    /// Port (network order).
    pub const PORT: i16 = 4;
    /// State byte.
    pub const STATE: i16 = 6;
    /// Service index.
    pub const SERVICE: i16 = 8;
    /// IP checksum delta.
    pub const IP_DELTA: i16 = 12;
    /// L4 checksum delta.
    pub const L4_DELTA: i16 = 16;
    /// ipip outer header partial sum.
    pub const IPIP_BASE: i16 = 20;
    /// MAC.
    pub const MAC: i16 = 24;
}

/// Sum over CPUs of one per-CPU counter value (as read from the map: `ncpus` × 32 bytes).
pub fn sum_counters(v: &[u8], value_size: usize) -> [u64; 4] {
    let stride = value_size.next_multiple_of(8).max(8);
    let mut out = [0u64; 4];
    for cpu in v.chunks(stride) {
        for (i, o) in out.iter_mut().enumerate() {
            *o += cpu
                .get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_ne_bytes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full Internet checksum of `b` (network order), for checking deltas.
    fn csum(b: &[u8]) -> u16 {
        let mut s: u32 = b
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn delta_matches_a_full_recompute() {
        let mut hdr = [
            0x45u8, 0, 0, 60, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 1, 2, 3, 10, 203, 0, 100,
        ];
        let c = csum(&hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        let d = csum_delta(&hdr[16..20], &[10, 204, 2, 2]);
        // The program's arithmetic, on a native-order load of the checksum field.
        let old = u32::from(u16::from_ne_bytes([hdr[10], hdr[11]]));
        let new = !fold((!old & 0xffff) + d) & 0xffff;
        hdr[16..20].copy_from_slice(&[10, 204, 2, 2]);
        hdr[10..12].copy_from_slice(&(new as u16).to_ne_bytes());
        let mut check = hdr;
        check[10] = 0;
        check[11] = 0;
        let want = csum(&check);
        // 0x0000 and 0xffff are the same checksum in one's complement.
        let got = u16::from_be_bytes([hdr[10], hdr[11]]);
        assert!(
            got == want || (got == 0xffff && want == 0),
            "{got:x} {want:x}"
        );
        // Undoing restores the original.
        let back = !fold((!new & 0xffff) + csum_negate(d)) & 0xffff;
        assert_eq!(back, old);
    }

    #[test]
    fn backend_value_round_trips() {
        let b = BackendValue::new(
            "10.204.1.2:8080".parse().unwrap_or_else(|e| panic!("{e}")),
            STATE_DRAINING,
            3,
            "10.203.0.100:80".parse().unwrap_or_else(|e| panic!("{e}")),
            [2, 0, 0, 0, 0, 9],
            Some(Ipv4Addr::new(10, 0, 0, 1)),
        );
        assert_eq!(BackendValue::decode(&b.encode()), Some(b));
    }

    #[test]
    fn flow_key_round_trips() {
        let s: SocketAddrV4 = "10.1.2.3:40000".parse().unwrap_or_else(|e| panic!("{e}"));
        let d: SocketAddrV4 = "10.203.0.100:80".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parse_flow_key(&flow_key(s, d, 6)), Some((s, d, 6)));
    }
}
