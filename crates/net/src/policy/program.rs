//! The enforcement programs, one per (workload, hook), built with the label builder
//! ([`crate::firewall::asm::Asm`]): read the flow from the hook's context, look the peer up in
//! the peer trie (→ class) and (class, protocol, port) in the port trie (→ rule, verdict),
//! count it, send a verdict record for a denial, and return.
//!
//! | hook | sees | peer | port |
//! |---|---|---|---|
//! | cgroup/connect4, connect6 | TCP and UDP `connect()` (EPERM at once) | destination | destination |
//! | cgroup/sendmsg4, sendmsg6 | unconnected UDP `sendto()` (EPERM at once) | destination | destination |
//! | cgroup_skb/ingress | TCP SYNs (not SYN-ACKs), UDP to unconnected sockets, other protocols | IP source | IP destination's |
//! | cgroup_skb/egress | protocols other than TCP and UDP (ICMP, ...) | IP destination | — |
//!
//! TCP packets after the SYN and UDP for connected sockets pass the cgroup_skb hooks
//! uncounted: their flow was decided when it began (socket hooks for egress, the SYN or the
//! first datagram for ingress).
//!
//! Stack frame:
//!
//! | offset | what |
//! |---|---|
//! | -16 | packet length (u64; 0 at socket hooks) |
//! | -40 | peer key: prefix bits u32, workload u16 BE, direction u8, pad, address (16) |
//! | -56 | port key: prefix bits u32, class u32, protocol u8, pad, port (BE) |
//! | -64 | verdict u32 (0 allow, 1 deny) |
//! | -68 | slot u32 (counter index) |
//! | -72 | family u8 (4, 6), protocol u8 |
//! | -76 | source port, destination port (BE u16 each) |
//! | -96 | source address (16) |
//! | -112 | destination address (16) |
//! | -120 | scratch key (u32) |
//! | -160 | scratch: IP header (40) |

use kestrel_isa::{helper, AluOp, Insn, JmpOp, Reg, Size};

use crate::firewall::asm::{Asm, Label};

use super::spec::{Direction, Verdict};

/// Maps the programs reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolMap {
    /// IPv4 peer trie.
    Peers4,
    /// IPv6 peer trie.
    Peers6,
    /// Port trie.
    Ports,
    /// Per-CPU counters per slot.
    Stats,
    /// Ring buffer of verdict records.
    Events,
    /// Per-CPU: slot 0 = record rate window (start ns, count), slot 1 = (rate-limited, ring full).
    Limits,
}

/// Where a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// cgroup/connect4.
    Connect4,
    /// cgroup/connect6.
    Connect6,
    /// cgroup/sendmsg4.
    Sendmsg4,
    /// cgroup/sendmsg6.
    Sendmsg6,
    /// cgroup_skb/ingress.
    Ingress,
    /// cgroup_skb/egress.
    Egress,
}

impl Hook {
    /// Every hook, in attach order (socket hooks first).
    pub const ALL: [Hook; 6] = [
        Hook::Connect4,
        Hook::Connect6,
        Hook::Sendmsg4,
        Hook::Sendmsg6,
        Hook::Ingress,
        Hook::Egress,
    ];
    /// The direction its decisions are about.
    pub fn direction(self) -> Direction {
        match self {
            Hook::Ingress => Direction::Ingress,
            _ => Direction::Egress,
        }
    }
    /// Short name (pins, program names, status).
    pub fn name(self) -> &'static str {
        match self {
            Hook::Connect4 => "connect4",
            Hook::Connect6 => "connect6",
            Hook::Sendmsg4 => "sendmsg4",
            Hook::Sendmsg6 => "sendmsg6",
            Hook::Ingress => "ingress",
            Hook::Egress => "egress",
        }
    }
    /// True for the cgroup_sock_addr hooks.
    pub fn is_sock_addr(self) -> bool {
        !matches!(self, Hook::Ingress | Hook::Egress)
    }
}

