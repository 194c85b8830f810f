//! The firewall program: parse the source address once, consult the allow and block tries,
//! then walk the rules in order (each rule's match fragment, then its action), counting every
//! verdict in a per-CPU array.
//!
//! Stack frame (the match fragments own everything below r10-128):
//!
//! | offset | what |
//! |---|---|
//! | -8  | ctx pointer |
//! | -16 | frame length (u64) |
//! | -20 | address family: 0 none, 4, 6 (u32) |
//! | -24 | counter index for the lookup (u32) |
//! | -48 | LPM key: prefix length (u32) at -48, source address (4 or 16 bytes) at -44 |
//! | -80 | rate key: rule (u32), family (u32), masked source (16 bytes) |
//! | -104 | new bucket: packet tokens, byte tokens, last refill ns (3 × u64) |

use kestrel_isa::{helper, AluOp, Insn, JmpOp, Reg, Size};

use super::asm::{Asm, Label};
use super::cidr::mask_words;
use super::rules::{Action, Bucket, RateLimit, RuleSet};

/// Maps the program references (fds are patched in at load time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwMap {
    /// IPv4 allow trie.
    Allow4,
    /// IPv6 allow trie.
    Allow6,
    /// IPv4 block trie.
    Block4,
    /// IPv6 block trie.
    Block6,
    /// Per-CPU counters.
    Stats,
    /// Token buckets (LRU hash).
    Rate,
}

/// Where the program runs; decides context offsets and verdict codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// XDP (`xdp_md`): pass = XDP_PASS, drop = XDP_DROP.
    Xdp,
    /// tc / tcx ingress (`__sk_buff`): pass = TCX_NEXT, drop = TC_ACT_SHOT.
    Tc,
}

impl Hook {
    fn data_offsets(self) -> (i16, i16) {
        match self {
            Hook::Xdp => (0, 4),
            Hook::Tc => (76, 80),
        }
    }
    fn pass(self) -> i32 {
        match self {
            Hook::Xdp => 2,
            Hook::Tc => -1,
        }
    }
    fn drop(self) -> i32 {
        match self {
            Hook::Xdp => 1,
            Hook::Tc => 2,
        }
    }
}

/// Counter slots: allow-list hits, block-list hits, no rule matched, then one per rule.
pub const STAT_ALLOW: u32 = 0;
/// Block-list hits.
pub const STAT_BLOCK: u32 = 1;
/// Packets no rule matched (given the default verdict).
pub const STAT_DEFAULT: u32 = 2;
/// Index of rule 0's counters.
pub const STAT_RULE0: u32 = 3;
/// Counter value: packets, bytes, dropped, rate-limited (u64 each).
pub const STAT_VALUE_SIZE: u32 = 32;
/// Rate key: rule u32, family u32, masked address 16 bytes.
pub const RATE_KEY_SIZE: u32 = 24;
/// Rate value: packet tokens, byte tokens (both × 1e9), last refill time (ns).
pub const RATE_VALUE_SIZE: u32 = 24;

const NS: u64 = 1_000_000_000;
const CTX: i16 = -8;
const LEN: i16 = -16;
const FAMILY: i16 = -20;
const STATIDX: i16 = -24;
const LPM: i16 = -48;
const ADDR: i16 = -44;
const RKEY: i16 = -80;
const RVAL: i16 = -104;

/// A generated program: instructions and the maps its ld_imm64s reference.
#[derive(Clone, Debug)]
pub struct FwProgram {
    /// Instructions.
    pub insns: Vec<Insn>,
    /// (first slot of an ld_imm64, map it loads).
    pub relocs: Vec<(usize, FwMap)>,
}

