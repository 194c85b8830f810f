//! Rules → map contents, so that a packet's decision costs two LPM-trie lookups whatever the
//! number of rules.
//!
//! Precedence (what [`decide`] states and the tables reproduce): among the rules of the
//! workload and direction that match the flow (peer, protocol, port), **a deny beats an
//! allow**; among several of the same verdict the first in the file names the decision. No
//! rule matching: the workload's default for that direction.
//!
//! The first trie (`peers4`/`peers6`) maps (workload, direction, peer prefix) to a *class*:
//! the set of rules whose peers contain that prefix. Because two prefixes holding one
//! address are nested, the longest match for an address yields exactly the rules whose peers
//! contain the address. The second trie (`ports`) maps (class, protocol, port prefix) to the
//! deciding rule and verdict: each class's port space is cut at every rule boundary, each
//! piece decided once, and the pieces written as port prefixes (a range becomes at most 30).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use crate::firewall::Cidr;

use super::prefix::{ancestor, holds};
use super::spec::{Direction, Policy, Proto, Rule, Verdict};

/// IP protocol numbers the port trie distinguishes.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;
/// ICMP.
pub const PROTO_ICMP: u8 = 1;
/// ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;

/// Peer-trie key sizes: u32 prefix length, workload (u16 BE), direction, pad, address.
pub const PEER4_KEY: usize = 12;
/// IPv6 peer key size.
pub const PEER6_KEY: usize = 24;
/// Port-trie key: u32 prefix length, class (u32), protocol, pad, port (BE).
pub const PORT_KEY: usize = 12;
/// Port-trie value: rule slot (u32), verdict (u32: 0 allow, 1 deny).
pub const PORT_VALUE: usize = 8;

/// The decision for one flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Counter slot: the global rule index, or a workload's default slot ([`default_slot`]).
    pub slot: u32,
    /// allow or deny (before audit mode).
    pub verdict: Verdict,
}

/// Counter slot of a workload's default verdict for `dir` (after every rule's slot).
pub fn default_slot(policy: &Policy, workload: usize, dir: Direction) -> u32 {
    (policy.rule_count() + workload * 2 + usize::from(dir.code())) as u32
}

/// Number of counter slots a policy needs.
pub fn slot_count(policy: &Policy) -> u32 {
    (policy.rule_count() + policy.workloads.len() * 2) as u32
}

/// Global index of the first rule of workload `w`.
pub fn rule_base(policy: &Policy, w: usize) -> usize {
    policy.workloads[..w.min(policy.workloads.len())]
        .iter()
        .map(|w| w.rules.len())
        .sum()
}

fn rule_matches(r: &Rule, dir: Direction, addr: IpAddr, proto: u8, port: u16) -> bool {
    let has_ports = !r.ports.is_empty();
    r.direction == dir
        && r.proto.covers(proto)
        && (!has_ports
            || ((proto == PROTO_TCP || proto == PROTO_UDP)
                && r.ports.iter().any(|(a, b)| *a <= port && port <= *b)))
        && r.peers.iter().any(|c| holds(c, addr))
}

/// The decision for a flow, straight from the rules (the specification the tables follow).
pub fn decide(
    policy: &Policy,
    workload: usize,
    dir: Direction,
    addr: IpAddr,
    proto: u8,
    port: u16,
) -> Decision {
    let Some(w) = policy.workloads.get(workload) else {
        return Decision {
            slot: u32::MAX,
            verdict: Verdict::Allow,
        };
    };
    let base = rule_base(policy, workload);
    let matching = || {
        w.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| rule_matches(r, dir, addr, proto, port))
    };
    let pick = matching()
        .find(|(_, r)| r.verdict == Verdict::Deny)
        .or_else(|| matching().next());
    match pick {
        Some((i, r)) => Decision {
            slot: (base + i) as u32,
            verdict: r.verdict,
        },
        None => Decision {
            slot: default_slot(policy, workload, dir),
            verdict: match dir {
                Direction::Egress => w.default_egress,
                Direction::Ingress => w.default_ingress,
            },
        },
    }
}

/// Map contents for one policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    /// IPv4 peer trie: key, class.
    pub peers4: Vec<([u8; PEER4_KEY], u32)>,
    /// IPv6 peer trie: key, class.
    pub peers6: Vec<([u8; PEER6_KEY], u32)>,
    /// Port trie: key, (slot, verdict).
    pub ports: Vec<([u8; PORT_KEY], [u8; PORT_VALUE])>,
    /// Number of classes.
    pub classes: u32,
}

