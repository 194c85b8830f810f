//! The two lb programs, built with the label assembler ([`crate::firewall::asm::Asm`]):
//!
//! - **ingress** (XDP on the client-facing interface): parse Ethernet/IPv4/TCP|UDP, look the
//!   destination up in `services`, find the flow in the LRU connection table or choose a
//!   backend from the service's Maglev row (`service × M + hash(5-tuple) % M`), then forward:
//!   nat rewrites daddr/dport with incremental checksum updates and returns XDP_PASS so the
//!   host routes it; dsr rewrites the Ethernet addresses and returns XDP_TX; ipip pushes an
//!   outer IPv4 header and returns XDP_TX. IPv4 fragments and ICMP errors are counted and
//!   passed to the stack (ICMP errors are matched against the connection table first).
//! - **egress** (tcx egress of the same interface, nat mode only): replies whose 5-tuple is
//!   in `rnat` get their source rewritten back to the VIP, checksums fixed by the kernel's
//!   csum helpers (which know about CHECKSUM_PARTIAL skbs).
//!
//! Ingress stack frame:
//!
//! | offset | what |
//! |---|---|
//! | -8 | ctx |
//! | -16 | frame length (u64) |
//! | -32 | flow key client → VIP (16 bytes) |
//! | -48 | conn value (16 bytes) |
//! | -64 | reverse flow key backend → client (16 bytes) |
//! | -80 | rnat value (16 bytes) |
//! | -88 | service key (8 bytes) |
//! | -92 | scratch u32 key |
//! | -96 | service index |
//! | -100 | backend slot |
//! | -176 | `struct bpf_fib_lookup` (forward = "redirect") |
//!
//! Registers across the body: r6 = data, r7 = data_end, r8 = IPv4 header, r9 = the
//! backend's map value once chosen.

use std::net::Ipv4Addr;

use kestrel_isa::{helper, AluOp, Insn, JmpOp, Reg, Size};

use super::config::{Forward, LbMode, MAX_BACKENDS};
use super::layout::{self, be, Global, STATE_ACTIVE, STATE_DRAINING};
use super::maglev::NO_BACKEND;
use crate::firewall::asm::{Asm, Label};

/// Maps the programs reference (fds patched in at load time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LbMap {
    /// VIP:port/proto → service index.
    Services,
    /// Backend slots.
    Backends,
    /// Maglev rows.
    Maglev,
    /// Connection table.
    Conns,
    /// Reverse-NAT table.
    Rnat,
    /// Per-CPU counters.
    Stats,
}

/// What the ingress program is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Forwarding mode.
    pub mode: LbMode,
    /// Maglev table size per service.
    pub table_size: u32,
    /// MAC of the interface (source MAC of frames sent back out in dsr/ipip).
    pub iface_mac: [u8; 6],
    /// Outer source address (ipip).
    pub ipip_source: Option<Ipv4Addr>,
    /// How nat mode forwards.
    pub forward: Forward,
}

/// A generated program: instructions and the maps its ld_imm64s load.
#[derive(Clone, Debug)]
pub struct LbProgram {
    /// Instructions.
    pub insns: Vec<Insn>,
    /// (first slot of an ld_imm64, map it loads).
    pub relocs: Vec<(usize, LbMap)>,
}

const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;
const XDP_TX: i32 = 3;
const TCX_NEXT: i32 = -1;

const CTX: i16 = -8;
const LEN: i16 = -16;
const KEY: i16 = -32;
const CONN: i16 = -48;
const RKEY: i16 = -64;
const RVAL: i16 = -80;
const SVCKEY: i16 = -88;
const SCRATCH: i16 = -92;
const SVC: i16 = -96;
const BE: i16 = -100;
/// `struct bpf_fib_lookup` (64 bytes).
const FIB: i16 = -176;

/// The native-order value of a big-endian u16 as a program loads it from the packet.
fn ne16(v: u16) -> i32 {
    i32::from(u16::from_ne_bytes(v.to_be_bytes()))
}

/// The native-order value of 4 network-order bytes.
fn ne32(b: [u8; 4]) -> i32 {
    i32::from_ne_bytes(b)
}

/// `r1 = &stack[off]` style pointer.
fn stack_ptr(a: &mut Asm<LbMap>, r: Reg, off: i16) {
    a.push(Insn::mov64_reg(r, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, r, i32::from(off)));
}

/// `r0 = lookup(map, &stack[key])`.
fn lookup(a: &mut Asm<LbMap>, map: LbMap, key: i16) {
    a.ld_map(Reg::R1, map);
    stack_ptr(a, Reg::R2, key);
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
}

