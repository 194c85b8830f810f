//! An instruction buffer with forward labels and per-instruction source spans.

use kestrel_isa::{Insn, JmpOp, Reg};

/// A jump target that may be bound after jumps to it are emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Collects instructions, resolves labels, and remembers which statement each came from.
#[derive(Default)]
pub(crate) struct Emitter {
    pub insns: Vec<Insn>,
    pub spans: Vec<Option<(u32, u32)>>,
    /// Map relocations: (instruction index, map index).
    pub relocs: Vec<(usize, usize)>,
    /// ld_imm64 slots the runtime fills in: (instruction index, value).
    pub runtime_consts: Vec<(usize, crate::object::RuntimeValue)>,
    current_span: Option<(u32, u32)>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

/// A jump that does not fit in 16 bits, or a label never bound — both compiler bugs or
/// programs too large for the kernel.
#[derive(Debug)]
pub(crate) struct JumpTooFar;

impl Emitter {
    /// Tag the following instructions with this source span.
    pub fn set_span(&mut self, span: Option<(u32, u32)>) -> Option<(u32, u32)> {
        std::mem::replace(&mut self.current_span, span)
    }

    pub fn emit(&mut self, insn: Insn) {
        self.insns.push(insn);
        self.spans.push(self.current_span);
    }

    pub fn emit2(&mut self, pair: [Insn; 2]) {
        self.emit(pair[0]);
        self.emit(pair[1]);
    }

    /// `dst = map` for map index `map` (fd patched by the loader).
    pub fn load_map(&mut self, dst: Reg, map: usize) {
        self.relocs.push((self.insns.len(), map));
        self.emit2(Insn::ld_map_fd(dst, 0));
    }

    /// `dst = <value known at load time>` (the runtime patches the immediate).
    pub fn load_runtime_const(&mut self, dst: Reg, value: crate::object::RuntimeValue) {
        self.runtime_consts.push((self.insns.len(), value));
        self.emit2(Insn::ld_imm64(dst, 0));
    }

    /// `dst = v` using the shortest encoding.
    pub fn mov_imm(&mut self, dst: Reg, v: i64) {
        match i32::try_from(v) {
            Ok(small) => self.emit(Insn::mov64_imm(dst, small)),
            Err(_) => self.emit2(Insn::ld_imm64(dst, v as u64)),
        }
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }

    /// `if dst op imm goto label`.
    pub fn jump_imm(&mut self, op: JmpOp, dst: Reg, imm: i32, label: Label) {
        self.fixups.push((self.insns.len(), label));
        self.emit(Insn::jmp_imm(op, dst, imm, 0));
    }

    /// `if wdst op imm goto label` (32-bit compare).
    pub fn jump32_imm(&mut self, op: JmpOp, dst: Reg, imm: i32, label: Label) {
        self.fixups.push((self.insns.len(), label));
        self.emit(Insn::jmp32_imm(op, dst, imm, 0));
    }

    /// `if dst op src goto label`.
    pub fn jump_reg(&mut self, op: JmpOp, dst: Reg, src: Reg, label: Label) {
        self.fixups.push((self.insns.len(), label));
        self.emit(Insn::jmp_reg(op, dst, src, 0));
    }

    /// `goto label`.
    pub fn goto(&mut self, label: Label) {
        self.fixups.push((self.insns.len(), label));
        self.emit(Insn::ja(0));
    }

    /// True when some jump emitted so far targets `label`.
    pub fn is_targeted(&self, label: Label) -> bool {
        self.fixups.iter().any(|&(_, l)| l == label)
    }

    /// Patch every jump with its label's final distance.
    pub fn finish(&mut self) -> Result<(), JumpTooFar> {
        for &(at, label) in &self.fixups {
            let target = self.labels[label.0].ok_or(JumpTooFar)?;
            let delta = target as i64 - at as i64 - 1;
            self.insns[at].off = i16::try_from(delta).map_err(|_| JumpTooFar)?;
        }
        self.fixups.clear();
        Ok(())
    }
}