/// The peer-trie key of `cidr` for (workload, direction).
pub fn peer_key(workload: u16, dir: Direction, cidr: &Cidr) -> Vec<u8> {
    let mut k = (32 + u32::from(cidr.len)).to_ne_bytes().to_vec();
    k.extend_from_slice(&workload.to_be_bytes());
    k.push(dir.code());
    k.push(0);
    match cidr.addr {
        IpAddr::V4(a) => k.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => k.extend_from_slice(&a.octets()),
    }
    k
}

/// A port-trie key: `bits` leading bits of (class, proto, pad, port) significant.
pub fn port_key(class: u32, proto: u8, port: u16, bits: u32) -> [u8; PORT_KEY] {
    let mut k = [0u8; PORT_KEY];
    k[0..4].copy_from_slice(&bits.to_ne_bytes());
    k[4..8].copy_from_slice(&class.to_ne_bytes());
    k[8] = proto;
    k[10..12].copy_from_slice(&port.to_be_bytes());
    k
}

fn port_value(d: Decision) -> [u8; PORT_VALUE] {
    let mut v = [0u8; PORT_VALUE];
    v[0..4].copy_from_slice(&d.slot.to_ne_bytes());
    let verdict: u32 = match d.verdict {
        Verdict::Allow => 0,
        Verdict::Deny => 1,
    };
    v[4..8].copy_from_slice(&verdict.to_ne_bytes());
    v
}

/// Splits `lo..=hi` into aligned power-of-two blocks: (start, prefix bits of 16).
pub fn port_prefixes(lo: u16, hi: u16) -> Vec<(u16, u32)> {
    let (mut lo, hi) = (u32::from(lo), u32::from(hi));
    let mut out = Vec::new();
    while lo <= hi {
        let mut size = if lo == 0 {
            1 << 16
        } else {
            1u32 << lo.trailing_zeros()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push((lo as u16, 16 - size.trailing_zeros()));
        lo += size;
    }
    out
}

/// The first deny among `rules` (global slot, rule) that cover a point, else the first allow.
fn pick<'a>(mut hits: impl Iterator<Item = (u32, &'a Rule)> + Clone) -> Option<Decision> {
    let first_deny = hits.clone().find(|(_, r)| r.verdict == Verdict::Deny);
    first_deny
        .or_else(|| hits.next())
        .map(|(slot, r)| Decision {
            slot,
            verdict: r.verdict,
        })
}

fn class_entries(
    class: u32,
    rules: &[(u32, &Rule)],
    out: &mut Vec<([u8; PORT_KEY], [u8; PORT_VALUE])>,
) {
    for proto in [PROTO_TCP, PROTO_UDP] {
        let applicable: Vec<(u32, &Rule)> = rules
            .iter()
            .copied()
            .filter(|(_, r)| r.proto.covers(proto))
            .collect();
        if applicable.is_empty() {
            continue;
        }
        let full = [(0u16, u16::MAX)];
        let ranges = |r: &Rule| -> Vec<(u16, u16)> {
            if r.ports.is_empty() {
                full.to_vec()
            } else {
                r.ports.clone()
            }
        };
        let mut cuts: BTreeSet<u32> = BTreeSet::new();
        for (_, r) in &applicable {
            for (lo, hi) in ranges(r) {
                cuts.insert(u32::from(lo));
                cuts.insert(u32::from(hi) + 1);
            }
        }
        let cuts: Vec<u32> = cuts.into_iter().collect();
        let mut pieces: Vec<(u16, u16, Decision)> = Vec::new();
        for win in cuts.windows(2) {
            let (lo, hi) = (win[0] as u16, (win[1] - 1) as u16);
            let hits = applicable
                .iter()
                .copied()
                .filter(|(_, r)| ranges(r).iter().any(|(a, b)| *a <= lo && hi <= *b));
            let Some(d) = pick(hits) else { continue };
            match pieces.last_mut() {
                Some(last) if last.2 == d && u32::from(last.1) + 1 == u32::from(lo) => last.1 = hi,
                _ => pieces.push((lo, hi, d)),
            }
        }
        for (lo, hi, d) in pieces {
            for (start, bits) in port_prefixes(lo, hi) {
                out.push((port_key(class, proto, start, 48 + bits), port_value(d)));
            }
        }
    }
    // ICMP: rules of proto icmp or any, without ports.
    for proto in [PROTO_ICMP, PROTO_ICMPV6] {
        let hits = rules
            .iter()
            .copied()
            .filter(|(_, r)| r.proto.covers(proto) && r.ports.is_empty());
        if let Some(d) = pick(hits) {
            out.push((port_key(class, proto, 0, 48), port_value(d)));
        }
    }
    // Every other protocol: `any` rules without ports, found by the class-only prefix.
    let hits = rules
        .iter()
        .copied()
        .filter(|(_, r)| r.proto == Proto::Any && r.ports.is_empty());
    if let Some(d) = pick(hits) {
        out.push((port_key(class, 0, 0, 32), port_value(d)));
    }
}