/// What a program decides with: its workload, defaults and audit flag are baked in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Workload index (in peer keys and records).
    pub workload: u16,
    /// Verdict when nothing matches.
    pub default: Verdict,
    /// Counter slot of the default.
    pub default_slot: u32,
    /// Audit mode: count and record would-be denials, allow.
    pub audit: bool,
}

/// Size of a verdict record.
pub const RECORD_SIZE: usize = 88;
/// Verdict records a CPU may send per second; the rest are counted (Limits slot 1, word 0).
pub const RECORDS_PER_SEC: i32 = 2000;
/// Counter value: packets, bytes, denied, audited (u64 each).
pub const STAT_VALUE: u32 = 32;
/// Limits value: two u64.
pub const LIMITS_VALUE: u32 = 16;

/// Record byte offsets (user space decodes with the same numbers).
pub mod rec {
    /// u64 ktime (CLOCK_MONOTONIC ns).
    pub const TIME: usize = 0;
    /// u64 cgroup id.
    pub const CGROUP: usize = 8;
    /// u32 pid (tgid), 0 when unknown.
    pub const PID: usize = 16;
    /// u32 slot.
    pub const SLOT: usize = 20;
    /// u16 workload.
    pub const WORKLOAD: usize = 24;
    /// u8 direction.
    pub const DIR: usize = 26;
    /// u8 verdict: 1 denied, 2 would be denied (audit).
    pub const VERDICT: usize = 27;
    /// u8 family (4, 6).
    pub const FAMILY: usize = 28;
    /// u8 IP protocol.
    pub const PROTO: usize = 29;
    /// u16 source port (BE).
    pub const SPORT: usize = 32;
    /// u16 destination port (BE).
    pub const DPORT: usize = 34;
    /// 16 bytes source address.
    pub const SADDR: usize = 40;
    /// 16 bytes destination address.
    pub const DADDR: usize = 56;
    /// 16 bytes comm, empty when unknown.
    pub const COMM: usize = 72;
}

const LEN: i16 = -16;
const PKEY: i16 = -40;
const PADDR: i16 = -32;
const QKEY: i16 = -56;
const QCLASS: i16 = -52;
const QPROTO: i16 = -48;
const QPORT: i16 = -46;
const VERDICT: i16 = -64;
const SLOT: i16 = -68;
const FAMILY: i16 = -72;
const PROTO: i16 = -71;
const SPORT: i16 = -76;
const DPORT: i16 = -74;
const SADDR: i16 = -96;
const DADDR: i16 = -112;
const SKEY: i16 = -120;
const HDR: i16 = -160;

/// A generated program.
#[derive(Clone, Debug)]
pub struct PolProgram {
    /// Instructions.
    pub insns: Vec<Insn>,
    /// (first slot of an ld_imm64, map it loads).
    pub relocs: Vec<(usize, PolMap)>,
}

/// Builds the program of `hook` for one workload.
pub fn build(hook: Hook, p: &Params) -> Result<PolProgram, String> {
    let mut a: Asm<PolMap> = Asm::new();
    let pass = a.label();
    a.push(Insn::mov64_reg(Reg::R6, Reg::R1));
    // Zero everything a helper will read as a key or copy into a record.
    for off in (-160..=-16).step_by(8) {
        a.push(Insn::st_imm(Size::DW, Reg::R10, off as i16, 0));
    }
    a.push(Insn::st_imm(
        Size::H,
        Reg::R10,
        PKEY + 4,
        i32::from(p.workload.swap_bytes()),
    ));
    a.push(Insn::st_imm(
        Size::B,
        Reg::R10,
        PKEY + 6,
        i32::from(hook.direction().code()),
    ));
    match hook {
        Hook::Connect4 | Hook::Sendmsg4 => sock_addr4(&mut a),
        Hook::Connect6 | Hook::Sendmsg6 => sock_addr6(&mut a),
        Hook::Ingress | Hook::Egress => skb(&mut a, hook, pass),
    }
    decide(&mut a, hook, p);
    if !hook.is_sock_addr() {
        // Packets the skb hooks leave to the socket hooks (or that carry no flow start).
        a.bind(pass);
        a.push(Insn::mov64_imm(Reg::R0, 1));
        a.push(Insn::exit());
    }
    let (insns, relocs) = a.finish()?;
    Ok(PolProgram { insns, relocs })
}

