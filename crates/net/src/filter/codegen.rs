//! eBPF code for lowered filter predicates.
//!
//! Register use (the fragment contract of [`crate::filter::compile_match`]): r6 = first byte
//! of the frame, r7 = one past the last; r0 and r1 are scratch for address arithmetic;
//! arithmetic values live on a small register stack r2, r3, r4, r5, r8, r9. Values are 32-bit
//! unsigned, as in classic BPF: ALU32 operations and JMP32 comparisons.
//!
//! Every packet load is preceded by the bounds check the verifier needs
//! (`ptr + size > data_end`), and a failed check jumps to `reject`: like classic BPF, a read
//! past the captured bytes rejects the packet outright, whatever `not`/`or` surround it.
//! Checks already proven on every path to an instruction are not repeated: the generator
//! tracks how many bytes from r6 are known to be in bounds, taking the minimum over the
//! jumps into each label (all jumps go forward, so one pass sees every way in).

use std::collections::HashMap;

use kestrel_isa::{AluOp, Insn, JmpOp, Reg, Size};

use super::ast::{ArOp, RelOp};
use super::lower::{Off, Pred, Val};
use kestrel_isa::builder::{Asm, Label};

/// Where `len` (the packet's wire length) comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenSource {
    /// `data_end - data` (r7 - r6).
    PacketEnd,
    /// A u32 the prologue stored at `r10 + off`.
    Stack(i16),
}

/// Arithmetic register stack.
const STACK: [Reg; 6] = [Reg::R2, Reg::R3, Reg::R4, Reg::R5, Reg::R8, Reg::R9];

/// Largest variable index added to a packet pointer: keeps the verifier's packet-offset
/// bound (0xffff) with room for the header offset and size.
const MAX_IDX: i32 = 0xfe00;

/// Code generator state.
pub struct Gen<'a> {
    /// Output.
    a: &'a mut Asm<()>,
    /// Where failed bounds checks (and runtime division by zero) go.
    reject: Label,
    /// Source of `len`.
    len: LenSource,
    /// Bytes from r6 known to be inside the packet at the current instruction.
    proven: u32,
    /// Whether the current instruction can be reached by falling through.
    reachable: bool,
    /// For labels not bound yet: the least `proven` over the jumps to them.
    incoming: HashMap<Label, u32>,
    /// `Some(nl)` while r1 holds `r6 + 4 * IHL` of the IPv4 header at `nl` (straight-line
    /// code only: forgotten at every label).
    ihl_in_r1: Option<u32>,
    /// Bytes from r1 known to be inside the packet while `ihl_in_r1` holds.
    ihl_proven: u32,
}

fn jop(op: RelOp, jump_if: bool) -> JmpOp {
    let op = if jump_if {
        op
    } else {
        match op {
            RelOp::Eq => RelOp::Ne,
            RelOp::Ne => RelOp::Eq,
            RelOp::Lt => RelOp::Ge,
            RelOp::Ge => RelOp::Lt,
            RelOp::Le => RelOp::Gt,
            RelOp::Gt => RelOp::Le,
        }
    };
    match op {
        RelOp::Eq => JmpOp::Jeq,
        RelOp::Ne => JmpOp::Jne,
        RelOp::Lt => JmpOp::Jlt,
        RelOp::Le => JmpOp::Jle,
        RelOp::Gt => JmpOp::Jgt,
        RelOp::Ge => JmpOp::Jge,
    }
}

fn alu(op: ArOp) -> AluOp {
    match op {
        ArOp::Add => AluOp::Add,
        ArOp::Sub => AluOp::Sub,
        ArOp::Mul => AluOp::Mul,
        ArOp::Div => AluOp::Div,
        ArOp::Mod => AluOp::Mod,
        ArOp::And => AluOp::And,
        ArOp::Or => AluOp::Or,
        ArOp::Xor => AluOp::Xor,
        ArOp::Shl => AluOp::Lsh,
        ArOp::Shr => AluOp::Rsh,
    }
}

fn size_of(n: u8) -> Size {
    match n {
        1 => Size::B,
        2 => Size::H,
        _ => Size::W,
    }
}

fn off16(n: u32) -> Result<i16, String> {
    i16::try_from(n).map_err(|_| format!("packet offset {n} is too large"))
}

