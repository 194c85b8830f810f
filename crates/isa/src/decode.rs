//! Checked decoding: bytes to [`Insn`]s, rejecting anything the kernel would refuse to parse.
//!
//! The checks mirror the kernel's structural ones (valid opcode for the class, register numbers,
//! reserved fields, well-formed 64-bit immediate loads, jump targets inside the program), not the
//! verifier's data-flow analysis.

use thiserror::Error;

use crate::insn::Insn;
use crate::opcode::*;

/// Why a byte string is not a valid eBPF program.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input is not a whole number of 8-byte slots.
    #[error("program is {len} bytes, not a multiple of 8 ({trailing} trailing bytes)")]
    Length {
        /// Input length in bytes.
        len: usize,
        /// Bytes after the last whole slot.
        trailing: usize,
    },
    /// One instruction is malformed.
    #[error("instruction {index}: {kind}")]
    Insn {
        /// Slot index of the offending instruction.
        index: usize,
        /// What is wrong with it.
        kind: InsnError,
    },
}

/// What is wrong with a single instruction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InsnError {
    /// No instruction has this opcode.
    #[error("invalid opcode 0x{0:02x}")]
    BadOpcode(u8),
    /// A register field names a register above r10.
    #[error("invalid {field} register r{reg}")]
    BadRegister {
        /// `"dst"` or `"src"`.
        field: &'static str,
        /// The register number found.
        reg: u8,
    },
    /// The instruction would write the read-only frame pointer r10.
    #[error("frame pointer r10 is read only")]
    WritesFramePointer,
    /// A field this form does not use is not zero.
    #[error("{form} uses reserved field {field} (value {value})")]
    Reserved {
        /// The instruction form, e.g. `"BPF_EXIT"`.
        form: &'static str,
        /// The field name: `dst`, `src`, `off` or `imm`.
        field: &'static str,
        /// The non-zero value found.
        value: i64,
    },
    /// A field holds a value this form does not allow.
    #[error("{form}: invalid {field} {value}")]
    BadField {
        /// The instruction form.
        form: &'static str,
        /// The field name.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A 64-bit immediate load is the last slot.
    #[error("ld_imm64 is missing its second slot")]
    TruncatedLdImm64,
    /// The second slot of a 64-bit immediate load is not `code 0, regs 0, off 0`.
    #[error("second slot of ld_imm64 must have code, registers and offset zero")]
    BadLdImm64Tail,
    /// A jump lands outside the program or inside a 64-bit immediate load.
    #[error("jump to {target} is outside the program or into the middle of ld_imm64")]
    BadJumpTarget {
        /// The absolute slot index the jump would reach.
        target: i64,
    },
}

/// Decodes a little-endian program, checking every instruction.
pub fn decode(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
    let trailing = bytes.len() % 8;
    if trailing != 0 {
        return Err(DecodeError::Length {
            len: bytes.len(),
            trailing,
        });
    }
    let insns: Vec<Insn> = bytes
        .chunks_exact(8)
        .map(|c| {
            let mut slot = [0u8; 8];
            slot.copy_from_slice(c);
            Insn::from_bytes(slot)
        })
        .collect();
    validate(&insns)?;
    Ok(insns)
}

/// Encodes instructions in the kernel's little-endian wire format.
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// Checks already-built instructions the way [`decode`] checks bytes.
pub fn validate(insns: &[Insn]) -> Result<(), DecodeError> {
    let mut tail = vec![false; insns.len()];
    let mut i = 0;
    while i < insns.len() {
        let err = |kind| DecodeError::Insn { index: i, kind };
        let insn = insns[i];
        check_insn(insn).map_err(err)?;
        if insn.is_ld_imm64() {
            let next = insns.get(i + 1).ok_or(err(InsnError::TruncatedLdImm64))?;
            check_ld_imm64(insn, *next).map_err(err)?;
            tail[i + 1] = true;
            i += 2;
        } else {
            i += 1;
        }
    }
    for (index, insn) in insns.iter().enumerate() {
        if tail[index] {
            continue;
        }
        if let Some(delta) = jump_delta(*insn) {
            let target = index as i64 + 1 + delta;
            let inside = usize::try_from(target)
                .ok()
                .filter(|t| *t < insns.len() && !tail[*t]);
            if inside.is_none() {
                return Err(DecodeError::Insn {
                    index,
                    kind: InsnError::BadJumpTarget { target },
                });
            }
        }
    }
    Ok(())
}

/// The relative distance of a jump (not a call), if `insn` is one.
fn jump_delta(insn: Insn) -> Option<i64> {
    let class = insn.class();
    if class != BPF_JMP && class != BPF_JMP32 {
        return None;
    }
    match insn.code & 0xf0 {
        OP_CALL | OP_EXIT => None,
        0x00 if class == BPF_JMP32 => Some(i64::from(insn.imm)),
        _ => Some(i64::from(insn.off)),
    }
}