/// bpf_sock_addr fields.
const SA_USER_IP4: i16 = 4;
const SA_USER_IP6: i16 = 8;
const SA_USER_PORT: i16 = 24;
const SA_PROTOCOL: i16 = 36;

fn sock_addr_common(a: &mut Asm<PolMap>) {
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SA_PROTOCOL));
    a.push(Insn::stx(Size::B, Reg::R10, PROTO, Reg::R1));
    // user_port: a u32 whose first two bytes are the port in network order.
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SA_USER_PORT));
    a.push(Insn::stx(Size::H, Reg::R10, DPORT, Reg::R1));
}

fn v4_peer(a: &mut Asm<PolMap>, src: Reg) {
    a.push(Insn::stx(Size::W, Reg::R10, PADDR, src));
    a.push(Insn::stx(Size::W, Reg::R10, DADDR, src));
    a.push(Insn::st_imm(Size::W, Reg::R10, PKEY, 64));
    a.push(Insn::st_imm(Size::B, Reg::R10, FAMILY, 4));
}

fn sock_addr4(a: &mut Asm<PolMap>) {
    sock_addr_common(a);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SA_USER_IP4));
    v4_peer(a, Reg::R1);
}

fn sock_addr6(a: &mut Asm<PolMap>) {
    sock_addr_common(a);
    // An IPv4-mapped address (::ffff:a.b.c.d) reaches IPv4 through an IPv6 socket without
    // passing connect4: decide it as the IPv4 address it is.
    let native = a.label();
    let done = a.label();
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SA_USER_IP6));
    a.jmp_imm(JmpOp::Jne, Reg::R1, 0, native);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SA_USER_IP6 + 4));
    a.jmp_imm(JmpOp::Jne, Reg::R1, 0, native);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SA_USER_IP6 + 8));
    a.jmp32_imm(
        JmpOp::Jne,
        Reg::R1,
        u32::from_ne_bytes([0, 0, 0xff, 0xff]) as i32,
        native,
    );
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SA_USER_IP6 + 12));
    v4_peer(a, Reg::R1);
    a.ja(done);
    a.bind(native);
    for w in 0..4i16 {
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SA_USER_IP6 + 4 * w));
        a.push(Insn::stx(Size::W, Reg::R10, PADDR + 4 * w, Reg::R1));
        a.push(Insn::stx(Size::W, Reg::R10, DADDR + 4 * w, Reg::R1));
    }
    a.push(Insn::st_imm(Size::W, Reg::R10, PKEY, 32 + 128));
    a.push(Insn::st_imm(Size::B, Reg::R10, FAMILY, 6));
    a.bind(done);
}

/// __sk_buff fields.
const SKB_LEN: i16 = 0;
const SKB_REMOTE_PORT: i16 = 132;

