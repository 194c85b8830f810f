//! The [`Insn`] slot and typed constructors for every instruction form.

use crate::opcode::*;

/// An eBPF register. `R10` is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reg {
    /// Return value and helper results.
    R0 = 0,
    /// First argument / context pointer on entry.
    R1,
    /// Second argument.
    R2,
    /// Third argument.
    R3,
    /// Fourth argument.
    R4,
    /// Fifth argument.
    R5,
    /// Callee-saved.
    R6,
    /// Callee-saved.
    R7,
    /// Callee-saved.
    R8,
    /// Callee-saved.
    R9,
    /// Frame pointer (read-only).
    R10,
}

impl Reg {
    /// The register with this number, if it is 0..=10.
    pub fn from_u8(n: u8) -> Option<Reg> {
        use Reg::*;
        Some(match n {
            0 => R0,
            1 => R1,
            2 => R2,
            3 => R3,
            4 => R4,
            5 => R5,
            6 => R6,
            7 => R7,
            8 => R8,
            9 => R9,
            10 => R10,
            _ => return None,
        })
    }
}

/// Width of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 8 bits.
    B,
    /// 16 bits.
    H,
    /// 32 bits.
    W,
    /// 64 bits.
    DW,
}

impl Size {
    /// The size-modifier bits of the opcode.
    pub fn bits(self) -> u8 {
        match self {
            Size::B => BPF_B,
            Size::H => BPF_H,
            Size::W => BPF_W,
            Size::DW => BPF_DW,
        }
    }
    /// Width in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
    /// The access size for a width in bytes (1, 2, 4 or 8).
    pub fn from_bytes(n: usize) -> Option<Size> {
        Some(match n {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            8 => Size::DW,
            _ => return None,
        })
    }
}

/// Arithmetic operations (the `op` nibble of ALU/ALU64 instructions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `dst += src`
    Add = 0x00,
    /// `dst -= src`
    Sub = 0x10,
    /// `dst *= src`
    Mul = 0x20,
    /// `dst /= src` (unsigned; signed with offset 1 in v4)
    Div = 0x30,
    /// `dst |= src`
    Or = 0x40,
    /// `dst &= src`
    And = 0x50,
    /// `dst <<= src`
    Lsh = 0x60,
    /// `dst >>= src` (logical)
    Rsh = 0x70,
    /// `dst = -dst`
    Neg = 0x80,
    /// `dst %= src` (unsigned; signed with offset 1 in v4)
    Mod = 0x90,
    /// `dst ^= src`
    Xor = 0xa0,
    /// `dst = src` (sign-extending with offset 8/16/32 in v4)
    Mov = 0xb0,
    /// `dst >>= src` (arithmetic)
    Arsh = 0xc0,
    /// byte swap (`imm` is 16, 32 or 64)
    End = 0xd0,
}

/// Jump conditions (the `op` nibble of JMP/JMP32 instructions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpOp {
    /// unconditional
    Ja = 0x00,
    /// `==`
    Jeq = 0x10,
    /// `>` unsigned
    Jgt = 0x20,
    /// `>=` unsigned
    Jge = 0x30,
    /// `&` non-zero
    Jset = 0x40,
    /// `!=`
    Jne = 0x50,
    /// `>` signed
    Jsgt = 0x60,
    /// `>=` signed
    Jsge = 0x70,
    /// `<` unsigned
    Jlt = 0xa0,
    /// `<=` unsigned
    Jle = 0xb0,
    /// `<` signed
    Jslt = 0xc0,
    /// `<=` signed
    Jsle = 0xd0,
}

/// Atomic read-modify-write operations (the `imm` field of BPF_ATOMIC stores).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `lock *(size *)(dst + off) += src`
    Add,
    /// `lock *(size *)(dst + off) |= src`
    Or,
    /// `lock *(size *)(dst + off) &= src`
    And,
    /// `lock *(size *)(dst + off) ^= src`
    Xor,
}

impl AtomicOp {
    /// The ALU op code this atomic uses in `imm`.
    pub fn alu_bits(self) -> i32 {
        match self {
            AtomicOp::Add => AluOp::Add as i32,
            AtomicOp::Or => AluOp::Or as i32,
            AtomicOp::And => AluOp::And as i32,
            AtomicOp::Xor => AluOp::Xor as i32,
        }
    }
}

