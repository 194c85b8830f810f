//! Disassembly in the text format of the kernel's verifier log and `bpftool prog dump xlated`.
//!
//! Every form prints exactly as the kernel's `kernel/bpf/disasm.c` prints it. Where bpftool shows
//! values only a loaded program has, this module shows what exists before loading:
//!
//! | slot | bpftool (loaded) | here (before loading) |
//! |---|---|---|
//! | `ld_imm64` map fd | `r1 = map[id:7]` | `r1 = map[fd:5]` |
//! | `ld_imm64` map value | `r1 = map[id:7][0]+16` | `r1 = map[fd:5][0]+16` |
//!
//! A few forms bpftool prints lossily get a lossless spelling so that [`crate::assemble`] can read
//! every line back: map index loads print `map[idx:N]`, BTF variable loads `btf_var[id:N]` (plus
//! `[fd:M]` for a module BTF), and a kfunc call with a module BTF offset `kernel-function#N[off:M]`.

use std::fmt::Write as _;

use crate::helper::helper_name;
use crate::insn::Insn;
use crate::opcode::*;

/// Disassembles the program, one line per instruction, numbered like bpftool
/// (`   0: (bf) r6 = r1`); a 64-bit immediate load takes one line and two indices.
pub fn disassemble(insns: &[Insn]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < insns.len() {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{i:4}: {}", disassemble_insn(insns, i));
        i += if insns[i].is_ld_imm64() { 2 } else { 1 };
    }
    out
}

/// The text of instruction `i` without its index, e.g. `(07) r1 += -8`.
///
/// `insns` is the whole program because a 64-bit immediate load needs its second slot.
/// Malformed instructions print in the kernel's `BUG_...` style rather than failing.
pub fn disassemble_insn(insns: &[Insn], i: usize) -> String {
    let Some(&insn) = insns.get(i) else {
        return format!("<no instruction {i}>");
    };
    let body = match insn.class() {
        BPF_ALU | BPF_ALU64 => alu(insn),
        BPF_STX => stx(insn),
        BPF_ST => st(insn),
        BPF_LDX => ldx(insn),
        BPF_LD => ld(insn, insns.get(i + 1).copied()),
        _ => jmp(insn),
    };
    match body {
        Some(text) => format!("({:02x}) {text}", insn.code),
        None => format!(
            "BUG_{}_{:02x}",
            CLASS_NAMES[usize::from(insn.class())],
            insn.code
        ),
    }
}

const CLASS_NAMES: [&str; 8] = ["ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64"];

/// Operator text of an ALU op nibble (`op >> 4`), as in disasm.c.
pub(crate) fn alu_op_str(op: u8, signed: bool) -> Option<&'static str> {
    Some(match (op, signed) {
        (0x0, _) => "+=",
        (0x1, _) => "-=",
        (0x2, _) => "*=",
        (0x3, false) => "/=",
        (0x3, true) => "s/=",
        (0x4, _) => "|=",
        (0x5, _) => "&=",
        (0x6, _) => "<<=",
        (0x7, _) => ">>=",
        (0x9, false) => "%=",
        (0x9, true) => "s%=",
        (0xa, _) => "^=",
        (0xb, _) => "=",
        (0xc, _) => "s>>=",
        _ => return None,
    })
}

/// Comparison text of a jump op nibble (`op >> 4`), as in disasm.c.
pub(crate) fn jmp_op_str(op: u8) -> Option<&'static str> {
    Some(match op {
        0x1 => "==",
        0x2 => ">",
        0x3 => ">=",
        0x4 => "&",
        0x5 => "!=",
        0x6 => "s>",
        0x7 => "s>=",
        0xa => "<",
        0xb => "<=",
        0xc => "s<",
        0xd => "s<=",
        _ => return None,
    })
}

/// `u8`/`u16`/`u32`/`u64` (or the signed names) for the size bits of an opcode.
pub(crate) fn size_str(code: u8, signed: bool) -> &'static str {
    match (code & 0x18, signed) {
        (BPF_B, false) => "u8",
        (BPF_H, false) => "u16",
        (BPF_W, false) => "u32",
        (BPF_B, true) => "s8",
        (BPF_H, true) => "s16",
        (BPF_W, true) => "s32",
        (_, false) => "u64",
        (_, true) => "s64",
    }
}

fn alu(insn: Insn) -> Option<String> {
    let is64 = insn.class() == BPF_ALU64;
    let r = if is64 { 'r' } else { 'w' };
    let (d, s, op) = (insn.dst, insn.src, insn.code >> 4);
    Some(match op {
        0xd if is64 => format!("r{d} = bswap{} r{d}", insn.imm),
        0xd => {
            let order = if insn.code & BPF_X != 0 { "be" } else { "le" };
            format!("r{d} = {order}{} r{d}", insn.imm)
        }
        0x8 => format!("{r}{d} = -{r}{d}"),
        0xb if is64 && insn.code & BPF_X != 0 && insn.off == 1 => {
            let imm = insn.imm as u32;
            format!(
                "r{d} = addr_space_cast(r{s}, {}, {})",
                imm >> 16,
                imm & 0xffff
            )
        }
        _ => {
            let signed = matches!(op, 0x3 | 0x9) && insn.off == 1;
            let op_str = alu_op_str(op, signed)?;
            if insn.code & BPF_X != 0 {
                let cast = match (op, insn.off) {
                    (0xb, 8) => "(s8)",
                    (0xb, 16) => "(s16)",
                    (0xb, 32) => "(s32)",
                    _ => "",
                };
                format!("{r}{d} {op_str} {cast}{r}{s}")
            } else {
                format!("{r}{d} {op_str} {}", insn.imm)
            }
        }
    })
}