/// `update(map, &stack[key], &stack[value], BPF_ANY)`.
fn update(a: &mut Asm<LbMap>, map: LbMap, key: i16, value: i16) {
    a.ld_map(Reg::R1, map);
    stack_ptr(a, Reg::R2, key);
    stack_ptr(a, Reg::R3, value);
    a.push(Insn::mov64_imm(Reg::R4, 0));
    a.push(Insn::call_helper(helper::MAP_UPDATE_ELEM));
}

/// Which fields of a counter to bump.
#[derive(Clone, Copy)]
struct Bump {
    packet: bool,
    new_flow: bool,
}

/// Adds to the per-CPU counter whose index is in `stack[SCRATCH]`.
fn bump_scratch(a: &mut Asm<LbMap>, what: Bump) {
    let skip = a.label();
    lookup(a, LbMap::Stats, SCRATCH);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, skip);
    // Per-CPU values: plain adds are safe (no other CPU writes this copy).
    if what.packet {
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
        a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        a.push(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
        a.push(Insn::ldx(Size::DW, Reg::R2, Reg::R10, LEN));
        a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
        a.push(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
    }
    if what.new_flow {
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 16));
        a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        a.push(Insn::stx(Size::DW, Reg::R0, 16, Reg::R1));
    }
    a.bind(skip);
}

/// Counts one packet in global slot `g`.
fn count_global(a: &mut Asm<LbMap>, g: Global) {
    a.push(Insn::st_imm(
        Size::W,
        Reg::R10,
        SCRATCH,
        layout::stat_global(g) as i32,
    ));
    bump_scratch(
        a,
        Bump {
            packet: true,
            new_flow: false,
        },
    );
}

/// Counts in the service's and the backend's slots (indices from the stack).
fn count_service_and_backend(a: &mut Asm<LbMap>, what: Bump) {
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, SVC));
    a.push(Insn::stx(Size::W, Reg::R10, SCRATCH, Reg::R1));
    bump_scratch(a, what);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, BE));
    a.push(Insn::alu64_imm(
        AluOp::Add,
        Reg::R1,
        layout::stat_backend(0) as i32,
    ));
    a.push(Insn::stx(Size::W, Reg::R10, SCRATCH, Reg::R1));
    bump_scratch(a, what);
}

fn ret(a: &mut Asm<LbMap>, code: i32) {
    a.push(Insn::mov64_imm(Reg::R0, code));
    a.push(Insn::exit());
}

/// `csum16 at [base+off] = ~fold(~csum + delta)`, delta in `delta` (≤ 0xffff); clobbers r1, r2.
/// With `udp`, a zero checksum (none) is left alone and a zero result becomes 0xffff.
fn csum_apply(a: &mut Asm<LbMap>, base: Reg, off: i16, delta: Reg, udp: bool) {
    let done = a.label();
    a.push(Insn::ldx(Size::H, Reg::R1, base, off));
    if udp {
        a.jmp_imm(JmpOp::Jeq, Reg::R1, 0, done);
    }
    a.push(Insn::alu64_imm(AluOp::Xor, Reg::R1, 0xffff));
    a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, delta));
    for _ in 0..2 {
        a.push(Insn::mov64_reg(Reg::R2, Reg::R1));
        a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R2, 16));
        a.push(Insn::alu64_imm(AluOp::And, Reg::R1, 0xffff));
        a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
    }
    a.push(Insn::alu64_imm(AluOp::Xor, Reg::R1, 0xffff));
    if udp {
        let nonzero = a.label();
        a.jmp_imm(JmpOp::Jne, Reg::R1, 0, nonzero);
        a.push(Insn::mov64_imm(Reg::R1, 0xffff));
        a.bind(nonzero);
    }
    a.push(Insn::stx(Size::H, base, off, Reg::R1));
    a.bind(done);
}

/// Copies `n` bytes (4 or 2 per move) from `[src+so]` to `[dst+do]`.
fn copy(a: &mut Asm<LbMap>, dst: Reg, doff: i16, src: Reg, soff: i16, n: i16) {
    let mut i = 0;
    while i < n {
        let (sz, w) = if n - i >= 4 {
            (Size::W, 4)
        } else {
            (Size::H, 2)
        };
        a.push(Insn::ldx(sz, Reg::R1, src, soff + i));
        a.push(Insn::stx(sz, dst, doff + i, Reg::R1));
        i += w;
    }
}