/// One 8-byte eBPF instruction slot, as in the kernel's `struct bpf_insn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// Opcode byte: class, size/source and operation bits.
    pub code: u8,
    /// Destination register number (low nibble of byte 1).
    pub dst: u8,
    /// Source register number (high nibble of byte 1).
    pub src: u8,
    /// Signed offset (memory displacement or jump distance).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// A raw instruction from its fields.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Little-endian wire encoding.
    pub fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// Raw decode of one slot without validation (see [`crate::decode`] for checked decoding).
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Instruction class (low three bits of the opcode).
    pub fn class(self) -> u8 {
        self.code & 0x07
    }

    /// `dst op= imm` on 64 bits.
    pub fn alu64_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::new(BPF_ALU64 | BPF_K | op as u8, dst as u8, 0, 0, imm)
    }
    /// `dst op= src` on 64 bits.
    pub fn alu64_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(BPF_ALU64 | BPF_X | op as u8, dst as u8, src as u8, 0, 0)
    }
    /// `dst op= imm` on 32 bits (upper half zeroed).
    pub fn alu32_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::new(BPF_ALU | BPF_K | op as u8, dst as u8, 0, 0, imm)
    }
    /// `dst op= src` on 32 bits (upper half zeroed).
    pub fn alu32_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(BPF_ALU | BPF_X | op as u8, dst as u8, src as u8, 0, 0)
    }
    /// Signed division / modulo (v4): `dst s/= src` or `dst s%= src` on 64 bits.
    pub fn alu64_signed_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(BPF_ALU64 | BPF_X | op as u8, dst as u8, src as u8, 1, 0)
    }
    /// `dst = imm` (sign-extended to 64 bits).
    pub fn mov64_imm(dst: Reg, imm: i32) -> Insn {
        Insn::alu64_imm(AluOp::Mov, dst, imm)
    }
    /// `dst = src`.
    pub fn mov64_reg(dst: Reg, src: Reg) -> Insn {
        Insn::alu64_reg(AluOp::Mov, dst, src)
    }
    /// `dst = (s8/s16/s32) src` (v4 movsx); `bits` is 8, 16 or 32.
    pub fn movsx64(dst: Reg, src: Reg, bits: i16) -> Insn {
        Insn::new(
            BPF_ALU64 | BPF_X | AluOp::Mov as u8,
            dst as u8,
            src as u8,
            bits,
            0,
        )
    }
    /// `w_dst = (s8/s16) w_src` (v4 movsx on 32 bits); `bits` is 8 or 16.
    pub fn movsx32(dst: Reg, src: Reg, bits: i16) -> Insn {
        Insn::new(
            BPF_ALU | BPF_X | AluOp::Mov as u8,
            dst as u8,
            src as u8,
            bits,
            0,
        )
    }
    /// `dst = -dst` on 64 bits.
    pub fn neg64(dst: Reg) -> Insn {
        Insn::new(BPF_ALU64 | BPF_K | AluOp::Neg as u8, dst as u8, 0, 0, 0)
    }
    /// `w_dst = -w_dst` on 32 bits.
    pub fn neg32(dst: Reg) -> Insn {
        Insn::new(BPF_ALU | BPF_K | AluOp::Neg as u8, dst as u8, 0, 0, 0)
    }
    /// Byte swap to big endian (`be16/32/64 dst`) when `to_be`, else to little endian.
    pub fn endian(dst: Reg, bits: i32, to_be: bool) -> Insn {
        let src_bit = if to_be { BPF_X } else { BPF_K };
        Insn::new(BPF_ALU | src_bit | AluOp::End as u8, dst as u8, 0, 0, bits)
    }
    /// Unconditional byte swap (v4 `bswap16/32/64 dst`).
    pub fn bswap(dst: Reg, bits: i32) -> Insn {
        Insn::new(BPF_ALU64 | BPF_K | AluOp::End as u8, dst as u8, 0, 0, bits)
    }

    /// `dst = *(size *)(src + off)`.
    pub fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(
            BPF_LDX | BPF_MEM | size.bits(),
            dst as u8,
            src as u8,
            off,
            0,
        )
    }
    /// `dst = *(s8/s16/s32 *)(src + off)` sign-extending (v4 ldsx).
    pub fn ldsx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(
            BPF_LDX | BPF_MEMSX | size.bits(),
            dst as u8,
            src as u8,
            off,
            0,
        )
    }
    /// `*(size *)(dst + off) = src`.
    pub fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(
            BPF_STX | BPF_MEM | size.bits(),
            dst as u8,
            src as u8,
            off,
            0,
        )
    }
    /// `*(size *)(dst + off) = imm`.
    pub fn st_imm(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
        Insn::new(BPF_ST | BPF_MEM | size.bits(), dst as u8, 0, off, imm)
    }
    /// Atomic `*(size *)(dst + off) op= src`, returning the old value in `src` when `fetch`.
    /// Only `Size::W` and `Size::DW` are valid.
    pub fn atomic(size: Size, op: AtomicOp, dst: Reg, off: i16, src: Reg, fetch: bool) -> Insn {
        let imm = op.alu_bits() | if fetch { BPF_FETCH } else { 0 };
        Insn::new(
            BPF_STX | BPF_ATOMIC | size.bits(),
            dst as u8,
            src as u8,
            off,
            imm,
        )
    }
    /// Atomic exchange: `src = xchg(*(size *)(dst + off), src)`.
    pub fn atomic_xchg(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(
            BPF_STX | BPF_ATOMIC | size.bits(),
            dst as u8,
            src as u8,
            off,
            BPF_XCHG,
        )
    }
    /// Atomic compare-and-exchange: `r0 = cmpxchg(*(size *)(dst + off), r0, src)`.
    pub fn atomic_cmpxchg(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(
            BPF_STX | BPF_ATOMIC | size.bits(),
            dst as u8,
            src as u8,
            off,
            BPF_CMPXCHG,
        )
    }

    /// `if dst op imm goto pc+off` (64-bit compare).
    pub fn jmp_imm(op: JmpOp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::new(BPF_JMP | BPF_K | op as u8, dst as u8, 0, off, imm)
    }
    /// `if dst op src goto pc+off` (64-bit compare).
    pub fn jmp_reg(op: JmpOp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(BPF_JMP | BPF_X | op as u8, dst as u8, src as u8, off, 0)
    }
    /// `if w_dst op imm goto pc+off` (32-bit compare).
    pub fn jmp32_imm(op: JmpOp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::new(BPF_JMP32 | BPF_K | op as u8, dst as u8, 0, off, imm)
    }
    /// `if w_dst op w_src goto pc+off` (32-bit compare).
    pub fn jmp32_reg(op: JmpOp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(BPF_JMP32 | BPF_X | op as u8, dst as u8, src as u8, off, 0)
    }
    /// `goto pc+off`.
    pub fn ja(off: i16) -> Insn {
        Insn::new(BPF_JMP | JmpOp::Ja as u8, 0, 0, off, 0)
    }
    /// `gotol pc+imm` (v4 32-bit unconditional jump).
    pub fn ja32(imm: i32) -> Insn {
        Insn::new(BPF_JMP32 | JmpOp::Ja as u8, 0, 0, 0, imm)
    }
    /// `may_goto pc+off`: falls through until the kernel's loop budget runs out, then jumps.
    pub fn may_goto(off: i16) -> Insn {
        Insn::new(BPF_JMP | 0xe0, 0, 0, off, 0)
    }
    /// Call kernel helper number `id`.
    pub fn call_helper(id: i32) -> Insn {
        Insn::new(BPF_JMP | 0x80, 0, 0, 0, id)
    }
    /// bpf-to-bpf call to the instruction `pc+1+imm`.
    pub fn call_local(imm: i32) -> Insn {
        Insn::new(BPF_JMP | 0x80, 0, BPF_PSEUDO_CALL, 0, imm)
    }
    /// Call a kernel function by BTF id.
    pub fn call_kfunc(btf_id: i32) -> Insn {
        Insn::new(BPF_JMP | 0x80, 0, BPF_PSEUDO_KFUNC_CALL, 0, btf_id)
    }
    /// Return from the program (r0 is the return value).
    pub fn exit() -> Insn {
        Insn::new(BPF_JMP | 0x90, 0, 0, 0, 0)
    }

    /// `dst = imm64` (two slots).
    pub fn ld_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
        Insn::ld_imm64_pseudo(dst, 0, imm as u32 as i32, (imm >> 32) as u32 as i32)
    }
    /// `dst = map_by_fd(fd)` (two slots); fd is patched by the loader via relocation.
    pub fn ld_map_fd(dst: Reg, fd: i32) -> [Insn; 2] {
        Insn::ld_imm64_pseudo(dst, BPF_PSEUDO_MAP_FD, fd, 0)
    }
    /// `dst = &map_value(fd) + off` (two slots).
    pub fn ld_map_value(dst: Reg, fd: i32, off: i32) -> [Insn; 2] {
        Insn::ld_imm64_pseudo(dst, BPF_PSEUDO_MAP_VALUE, fd, off)
    }
    /// A 64-bit immediate load with an explicit pseudo `src` (two slots).
    pub fn ld_imm64_pseudo(dst: Reg, src: u8, lo: i32, hi: i32) -> [Insn; 2] {
        [
            Insn::new(BPF_LD | BPF_IMM | BPF_DW, dst as u8, src, 0, lo),
            Insn::new(0, 0, 0, 0, hi),
        ]
    }
    /// True for the first slot of a 64-bit immediate load.
    pub fn is_ld_imm64(self) -> bool {
        self.code == BPF_LD | BPF_IMM | BPF_DW
    }
    /// Legacy packet load `r0 = *(size *)skb[imm]`.
    pub fn ld_abs(size: Size, imm: i32) -> Insn {
        Insn::new(BPF_LD | BPF_ABS | size.bits(), 0, 0, 0, imm)
    }
    /// Legacy packet load `r0 = *(size *)skb[src + imm]`.
    pub fn ld_ind(size: Size, src: Reg, imm: i32) -> Insn {
        Insn::new(BPF_LD | BPF_IND | size.bits(), 0, src as u8, 0, imm)
    }
}
