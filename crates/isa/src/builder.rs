//! The label builder: a small instruction buffer with forward labels (the one assembler every
//! program generator uses — filter, firewall, policy, lb), so the program generator can say "jump to
//! drop" before the drop code exists.

use crate::{Insn, JmpOp, Reg};

/// Finished instructions and their map references (first ld_imm64 slot, map).
pub type Assembled<M> = (Vec<Insn>, Vec<(usize, M)>);

/// A jump target, bound to an instruction index later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(usize);

/// Instructions being built, with unresolved jumps and map references.
#[derive(Debug, Default)]
pub struct Asm<M> {
    /// The instructions so far.
    pub insns: Vec<Insn>,
    fixups: Vec<(usize, Label)>,
    labels: Vec<Option<usize>>,
    /// ld_imm64 instructions that must load a map's fd: (first slot, map).
    pub relocs: Vec<(usize, M)>,
}

impl<M: Copy> Asm<M> {
    /// An empty buffer.
    pub fn new() -> Asm<M> {
        Asm {
            insns: Vec::new(),
            fixups: Vec::new(),
            labels: Vec::new(),
            relocs: Vec::new(),
        }
    }

    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        if let Some(slot) = self.labels.get_mut(l.0) {
            *slot = Some(self.insns.len());
        }
    }

    /// Appends one instruction.
    pub fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }

    /// Appends several instructions verbatim (a self-contained fragment).
    pub fn extend(&mut self, is: &[Insn]) {
        self.insns.extend_from_slice(is);
    }

    /// `if dst OP imm goto l`.
    pub fn jmp_imm(&mut self, op: JmpOp, dst: Reg, imm: i32, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jmp_imm(op, dst, imm, 0));
    }

    /// `if (u32)dst OP imm goto l` (32-bit compare).
    pub fn jmp32_imm(&mut self, op: JmpOp, dst: Reg, imm: i32, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jmp32_imm(op, dst, imm, 0));
    }

    /// `if dst OP src goto l`.
    pub fn jmp_reg(&mut self, op: JmpOp, dst: Reg, src: Reg, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jmp_reg(op, dst, src, 0));
    }

    /// `if (u32)dst OP (u32)src goto l` (32-bit compare).
    pub fn jmp32_reg(&mut self, op: JmpOp, dst: Reg, src: Reg, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jmp32_reg(op, dst, src, 0));
    }

    /// `goto l`.
    pub fn ja(&mut self, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::ja(0));
    }

    /// `dst = imm64`.
    pub fn ld64(&mut self, dst: Reg, v: u64) {
        self.insns.extend_from_slice(&Insn::ld_imm64(dst, v));
    }

    /// `dst = &map` (fd patched at load time).
    pub fn ld_map(&mut self, dst: Reg, map: M) {
        self.relocs.push((self.insns.len(), map));
        self.insns.extend_from_slice(&Insn::ld_map_fd(dst, 0));
    }

    /// Resolves every jump. Fails if a label was never bound or a jump is out of range.
    pub fn finish(mut self) -> Result<Assembled<M>, String> {
        for (at, l) in &self.fixups {
            let target = self
                .labels
                .get(l.0)
                .copied()
                .flatten()
                .ok_or_else(|| format!("internal: label {} never bound", l.0))?;
            let off = target as i64 - (*at as i64 + 1);
            let off = i16::try_from(off).map_err(|_| {
                "the program is too long (a jump exceeds 32767 instructions)".to_string()
            })?;
            if let Some(i) = self.insns.get_mut(*at) {
                i.off = off;
            }
        }
        Ok((self.insns, self.relocs))
    }
}