/// Writes a MAC constant at `[dst+off]`.
fn store_mac(a: &mut Asm<LbMap>, dst: Reg, off: i16, mac: [u8; 6]) {
    a.push(Insn::st_imm(
        Size::W,
        dst,
        off,
        ne32([mac[0], mac[1], mac[2], mac[3]]),
    ));
    a.push(Insn::st_imm(
        Size::H,
        dst,
        off + 4,
        i32::from(u16::from_ne_bytes([mac[4], mac[5]])),
    ));
}

/// The murmur3 64-bit finaliser over (saddr, ports, daddr, proto) in r1, leaving the hash
/// in r1. Clobbers r2, r3.
fn flow_hash(a: &mut Asm<LbMap>) {
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, KEY));
    a.push(Insn::alu64_imm(AluOp::Lsh, Reg::R1, 32));
    a.push(Insn::ldx(Size::W, Reg::R2, Reg::R10, KEY + 8));
    a.push(Insn::alu64_reg(AluOp::Or, Reg::R1, Reg::R2));
    a.push(Insn::ldx(Size::W, Reg::R2, Reg::R10, KEY + 4));
    a.push(Insn::ldx(Size::B, Reg::R3, Reg::R10, KEY + 12));
    a.push(Insn::alu64_imm(AluOp::Lsh, Reg::R3, 32));
    a.push(Insn::alu64_reg(AluOp::Or, Reg::R2, Reg::R3));
    a.ld64(Reg::R3, 0x9e37_79b9_7f4a_7c15);
    a.push(Insn::alu64_reg(AluOp::Mul, Reg::R2, Reg::R3));
    a.push(Insn::alu64_reg(AluOp::Xor, Reg::R1, Reg::R2));
    for c in [0xff51_afd7_ed55_8ccdu64, 0xc4ce_b9fe_1a85_ec53] {
        a.push(Insn::mov64_reg(Reg::R2, Reg::R1));
        a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R2, 33));
        a.push(Insn::alu64_reg(AluOp::Xor, Reg::R1, Reg::R2));
        a.ld64(Reg::R3, c);
        a.push(Insn::alu64_reg(AluOp::Mul, Reg::R1, Reg::R3));
    }
    a.push(Insn::mov64_reg(Reg::R2, Reg::R1));
    a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R2, 33));
    a.push(Insn::alu64_reg(AluOp::Xor, Reg::R1, Reg::R2));
}

/// The same hash in Rust, for tests and for `kestrel lb` predicting a flow's backend.
pub fn flow_hash_of(key: &[u8; 16]) -> u64 {
    let w = |o: usize| {
        u64::from(u32::from_ne_bytes([
            key[o],
            key[o + 1],
            key[o + 2],
            key[o + 3],
        ]))
    };
    let mut x = (w(0) << 32) | w(8);
    let d = w(4) | (u64::from(key[12]) << 32);
    x ^= d.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for c in [0xff51_afd7_ed55_8ccdu64, 0xc4ce_b9fe_1a85_ec53] {
        x ^= x >> 33;
        x = x.wrapping_mul(c);
    }
    x ^ (x >> 33)
}

