//! Lowers the syntax tree to primitive packet tests, with libpcap's semantics.
//!
//! This is where the meaning of every primitive lives — which bytes it reads, which protocol
//! checks guard it — mirroring libpcap's code generator for DLT_EN10MB so that verdicts match
//! tcpdump's:
//! - `tcp`/`udp`/`sctp`/`proto N`/`ip6 proto N` accept IPv6 with the protocol in the fixed
//!   header or right after one fragment header; no other extension headers are chased.
//! - ports and `tcp[..]`/`udp[..]`/`icmp[..]` read only the first fragment of an IPv4 datagram
//!   and find the transport header through the IPv4 header length (IHL), options included;
//!   IPv6 ports are read at the fixed offset 40.
//! - `tcp[i]`, `udp[i]`, `icmp[i]`, `sctp[i]` need IPv4 (libpcap ANDs `ip` into their guard).
//! - `host`/`net` without a protocol match IPv4, ARP and RARP addresses.

use super::ast::{ArOp, Arith, Dir, Expr, Net, Prim, Proto, RelOp};

/// Where a packet load reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Off {
    /// Fixed offset from the first byte of the frame.
    Abs(u32),
    /// `nl + 4 * (frame[nl] & 0xf) + add`: past the IPv4 header at `nl`, options included.
    Ihl {
        /// Offset of the IPv4 header.
        nl: u32,
        /// Bytes after its end.
        add: u32,
    },
}

/// A value computed from the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    /// Constant.
    Num(u32),
    /// Wire length of the packet.
    Len,
    /// `size` bytes (network order) at `off + idx`.
    Load {
        /// Base offset.
        off: Off,
        /// Variable part of the index (None: 0).
        idx: Option<Box<Val>>,
        /// 1, 2 or 4.
        size: u8,
    },
    /// Binary operation (32-bit).
    Bin(ArOp, Box<Val>, Box<Val>),
    /// Negation (32-bit).
    Neg(Box<Val>),
}

/// A boolean packet test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pred {
    /// Always this value.
    Const(bool),
    /// Both, left first.
    And(Box<Pred>, Box<Pred>),
    /// Either, left first.
    Or(Box<Pred>, Box<Pred>),
    /// Negation.
    Not(Box<Pred>),
    /// `lhs op rhs` (unsigned 32-bit).
    Cmp(Val, RelOp, Val),
}

fn and(a: Pred, b: Pred) -> Pred {
    match (&a, &b) {
        (Pred::Const(true), _) => b,
        (_, Pred::Const(true)) => a,
        _ => Pred::And(Box::new(a), Box::new(b)),
    }
}

fn or(a: Pred, b: Pred) -> Pred {
    match (&a, &b) {
        (Pred::Const(false), _) => b,
        (_, Pred::Const(false)) => a,
        _ => Pred::Or(Box::new(a), Box::new(b)),
    }
}

fn any(ps: impl IntoIterator<Item = Pred>) -> Pred {
    ps.into_iter().fold(Pred::Const(false), or)
}

fn all(ps: impl IntoIterator<Item = Pred>) -> Pred {
    ps.into_iter().fold(Pred::Const(true), and)
}

fn ld(off: u32, size: u8) -> Val {
    Val::Load {
        off: Off::Abs(off),
        idx: None,
        size,
    }
}

fn eq(v: Val, k: u32) -> Pred {
    Pred::Cmp(v, RelOp::Eq, Val::Num(k))
}

fn masked_eq(v: Val, mask: u32, k: u32) -> Pred {
    if mask == u32::MAX {
        eq(v, k)
    } else {
        eq(
            Val::Bin(ArOp::And, Box::new(v), Box::new(Val::Num(mask))),
            k,
        )
    }
}

const ETH_IP: u32 = 0x0800;
const ETH_IP6: u32 = 0x86dd;
const ETH_ARP: u32 = 0x0806;
const ETH_RARP: u32 = 0x8035;

/// Layer offsets under `shift` bytes of VLAN tags.
#[derive(Clone, Copy)]
struct L {
    /// EtherType offset.
    ty: u32,
    /// Network header offset.
    nl: u32,
}

fn l(shift: u32) -> L {
    L {
        ty: 12 + shift,
        nl: 14 + shift,
    }
}

fn linktype(l: L, ty: u32) -> Pred {
    eq(ld(l.ty, 2), ty)
}

/// IPv4 protocol `p`.
fn ip4_proto(l: L, p: u32) -> Pred {
    and(linktype(l, ETH_IP), eq(ld(l.nl + 9, 1), p))
}

/// IPv6 next header `p`, directly or after one fragment header.
fn ip6_proto(l: L, p: u32) -> Pred {
    and(
        linktype(l, ETH_IP6),
        or(
            eq(ld(l.nl + 6, 1), p),
            and(eq(ld(l.nl + 6, 1), 44), eq(ld(l.nl + 40, 1), p)),
        ),
    )
}