/// Reads family, protocol, addresses and ports from the IP header at skb->data (cgroup_skb
/// data starts at the network header). r7 = L4 offset.
fn skb(a: &mut Asm<PolMap>, hook: Hook, pass: Label) {
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SKB_LEN));
    a.push(Insn::stx(Size::DW, Reg::R10, LEN, Reg::R1));
    let v4 = a.label();
    let v6 = a.label();
    let have_l3 = a.label();
    skb_load(a, Some(0), HDR, 1, pass);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R10, HDR));
    a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 4));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 4, v4);
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 6, v6);
    a.ja(pass);

    a.bind(v4);
    skb_load(a, Some(0), HDR, 20, pass);
    a.push(Insn::ldx(Size::B, Reg::R7, Reg::R10, HDR));
    a.push(Insn::alu64_imm(AluOp::And, Reg::R7, 0x0f));
    a.push(Insn::alu64_imm(AluOp::Lsh, Reg::R7, 2));
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R10, HDR + 9));
    a.push(Insn::stx(Size::B, Reg::R10, PROTO, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, HDR + 12));
    a.push(Insn::stx(Size::W, Reg::R10, SADDR, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R2, Reg::R10, HDR + 16));
    a.push(Insn::stx(Size::W, Reg::R10, DADDR, Reg::R2));
    let peer = if hook == Hook::Ingress {
        Reg::R1
    } else {
        Reg::R2
    };
    a.push(Insn::stx(Size::W, Reg::R10, PADDR, peer));
    a.push(Insn::st_imm(Size::W, Reg::R10, PKEY, 64));
    a.push(Insn::st_imm(Size::B, Reg::R10, FAMILY, 4));
    // A later fragment has no L4 header; its first fragment was decided.
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R10, HDR + 6));
    a.push(Insn::alu64_imm(
        AluOp::And,
        Reg::R1,
        i32::from(0x1fffu16.swap_bytes()),
    ));
    a.jmp_imm(JmpOp::Jne, Reg::R1, 0, pass);
    a.ja(have_l3);

    a.bind(v6);
    skb_load(a, Some(0), HDR, 40, pass);
    a.push(Insn::mov64_imm(Reg::R7, 40));
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R10, HDR + 6));
    a.push(Insn::stx(Size::B, Reg::R10, PROTO, Reg::R1));
    for w in 0..4i16 {
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, HDR + 8 + 4 * w));
        a.push(Insn::stx(Size::W, Reg::R10, SADDR + 4 * w, Reg::R1));
        a.push(Insn::ldx(Size::W, Reg::R2, Reg::R10, HDR + 24 + 4 * w));
        a.push(Insn::stx(Size::W, Reg::R10, DADDR + 4 * w, Reg::R2));
        let peer = if hook == Hook::Ingress {
            Reg::R1
        } else {
            Reg::R2
        };
        a.push(Insn::stx(Size::W, Reg::R10, PADDR + 4 * w, peer));
    }
    a.push(Insn::st_imm(Size::W, Reg::R10, PKEY, 32 + 128));
    a.push(Insn::st_imm(Size::B, Reg::R10, FAMILY, 6));

    a.bind(have_l3);
    let tcp = a.label();
    let udp = a.label();
    let other = a.label();
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R10, PROTO));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 6, tcp);
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 17, udp);
    a.ja(other);

    a.bind(tcp);
    if hook == Hook::Egress {
        // connect4/6 decided this flow.
        a.ja(pass);
    } else {
        // Only a SYN without ACK opens a connection to this workload.
        skb_load(a, None, HDR, 14, pass);
        a.push(Insn::ldx(Size::B, Reg::R1, Reg::R10, HDR + 13));
        a.push(Insn::alu64_imm(AluOp::And, Reg::R1, 0x12));
        a.jmp_imm(JmpOp::Jne, Reg::R1, 0x02, pass);
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, HDR));
        a.push(Insn::stx(Size::W, Reg::R10, SPORT, Reg::R1));
        a.ja(other);
    }

    a.bind(udp);
    if hook == Hook::Egress {
        a.ja(pass);
    } else {
        // A connected socket only receives from the peer its connect() was allowed to.
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R6, SKB_REMOTE_PORT));
        a.jmp_imm(JmpOp::Jne, Reg::R1, 0, pass);
        skb_load(a, None, SPORT, 4, pass);
    }

    a.bind(other);
}

/// `bpf_skb_load_bytes(skb, off or r7, r10+to, len)`; a failed load goes to `fail`.
fn skb_load(a: &mut Asm<PolMap>, off: Option<i32>, to: i16, len: i32, fail: Label) {
    a.push(Insn::mov64_reg(Reg::R1, Reg::R6));
    match off {
        Some(o) => a.push(Insn::mov64_imm(Reg::R2, o)),
        None => a.push(Insn::mov64_reg(Reg::R2, Reg::R7)),
    }
    a.push(Insn::mov64_reg(Reg::R3, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(to)));
    a.push(Insn::mov64_imm(Reg::R4, len));
    a.push(Insn::call_helper(helper::SKB_LOAD_BYTES));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, fail);
}