/// Builds the program for `rules`, with `fragments[i]` the match code of rule `i`.
pub fn build(rules: &RuleSet, fragments: &[Vec<Insn>], hook: Hook) -> Result<FwProgram, String> {
    let mut a: Asm<FwMap> = Asm::new();
    let (d, de) = hook.data_offsets();
    // Prologue: ctx, packet pointers, length, family.
    a.push(Insn::stx(Size::DW, Reg::R10, CTX, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, d));
    a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, de));
    if hook == Hook::Tc {
        // A non-linear skb: pull it so the match fragments can read every byte directly
        // (they see only data..data_end), then reload the packet pointers.
        let linear = a.label();
        a.push(Insn::ldx(Size::W, Reg::R2, Reg::R1, 0));
        a.push(Insn::mov64_reg(Reg::R3, Reg::R7));
        a.push(Insn::alu64_reg(AluOp::Sub, Reg::R3, Reg::R6));
        a.jmp_reg(JmpOp::Jge, Reg::R3, Reg::R2, linear);
        a.push(Insn::call_helper(helper::SKB_PULL_DATA));
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX));
        a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, d));
        a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, de));
        a.bind(linear);
    }
    a.push(Insn::mov64_reg(Reg::R0, Reg::R7));
    a.push(Insn::alu64_reg(AluOp::Sub, Reg::R0, Reg::R6));
    a.push(Insn::stx(Size::DW, Reg::R10, LEN, Reg::R0));
    a.push(Insn::st_imm(Size::W, Reg::R10, FAMILY, 0));

    let rules_start = a.label();
    parse_source(&mut a, rules_start);
    lists(&mut a, hook, rules_start);
    a.bind(rules_start);

    for (i, rule) in rules.rules.iter().enumerate() {
        let next = a.label();
        let frag = fragments
            .get(i)
            .ok_or_else(|| format!("internal: no match code for rule {}", i + 1))?;
        a.extend(frag);
        a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, next);
        let idx = STAT_RULE0 + i as u32;
        match &rule.action {
            Action::Pass => count_and_return(&mut a, idx, Verdict::Pass, hook),
            Action::Drop => count_and_return(&mut a, idx, Verdict::Drop, hook),
            Action::RateLimit(rl) => rate_limit(&mut a, i as u32, rl, hook),
        }
        a.bind(next);
    }
    let v = if rules.default_drop {
        Verdict::Drop
    } else {
        Verdict::Pass
    };
    count_and_return(&mut a, STAT_DEFAULT, v, hook);
    let (insns, relocs) = a.finish()?;
    Ok(FwProgram { insns, relocs })
}

/// Reads the L3 source address into the LPM key (and sets family); non-IP frames, and frames
/// too short for their header, jump to `out` with family 0. One 802.1Q/802.1ad tag is skipped.
fn parse_source(a: &mut Asm<FwMap>, out: Label) {
    let have_l3 = a.label();
    let v4 = a.label();
    let v6 = a.label();
    // r8 = L3 header, r0 = ethertype.
    a.push(Insn::mov64_reg(Reg::R8, Reg::R6));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R8, 14));
    a.jmp_reg(JmpOp::Jgt, Reg::R8, Reg::R7, out);
    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R6, 12));
    let tagged = a.label();
    a.jmp_imm(
        JmpOp::Jeq,
        Reg::R0,
        i32::from(0x8100u16.swap_bytes()),
        tagged,
    );
    a.jmp_imm(
        JmpOp::Jeq,
        Reg::R0,
        i32::from(0x88a8u16.swap_bytes()),
        tagged,
    );
    a.ja(have_l3);
    a.bind(tagged);
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R8, 4));
    a.jmp_reg(JmpOp::Jgt, Reg::R8, Reg::R7, out);
    a.push(Insn::ldx(Size::H, Reg::R0, Reg::R6, 16));
    a.bind(have_l3);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, i32::from(0x0800u16.swap_bytes()), v4);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, i32::from(0x86ddu16.swap_bytes()), v6);
    a.ja(out);

    a.bind(v4);
    a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 20));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, out);
    a.push(Insn::ldx(Size::W, Reg::R0, Reg::R8, 12));
    a.push(Insn::stx(Size::W, Reg::R10, ADDR, Reg::R0));
    a.push(Insn::st_imm(Size::W, Reg::R10, LPM, 32));
    a.push(Insn::st_imm(Size::W, Reg::R10, FAMILY, 4));
    let done = a.label();
    a.ja(done);

    a.bind(v6);
    a.push(Insn::mov64_reg(Reg::R1, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 40));
    a.jmp_reg(JmpOp::Jgt, Reg::R1, Reg::R7, out);
    for w in 0..4i16 {
        a.push(Insn::ldx(Size::W, Reg::R0, Reg::R8, 8 + 4 * w));
        a.push(Insn::stx(Size::W, Reg::R10, ADDR + 4 * w, Reg::R0));
    }
    a.push(Insn::st_imm(Size::W, Reg::R10, LPM, 128));
    a.push(Insn::st_imm(Size::W, Reg::R10, FAMILY, 6));
    a.bind(done);
}