const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
const OP_JCOND: u8 = 0xe0;

/// Checks one slot in isolation (the second slot of ld_imm64 is checked by its first).
pub fn check_insn(insn: Insn) -> Result<(), InsnError> {
    if insn.dst > 10 {
        return Err(InsnError::BadRegister {
            field: "dst",
            reg: insn.dst,
        });
    }
    match insn.class() {
        BPF_ALU | BPF_ALU64 => check_alu(insn),
        BPF_LDX => check_ldx(insn),
        BPF_ST => check_st(insn),
        BPF_STX => check_stx(insn),
        BPF_LD => check_ld(insn),
        _ => check_jmp(insn),
    }
}

fn src_reg(insn: Insn) -> Result<(), InsnError> {
    if insn.src > 10 {
        return Err(InsnError::BadRegister {
            field: "src",
            reg: insn.src,
        });
    }
    Ok(())
}

fn writes_dst(insn: Insn) -> Result<(), InsnError> {
    if insn.dst == 10 {
        return Err(InsnError::WritesFramePointer);
    }
    Ok(())
}

fn zero(form: &'static str, field: &'static str, value: i64) -> Result<(), InsnError> {
    if value != 0 {
        return Err(InsnError::Reserved { form, field, value });
    }
    Ok(())
}

fn bad(form: &'static str, field: &'static str, value: i64) -> InsnError {
    InsnError::BadField { form, field, value }
}

fn check_alu(insn: Insn) -> Result<(), InsnError> {
    let is64 = insn.class() == BPF_ALU64;
    let x = insn.code & BPF_X != 0;
    let op = insn.code & 0xf0;
    let off = i64::from(insn.off);
    let imm = i64::from(insn.imm);
    writes_dst(insn)?;
    match op {
        // neg
        0x80 => {
            let form = "BPF_NEG";
            if x {
                return Err(InsnError::BadOpcode(insn.code));
            }
            zero(form, "src", insn.src.into())?;
            zero(form, "off", off)?;
            zero(form, "imm", imm)
        }
        // end / bswap
        0xd0 => {
            let form = if is64 { "BPF_BSWAP" } else { "BPF_END" };
            if is64 && x {
                return Err(InsnError::BadOpcode(insn.code));
            }
            zero(form, "src", insn.src.into())?;
            zero(form, "off", off)?;
            if !matches!(insn.imm, 16 | 32 | 64) {
                return Err(bad(form, "imm", imm));
            }
            Ok(())
        }
        // mov
        0xb0 => {
            if !x {
                zero("BPF_MOV", "src", insn.src.into())?;
                return zero("BPF_MOV", "off", off);
            }
            src_reg(insn)?;
            if is64 && insn.off == 1 {
                // addr_space_cast converts only between address spaces 0 and 1.
                if insn.imm != 1 && insn.imm != 1 << 16 {
                    return Err(bad("addr_space_cast", "imm", imm));
                }
                return Ok(());
            }
            let sx_ok = if is64 {
                matches!(insn.off, 0 | 8 | 16 | 32)
            } else {
                matches!(insn.off, 0 | 8 | 16)
            };
            if !sx_ok {
                return Err(bad("BPF_MOV", "off", off));
            }
            zero("BPF_MOV", "imm", imm)
        }
        0x00 | 0x10 | 0x20 | 0x30 | 0x40 | 0x50 | 0x60 | 0x70 | 0x90 | 0xa0 | 0xc0 => {
            let form = "BPF_ALU";
            let signed_ok = op == 0x30 || op == 0x90;
            if !(insn.off == 0 || (signed_ok && insn.off == 1)) {
                return Err(bad(form, "off", off));
            }
            if x {
                src_reg(insn)?;
                return zero(form, "imm", imm);
            }
            zero(form, "src", insn.src.into())?;
            if signed_ok && insn.imm == 0 {
                return Err(bad("division by zero", "imm", 0));
            }
            let bits = if is64 { 64 } else { 32 };
            if matches!(op, 0x60 | 0x70 | 0xc0) && !(0..bits).contains(&imm) {
                return Err(bad("shift", "imm", imm));
            }
            Ok(())
        }
        _ => Err(InsnError::BadOpcode(insn.code)),
    }
}

fn check_ldx(insn: Insn) -> Result<(), InsnError> {
    let mode = insn.code & 0xe0;
    let size = insn.code & 0x18;
    let ok = mode == BPF_MEM || (mode == BPF_MEMSX && size != BPF_DW);
    if !ok {
        return Err(InsnError::BadOpcode(insn.code));
    }
    src_reg(insn)?;
    writes_dst(insn)?;
    zero("BPF_LDX", "imm", insn.imm.into())
}

fn check_st(insn: Insn) -> Result<(), InsnError> {
    if insn.code & 0xe0 != BPF_MEM {
        return Err(InsnError::BadOpcode(insn.code));
    }
    zero("BPF_ST", "src", insn.src.into())
}