/// Routes the translated packet in XDP: `bpf_fib_lookup` for its new destination, TTL
/// decremented (checksum updated), MACs from the lookup, `bpf_redirect` to the egress
/// interface. Anything the lookup cannot answer (no route, no neighbour entry yet) and TTL
/// ≤ 1 go to `pass`, where the stack does it (and sends ICMP).
fn redirect(a: &mut Asm<LbMap>, pass: Label) {
    for i in 0..8 {
        a.push(Insn::st_imm(Size::DW, Reg::R10, FIB + 8 * i, 0));
    }
    a.push(Insn::st_imm(Size::B, Reg::R10, FIB, 2)); // AF_INET
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R8, 9));
    a.push(Insn::stx(Size::B, Reg::R10, FIB + 1, Reg::R1));
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R8, 20));
    a.push(Insn::stx(Size::H, Reg::R10, FIB + 2, Reg::R1));
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R8, 22));
    a.push(Insn::stx(Size::H, Reg::R10, FIB + 4, Reg::R1));
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R8, 2));
    a.push(Insn::endian(Reg::R1, 16, true));
    a.push(Insn::stx(Size::H, Reg::R10, FIB + 6, Reg::R1));
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R1, 12)); // ingress_ifindex
    a.push(Insn::stx(Size::W, Reg::R10, FIB + 8, Reg::R1));
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R8, 1));
    a.push(Insn::stx(Size::B, Reg::R10, FIB + 12, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 12));
    a.push(Insn::stx(Size::W, Reg::R10, FIB + 16, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 16));
    a.push(Insn::stx(Size::W, Reg::R10, FIB + 32, Reg::R1));
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX));
    stack_ptr(a, Reg::R2, FIB);
    a.push(Insn::mov64_imm(Reg::R3, 64));
    a.push(Insn::mov64_imm(Reg::R4, 0));
    a.push(Insn::call_helper(helper::FIB_LOOKUP));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, pass);
    // TTL: the stack sends "time exceeded" for us.
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R8, 8));
    a.jmp_imm(JmpOp::Jle, Reg::R1, 1, pass);
    a.push(Insn::ldx(Size::H, Reg::R4, Reg::R8, 8));
    a.push(Insn::alu64_imm(AluOp::Sub, Reg::R1, 1));
    a.push(Insn::stx(Size::B, Reg::R8, 8, Reg::R1));
    a.push(Insn::ldx(Size::H, Reg::R3, Reg::R8, 8));
    a.push(Insn::alu64_imm(AluOp::Xor, Reg::R4, 0xffff));
    a.push(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R4));
    csum_apply(a, Reg::R8, 10, Reg::R3, false);
    // struct bpf_fib_lookup: smac at 52, dmac at 58.
    // In 2-byte moves: dmac sits at a stack offset that is not 4-aligned.
    for i in (0..6).step_by(2) {
        a.push(Insn::ldx(Size::H, Reg::R1, Reg::R10, FIB + 58 + i));
        a.push(Insn::stx(Size::H, Reg::R6, i, Reg::R1));
        a.push(Insn::ldx(Size::H, Reg::R1, Reg::R10, FIB + 52 + i));
        a.push(Insn::stx(Size::H, Reg::R6, 6 + i, Reg::R1));
    }
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, FIB + 8));
    a.push(Insn::mov64_imm(Reg::R2, 0));
    a.push(Insn::call_helper(helper::REDIRECT));
    a.push(Insn::exit());
}