/// Allow list (pass) then block list (drop), in the trie of the packet's family.
fn lists(a: &mut Asm<FwMap>, hook: Hook, out: Label) {
    let v6 = a.label();
    let allowed = a.label();
    let blocked = a.label();
    a.push(Insn::ldx(Size::W, Reg::R0, Reg::R10, FAMILY));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 6, v6);
    a.jmp_imm(JmpOp::Jne, Reg::R0, 4, out);
    for (allow, block, next) in [
        (FwMap::Allow4, FwMap::Block4, None),
        (FwMap::Allow6, FwMap::Block6, Some(v6)),
    ] {
        if let Some(l) = next {
            a.bind(l);
        }
        for (map, hit) in [(allow, allowed), (block, blocked)] {
            a.ld_map(Reg::R1, map);
            a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
            a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(LPM)));
            a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
            a.jmp_imm(JmpOp::Jne, Reg::R0, 0, hit);
        }
        a.ja(out);
    }
    a.bind(allowed);
    count_and_return(a, STAT_ALLOW, Verdict::Pass, hook);
    a.bind(blocked);
    count_and_return(a, STAT_BLOCK, Verdict::Drop, hook);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Drop,
    Limited,
}

/// Adds the frame to counter `idx` and returns the verdict.
fn count_and_return(a: &mut Asm<FwMap>, idx: u32, v: Verdict, hook: Hook) {
    let ret = a.label();
    a.push(Insn::st_imm(Size::W, Reg::R10, STATIDX, idx as i32));
    a.ld_map(Reg::R1, FwMap::Stats);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(STATIDX)));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, ret);
    // Per-CPU values: plain adds are safe (no other CPU writes this copy).
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
    a.push(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
    a.push(Insn::ldx(Size::DW, Reg::R2, Reg::R10, LEN));
    a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
    a.push(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
    let slot = match v {
        Verdict::Pass => None,
        Verdict::Drop => Some(16),
        Verdict::Limited => Some(24),
    };
    if let Some(off) = slot {
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, off));
        a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        a.push(Insn::stx(Size::DW, Reg::R0, off, Reg::R1));
    }
    a.bind(ret);
    let code = if v == Verdict::Pass {
        hook.pass()
    } else {
        hook.drop()
    };
    a.push(Insn::mov64_imm(Reg::R0, code));
    a.push(Insn::exit());
}

/// Scaled bucket parameters: depth × 1e9, and the refill time that fills an empty bucket
/// (elapsed time is capped at it so `elapsed × rate` cannot overflow).
fn scaled(b: Option<Bucket>) -> Option<(u64, u64, u64)> {
    b.map(|b| {
        let depth = b.burst.saturating_mul(NS);
        let cap_ns = depth.div_ceil(b.rate.max(1));
        (b.rate, depth, cap_ns)
    })
}