/// Compiles a policy into map contents.
pub fn tables(policy: &Policy) -> Tables {
    let mut t = Tables::default();
    let mut classes: HashMap<Vec<u32>, u32> = HashMap::new();
    for (wi, w) in policy.workloads.iter().enumerate() {
        let base = rule_base(policy, wi) as u32;
        for dir in [Direction::Egress, Direction::Ingress] {
            // Rules by each of their peer prefixes.
            let mut by_peer: HashMap<Cidr, Vec<u32>> = HashMap::new();
            for (i, r) in w.rules.iter().enumerate() {
                if r.direction != dir {
                    continue;
                }
                for p in &r.peers {
                    by_peer.entry(*p).or_default().push(base + i as u32);
                }
            }
            let mut prefixes: Vec<Cidr> = by_peer.keys().copied().collect();
            prefixes.sort();
            for p in prefixes {
                let mut members: Vec<u32> = Vec::new();
                for len in 0..=p.len {
                    if let Some(rs) = by_peer.get(&ancestor(&p, len)) {
                        members.extend_from_slice(rs);
                    }
                }
                members.sort_unstable();
                members.dedup();
                let next = classes.len() as u32;
                let class = match classes.get(&members) {
                    Some(c) => *c,
                    None => {
                        let rules: Vec<(u32, &Rule)> = members
                            .iter()
                            .map(|s| (*s, &w.rules[(*s - base) as usize]))
                            .collect();
                        class_entries(next, &rules, &mut t.ports);
                        classes.insert(members, next);
                        next
                    }
                };
                let key = peer_key(wi as u16, dir, &p);
                if p.is_v4() {
                    if let Ok(k) = key.try_into() {
                        t.peers4.push((k, class));
                    }
                } else if let Ok(k) = key.try_into() {
                    t.peers6.push((k, class));
                }
            }
        }
    }
    t.classes = classes.len() as u32;
    t
}

/// Longest-prefix match over LPM keys laid out as the kernel's trie: `bits` from key[0..4],
/// data from key[4..].
fn lpm<'a, const N: usize, V>(entries: &'a [([u8; N], V)], key: &[u8; N]) -> Option<&'a V> {
    let bit = |d: &[u8], i: u32| (d[(i / 8) as usize] >> (7 - i % 8)) & 1;
    let mut best: Option<(u32, &V)> = None;
    for (k, v) in entries {
        let bits = u32::from_ne_bytes([k[0], k[1], k[2], k[3]]);
        let (kd, qd) = (&k[4..], &key[4..]);
        if (0..bits).all(|i| bit(kd, i) == bit(qd, i)) && best.is_none_or(|(b, _)| bits > b) {
            best = Some((bits, v));
        }
    }
    best.map(|(_, v)| v)
}

impl Tables {
    /// What the kernel program will decide, emulated on the tables (tests compare it with
    /// [`decide`]). IPv4-mapped IPv6 addresses are looked up as IPv4, as the programs do.
    pub fn lookup(
        &self,
        policy: &Policy,
        workload: usize,
        dir: Direction,
        addr: IpAddr,
        proto: u8,
        port: u16,
    ) -> Decision {
        let default = decide_default(policy, workload, dir);
        let full = |a: IpAddr| Cidr {
            addr: a,
            len: if a.is_ipv4() { 32 } else { 128 },
        };
        let key = peer_key(workload as u16, dir, &full(addr));
        let class = match addr {
            IpAddr::V4(_) => key
                .try_into()
                .ok()
                .and_then(|k: [u8; PEER4_KEY]| lpm(&self.peers4, &k).copied()),
            IpAddr::V6(_) => key
                .try_into()
                .ok()
                .and_then(|k: [u8; PEER6_KEY]| lpm(&self.peers6, &k).copied()),
        };
        let Some(class) = class else { return default };
        let port = if proto == PROTO_TCP || proto == PROTO_UDP {
            port
        } else {
            0
        };
        let Some(v) = lpm(&self.ports, &port_key(class, proto, port, 64)) else {
            return default;
        };
        Decision {
            slot: u32::from_ne_bytes([v[0], v[1], v[2], v[3]]),
            verdict: if v[4] == 1 {
                Verdict::Deny
            } else {
                Verdict::Allow
            },
        }
    }
}