/// Builds the ingress XDP program.
pub fn build_ingress(p: &Params) -> Result<LbProgram, String> {
    let mut a: Asm<LbMap> = Asm::new();
    let pass = a.label();
    let drop = a.label();
    let frag = a.label();
    let options = a.label();
    let icmp = a.label();
    let l4 = a.label();

    a.push(Insn::stx(Size::DW, Reg::R10, CTX, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, 0));
    a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, 4));
    a.push(Insn::mov64_reg(Reg::R0, Reg::R7));
    a.push(Insn::alu64_reg(AluOp::Sub, Reg::R0, Reg::R6));
    a.push(Insn::stx(Size::DW, Reg::R10, LEN, Reg::R0));
    // Ethernet + a 20-byte IPv4 header.
    a.push(Insn::mov64_reg(Reg::R8, Reg::R6));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R8, 14));
    a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 20));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, pass);
    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R6, 12));
    a.jmp_imm(JmpOp::Jne, Reg::R0, ne16(0x0800), pass);
    a.push(Insn::ldx(Size::B, Reg::R0, Reg::R8, 0));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0x45, options);
    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R8, 6));
    a.push(Insn::alu64_imm(AluOp::And, Reg::R0, ne16(0x3fff)));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, frag);
    a.push(Insn::ldx(Size::B, Reg::R0, Reg::R8, 9));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 1, icmp);
    // TCP needs 20 bytes of header, UDP 8 (ports and checksum are in them).
    let udp_len = a.label();
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 17, udp_len);
    a.jmp_imm(JmpOp::Jne, Reg::R0, 6, pass);
    a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 40));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, pass);
    a.ja(l4);
    a.bind(udp_len);
    a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 28));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, pass);

    // Service lookup: (daddr, dport, proto).
    a.bind(l4);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 16));
    a.push(Insn::stx(Size::W, Reg::R10, SVCKEY, Reg::R1));
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R8, 22));
    a.push(Insn::stx(Size::H, Reg::R10, SVCKEY + 4, Reg::R1));
    a.push(Insn::stx(Size::B, Reg::R10, SVCKEY + 6, Reg::R0));
    a.push(Insn::st_imm(Size::B, Reg::R10, SVCKEY + 7, 0));
    lookup(&mut a, LbMap::Services, SVCKEY);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, pass);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R0, 0));
    a.push(Insn::stx(Size::W, Reg::R10, SVC, Reg::R1));

    // The flow key, client → VIP.
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 12));
    a.push(Insn::stx(Size::W, Reg::R10, KEY, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 16));
    a.push(Insn::stx(Size::W, Reg::R10, KEY + 4, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 20));
    a.push(Insn::stx(Size::W, Reg::R10, KEY + 8, Reg::R1));
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R8, 9));
    a.push(Insn::stx(Size::W, Reg::R10, KEY + 12, Reg::R1));

    let choose = a.label();
    let moved = a.label();
    let forward = a.label();
    lookup(&mut a, LbMap::Conns, KEY);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, choose);
    a.push(Insn::mov64_reg(Reg::R9, Reg::R0));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R9, 0));
    a.push(Insn::stx(Size::W, Reg::R10, BE, Reg::R1));
    a.push(Insn::call_helper(helper::KTIME_GET_COARSE_NS));
    a.push(Insn::stx(Size::DW, Reg::R9, 8, Reg::R0));
    // Still a live backend of this service? Active and draining ones keep their flows.
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, BE));
    a.jmp_imm(JmpOp::Jge, Reg::R1, MAX_BACKENDS as i32, moved);
    lookup(&mut a, LbMap::Backends, BE);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, moved);
    a.push(Insn::mov64_reg(Reg::R9, Reg::R0));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R9, be::SERVICE));
    a.push(Insn::ldx(Size::W, Reg::R2, Reg::R10, SVC));
    a.jmp_reg(JmpOp::Jne, Reg::R1, Reg::R2, moved);
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R9, be::STATE));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, i32::from(STATE_ACTIVE), forward);
    a.jmp_imm(JmpOp::Jeq, Reg::R1, i32::from(STATE_DRAINING), forward);
    a.bind(moved);
    count_global(&mut a, Global::Moved);

    // A new flow (or one whose backend went away): the service's Maglev row.
    a.bind(choose);
    flow_hash(&mut a);
    a.push(Insn::alu64_imm(AluOp::Mod, Reg::R1, p.table_size as i32));
    a.push(Insn::ldx(Size::W, Reg::R2, Reg::R10, SVC));
    a.push(Insn::alu64_imm(AluOp::Mul, Reg::R2, p.table_size as i32));
    a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
    a.push(Insn::stx(Size::W, Reg::R10, SCRATCH, Reg::R1));
    let no_backend = a.label();
    lookup(&mut a, LbMap::Maglev, SCRATCH);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, no_backend);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R0, 0));
    a.jmp32_imm(JmpOp::Jeq, Reg::R1, NO_BACKEND as i32, no_backend);
    a.push(Insn::stx(Size::W, Reg::R10, BE, Reg::R1));
    lookup(&mut a, LbMap::Backends, BE);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, no_backend);
    a.push(Insn::mov64_reg(Reg::R9, Reg::R0));
    // Remember the flow.
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, BE));
    a.push(Insn::stx(Size::W, Reg::R10, CONN, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, SVC));
    a.push(Insn::stx(Size::W, Reg::R10, CONN + 4, Reg::R1));
    a.push(Insn::call_helper(helper::KTIME_GET_COARSE_NS));
    a.push(Insn::stx(Size::DW, Reg::R10, CONN + 8, Reg::R0));
    update(&mut a, LbMap::Conns, KEY, CONN);
    if p.mode == LbMode::Nat {
        // The reply's key: backend → client, and what to put back.
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R9, be::ADDR));
        a.push(Insn::stx(Size::W, Reg::R10, RKEY, Reg::R1));
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, KEY));
        a.push(Insn::stx(Size::W, Reg::R10, RKEY + 4, Reg::R1));
        a.push(Insn::ldx(Size::H, Reg::R1, Reg::R9, be::PORT));
        a.push(Insn::stx(Size::H, Reg::R10, RKEY + 8, Reg::R1));
        a.push(Insn::ldx(Size::H, Reg::R1, Reg::R10, KEY + 8));
        a.push(Insn::stx(Size::H, Reg::R10, RKEY + 10, Reg::R1));
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, KEY + 12));
        a.push(Insn::stx(Size::W, Reg::R10, RKEY + 12, Reg::R1));
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, KEY + 4));
        a.push(Insn::stx(Size::W, Reg::R10, RVAL, Reg::R1));
        a.push(Insn::ldx(Size::H, Reg::R1, Reg::R10, KEY + 10));
        a.push(Insn::stx(Size::W, Reg::R10, RVAL + 4, Reg::R1));
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, SVC));
        a.push(Insn::stx(Size::W, Reg::R10, RVAL + 8, Reg::R1));
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, BE));
        a.push(Insn::stx(Size::W, Reg::R10, RVAL + 12, Reg::R1));
        update(&mut a, LbMap::Rnat, RKEY, RVAL);
    }
    count_service_and_backend(
        &mut a,
        Bump {
            packet: false,
            new_flow: true,
        },
    );

    // r9 = backend value.
    a.bind(forward);
    count_service_and_backend(
        &mut a,
        Bump {
            packet: true,
            new_flow: false,
        },
    );
    match p.mode {
        LbMode::Nat => {
            copy(&mut a, Reg::R8, 16, Reg::R9, be::ADDR, 4);
            copy(&mut a, Reg::R8, 22, Reg::R9, be::PORT, 2);
            a.push(Insn::ldx(Size::W, Reg::R3, Reg::R9, be::IP_DELTA));
            csum_apply(&mut a, Reg::R8, 10, Reg::R3, false);
            a.push(Insn::ldx(Size::W, Reg::R3, Reg::R9, be::L4_DELTA));
            let udp = a.label();
            a.push(Insn::ldx(Size::B, Reg::R0, Reg::R8, 9));
            a.jmp_imm(JmpOp::Jeq, Reg::R0, 17, udp);
            // The TCP and UDP paths merged above; prove the TCP header's length again.
            a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
            a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 40));
            a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, pass);
            csum_apply(&mut a, Reg::R8, 36, Reg::R3, false);
            let send = a.label();
            a.ja(send);
            a.bind(udp);
            csum_apply(&mut a, Reg::R8, 26, Reg::R3, true);
            a.bind(send);
            if p.forward == Forward::Redirect {
                redirect(&mut a, pass);
            } else {
                ret(&mut a, XDP_PASS);
            }
        }
        LbMode::Dsr => {
            copy(&mut a, Reg::R6, 0, Reg::R9, be::MAC, 6);
            store_mac(&mut a, Reg::R6, 6, p.iface_mac);
            ret(&mut a, XDP_TX);
        }
        LbMode::Ipip => {
            let src = p
                .ipip_source
                .ok_or_else(|| "internal: ipip mode without ipip_source".to_string())?;
            // Inner packet length = frame - Ethernet; outer = inner + 20.
            a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX));
            a.push(Insn::mov64_imm(Reg::R2, -20));
            a.push(Insn::call_helper(helper::XDP_ADJUST_HEAD));
            a.jmp_imm(JmpOp::Jne, Reg::R0, 0, drop);
            a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX));
            a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, 0));
            a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, 4));
            a.push(Insn::mov64_reg(Reg::R1, Reg::R6));
            a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 34));
            a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, drop);
            copy(&mut a, Reg::R6, 0, Reg::R9, be::MAC, 6);
            store_mac(&mut a, Reg::R6, 6, p.iface_mac);
            a.push(Insn::st_imm(Size::H, Reg::R6, 12, ne16(0x0800)));
            // Outer header: 45 00 len | 0 0 | 40 04 csum | src | dst.
            a.push(Insn::ldx(Size::DW, Reg::R3, Reg::R10, LEN));
            a.push(Insn::alu64_imm(AluOp::Add, Reg::R3, 20 - 14));
            a.push(Insn::endian(Reg::R3, 16, true));
            a.push(Insn::st_imm(Size::H, Reg::R6, 14, ne16(0x4500)));
            a.push(Insn::stx(Size::H, Reg::R6, 16, Reg::R3));
            a.push(Insn::st_imm(Size::W, Reg::R6, 18, 0));
            a.push(Insn::st_imm(Size::H, Reg::R6, 22, ne16(0x4004)));
            a.push(Insn::st_imm(Size::W, Reg::R6, 26, ne32(src.octets())));
            copy(&mut a, Reg::R6, 30, Reg::R9, be::ADDR, 4);
            // Checksum: ~fold(base + len).
            a.push(Insn::ldx(Size::W, Reg::R1, Reg::R9, be::IPIP_BASE));
            a.push(Insn::alu64_imm(AluOp::And, Reg::R3, 0xffff));
            a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R3));
            for _ in 0..2 {
                a.push(Insn::mov64_reg(Reg::R2, Reg::R1));
                a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R2, 16));
                a.push(Insn::alu64_imm(AluOp::And, Reg::R1, 0xffff));
                a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
            }
            a.push(Insn::alu64_imm(AluOp::Xor, Reg::R1, 0xffff));
            a.push(Insn::stx(Size::H, Reg::R6, 24, Reg::R1));
            ret(&mut a, XDP_TX);
        }
    }

    a.bind(no_backend);
    count_global(&mut a, Global::NoBackend);
    a.ja(drop);

    // ICMP: an error quoting a packet of a known flow (VIP → client) is counted; all passed.
    a.bind(icmp);
    {
        let other = a.label();
        a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
        a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 20 + 8 + 20 + 8));
        a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, pass);
        a.push(Insn::ldx(Size::B, Reg::R0, Reg::R8, 20));
        let error = a.label();
        for t in [3, 11, 12] {
            a.jmp_imm(JmpOp::Jeq, Reg::R0, t, error);
        }
        a.ja(pass);
        a.bind(error);
        a.push(Insn::ldx(Size::B, Reg::R0, Reg::R8, 28));
        a.jmp_imm(JmpOp::Jne, Reg::R0, 0x45, other);
        // Inner: saddr 40, daddr 44, sport 48, dport 50, proto 37 (offsets from r8).
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 44));
        a.push(Insn::stx(Size::W, Reg::R10, KEY, Reg::R1));
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 40));
        a.push(Insn::stx(Size::W, Reg::R10, KEY + 4, Reg::R1));
        a.push(Insn::ldx(Size::H, Reg::R1, Reg::R8, 50));
        a.push(Insn::stx(Size::H, Reg::R10, KEY + 8, Reg::R1));
        a.push(Insn::ldx(Size::H, Reg::R1, Reg::R8, 48));
        a.push(Insn::stx(Size::H, Reg::R10, KEY + 10, Reg::R1));
        a.push(Insn::ldx(Size::B, Reg::R1, Reg::R8, 37));
        a.push(Insn::stx(Size::W, Reg::R10, KEY + 12, Reg::R1));
        lookup(&mut a, LbMap::Conns, KEY);
        a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, other);
        count_global(&mut a, Global::IcmpKnown);
        a.ja(pass);
        a.bind(other);
        count_global(&mut a, Global::IcmpOther);
        a.ja(pass);
    }

    a.bind(frag);
    count_global(&mut a, Global::Fragments);
    a.ja(pass);
    a.bind(options);
    count_global(&mut a, Global::IpOptions);
    a.bind(pass);
    ret(&mut a, XDP_PASS);
    a.bind(drop);
    ret(&mut a, XDP_DROP);

    let (insns, relocs) = a.finish()?;
    Ok(LbProgram { insns, relocs })
}