/// The lookups, counting, record and return, common to every hook.
fn decide(a: &mut Asm<PolMap>, hook: Hook, p: &Params) {
    let default = a.label();
    let decided = a.label();
    let v6 = a.label();
    let looked = a.label();
    // Port key: the port only means something for TCP and UDP.
    a.push(Insn::st_imm(Size::W, Reg::R10, QKEY, 64));
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R10, PROTO));
    a.push(Insn::stx(Size::B, Reg::R10, QPROTO, Reg::R1));
    let portless = a.label();
    let ported = a.label();
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 6, ported);
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 17, ported);
    a.ja(portless);
    a.bind(ported);
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R10, DPORT));
    a.push(Insn::stx(Size::H, Reg::R10, QPORT, Reg::R1));
    a.bind(portless);

    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R10, FAMILY));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 6, v6);
    a.ld_map(Reg::R1, PolMap::Peers4);
    a.ja(looked);
    a.bind(v6);
    a.ld_map(Reg::R1, PolMap::Peers6);
    a.bind(looked);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(PKEY)));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, default);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R0, 0));
    a.push(Insn::stx(Size::W, Reg::R10, QCLASS, Reg::R1));
    a.ld_map(Reg::R1, PolMap::Ports);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(QKEY)));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, default);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R0, 0));
    a.push(Insn::stx(Size::W, Reg::R10, SLOT, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R0, 4));
    a.push(Insn::stx(Size::W, Reg::R10, VERDICT, Reg::R1));
    a.ja(decided);
    a.bind(default);
    a.push(Insn::st_imm(Size::W, Reg::R10, SLOT, p.default_slot as i32));
    a.push(Insn::st_imm(
        Size::W,
        Reg::R10,
        VERDICT,
        i32::from(p.default == Verdict::Deny),
    ));
    a.bind(decided);

    // Counters: packets, bytes, denied (or audited, the would-be denials).
    let counted = a.label();
    a.ld_map(Reg::R1, PolMap::Stats);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(SLOT)));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, counted);
    // Per-CPU values: plain adds are safe (no other CPU writes this copy).
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
    a.push(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
    a.push(Insn::ldx(Size::DW, Reg::R2, Reg::R10, LEN));
    a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
    a.push(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, VERDICT));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 0, counted);
    let off = if p.audit { 24 } else { 16 };
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, off));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
    a.push(Insn::stx(Size::DW, Reg::R0, off, Reg::R1));
    a.bind(counted);

    let allow = a.label();
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, VERDICT));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 0, allow);
    record(a, hook, p);
    if !p.audit {
        a.push(Insn::mov64_imm(Reg::R0, 0));
        a.push(Insn::exit());
    }
    a.bind(allow);
    a.push(Insn::mov64_imm(Reg::R0, 1));
    a.push(Insn::exit());
}

/// Adds 1 to word `word` of Limits slot 1 (the drop counters).
fn count_drop(a: &mut Asm<PolMap>, word: i16, done: Label) {
    a.push(Insn::st_imm(Size::W, Reg::R10, SKEY, 1));
    a.ld_map(Reg::R1, PolMap::Limits);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(SKEY)));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, done);
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, word * 8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
    a.push(Insn::stx(Size::DW, Reg::R0, word * 8, Reg::R1));
    a.ja(done);
}

