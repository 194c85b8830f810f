//! Turning a rule's `match` into an instruction fragment.
//!
//! Fragment contract (shared with the pcap-filter compiler): on entry r6 = first byte of the
//! frame (Ethernet header), r7 = one past its last byte; the fragment falls through its last
//! instruction with r0 = 1 (matched) or 0 (not matched), every jump stays inside it, it may
//! clobber r0–r5 and r8–r9, and must not touch r6, r7, or the stack above r10-128 (the
//! firewall's frame).
//!
//! Until the pcap-filter compiler lands, a small built-in matcher understands `and`-joined
//! primitives over IPv4 (no VLAN): `ip`, `ip6`, `tcp`, `udp`, `icmp`,
//! `[src|dst] host|net A.B.C.D[/N]`, `[src|dst] port N`, and the SYN test
//! `tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn`.

use kestrel_isa::{AluOp, Insn, JmpOp, Reg, Size};

use super::asm::{Asm, Label};
use super::cidr::{mask_words, Cidr};

/// Compiles `expr` to a fragment following the contract above.
pub fn compile(expr: &str) -> Result<Vec<Insn>, String> {
    builtin(expr)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Src,
    Dst,
    Either,
}

enum Term {
    EtherType(u16),
    Proto(u8),
    Net(Dir, Cidr),
    Port(Dir, u16),
    Syn,
}

fn parse_builtin(expr: &str) -> Result<Vec<Term>, String> {
    let norm: String = expr.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut terms = Vec::new();
    for part in norm.split(" and ") {
        let words: Vec<&str> = part.split(' ').collect();
        let compact: String = part.chars().filter(|c| !c.is_whitespace()).collect();
        if compact == "tcp[tcpflags]&(tcp-syn|tcp-ack)==tcp-syn" {
            terms.push(Term::Syn);
            continue;
        }
        // "udp port 53" = "udp and port 53", as in pcap-filter.
        let mut words = &words[..];
        if words.len() > 1 {
            if let Some(t) = proto_word(words[0]) {
                terms.push(t);
                words = &words[1..];
            }
        }
        let (dir, rest) = match words.first().copied() {
            Some("src") => (Dir::Src, &words[1..]),
            Some("dst") => (Dir::Dst, &words[1..]),
            _ => (Dir::Either, words),
        };
        let term = match rest {
            [w] if dir == Dir::Either && proto_word(w).is_some() => {
                proto_word(w).ok_or_else(|| format!("unsupported filter expression '{part}'"))?
            }
            ["host" | "net", a] => {
                let c = Cidr::parse(a)?;
                if !c.is_v4() {
                    return Err(format!(
                        "'{part}': IPv6 addresses need the pcap-filter compiler"
                    ));
                }
                Term::Net(dir, c)
            }
            ["port", p] => Term::Port(
                dir,
                p.parse()
                    .map_err(|_| format!("'{p}' is not a port number"))?,
            ),
            _ => return Err(format!("unsupported filter expression '{part}'")),
        };
        terms.push(term);
    }
    Ok(terms)
}

fn proto_word(w: &str) -> Option<Term> {
    Some(match w {
        "ip" => Term::EtherType(0x0800),
        "ip6" => Term::EtherType(0x86dd),
        "tcp" => Term::Proto(6),
        "udp" => Term::Proto(17),
        "icmp" => Term::Proto(1),
        _ => return None,
    })
}

/// r0 = ethertype (as loaded: network order in a little-endian register); fails short frames.
fn need_ipv4(a: &mut Asm<()>, fail: Label) {
    a.push(Insn::mov64_reg(Reg::R1, Reg::R6));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 34));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, fail);
    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R6, 12));
    a.jmp_imm(JmpOp::Jne, Reg::R0, i32::from(0x0800u16.swap_bytes()), fail);
}