/// The token-bucket check of rule `rule`. Buckets live in an LRU hash keyed by rule, family
/// and masked source; tokens are scaled by 1e9 so that `elapsed_ns × rate` adds them exactly.
/// Concurrent CPUs may race on one bucket; the error is bounded by one packet per race.
fn rate_limit(a: &mut Asm<FwMap>, rule: u32, rl: &RateLimit, hook: Hook) {
    let idx = STAT_RULE0 + rule;
    let pkts = scaled(rl.packets);
    let bytes = scaled(rl.bytes);
    // Key.
    a.push(Insn::st_imm(Size::W, Reg::R10, RKEY, rule as i32));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, FAMILY));
    a.push(Insn::stx(Size::W, Reg::R10, RKEY + 4, Reg::R1));
    for w in 0..4i16 {
        a.push(Insn::st_imm(Size::W, Reg::R10, RKEY + 8 + 4 * w, 0));
    }
    let keyed = a.label();
    let v6 = a.label();
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 6, v6);
    a.jmp_imm(JmpOp::Jne, Reg::R1, 4, keyed);
    let m4 = mask_words(rl.prefix4, 4);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, ADDR));
    a.push(Insn::alu32_imm(
        AluOp::And,
        Reg::R1,
        m4.first().copied().unwrap_or(0) as i32,
    ));
    a.push(Insn::stx(Size::W, Reg::R10, RKEY + 8, Reg::R1));
    a.ja(keyed);
    a.bind(v6);
    for (w, m) in mask_words(rl.prefix6, 16).into_iter().enumerate() {
        let w = w as i16;
        a.push(Insn::ldx(Size::W, Reg::R1, Reg::R10, ADDR + 4 * w));
        a.push(Insn::alu32_imm(AluOp::And, Reg::R1, m as i32));
        a.push(Insn::stx(Size::W, Reg::R10, RKEY + 8 + 4 * w, Reg::R1));
    }
    a.bind(keyed);

    // r8 = now.
    a.push(Insn::call_helper(helper::KTIME_GET_NS));
    a.push(Insn::mov64_reg(Reg::R8, Reg::R0));
    a.ld_map(Reg::R1, FwMap::Rate);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(RKEY)));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    let fresh = a.label();
    let limited = a.label();
    let pass = a.label();
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, fresh);
    a.push(Insn::mov64_reg(Reg::R9, Reg::R0));

    // r2 = elapsed ns (0 if the clock reading is older than the bucket's).
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R9, 16));
    a.push(Insn::mov64_imm(Reg::R2, 0));
    let no_time = a.label();
    a.jmp_reg(JmpOp::Jge, Reg::R1, Reg::R8, no_time);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R8));
    a.push(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R1));
    a.bind(no_time);
    a.push(Insn::stx(Size::DW, Reg::R9, 16, Reg::R8));

    // r4 = packet tokens after refill, r5 = byte tokens after refill.
    for (tokens_reg, off, param) in [(Reg::R4, 0i16, pkts), (Reg::R5, 8i16, bytes)] {
        a.push(Insn::ldx(Size::DW, tokens_reg, Reg::R9, off));
        let Some((rate, depth, cap)) = param else {
            continue;
        };
        a.push(Insn::mov64_reg(Reg::R3, Reg::R2));
        let capped = a.label();
        a.ld64(Reg::R1, cap);
        a.jmp_reg(JmpOp::Jle, Reg::R3, Reg::R1, capped);
        a.push(Insn::mov64_reg(Reg::R3, Reg::R1));
        a.bind(capped);
        a.ld64(Reg::R1, rate);
        a.push(Insn::alu64_reg(AluOp::Mul, Reg::R3, Reg::R1));
        a.push(Insn::alu64_reg(AluOp::Add, tokens_reg, Reg::R3));
        let full = a.label();
        a.ld64(Reg::R1, depth);
        a.jmp_reg(JmpOp::Jle, tokens_reg, Reg::R1, full);
        a.push(Insn::mov64_reg(tokens_reg, Reg::R1));
        a.bind(full);
    }
    // Spend one packet token and len bytes' worth, if both buckets can pay.
    let store_limited = a.label();
    if pkts.is_some() {
        a.ld64(Reg::R1, NS);
        a.jmp_reg(JmpOp::Jlt, Reg::R4, Reg::R1, store_limited);
    }
    if bytes.is_some() {
        a.push(Insn::ldx(Size::DW, Reg::R3, Reg::R10, LEN));
        a.ld64(Reg::R1, NS);
        a.push(Insn::alu64_reg(AluOp::Mul, Reg::R3, Reg::R1));
        a.jmp_reg(JmpOp::Jlt, Reg::R5, Reg::R3, store_limited);
        a.push(Insn::alu64_reg(AluOp::Sub, Reg::R5, Reg::R3));
    }
    if pkts.is_some() {
        a.ld64(Reg::R1, NS);
        a.push(Insn::alu64_reg(AluOp::Sub, Reg::R4, Reg::R1));
    }
    a.push(Insn::stx(Size::DW, Reg::R9, 0, Reg::R4));
    a.push(Insn::stx(Size::DW, Reg::R9, 8, Reg::R5));
    a.ja(pass);
    a.bind(store_limited);
    a.push(Insn::stx(Size::DW, Reg::R9, 0, Reg::R4));
    a.push(Insn::stx(Size::DW, Reg::R9, 8, Reg::R5));
    a.ja(limited);

    // First packet from this source: a full bucket minus this packet.
    a.bind(fresh);
    let (p_depth, b_depth) = (pkts.map_or(0, |p| p.1), bytes.map_or(0, |b| b.1));
    a.ld64(
        Reg::R1,
        p_depth.saturating_sub(if pkts.is_some() { NS } else { 0 }),
    );
    a.push(Insn::stx(Size::DW, Reg::R10, RVAL, Reg::R1));
    a.ld64(Reg::R1, b_depth);
    if bytes.is_some() {
        a.push(Insn::ldx(Size::DW, Reg::R3, Reg::R10, LEN));
        a.ld64(Reg::R2, NS);
        a.push(Insn::alu64_reg(AluOp::Mul, Reg::R3, Reg::R2));
        a.jmp_reg(JmpOp::Jgt, Reg::R3, Reg::R1, limited);
        a.push(Insn::alu64_reg(AluOp::Sub, Reg::R1, Reg::R3));
    }
    a.push(Insn::stx(Size::DW, Reg::R10, RVAL + 8, Reg::R1));
    a.push(Insn::stx(Size::DW, Reg::R10, RVAL + 16, Reg::R8));
    a.ld_map(Reg::R1, FwMap::Rate);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(RKEY)));
    a.push(Insn::mov64_reg(Reg::R3, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(RVAL)));
    a.push(Insn::mov64_imm(Reg::R4, 0));
    a.push(Insn::call_helper(helper::MAP_UPDATE_ELEM));

    a.bind(pass);
    count_and_return(a, idx, Verdict::Pass, hook);
    a.bind(limited);
    count_and_return(a, idx, Verdict::Limited, hook);
}
