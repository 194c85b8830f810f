//! Integer expressions: each evaluates into one register from the pool.

use kestrel_isa::{AluOp, Insn, JmpOp, Reg, Size};
use kestrel_lang::ir::{BinOp, Builtin, Expr, ExprKind as K, UnOp};
use kestrel_lang::Type;

use crate::emit::Label;
use crate::object::RuntimeValue;
use crate::probe::{helper, Dest, ProbeCompiler};
use crate::regs::CTX;
use crate::CodegenError;

fn signed(t: Type) -> bool {
    matches!(t, Type::Int { signed: true, .. })
}

/// Whether `e` makes an arithmetic operation signed: a signed value, except a non-negative
/// literal, which takes the other side's signedness (so `nsecs / 1000` stays unsigned).
fn signed_operand(e: &Expr) -> bool {
    match e.kind {
        K::Int(v) => v < 0,
        _ => signed(e.ty),
    }
}

/// The right side of a comparison.
enum Operand {
    /// A constant that fits the instruction's 32-bit immediate.
    Imm(i32),
    /// A register holding the value.
    Reg(Reg),
}

/// The evaluated operands of an integer comparison.
struct Compare {
    left: Reg,
    right: Operand,
    /// The pool register the caller keeps (for the 0/1 result) or releases.
    owned: Reg,
}

impl Compare {
    /// Jump to `target` when `left op right`.
    fn jump(&self, pc: &mut ProbeCompiler<'_>, op: JmpOp, target: Label) {
        match self.right {
            Operand::Imm(imm) => pc.e.jump_imm(op, self.left, imm, target),
            Operand::Reg(r) => pc.e.jump_reg(op, self.left, r, target),
        }
    }

    /// Give back the right side's register unless it is the one the caller keeps.
    fn release(&self, pc: &mut ProbeCompiler<'_>) {
        if let Operand::Reg(r) = self.right {
            if r != self.owned {
                pc.pool.release(r);
            }
        }
    }
}

/// `e` as an immediate operand, when it is an integer constant that fits (sign-extended) in 32
/// bits — the same value `mov64_imm` would have produced in a register.
fn small_constant(e: &Expr) -> Option<i32> {
    match e.kind {
        K::Int(v) => i32::try_from(v).ok(),
        _ => None,
    }
}

/// The conditional jump that is taken when the integer comparison `op` holds, or `None`
/// when `op` is not a comparison. Comparisons are signed only when both sides are: a kernel
/// address (u64) must stay greater than 0.
fn comparison(op: BinOp, lhs: &Expr, rhs: &Expr) -> Option<JmpOp> {
    let both_signed = signed(lhs.ty) && signed(rhs.ty);
    let pick = |s, u| Some(if both_signed { s } else { u });
    match op {
        BinOp::Eq => Some(JmpOp::Jeq),
        BinOp::Ne => Some(JmpOp::Jne),
        BinOp::Lt => pick(JmpOp::Jslt, JmpOp::Jlt),
        BinOp::Le => pick(JmpOp::Jsle, JmpOp::Jle),
        BinOp::Gt => pick(JmpOp::Jsgt, JmpOp::Jgt),
        BinOp::Ge => pick(JmpOp::Jsge, JmpOp::Jge),
        _ => None,
    }
}

/// The jump taken exactly when `op`'s is not (integers have no unordered case).
fn negate(op: JmpOp) -> JmpOp {
    match op {
        JmpOp::Jeq => JmpOp::Jne,
        JmpOp::Jne => JmpOp::Jeq,
        JmpOp::Jlt => JmpOp::Jge,
        JmpOp::Jge => JmpOp::Jlt,
        JmpOp::Jle => JmpOp::Jgt,
        JmpOp::Jgt => JmpOp::Jle,
        JmpOp::Jslt => JmpOp::Jsge,
        JmpOp::Jsge => JmpOp::Jslt,
        JmpOp::Jsle => JmpOp::Jsgt,
        JmpOp::Jsgt => JmpOp::Jsle,
        other => other,
    }
}