/// Builds the tcx egress program that rewrites replies' source back to the VIP (nat mode).
///
/// Stack: -8 ctx, -16 len, -32 reply key, -48 rnat value copy, -52 old saddr, -56 old sport,
/// -92 scratch.
pub fn build_egress() -> Result<LbProgram, String> {
    const OLD_ADDR: i16 = -52;
    const OLD_PORT: i16 = -56;
    let mut a: Asm<LbMap> = Asm::new();
    let next = a.label();
    let linear = a.label();
    let l4 = a.label();
    let udp_len = a.label();
    let udp = a.label();
    let csum_done = a.label();

    a.push(Insn::stx(Size::DW, Reg::R10, CTX, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R0, Reg::R1, 0));
    a.push(Insn::stx(Size::DW, Reg::R10, LEN, Reg::R0));
    // Make the headers linear (a forwarded GRO skb may not be), then reload the pointers.
    a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, 76));
    a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, 80));
    a.push(Insn::mov64_reg(Reg::R2, Reg::R6));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, 54));
    a.jmp_reg(JmpOp::Jle, Reg::R2, Reg::R7, linear);
    a.push(Insn::mov64_imm(Reg::R2, 54));
    a.push(Insn::call_helper(helper::SKB_PULL_DATA));
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX));
    a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, 76));
    a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, 80));
    a.bind(linear);
    a.push(Insn::mov64_reg(Reg::R8, Reg::R6));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R8, 14));
    a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 20));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, next);
    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R6, 12));
    a.jmp_imm(JmpOp::Jne, Reg::R0, ne16(0x0800), next);
    a.push(Insn::ldx(Size::B, Reg::R0, Reg::R8, 0));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0x45, next);
    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R8, 6));
    a.push(Insn::alu64_imm(AluOp::And, Reg::R0, ne16(0x3fff)));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, next);
    a.push(Insn::ldx(Size::B, Reg::R0, Reg::R8, 9));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 17, udp_len);
    a.jmp_imm(JmpOp::Jne, Reg::R0, 6, next);
    a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 40));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, next);
    a.ja(l4);
    a.bind(udp_len);
    a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 28));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, next);
    a.bind(l4);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 12));
    a.push(Insn::stx(Size::W, Reg::R10, KEY, Reg::R1));
    a.push(Insn::stx(Size::W, Reg::R10, OLD_ADDR, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 16));
    a.push(Insn::stx(Size::W, Reg::R10, KEY + 4, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R8, 20));
    a.push(Insn::stx(Size::W, Reg::R10, KEY + 8, Reg::R1));
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R8, 20));
    a.push(Insn::stx(Size::H, Reg::R10, OLD_PORT, Reg::R1));
    a.push(Insn::stx(Size::W, Reg::R10, KEY + 12, Reg::R0));
    lookup(&mut a, LbMap::Rnat, KEY);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, next);
    copy(&mut a, Reg::R10, CONN, Reg::R0, 0, 16);
    // From here on the helpers change the packet: only ctx and the stack are used.
    a.push(Insn::ldx(Size::B, Reg::R9, Reg::R10, KEY + 12));
    let csum = |a: &mut Asm<LbMap>, l3: bool, off: i32, old: i16, new: i16, flags: i32| {
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX));
        a.push(Insn::mov64_imm(Reg::R2, off));
        a.push(Insn::ldx(
            if flags & 0xf == 4 { Size::W } else { Size::H },
            Reg::R3,
            Reg::R10,
            old,
        ));
        a.push(Insn::ldx(
            if flags & 0xf == 4 { Size::W } else { Size::H },
            Reg::R4,
            Reg::R10,
            new,
        ));
        a.push(Insn::mov64_imm(Reg::R5, flags));
        a.push(Insn::call_helper(if l3 {
            helper::L3_CSUM_REPLACE
        } else {
            helper::L4_CSUM_REPLACE
        }));
    };
    const PSEUDO: i32 = 1 << 4;
    const MANGLED_0: i32 = 1 << 5;
    csum(&mut a, true, 14 + 10, OLD_ADDR, CONN, 4);
    a.jmp_imm(JmpOp::Jeq, Reg::R9, 17, udp);
    csum(&mut a, false, 14 + 20 + 16, OLD_ADDR, CONN, PSEUDO | 4);
    csum(&mut a, false, 14 + 20 + 16, OLD_PORT, CONN + 4, 2);
    a.ja(csum_done);
    a.bind(udp);
    csum(
        &mut a,
        false,
        14 + 20 + 6,
        OLD_ADDR,
        CONN,
        PSEUDO | MANGLED_0 | 4,
    );
    csum(
        &mut a,
        false,
        14 + 20 + 6,
        OLD_PORT,
        CONN + 4,
        MANGLED_0 | 2,
    );
    a.bind(csum_done);
    for (off, from, len) in [(14 + 12, CONN, 4), (14 + 20, CONN + 4, 2)] {
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX));
        a.push(Insn::mov64_imm(Reg::R2, off));
        stack_ptr(&mut a, Reg::R3, from);
        a.push(Insn::mov64_imm(Reg::R4, len));
        a.push(Insn::mov64_imm(Reg::R5, 0));
        a.push(Insn::call_helper(helper::SKB_STORE_BYTES));
    }
    count_global(&mut a, Global::Replies);
    a.bind(next);
    ret(&mut a, TCX_NEXT);
    let (insns, relocs) = a.finish()?;
    Ok(LbProgram { insns, relocs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_assemble_in_every_mode() {
        for mode in [LbMode::Nat, LbMode::Dsr, LbMode::Ipip] {
            let p = Params {
                mode,
                table_size: 65_537,
                iface_mac: [2, 0, 0, 0, 0, 1],
                ipip_source: Some(Ipv4Addr::new(10, 0, 0, 1)),
                forward: Forward::Redirect,
            };
            let prog = build_ingress(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(prog.insns.len() > 100, "{mode:?}");
            assert!(kestrel_isa::validate(&prog.insns).is_ok());
        }
        let e = build_egress().unwrap_or_else(|e| panic!("{e}"));
        assert!(kestrel_isa::validate(&e.insns).is_ok());
    }

    #[test]
    fn rust_hash_is_deterministic_and_spreads() {
        let mut seen = std::collections::HashSet::new();
        for port in 0..1000u16 {
            let mut k = [0u8; 16];
            k[..4].copy_from_slice(&[10, 1, 0, 2]);
            k[4..8].copy_from_slice(&[10, 203, 0, 100]);
            k[8..10].copy_from_slice(&(40000 + port).to_be_bytes());
            k[10..12].copy_from_slice(&80u16.to_be_bytes());
            k[12] = 6;
            seen.insert(flow_hash_of(&k) % 65_537);
        }
        assert!(seen.len() > 990, "{}", seen.len());
    }
}