impl<'a> Gen<'a> {
    /// A generator appending to `a`.
    pub fn new(a: &'a mut Asm<()>, reject: Label, len: LenSource) -> Gen<'a> {
        Gen {
            a,
            reject,
            len,
            proven: 0,
            reachable: true,
            incoming: HashMap::new(),
            ihl_in_r1: None,
            ihl_proven: 0,
        }
    }

    fn note_jump(&mut self, l: Label) {
        let p = self.proven;
        self.incoming
            .entry(l)
            .and_modify(|m| *m = (*m).min(p))
            .or_insert(p);
    }

    fn bind(&mut self, l: Label) {
        let jumped = self.incoming.remove(&l);
        self.proven = match (self.reachable, jumped) {
            (true, Some(j)) => self.proven.min(j),
            (true, None) => self.proven,
            (false, Some(j)) => j,
            (false, None) => 0,
        };
        self.reachable = true;
        self.ihl_in_r1 = None;
        self.a.bind(l);
    }

    /// Ensures bytes [0, need) from r6 are in the packet (else reject).
    fn check(&mut self, need: u32) -> Result<(), String> {
        if need > self.proven {
            self.a.push(Insn::mov64_reg(Reg::R0, Reg::R6));
            self.a.push(Insn::alu64_imm(
                AluOp::Add,
                Reg::R0,
                i32::from(off16(need)?),
            ));
            self.a.jmp_reg(JmpOp::Jgt, Reg::R0, Reg::R7, self.reject);
            self.proven = need;
        }
        Ok(())
    }
    /// Emits code that jumps to `target` when `p` equals `jump_if` and falls through
    /// otherwise.
    pub fn cond(&mut self, p: &Pred, jump_if: bool, target: Label) -> Result<(), String> {
        match p {
            Pred::Const(b) => {
                if *b == jump_if {
                    self.note_jump(target);
                    self.a.ja(target);
                    self.reachable = false;
                }
            }
            Pred::Not(x) => self.cond(x, !jump_if, target)?,
            Pred::And(x, y) => {
                if jump_if {
                    let skip = self.a.label();
                    self.cond(x, false, skip)?;
                    self.cond(y, true, target)?;
                    self.bind(skip);
                } else {
                    self.cond(x, false, target)?;
                    self.cond(y, false, target)?;
                }
            }
            Pred::Or(x, y) => {
                if jump_if {
                    self.cond(x, true, target)?;
                    self.cond(y, true, target)?;
                } else {
                    let skip = self.a.label();
                    self.cond(x, true, skip)?;
                    self.cond(y, false, target)?;
                    self.bind(skip);
                }
            }
            Pred::Cmp(x, op, y) => {
                let r = self.eval(x, 0)?;
                let j = jop(*op, jump_if);
                // Loads for the right-hand side happen before the jump.
                let r2 = match y {
                    Val::Num(_) => None,
                    _ => Some(self.eval(y, 1)?),
                };
                self.note_jump(target);
                match (y, r2) {
                    (Val::Num(k), _) => self.a.jmp32_imm(j, r, *k as i32, target),
                    (_, Some(r2)) => self.a.jmp32_reg(j, r, r2, target),
                    (_, None) => return Err("internal: right-hand side not evaluated".into()),
                }
            }
        }
        Ok(())
    }

    fn reg(depth: usize) -> Result<Reg, String> {
        STACK.get(depth).copied().ok_or_else(|| {
            "the arithmetic expression is too deeply nested (at most 6 pending values)".to_string()
        })
    }

    /// Evaluates `v` into the stack register at `depth` (32-bit, zero-extended).
    fn eval(&mut self, v: &Val, depth: usize) -> Result<Reg, String> {
        let r = Self::reg(depth)?;
        match v {
            Val::Num(n) => self.a.push(Insn::alu32_imm(AluOp::Mov, r, *n as i32)),
            Val::Len => match self.len {
                LenSource::PacketEnd => {
                    self.a.push(Insn::mov64_reg(r, Reg::R7));
                    self.a.push(Insn::alu64_reg(AluOp::Sub, r, Reg::R6));
                }
                LenSource::Stack(off) => self.a.push(Insn::ldx(Size::W, r, Reg::R10, off)),
            },
            Val::Neg(x) => {
                self.eval(x, depth)?;
                self.a.push(Insn::neg32(r));
            }
            Val::Bin(op, x, y) => {
                self.eval(x, depth)?;
                match &**y {
                    Val::Num(k) => {
                        if matches!(op, ArOp::Div | ArOp::Mod) && *k == 0 {
                            return Err("division by zero".to_string());
                        }
                        if matches!(op, ArOp::Shl | ArOp::Shr) && *k >= 32 {
                            return Err(format!("shift by {k}: the count must be below 32"));
                        }
                        self.a.push(Insn::alu32_imm(alu(*op), r, *k as i32));
                    }
                    other => {
                        let r2 = self.eval(other, depth + 1)?;
                        if matches!(op, ArOp::Div | ArOp::Mod) {
                            // Classic BPF rejects the packet on a zero divisor.
                            self.a.jmp32_imm(JmpOp::Jeq, r2, 0, self.reject);
                        }
                        if matches!(op, ArOp::Shl | ArOp::Shr) {
                            // libpcap's interpreter shifts by 32 or more to 0 (eBPF would
                            // take the count modulo 32).
                            let big = self.a.label();
                            let done = self.a.label();
                            self.note_jump(big);
                            self.a.jmp32_imm(JmpOp::Jgt, r2, 31, big);
                            self.a.push(Insn::alu32_reg(alu(*op), r, r2));
                            self.note_jump(done);
                            self.a.ja(done);
                            self.reachable = false;
                            self.bind(big);
                            self.a.push(Insn::alu32_imm(AluOp::Mov, r, 0));
                            self.bind(done);
                        } else {
                            self.a.push(Insn::alu32_reg(alu(*op), r, r2));
                        }
                    }
                }
            }
            Val::Load {
                off,
                idx: Some(idx),
                size,
            } => {
                // Classic BPF: X = index (+ IHL) in 32 bits (that sum wraps), then the load at
                // X + k is checked without wrapping.
                self.eval(idx, depth)?;
                let k = match *off {
                    Off::Abs(o) => o,
                    Off::Ihl { nl, add } => {
                        self.check(nl + 1)?;
                        self.a
                            .push(Insn::ldx(Size::B, Reg::R0, Reg::R6, off16(nl)?));
                        self.a.push(Insn::alu64_imm(AluOp::And, Reg::R0, 0x0f));
                        self.a.push(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 2));
                        self.a.push(Insn::alu32_reg(AluOp::Add, r, Reg::R0));
                        nl + add
                    }
                };
                self.a.jmp_imm(JmpOp::Jgt, r, MAX_IDX, self.reject);
                self.ihl_in_r1 = None;
                self.a.push(Insn::mov64_reg(Reg::R1, Reg::R6));
                self.a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, r));
                self.a.push(Insn::mov64_reg(Reg::R0, Reg::R1));
                self.a.push(Insn::alu64_imm(
                    AluOp::Add,
                    Reg::R0,
                    i32::from(off16(k + u32::from(*size))?),
                ));
                self.a.jmp_reg(JmpOp::Jgt, Reg::R0, Reg::R7, self.reject);
                self.a
                    .push(Insn::ldx(size_of(*size), r, Reg::R1, off16(k)?));
                if *size > 1 {
                    self.a.push(Insn::endian(r, i32::from(*size) * 8, true));
                }
            }
            Val::Load {
                off,
                idx: None,
                size,
            } => {
                let sz = u32::from(*size);
                // r1 = base pointer, `disp` = constant displacement from it.
                let mut base = Reg::R1;
                let disp = match *off {
                    Off::Abs(o) => {
                        base = Reg::R6;
                        o
                    }
                    Off::Ihl { nl, add } => {
                        if self.ihl_in_r1 != Some(nl) {
                            self.check(nl + 1)?;
                            self.a
                                .push(Insn::ldx(Size::B, Reg::R0, Reg::R6, off16(nl)?));
                            self.a.push(Insn::alu64_imm(AluOp::And, Reg::R0, 0x0f));
                            self.a.push(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 2));
                            self.a.push(Insn::mov64_reg(Reg::R1, Reg::R6));
                            self.a.push(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
                            self.ihl_in_r1 = Some(nl);
                            self.ihl_proven = 0;
                        }
                        nl + add
                    }
                };
                let d = off16(disp)?;
                if base == Reg::R6 {
                    self.check(disp + sz)?;
                } else if self.ihl_in_r1.is_some() && disp + sz <= self.ihl_proven {
                    // Already proven on this path.
                } else {
                    self.a.push(Insn::mov64_reg(Reg::R0, base));
                    self.a.push(Insn::alu64_imm(
                        AluOp::Add,
                        Reg::R0,
                        i32::from(off16(disp + sz)?),
                    ));
                    self.a.jmp_reg(JmpOp::Jgt, Reg::R0, Reg::R7, self.reject);
                    if self.ihl_in_r1.is_some() {
                        self.ihl_proven = disp + sz;
                    }
                }
                self.a.push(Insn::ldx(size_of(*size), r, base, d));
                if *size > 1 {
                    self.a.push(Insn::endian(r, i32::from(*size) * 8, true));
                }
            }
        }
        Ok(r)
    }
}