/// The first (or only) fragment of an IPv4 datagram.
fn ip_first_frag(l: L) -> Pred {
    masked_eq(ld(l.nl + 6, 2), 0x1fff, 0)
}

fn proto_test(p: Proto, l: L) -> Pred {
    match p {
        Proto::Ether => Pred::Const(true),
        Proto::Ip => linktype(l, ETH_IP),
        Proto::Ip6 => linktype(l, ETH_IP6),
        Proto::Arp => linktype(l, ETH_ARP),
        Proto::Rarp => linktype(l, ETH_RARP),
        Proto::Icmp | Proto::Igmp => ip4_proto(l, u32::from(p.ip_proto().unwrap_or(0))),
        Proto::Icmp6 => ip6_proto(l, 58),
        Proto::Tcp | Proto::Udp | Proto::Sctp => {
            let n = u32::from(p.ip_proto().unwrap_or(0));
            or(ip4_proto(l, n), ip6_proto(l, n))
        }
    }
}

fn dir_test(dir: Dir, src: Pred, dst: Pred) -> Pred {
    match dir {
        Dir::Src => src,
        Dir::Dst => dst,
        Dir::SrcOrDst => or(src, dst),
        Dir::SrcAndDst => and(src, dst),
    }
}

fn addr_match(off: u32, net: &Net) -> Pred {
    match *net {
        Net::V4 { addr, mask } => masked_eq(ld(off, 4), mask, addr & mask),
        Net::V6 { addr, prefix } => {
            let mut p = Pred::Const(true);
            for w in 0..4u32 {
                let bits = u32::from(prefix).saturating_sub(32 * w).min(32);
                if bits == 0 {
                    break;
                }
                let mask = if bits == 32 {
                    u32::MAX
                } else {
                    u32::MAX << (32 - bits)
                };
                let i = 4 * w as usize;
                let word = u32::from_be_bytes([addr[i], addr[i + 1], addr[i + 2], addr[i + 3]]);
                p = and(p, masked_eq(ld(off + 4 * w, 4), mask, word & mask));
            }
            p
        }
    }
}

fn port_match(off: Off, lo: u16, hi: u16) -> Pred {
    let v = Val::Load {
        off,
        idx: None,
        size: 2,
    };
    if lo == hi {
        eq(v, u32::from(lo))
    } else {
        and(
            Pred::Cmp(v.clone(), RelOp::Ge, Val::Num(u32::from(lo))),
            Pred::Cmp(v, RelOp::Le, Val::Num(u32::from(hi))),
        )
    }
}

fn prim(p: &Prim) -> Pred {
    match p {
        Prim::Proto(proto, shift) => proto_test(*proto, l(*shift)),
        Prim::Net {
            proto,
            dir,
            net,
            shift,
        } => {
            let l = l(*shift);
            match net {
                Net::V6 { .. } => and(
                    linktype(l, ETH_IP6),
                    dir_test(*dir, addr_match(l.nl + 8, net), addr_match(l.nl + 24, net)),
                ),
                Net::V4 { .. } => {
                    let ip = and(
                        linktype(l, ETH_IP),
                        dir_test(*dir, addr_match(l.nl + 12, net), addr_match(l.nl + 16, net)),
                    );
                    // ARP/RARP sender and target protocol addresses.
                    let arp = |ty| {
                        and(
                            linktype(l, ty),
                            dir_test(*dir, addr_match(l.nl + 14, net), addr_match(l.nl + 24, net)),
                        )
                    };
                    match proto {
                        Some(Proto::Ip) => ip,
                        Some(Proto::Arp) => arp(ETH_ARP),
                        Some(Proto::Rarp) => arp(ETH_RARP),
                        _ => any([ip, arp(ETH_ARP), arp(ETH_RARP)]),
                    }
                }
            }
        }
        Prim::EtherHost(dir, mac) => {
            let at = |off: u32| {
                and(
                    eq(
                        ld(off, 4),
                        u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]),
                    ),
                    eq(
                        ld(off + 4, 2),
                        u32::from(u16::from_be_bytes([mac[4], mac[5]])),
                    ),
                )
            };
            dir_test(*dir, at(6), at(0))
        }
        Prim::Port {
            proto,
            dir,
            lo,
            hi,
            shift,
        } => {
            let l = l(*shift);
            let protos: Vec<u32> = match proto {
                Some(p) => vec![u32::from(p.ip_proto().unwrap_or(0))],
                None => vec![132, 6, 17],
            };
            let v6 = and(
                linktype(l, ETH_IP6),
                any(protos.iter().map(|p| {
                    and(
                        eq(ld(l.nl + 6, 1), *p),
                        dir_test(
                            *dir,
                            port_match(Off::Abs(l.nl + 40), *lo, *hi),
                            port_match(Off::Abs(l.nl + 42), *lo, *hi),
                        ),
                    )
                })),
            );
            let v4 = and(
                linktype(l, ETH_IP),
                any(protos.iter().map(|p| {
                    all([
                        eq(ld(l.nl + 9, 1), *p),
                        ip_first_frag(l),
                        dir_test(
                            *dir,
                            port_match(Off::Ihl { nl: l.nl, add: 0 }, *lo, *hi),
                            port_match(Off::Ihl { nl: l.nl, add: 2 }, *lo, *hi),
                        ),
                    ])
                })),
            );
            or(v6, v4)
        }
        Prim::IpProto(family, n, shift) => {
            let l = l(*shift);
            let n = *n;
            match family {
                Some(Proto::Ip) => ip4_proto(l, n),
                Some(Proto::Ip6) => ip6_proto(l, n),
                _ => or(ip4_proto(l, n), ip6_proto(l, n)),
            }
        }
        Prim::EtherProto(ty, shift) => linktype(l(*shift), u32::from(*ty)),
        Prim::Vlan(id, shift) => {
            let l = l(*shift);
            let tpid = any([0x8100, 0x88a8, 0x9100].map(|t| linktype(l, t)));
            match id {
                Some(id) => and(tpid, masked_eq(ld(l.nl, 2), 0x0fff, u32::from(*id))),
                None => tpid,
            }
        }
        Prim::EtherBroadcast => and(eq(ld(0, 4), u32::MAX), eq(ld(4, 2), 0xffff)),
        Prim::Multicast(p, shift) => {
            let l = l(*shift);
            match p {
                Proto::Ip => and(
                    linktype(l, ETH_IP),
                    Pred::Cmp(ld(l.nl + 16, 1), RelOp::Ge, Val::Num(224)),
                ),
                Proto::Ip6 => and(linktype(l, ETH_IP6), eq(ld(l.nl + 24, 1), 0xff)),
                _ => Pred::Cmp(
                    Val::Bin(ArOp::And, Box::new(ld(0, 1)), Box::new(Val::Num(1))),
                    RelOp::Ne,
                    Val::Num(0),
                ),
            }
        }
        Prim::Len(op, n) => Pred::Cmp(Val::Len, *op, Val::Num(*n)),
    }
}