impl ProbeCompiler<'_> {
    /// Evaluate an integer expression into a fresh pool register (caller releases it).
    pub fn int(&mut self, e: &Expr) -> Result<Reg, CodegenError> {
        match &e.kind {
            K::Int(v) => {
                let r = self.alloc()?;
                self.e.mov_imm(r, *v);
                Ok(r)
            }
            K::Builtin(b) => self.builtin(*b),
            K::Var(id) => {
                let (off, _) = self.var_slots[*id];
                let r = self.alloc()?;
                self.e.emit(Insn::ldx(Size::DW, r, self.var_base, off));
                Ok(r)
            }
            K::MapRead { map, keys } => self.map_read_int(*map, keys),
            K::TracepointInt {
                offset,
                size,
                signed,
            } => {
                let r = self.alloc()?;
                let width = Size::from_bytes(usize::from(*size))
                    .ok_or(CodegenError::Internal("odd field size"))?;
                self.e.emit(Insn::ldx(width, r, CTX, *offset as i16));
                if *signed && *size < 8 {
                    self.sign_extend(r, *size);
                }
                Ok(r)
            }
            K::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            K::StrCmp { lhs, rhs, equal } => self.str_cmp(lhs, rhs, *equal),
            K::Unary { op, expr } => {
                let r = self.int(expr)?;
                match op {
                    UnOp::Neg => self.e.emit(Insn::neg64(r)),
                    UnOp::BitNot => self.e.emit(Insn::alu64_imm(AluOp::Xor, r, -1)),
                    UnOp::Not => self.bool_of(JmpOp::Jeq, r, None, 0),
                }
                Ok(r)
            }
            K::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let else_label = self.e.new_label();
                let end = self.e.new_label();
                self.branch(cond, false, else_label)?;
                let t = self.int(then)?;
                self.e.goto(end);
                // The else path never ran the then-branch, so `t` is free to reuse there.
                self.pool.release(t);
                self.e.bind(else_label);
                let o = self.int(otherwise)?;
                if o != t {
                    self.e.emit(Insn::mov64_reg(t, o));
                }
                self.pool.release(o);
                self.e.bind(end);
                if !self.pool.take(t) {
                    return Err(CodegenError::Internal("ternary result register busy"));
                }
                Ok(t)
            }
            K::Cast { expr } => {
                let r = self.int(expr)?;
                if let Type::Int { size, signed } = e.ty {
                    if size < 8 {
                        if signed {
                            self.sign_extend(r, size);
                        } else {
                            self.zero_extend(r, size);
                        }
                    }
                }
                Ok(r)
            }
            K::Context(c) => self.context_int(c),
            K::MapLen { map } => self.map_len(*map),
            K::TupleGet { tuple, offset } => {
                let (base, tmp) = self.tuple_place(tuple)?;
                let r = self.alloc()?;
                self.e
                    .emit(Insn::ldx(Size::DW, r, base, tmp + *offset as i16));
                Ok(r)
            }
            K::KernelRead { addr, size, signed } => {
                let p = self.int(addr)?;
                let tmp = self.frame.alloc(8);
                self.stack_ptr(Reg::R1, tmp);
                self.e.emit(Insn::mov64_imm(Reg::R2, i32::from(*size)));
                self.e.emit(Insn::mov64_reg(Reg::R3, p));
                // The helper zeroes the buffer when the address is unreadable, so a bad
                // pointer reads as 0 rather than failing the probe. bpf_probe_read picks user
                // or kernel memory by address (as str() does), so user pointers such as a
                // syscall's `argv` can be followed too.
                self.e.emit(Insn::call_helper(helper::PROBE_READ));
                let width = Size::from_bytes(usize::from(*size))
                    .ok_or(CodegenError::Internal("odd read size"))?;
                self.e.emit(Insn::ldx(width, p, Reg::R10, tmp));
                if *signed && *size < 8 {
                    self.sign_extend(p, *size);
                }
                Ok(p)
            }
            K::StrNCmp { lhs, rhs, n } => self.str_ncmp(lhs, rhs, *n),
            K::StrContains { haystack, needle } => self.str_contains(haystack, needle),
            K::MapHasKey { map, keys } => {
                self.map_lookup(*map, keys)?;
                let r = self.alloc()?;
                self.e.emit(Insn::mov64_reg(r, Reg::R0));
                self.bool_of(JmpOp::Jne, r, None, 0);
                Ok(r)
            }
            K::Bswap { expr } => {
                let r = self.int(expr)?;
                let bits = match e.ty {
                    Type::Int { size, .. } => i32::from(size) * 8,
                    _ => 64,
                };
                if bits > 8 {
                    // On little-endian machines "to big endian" is a byte swap.
                    self.e.emit(Insn::endian(r, bits, true));
                }
                Ok(r)
            }
            K::Stack | K::Ksym { .. } => self.stack_int(e),
            K::Usym { .. } => Err(CodegenError::Internal("usym used as an integer")),
            K::Str(_)
            | K::KernelStr { .. }
            | K::Ntop { .. }
            | K::TracepointBytes { .. }
            | K::ReadBuf { .. }
            | K::StrBuf { .. }
            | K::Tuple(_)
            | K::TracepointCharArray { .. }
            | K::TracepointDataLoc { .. }
            | K::ReadStr { .. } => Err(CodegenError::Internal("string used as an integer")),
        }
    }

    fn builtin(&mut self, b: Builtin) -> Result<Reg, CodegenError> {
        let call = match b {
            Builtin::Pid | Builtin::Tid => helper::GET_CURRENT_PID_TGID,
            Builtin::Uid | Builtin::Gid => helper::GET_CURRENT_UID_GID,
            Builtin::Nsecs => helper::KTIME_GET_NS,
            Builtin::Cpu => helper::GET_SMP_PROCESSOR_ID,
            Builtin::NumaId => helper::GET_NUMA_NODE_ID,
            Builtin::Rand => helper::GET_PRANDOM_U32,
            Builtin::Cgroup => helper::GET_CURRENT_CGROUP_ID,
            Builtin::Jiffies => helper::JIFFIES64,
            Builtin::CurTask => helper::GET_CURRENT_TASK,
            Builtin::Elapsed => {
                self.e.emit(Insn::call_helper(helper::KTIME_GET_NS));
                let r = self.alloc()?;
                self.e.emit(Insn::mov64_reg(r, Reg::R0));
                self.e.load_runtime_const(Reg::R1, RuntimeValue::StartNs);
                self.e.emit(Insn::alu64_reg(AluOp::Sub, r, Reg::R1));
                return Ok(r);
            }
            Builtin::Cpid => {
                let r = self.alloc()?;
                self.e.load_runtime_const(r, RuntimeValue::ChildPid);
                return Ok(r);
            }
            Builtin::Comm => return Err(CodegenError::Internal("comm used as an integer")),
        };
        self.e.emit(Insn::call_helper(call));
        let r = self.alloc()?;
        match b {
            // upper halves: tgid, gid
            Builtin::Pid | Builtin::Gid => {
                self.e.emit(Insn::mov64_reg(r, Reg::R0));
                self.e.emit(Insn::alu64_imm(AluOp::Rsh, r, 32));
            }
            // lower halves: a 32-bit move zero-extends
            Builtin::Tid | Builtin::Uid | Builtin::Rand => {
                self.e.emit(Insn::alu32_reg(AluOp::Mov, r, Reg::R0))
            }
            _ => self.e.emit(Insn::mov64_reg(r, Reg::R0)),
        }
        Ok(r)
    }

    pub fn sign_extend(&mut self, r: Reg, size: u8) {
        let shift = 64 - i32::from(size) * 8;
        self.e.emit(Insn::alu64_imm(AluOp::Lsh, r, shift));
        self.e.emit(Insn::alu64_imm(AluOp::Arsh, r, shift));
    }

    fn zero_extend(&mut self, r: Reg, size: u8) {
        match size {
            4 => self.e.emit(Insn::alu32_reg(AluOp::Mov, r, r)),
            _ => self.e.emit(Insn::alu64_imm(
                AluOp::And,
                r,
                (1i32 << (i32::from(size) * 8)) - 1,
            )),
        }
    }

    /// `r = (r op src_or_imm) ? 1 : 0`.
    fn bool_of(&mut self, op: JmpOp, r: Reg, src: Option<Reg>, imm: i32) {
        let yes = self.e.new_label();
        let end = self.e.new_label();
        match src {
            Some(s) => self.e.jump_reg(op, r, s, yes),
            None => self.e.jump_imm(op, r, imm, yes),
        }
        self.e.emit(Insn::mov64_imm(r, 0));
        self.e.goto(end);
        self.e.bind(yes);
        self.e.emit(Insn::mov64_imm(r, 1));
        self.e.bind(end);
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Result<Reg, CodegenError> {
        if matches!(op, BinOp::LogAnd | BinOp::LogOr) {
            return self.logical(op == BinOp::LogAnd, lhs, rhs);
        }
        if let Some(cmp) = comparison(op, lhs, rhs) {
            let c = self.comparison_operands(lhs, rhs)?;
            let yes = self.e.new_label();
            let end = self.e.new_label();
            c.jump(self, cmp, yes);
            self.e.emit(Insn::mov64_imm(c.owned, 0));
            self.e.goto(end);
            self.e.bind(yes);
            self.e.emit(Insn::mov64_imm(c.owned, 1));
            self.e.bind(end);
            c.release(self);
            return Ok(c.owned);
        }
        let alu = match op {
            BinOp::Add => AluOp::Add,
            BinOp::Sub => AluOp::Sub,
            BinOp::Mul => AluOp::Mul,
            BinOp::Div => AluOp::Div,
            BinOp::Mod => AluOp::Mod,
            BinOp::BitAnd => AluOp::And,
            BinOp::BitOr => AluOp::Or,
            BinOp::BitXor => AluOp::Xor,
            BinOp::Shl => AluOp::Lsh,
            // `>>` of a signed value keeps its sign (bpftrace types the shift by its left side).
            BinOp::Shr if signed_operand(lhs) => AluOp::Arsh,
            BinOp::Shr => AluOp::Rsh,
            _ => return Err(CodegenError::Internal("comparison in binary()")),
        };
        let divides = matches!(alu, AluOp::Div | AluOp::Mod);
        // Signed operands divide with the kernel's sdiv/smod (cpu v4: the ALU64 division with
        // off = 1), which round toward zero like C; `-8 / 2` is -4, not 2^63 - 4.
        let signed_div = divides && (signed_operand(lhs) || signed_operand(rhs));
        // A constant right side becomes the instruction's immediate, except a zero divisor
        // (current bpftrace's result for `x / 0` and `x % 0` is 1, taken below).
        // Shift immediates must be 0..63 (the kernel rejects others as malformed); a register
        // holding a larger count is accepted, so those take the register path.
        if let Some(imm) = small_constant(rhs) {
            let bad_shift =
                matches!(alu, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) && !(0..64).contains(&imm);
            if !bad_shift && (imm != 0 || !divides) {
                let l = self.int(lhs)?;
                let mut insn = Insn::alu64_imm(alu, l, imm);
                if signed_div {
                    insn.off = 1;
                }
                self.e.emit(insn);
                return Ok(l);
            }
        }
        let (l, r, spilled) = self.both_operands(lhs, rhs)?;
        if divides {
            // bpftrace checks the divisor: zero gives 1 instead of the kernel's 0 (`/`) or
            // the dividend (`%`).
            let nonzero = self.e.new_label();
            let end = self.e.new_label();
            self.e.jump_imm(JmpOp::Jne, r, 0, nonzero);
            self.e.emit(Insn::mov64_imm(l, 1));
            self.e.goto(end);
            self.e.bind(nonzero);
            self.e.emit(if signed_div {
                Insn::alu64_signed_reg(alu, l, r)
            } else {
                Insn::alu64_reg(alu, l, r)
            });
            self.e.bind(end);
        } else {
            self.e.emit(Insn::alu64_reg(alu, l, r));
        }
        if spilled {
            self.e.emit(Insn::mov64_reg(r, l));
            return Ok(r);
        }
        self.pool.release(r);
        Ok(l)
    }

    /// Evaluate both sides of a binary operator into registers. When the pool ran dry the left
    /// value was parked on the stack and comes back in scratch r1 (`spilled`): the caller must
    /// move its result into the right register, which it then owns, before any helper call.
    fn both_operands(&mut self, lhs: &Expr, rhs: &Expr) -> Result<(Reg, Reg, bool), CodegenError> {
        let mut l = self.int(lhs)?;
        // Keep one register free for the right side: park the left value on the stack.
        let spill = if self.pool.available() == 0 {
            let slot = self.frame.alloc(8);
            self.e.emit(Insn::stx(Size::DW, Reg::R10, slot, l));
            self.pool.release(l);
            Some(slot)
        } else {
            None
        };
        let r = self.int(rhs)?;
        if let Some(slot) = spill {
            l = Reg::R1;
            self.e.emit(Insn::ldx(Size::DW, l, Reg::R10, slot));
        }
        Ok((l, r, spill.is_some()))
    }

    /// The operands of an integer comparison, the right side as an immediate when it is a
    /// small constant.
    fn comparison_operands(&mut self, lhs: &Expr, rhs: &Expr) -> Result<Compare, CodegenError> {
        if let Some(imm) = small_constant(rhs) {
            let l = self.int(lhs)?;
            return Ok(Compare {
                left: l,
                right: Operand::Imm(imm),
                owned: l,
            });
        }
        let (l, r, spilled) = self.both_operands(lhs, rhs)?;
        Ok(Compare {
            left: l,
            right: Operand::Reg(r),
            // After a spill the left value sits in scratch r1; the right's register is ours.
            owned: if spilled { r } else { l },
        })
    }

    /// Jump to `target` when `cond` is false (`when == false`) or true (`when == true`),
    /// without materialising a 0/1 value: comparisons become one conditional jump and
    /// `&&`/`||`/`!` become control flow.
    pub fn branch(&mut self, cond: &Expr, when: bool, target: Label) -> Result<(), CodegenError> {
        match &cond.kind {
            K::Unary {
                op: UnOp::Not,
                expr,
            } => self.branch(expr, !when, target),
            K::Binary {
                op: op @ (BinOp::LogAnd | BinOp::LogOr),
                lhs,
                rhs,
            } => {
                // `a && b` is false when either is; `a || b` is true when either is.
                let short_circuits = (*op == BinOp::LogAnd) != when;
                if short_circuits {
                    self.branch(lhs, when, target)?;
                    self.branch(rhs, when, target)
                } else {
                    let skip = self.e.new_label();
                    self.branch(lhs, !when, skip)?;
                    self.branch(rhs, when, target)?;
                    self.e.bind(skip);
                    Ok(())
                }
            }
            K::Binary { op, lhs, rhs } if comparison(*op, lhs, rhs).is_some() => {
                let cmp = comparison(*op, lhs, rhs)
                    .ok_or(CodegenError::Internal("comparison vanished"))?;
                let jmp = if when { cmp } else { negate(cmp) };
                let c = self.comparison_operands(lhs, rhs)?;
                c.jump(self, jmp, target);
                c.release(self);
                self.pool.release(c.owned);
                Ok(())
            }
            _ => {
                let r = self.int(cond)?;
                let jmp = if when { JmpOp::Jne } else { JmpOp::Jeq };
                self.e.jump_imm(jmp, r, 0, target);
                self.pool.release(r);
                Ok(())
            }
        }
    }

    /// Short-circuit `&&` / `||` producing 0 or 1.
    fn logical(&mut self, and: bool, lhs: &Expr, rhs: &Expr) -> Result<Reg, CodegenError> {
        let short = self.e.new_label();
        let end = self.e.new_label();
        let l = self.int(lhs)?;
        // &&: a zero left side decides; ||: a non-zero one does.
        let decide = if and { JmpOp::Jeq } else { JmpOp::Jne };
        self.e.jump_imm(decide, l, 0, short);
        self.pool.release(l);
        let r = self.int(rhs)?;
        self.e.jump_imm(decide, r, 0, short);
        self.e.emit(Insn::mov64_imm(r, i32::from(and)));
        self.e.goto(end);
        // On the short path `r` was never written; it is free there and takes the result.
        self.e.bind(short);
        self.e.emit(Insn::mov64_imm(r, i32::from(!and)));
        self.e.bind(end);
        Ok(r)
    }

    /// Compare two strings; 1 when they are (un)equal as asked.
    fn str_cmp(&mut self, lhs: &Expr, rhs: &Expr, equal: bool) -> Result<Reg, CodegenError> {
        let (lit, other) = match (&lhs.kind, &rhs.kind) {
            (K::Str(s), _) => (Some(s), rhs),
            (_, K::Str(s)) => (Some(s), lhs),
            _ => (None, rhs),
        };
        let differ = self.e.new_label();
        let end = self.e.new_label();
        if let Some(lit) = lit {
            let Type::Str { len } = other.ty else {
                return Err(CodegenError::Internal("strcmp of non-string"));
            };
            let buf = self.frame.alloc(len);
            self.string(
                other,
                Dest {
                    base: Reg::R10,
                    off: buf,
                    cap: len,
                },
            )?;
            let mut bytes = lit.as_bytes().to_vec();
            bytes.push(0);
            let r = self.alloc()?;
            if bytes.len() as u32 > len {
                // The buffer cannot hold the literal and its NUL: never equal. A constant, as
                // a jump over an "equal" block would leave code the verifier calls unreachable.
                self.e.emit(Insn::mov64_imm(r, i32::from(!equal)));
                return Ok(r);
            }
            self.compare_bytes(buf, &bytes, r, differ)?;
            self.finish_cmp(r, equal, differ, end);
            return Ok(r);
        }
        self.compare_strings(lhs, rhs, u32::MAX, differ)?;
        let r = self.alloc()?;
        self.finish_cmp(r, equal, differ, end);
        Ok(r)
    }

    /// `strncmp(a, b, n)`: 0 when equal over the first `n` bytes (stopping at a NUL), else 1.
    fn str_ncmp(&mut self, lhs: &Expr, rhs: &Expr, n: u32) -> Result<Reg, CodegenError> {
        if n == 0 {
            // Nothing to compare: equal, and no "differ" path that would be unreachable.
            let r = self.alloc()?;
            self.e.emit(Insn::mov64_imm(r, 0));
            return Ok(r);
        }
        let differ = self.e.new_label();
        let end = self.e.new_label();
        self.compare_strings(lhs, rhs, n, differ)?;
        let r = self.alloc()?;
        self.finish_cmp(r, false, differ, end);
        Ok(r)
    }

    /// Build both strings on the stack and compare up to `limit` bytes, stopping at a NUL;
    /// jumps to `differ` on a mismatch, falls through when equal.
    fn compare_strings(
        &mut self,
        lhs: &Expr,
        rhs: &Expr,
        limit: u32,
        differ: crate::emit::Label,
    ) -> Result<(), CodegenError> {
        let (Type::Str { len: a }, Type::Str { len: b }) = (lhs.ty, rhs.ty) else {
            return Err(CodegenError::Internal("string comparison of non-strings"));
        };
        let lb = self.frame.alloc(a);
        self.string(
            lhs,
            Dest {
                base: Reg::R10,
                off: lb,
                cap: a,
            },
        )?;
        let rb = self.frame.alloc(b);
        self.string(
            rhs,
            Dest {
                base: Reg::R10,
                off: rb,
                cap: b,
            },
        )?;
        let same = self.e.new_label();
        for i in 0..a.min(b).min(limit) as i16 {
            self.e.emit(Insn::ldx(Size::B, Reg::R1, Reg::R10, lb + i));
            self.e.emit(Insn::ldx(Size::B, Reg::R2, Reg::R10, rb + i));
            self.e.jump_reg(JmpOp::Jne, Reg::R1, Reg::R2, differ);
            self.e.jump_imm(JmpOp::Jeq, Reg::R1, 0, same);
        }
        self.e.bind(same);
        Ok(())
    }

    /// `strcontains(haystack, "needle")`: 1 when the needle occurs before the NUL.
    fn str_contains(&mut self, haystack: &Expr, needle: &str) -> Result<Reg, CodegenError> {
        let Type::Str { len } = haystack.ty else {
            return Err(CodegenError::Internal("strcontains of non-string"));
        };
        let buf = self.frame.alloc(len);
        self.string(
            haystack,
            Dest {
                base: Reg::R10,
                off: buf,
                cap: len,
            },
        )?;
        let r = self.alloc()?;
        let pat = needle.as_bytes();
        // An empty needle is always found and one longer than the buffer never is. Emit just
        // the constant: the verifier rejects the unreachable half of a found/missing pair.
        if pat.is_empty() || pat.len() >= len as usize {
            self.e.emit(Insn::mov64_imm(r, i32::from(pat.is_empty())));
            return Ok(r);
        }
        let found = self.e.new_label();
        let missing = self.e.new_label();
        let end = self.e.new_label();
        {
            for start in 0..=(len as usize - 1 - pat.len()) {
                let next = self.e.new_label();
                let at = buf + start as i16;
                self.e.emit(Insn::ldx(Size::B, Reg::R1, Reg::R10, at));
                self.e.jump_imm(JmpOp::Jeq, Reg::R1, 0, missing);
                for (k, &byte) in pat.iter().enumerate() {
                    if k > 0 {
                        self.e
                            .emit(Insn::ldx(Size::B, Reg::R1, Reg::R10, at + k as i16));
                    }
                    self.e.jump_imm(JmpOp::Jne, Reg::R1, i32::from(byte), next);
                }
                self.e.goto(found);
                self.e.bind(next);
            }
        }
        self.e.bind(missing);
        self.e.emit(Insn::mov64_imm(r, 0));
        self.e.goto(end);
        self.e.bind(found);
        self.e.emit(Insn::mov64_imm(r, 1));
        self.e.bind(end);
        Ok(r)
    }

    /// Fall-through means "same"; `differ` means not.
    fn finish_cmp(
        &mut self,
        r: Reg,
        equal: bool,
        differ: crate::emit::Label,
        end: crate::emit::Label,
    ) {
        self.e.emit(Insn::mov64_imm(r, i32::from(equal)));
        self.e.goto(end);
        self.e.bind(differ);
        self.e.emit(Insn::mov64_imm(r, i32::from(!equal)));
        self.e.bind(end);
    }

    /// Jump to `differ` unless the stack bytes at `buf` start with `bytes`.
    fn compare_bytes(
        &mut self,
        buf: i16,
        bytes: &[u8],
        scratch: Reg,
        differ: crate::emit::Label,
    ) -> Result<(), CodegenError> {
        let mut i = 0usize;
        while i < bytes.len() {
            let left = bytes.len() - i;
            let width = if left >= 8 {
                8
            } else if left >= 4 {
                4
            } else if left >= 2 {
                2
            } else {
                1
            };
            let mut chunk = [0u8; 8];
            chunk[..width].copy_from_slice(&bytes[i..i + width]);
            let value = u64::from_le_bytes(chunk);
            let size = Size::from_bytes(width).ok_or(CodegenError::Internal("width"))?;
            self.e
                .emit(Insn::ldx(size, Reg::R1, Reg::R10, buf + i as i16));
            if width == 8 {
                self.e.emit2(Insn::ld_imm64(scratch, value));
                self.e.jump_reg(JmpOp::Jne, Reg::R1, scratch, differ);
            } else {
                // Loads of 1/2 bytes zero-extend and fit a positive imm32; a 4-byte chunk may
                // have its top bit set, so it is compared on 32 bits.
                if width == 4 {
                    self.e
                        .jump32_imm(JmpOp::Jne, Reg::R1, value as u32 as i32, differ);
                } else {
                    self.e.jump_imm(JmpOp::Jne, Reg::R1, value as i32, differ);
                }
            }
            i += width;
        }
        Ok(())
    }
}