/// A verdict record, if this CPU's budget for the current second allows; else counted.
fn record(a: &mut Asm<PolMap>, hook: Hook, p: &Params) {
    let done = a.label();
    let limited = a.label();
    let full = a.label();
    let same_window = a.label();
    // Rate window: r7 = &Limits[0], r8 = now.
    a.push(Insn::st_imm(Size::W, Reg::R10, SKEY, 0));
    a.ld_map(Reg::R1, PolMap::Limits);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(SKEY)));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, done);
    a.push(Insn::mov64_reg(Reg::R7, Reg::R0));
    a.push(Insn::call_helper(helper::KTIME_GET_NS));
    a.push(Insn::mov64_reg(Reg::R8, Reg::R0));
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R7, 0));
    a.push(Insn::mov64_reg(Reg::R2, Reg::R8));
    a.push(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R1));
    a.jmp_imm(JmpOp::Jlt, Reg::R2, 1_000_000_000, same_window);
    a.push(Insn::stx(Size::DW, Reg::R7, 0, Reg::R8));
    a.push(Insn::st_imm(Size::DW, Reg::R7, 8, 0));
    a.bind(same_window);
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R7, 8));
    a.jmp_imm(JmpOp::Jge, Reg::R1, RECORDS_PER_SEC, limited);
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
    a.push(Insn::stx(Size::DW, Reg::R7, 8, Reg::R1));

    a.ld_map(Reg::R1, PolMap::Events);
    a.push(Insn::mov64_imm(Reg::R2, RECORD_SIZE as i32));
    a.push(Insn::mov64_imm(Reg::R3, 0));
    a.push(Insn::call_helper(helper::RINGBUF_RESERVE));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, full);
    a.push(Insn::mov64_reg(Reg::R9, Reg::R0));
    a.push(Insn::stx(Size::DW, Reg::R9, rec::TIME as i16, Reg::R8));
    if hook.is_sock_addr() {
        a.push(Insn::call_helper(helper::GET_CURRENT_CGROUP_ID));
        a.push(Insn::stx(Size::DW, Reg::R9, rec::CGROUP as i16, Reg::R0));
        a.push(Insn::call_helper(helper::GET_CURRENT_PID_TGID));
        a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
        a.push(Insn::stx(Size::W, Reg::R9, rec::PID as i16, Reg::R0));
        a.push(Insn::mov64_reg(Reg::R1, Reg::R9));
        a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, rec::COMM as i32));
        a.push(Insn::mov64_imm(Reg::R2, 16));
        a.push(Insn::call_helper(helper::GET_CURRENT_COMM));
    } else {
        a.push(Insn::mov64_reg(Reg::R1, Reg::R6));
        a.push(Insn::call_helper(helper::SKB_CGROUP_ID));
        a.push(Insn::stx(Size::DW, Reg::R9, rec::CGROUP as i16, Reg::R0));
        a.push(Insn::st_imm(Size::W, Reg::R9, rec::PID as i16, 0));
        for w in 0..2i16 {
            a.push(Insn::st_imm(Size::DW, Reg::R9, rec::COMM as i16 + 8 * w, 0));
        }
    }
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, SLOT));
    a.push(Insn::stx(Size::W, Reg::R9, rec::SLOT as i16, Reg::R1));
    a.push(Insn::st_imm(
        Size::H,
        Reg::R9,
        rec::WORKLOAD as i16,
        i32::from(p.workload),
    ));
    a.push(Insn::st_imm(
        Size::B,
        Reg::R9,
        rec::DIR as i16,
        i32::from(hook.direction().code()),
    ));
    a.push(Insn::st_imm(
        Size::B,
        Reg::R9,
        rec::VERDICT as i16,
        if p.audit { 2 } else { 1 },
    ));
    // family, proto (2 bytes) + pad; ports; addresses: copied from the frame.
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R10, FAMILY));
    a.push(Insn::stx(Size::H, Reg::R9, rec::FAMILY as i16, Reg::R1));
    a.push(Insn::st_imm(Size::H, Reg::R9, 30, 0));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, SPORT));
    a.push(Insn::stx(Size::W, Reg::R9, rec::SPORT as i16, Reg::R1));
    a.push(Insn::st_imm(Size::W, Reg::R9, 36, 0));
    for w in 0..2i16 {
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, SADDR + 8 * w));
        a.push(Insn::stx(
            Size::DW,
            Reg::R9,
            rec::SADDR as i16 + 8 * w,
            Reg::R1,
        ));
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, DADDR + 8 * w));
        a.push(Insn::stx(
            Size::DW,
            Reg::R9,
            rec::DADDR as i16 + 8 * w,
            Reg::R1,
        ));
    }
    a.push(Insn::mov64_reg(Reg::R1, Reg::R9));
    a.push(Insn::mov64_imm(Reg::R2, 0));
    a.push(Insn::call_helper(helper::RINGBUF_SUBMIT));
    a.ja(done);
    a.bind(limited);
    count_drop(a, 0, done);
    a.bind(full);
    count_drop(a, 1, done);
    a.bind(done);
}