fn decide_default(policy: &Policy, workload: usize, dir: Direction) -> Decision {
    let verdict = policy
        .workloads
        .get(workload)
        .map_or(Verdict::Allow, |w| match dir {
            Direction::Egress => w.default_egress,
            Direction::Ingress => w.default_ingress,
        });
    Decision {
        slot: default_slot(policy, workload, dir),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::parse;
    use super::*;

    const POLICY: &str = r#"
[[workload]]
name = "a"
cgroup = "/a"
default = "deny"

[[workload.rule]]
name = "web"
direction = "egress"
to = ["10.0.0.0/8", "2001:db8::/32"]
ports = "8000-8100"
proto = "tcp"
verdict = "allow"

[[workload.rule]]
name = "no-8081"
direction = "egress"
to = "10.201.0.2"
ports = "8081"
verdict = "deny"

[[workload.rule]]
name = "dns"
direction = "egress"
to = "10.201.0.0/16"
ports = 53
proto = "udp"
verdict = "allow"

[[workload.rule]]
name = "ping"
direction = "egress"
proto = "icmp"
verdict = "allow"

[[workload.rule]]
name = "one-peer"
direction = "ingress"
from = "10.201.0.1"
verdict = "allow"

[[workload]]
name = "b"
cgroup = "/b"

[[workload.rule]]
name = "no-server"
direction = "egress"
to = "10.201.0.2"
verdict = "deny"
"#;

    #[test]
    fn prefixes_of_ranges() {
        assert_eq!(port_prefixes(8081, 8081), vec![(8081, 16)]);
        assert_eq!(port_prefixes(0, 65535), vec![(0, 0)]);
        assert_eq!(port_prefixes(1024, 2047), vec![(1024, 6)]);
        let p = port_prefixes(1, 65535);
        assert_eq!(p.len(), 16);
        assert!(port_prefixes(8000, 8100).len() <= 30);
    }

    fn sample_addrs() -> Vec<IpAddr> {
        [
            "10.201.0.2",
            "10.201.0.1",
            "10.201.0.3",
            "10.1.2.3",
            "11.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "2001:db8::5",
            "2001:db9::1",
            "::1",
        ]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
    }

    #[test]
    fn tables_agree_with_the_rules() {
        let p = parse("p.toml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        let t = tables(&p);
        let mut checked = 0;
        for w in 0..p.workloads.len() {
            for dir in [Direction::Egress, Direction::Ingress] {
                for addr in sample_addrs() {
                    for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6, 47] {
                        for port in [
                            0u16, 1, 53, 80, 7999, 8000, 8080, 8081, 8082, 8100, 8101, 65535,
                        ] {
                            let want = decide(&p, w, dir, addr, proto, port);
                            let got = t.lookup(&p, w, dir, addr, proto, port);
                            assert_eq!(got, want, "w{w} {dir:?} {addr} proto {proto} port {port}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn deny_beats_allow() {
        let p = parse("p.toml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        let a: IpAddr = "10.201.0.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let d = decide(&p, 0, Direction::Egress, a, PROTO_TCP, 8081);
        assert_eq!(
            d,
            Decision {
                slot: 1,
                verdict: Verdict::Deny
            }
        );
        let d = decide(&p, 0, Direction::Egress, a, PROTO_TCP, 8080);
        assert_eq!(
            d,
            Decision {
                slot: 0,
                verdict: Verdict::Allow
            }
        );
        // Default deny for egress of `a`, default allow for `b`.
        let d = decide(&p, 0, Direction::Egress, a, PROTO_TCP, 22);
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(d.slot, default_slot(&p, 0, Direction::Egress));
        let d = decide(&p, 1, Direction::Egress, a, PROTO_UDP, 9);
        assert_eq!(
            d,
            Decision {
                slot: 5,
                verdict: Verdict::Deny
            }
        );
    }

    #[test]
    fn ten_thousand_rules_compile_quickly() {
        let mut src = String::from("[[workload]]\nname = \"w\"\ncgroup = \"/w\"\n");
        for i in 0..10_000u32 {
            src.push_str(&format!(
                "[[workload.rule]]\nname = \"r{i}\"\ndirection = \"egress\"\nto = \"{}.{}.{}.0/24\"\nverdict = \"deny\"\n",
                11 + i / 65536,
                (i / 256) % 256,
                i % 256
            ));
        }
        let start = std::time::Instant::now();
        let p = parse("p.toml", &src).unwrap_or_else(|e| panic!("{e}"));
        super::super::validate::validate(&p, &src).unwrap_or_else(|e| panic!("{e}"));
        let t = tables(&p);
        assert_eq!(t.peers4.len(), 10_000);
        assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    }
}