fn mem(insn: Insn, base: u8, signed: bool) -> String {
    format!(
        "*({} *)(r{base} {:+})",
        size_str(insn.code, signed),
        insn.off
    )
}

fn stx(insn: Insn) -> Option<String> {
    let (d, s) = (insn.dst, insn.src);
    let mode = insn.code & 0xe0;
    if mode == BPF_MEM {
        return Some(format!("{} = r{s}", mem(insn, d, false)));
    }
    if mode != BPF_ATOMIC {
        return None;
    }
    let w64 = if insn.code & 0x18 == BPF_DW { "64" } else { "" };
    let ptr = format!("({} *)(r{d} {:+})", size_str(insn.code, false), insn.off);
    let name = |op: i32| match op {
        0x00 => Some(("+=", "add")),
        0x40 => Some(("|=", "or")),
        0x50 => Some(("&=", "and")),
        0xa0 => Some(("^=", "xor")),
        _ => None,
    };
    Some(match insn.imm {
        BPF_XCHG => format!("r{s} = atomic{w64}_xchg({ptr}, r{s})"),
        BPF_CMPXCHG => format!("r0 = atomic{w64}_cmpxchg({ptr}, r0, r{s})"),
        imm if imm & BPF_FETCH != 0 => {
            let (_, word) = name(imm & !BPF_FETCH)?;
            format!("r{s} = atomic{w64}_fetch_{word}({ptr}, r{s})")
        }
        imm => {
            let (op, _) = name(imm)?;
            format!("lock {} {op} r{s}", mem(insn, d, false))
        }
    })
}

fn st(insn: Insn) -> Option<String> {
    if insn.code & 0xe0 != BPF_MEM {
        return None;
    }
    Some(format!("{} = {}", mem(insn, insn.dst, false), insn.imm))
}

fn ldx(insn: Insn) -> Option<String> {
    let signed = match insn.code & 0xe0 {
        BPF_MEM => false,
        BPF_MEMSX => true,
        _ => return None,
    };
    Some(format!("r{} = {}", insn.dst, mem(insn, insn.src, signed)))
}

fn ld(insn: Insn, next: Option<Insn>) -> Option<String> {
    let size = size_str(insn.code, false);
    match insn.code & 0xe0 {
        BPF_ABS => return Some(format!("r0 = *({size} *)skb[{}]", insn.imm)),
        BPF_IND => {
            return Some(format!("r0 = *({size} *)skb[r{} + {}]", insn.src, insn.imm));
        }
        BPF_IMM if insn.code & 0x18 == BPF_DW => {}
        _ => return None,
    }
    let d = insn.dst;
    let Some(next) = next else {
        return Some(format!("r{d} = <truncated ld_imm64>"));
    };
    let (lo, hi) = (insn.imm, next.imm);
    Some(match insn.src {
        BPF_PSEUDO_MAP_FD => format!("r{d} = map[fd:{lo}]"),
        BPF_PSEUDO_MAP_VALUE => format!("r{d} = map[fd:{lo}][0]+{}", hi as u32),
        BPF_PSEUDO_MAP_IDX => format!("r{d} = map[idx:{lo}]"),
        BPF_PSEUDO_MAP_IDX_VALUE => format!("r{d} = map[idx:{lo}]+{}", hi as u32),
        BPF_PSEUDO_FUNC => format!("r{d} = subprog[{lo:+}]"),
        BPF_PSEUDO_BTF_ID if hi == 0 => format!("r{d} = btf_var[id:{lo}]"),
        BPF_PSEUDO_BTF_ID => format!("r{d} = btf_var[id:{lo}][fd:{hi}]"),
        _ => {
            let full = (u64::from(hi as u32) << 32) | u64::from(lo as u32);
            format!("r{d} = {full:#x}")
        }
    })
}

fn jmp(insn: Insn) -> Option<String> {
    let is32 = insn.class() == BPF_JMP32;
    let r = if is32 { 'w' } else { 'r' };
    let (d, s, op) = (insn.dst, insn.src, insn.code >> 4);
    Some(match op {
        0x8 => match insn.src {
            BPF_PSEUDO_CALL => format!("call pc{:+}", insn.imm),
            BPF_PSEUDO_KFUNC_CALL if insn.off != 0 => {
                format!("call kernel-function#{}[off:{}]", insn.imm, insn.off)
            }
            BPF_PSEUDO_KFUNC_CALL => format!("call kernel-function#{}", insn.imm),
            _ => {
                let name = helper_name(insn.imm).unwrap_or("unknown");
                format!("call {name}#{}", insn.imm)
            }
        },
        0x9 => "exit".to_string(),
        0x0 if is32 => format!("gotol pc{:+}", insn.imm),
        0x0 => format!("goto pc{:+}", insn.off),
        0xe => format!("may_goto pc{:+}", insn.off),
        _ => {
            let cmp = jmp_op_str(op)?;
            if insn.code & BPF_X != 0 {
                format!("if {r}{d} {cmp} {r}{s} goto pc{:+}", insn.off)
            } else {
                format!(
                    "if {r}{d} {cmp} {:#x} goto pc{:+}",
                    insn.imm as u32, insn.off
                )
            }
        }
    })
}