/// Requires TCP or UDP (or `proto` if given), not a later fragment, and leaves r2 = L4 header
/// with at least 14 bytes (20 for TCP) checked.
fn need_l4(a: &mut Asm<()>, proto: Option<u8>, fail: Label) {
    need_ipv4(a, fail);
    a.push(Insn::ldx(Size::B, Reg::R0, Reg::R6, 23));
    match proto {
        Some(p) => a.jmp_imm(JmpOp::Jne, Reg::R0, i32::from(p), fail),
        None => {
            let ok = a.label();
            a.jmp_imm(JmpOp::Jeq, Reg::R0, 6, ok);
            a.jmp_imm(JmpOp::Jne, Reg::R0, 17, fail);
            a.bind(ok);
        }
    }
    // Fragment offset (13 bits after the flags) must be zero.
    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R6, 20));
    a.push(Insn::alu64_imm(
        AluOp::And,
        Reg::R0,
        i32::from(0x1fffu16.swap_bytes()),
    ));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, fail);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R6, 14));
    a.push(Insn::alu64_imm(AluOp::And, Reg::R1, 0x0f));
    a.push(Insn::alu64_imm(AluOp::Lsh, Reg::R1, 2));
    a.push(Insn::mov64_reg(Reg::R2, Reg::R6));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, 14));
    a.push(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
    a.push(Insn::mov64_reg(Reg::R3, Reg::R2));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R3, 20));
    a.jmp_reg(JmpOp::Jgt, Reg::R3, Reg::R7, fail);
}

fn builtin(expr: &str) -> Result<Vec<Insn>, String> {
    let terms = parse_builtin(expr)?;
    let mut a: Asm<()> = Asm::new();
    let fail = a.label();
    let done = a.label();
    for t in &terms {
        match t {
            Term::EtherType(et) => {
                a.push(Insn::mov64_reg(Reg::R1, Reg::R6));
                a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 14));
                a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, fail);
                a.push(Insn::ldx(Size::H, Reg::R0, Reg::R6, 12));
                a.jmp_imm(JmpOp::Jne, Reg::R0, i32::from(et.swap_bytes()), fail);
            }
            Term::Proto(p) => {
                need_ipv4(&mut a, fail);
                a.push(Insn::ldx(Size::B, Reg::R0, Reg::R6, 23));
                a.jmp_imm(JmpOp::Jne, Reg::R0, i32::from(*p), fail);
            }
            Term::Net(dir, c) => {
                need_ipv4(&mut a, fail);
                let mask = mask_words(c.len, 4).first().copied().unwrap_or(0);
                let want = match c.addr {
                    std::net::IpAddr::V4(v) => u32::from_ne_bytes(v.octets()),
                    std::net::IpAddr::V6(_) => 0,
                };
                let ok = a.label();
                let offs: &[i16] = match dir {
                    Dir::Src => &[26],
                    Dir::Dst => &[30],
                    Dir::Either => &[26, 30],
                };
                for off in offs {
                    a.push(Insn::ldx(Size::W, Reg::R0, Reg::R6, *off));
                    a.push(Insn::alu32_imm(AluOp::And, Reg::R0, mask as i32));
                    a.jmp32_imm(JmpOp::Jeq, Reg::R0, want as i32, ok);
                }
                a.ja(fail);
                a.bind(ok);
            }
            Term::Port(dir, p) => {
                need_l4(&mut a, None, fail);
                let ok = a.label();
                let offs: &[i16] = match dir {
                    Dir::Src => &[0],
                    Dir::Dst => &[2],
                    Dir::Either => &[0, 2],
                };
                for off in offs {
                    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R2, *off));
                    a.jmp_imm(JmpOp::Jeq, Reg::R0, i32::from(p.swap_bytes()), ok);
                }
                a.ja(fail);
                a.bind(ok);
            }
            Term::Syn => {
                need_l4(&mut a, Some(6), fail);
                a.push(Insn::ldx(Size::B, Reg::R0, Reg::R2, 13));
                a.push(Insn::alu64_imm(AluOp::And, Reg::R0, 0x12));
                a.jmp_imm(JmpOp::Jne, Reg::R0, 0x02, fail);
            }
        }
    }
    a.push(Insn::mov64_imm(Reg::R0, 1));
    a.ja(done);
    a.bind(fail);
    a.push(Insn::mov64_imm(Reg::R0, 0));
    a.bind(done);
    // `done` must be a real instruction index inside the fragment's range: the fragment
    // falls through to whatever follows, so binding at len() is exactly "the end".
    let (insns, _) = a.finish()?;
    Ok(insns)
}