/// The value of `a`, pushing the protocol checks its loads need onto `guards`.
fn arith(a: &Arith, guards: &mut Vec<Pred>) -> Val {
    match a {
        Arith::Num(n) => Val::Num(*n),
        Arith::Len => Val::Len,
        Arith::Bin(op, x, y) => {
            let x = arith(x, guards);
            // libpcap 1.10 keeps only the left operand's protocol checks in an arithmetic
            // operation (`6 & udp[0]` reads "udp[0]" of any packet); kept for parity, see
            // docs/FILTER.md. The right operand's reads are still bounds-checked.
            let y = arith(y, &mut Vec::new());
            Val::Bin(*op, Box::new(x), Box::new(y))
        }
        Arith::Neg(x) => Val::Neg(Box::new(arith(x, guards))),
        Arith::Load {
            proto,
            shift,
            idx,
            size,
        } => {
            let l = l(*shift);
            let idx = arith(idx, guards);
            let (guard, off) = match proto {
                Proto::Ether => (Pred::Const(true), Off::Abs(0)),
                Proto::Ip | Proto::Ip6 | Proto::Arp | Proto::Rarp => {
                    (proto_test(*proto, l), Off::Abs(l.nl))
                }
                Proto::Icmp6 => (
                    and(linktype(l, ETH_IP6), eq(ld(l.nl + 6, 1), 58)),
                    Off::Abs(l.nl + 40),
                ),
                // libpcap: `ip and <proto> and first fragment`, header found through IHL:
                // transport indexes work on IPv4 only.
                Proto::Tcp | Proto::Udp | Proto::Sctp | Proto::Icmp | Proto::Igmp => (
                    and(
                        linktype(l, ETH_IP),
                        and(proto_test(*proto, l), ip_first_frag(l)),
                    ),
                    Off::Ihl { nl: l.nl, add: 0 },
                ),
            };
            guards.push(guard);
            // A constant index folds into the offset.
            let (off, idx) = match (off, &idx) {
                (Off::Abs(o), Val::Num(n)) if *n < 0x8000 => (Off::Abs(o + n), None),
                (Off::Ihl { nl, add }, Val::Num(n)) if *n < 0x8000 => {
                    (Off::Ihl { nl, add: add + n }, None)
                }
                _ => (off, Some(Box::new(idx))),
            };
            Val::Load {
                off,
                idx,
                size: *size,
            }
        }
    }
}

/// Lowers a whole expression.
pub fn lower(e: &Expr) -> Pred {
    match e {
        Expr::And(a, b) => Pred::And(Box::new(lower(a)), Box::new(lower(b))),
        Expr::Or(a, b) => Pred::Or(Box::new(lower(a)), Box::new(lower(b))),
        Expr::Not(a) => Pred::Not(Box::new(lower(a))),
        Expr::Prim(p, _) => prim(p),
        Expr::Rel(a, op, b, _) => {
            let mut guards = Vec::new();
            let x = arith(a, &mut guards);
            let y = arith(b, &mut guards);
            and(all(guards), Pred::Cmp(x, *op, y))
        }
    }
}