fn check_stx(insn: Insn) -> Result<(), InsnError> {
    let mode = insn.code & 0xe0;
    let size = insn.code & 0x18;
    src_reg(insn)?;
    if mode == BPF_MEM {
        return zero("BPF_STX", "imm", insn.imm.into());
    }
    if mode != BPF_ATOMIC || (size != BPF_W && size != BPF_DW) {
        return Err(InsnError::BadOpcode(insn.code));
    }
    let imm = insn.imm;
    let alu = imm & !BPF_FETCH;
    let plain = matches!(alu, 0x00 | 0x40 | 0x50 | 0xa0);
    if !(plain || imm == BPF_XCHG || imm == BPF_CMPXCHG) {
        return Err(bad("BPF_ATOMIC", "imm", imm.into()));
    }
    // Fetching forms write the old value back into src.
    if imm & BPF_FETCH != 0 && imm != BPF_CMPXCHG && insn.src == 10 {
        return Err(InsnError::WritesFramePointer);
    }
    Ok(())
}

fn check_ld(insn: Insn) -> Result<(), InsnError> {
    let mode = insn.code & 0xe0;
    let size = insn.code & 0x18;
    match mode {
        BPF_IMM if size == BPF_DW => {
            writes_dst(insn)?;
            zero("BPF_LD_IMM64", "off", insn.off.into())?;
            if insn.src > BPF_PSEUDO_MAP_IDX_VALUE {
                return Err(bad("BPF_LD_IMM64", "src", insn.src.into()));
            }
            Ok(())
        }
        BPF_ABS | BPF_IND if size != BPF_DW => {
            let form = if mode == BPF_ABS {
                "BPF_LD_ABS"
            } else {
                "BPF_LD_IND"
            };
            zero(form, "dst", insn.dst.into())?;
            zero(form, "off", insn.off.into())?;
            if mode == BPF_ABS {
                zero(form, "src", insn.src.into())
            } else {
                src_reg(insn)
            }
        }
        _ => Err(InsnError::BadOpcode(insn.code)),
    }
}

fn check_ld_imm64(first: Insn, second: Insn) -> Result<(), InsnError> {
    if second.code != 0 || second.dst != 0 || second.src != 0 || second.off != 0 {
        return Err(InsnError::BadLdImm64Tail);
    }
    // These forms carry nothing in the upper half; a non-zero one would be silently lost.
    let no_hi = matches!(
        first.src,
        BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_IDX | BPF_PSEUDO_FUNC
    );
    if no_hi && second.imm != 0 {
        return Err(bad("BPF_LD_IMM64 pseudo", "second imm", second.imm.into()));
    }
    Ok(())
}

fn check_jmp(insn: Insn) -> Result<(), InsnError> {
    let is32 = insn.class() == BPF_JMP32;
    let x = insn.code & BPF_X != 0;
    let op = insn.code & 0xf0;
    let off = i64::from(insn.off);
    let imm = i64::from(insn.imm);
    match op {
        0x00 => {
            let form = if is32 { "BPF_JMP32_JA" } else { "BPF_JA" };
            if x {
                return Err(InsnError::BadOpcode(insn.code));
            }
            zero(form, "dst", insn.dst.into())?;
            zero(form, "src", insn.src.into())?;
            if is32 {
                zero(form, "off", off)
            } else {
                zero(form, "imm", imm)
            }
        }
        OP_CALL => {
            let form = "BPF_CALL";
            if is32 || x {
                return Err(InsnError::BadOpcode(insn.code));
            }
            zero(form, "dst", insn.dst.into())?;
            if !matches!(insn.src, 0 | BPF_PSEUDO_CALL | BPF_PSEUDO_KFUNC_CALL) {
                return Err(bad(form, "src", insn.src.into()));
            }
            // kfunc calls use off to pick the module BTF; nothing else does.
            if insn.src != BPF_PSEUDO_KFUNC_CALL {
                zero(form, "off", off)?;
            }
            Ok(())
        }
        OP_EXIT => {
            let form = "BPF_EXIT";
            if is32 || x {
                return Err(InsnError::BadOpcode(insn.code));
            }
            zero(form, "dst", insn.dst.into())?;
            zero(form, "src", insn.src.into())?;
            zero(form, "off", off)?;
            zero(form, "imm", imm)
        }
        OP_JCOND => {
            // Only may_goto (src 0) exists.
            let form = "may_goto";
            if is32 || x {
                return Err(InsnError::BadOpcode(insn.code));
            }
            zero(form, "dst", insn.dst.into())?;
            zero(form, "src", insn.src.into())?;
            zero(form, "imm", imm)
        }
        0x10..=0x70 | 0xa0..=0xd0 => {
            let form = "BPF_JMP";
            if x {
                src_reg(insn)?;
                zero(form, "imm", imm)
            } else {
                zero(form, "src", insn.src.into())
            }
        }
        _ => Err(InsnError::BadOpcode(insn.code)),
    }
}
