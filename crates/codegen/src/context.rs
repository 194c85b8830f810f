//! Reading probe-context values ([`ContextValue`]) in generated code: words of the context
//! (registers, raw arguments) and user memory addressed from a register.

use kestrel_isa::{AluOp, Insn, Reg, Size};
use kestrel_lang::probe_ctx::ContextValue;

use crate::probe::{helper, Dest, ProbeCompiler};
use crate::regs::CTX;
use crate::CodegenError;

impl ProbeCompiler<'_> {
    /// Evaluate an integer context value into a fresh pool register.
    pub fn context_int(&mut self, c: &ContextValue) -> Result<Reg, CodegenError> {
        match *c {
            ContextValue::Word { offset } => {
                let r = self.alloc()?;
                self.e.emit(Insn::ldx(Size::DW, r, CTX, offset as i16));
                Ok(r)
            }
            ContextValue::UserMem {
                base,
                disp,
                size,
                signed,
            } => {
                let p = self.alloc()?;
                self.e.emit(Insn::ldx(Size::DW, p, CTX, base as i16));
                if disp != 0 {
                    self.e.emit(Insn::alu64_imm(AluOp::Add, p, disp));
                }
                let tmp = self.frame.alloc(8);
                self.stack_ptr(Reg::R1, tmp);
                self.e.emit(Insn::mov64_imm(Reg::R2, i32::from(size)));
                self.e.emit(Insn::mov64_reg(Reg::R3, p));
                // The helper zeroes the buffer when the address is unreadable: 0, not a fault.
                self.e.emit(Insn::call_helper(helper::PROBE_READ_USER));
                let width = Size::from_bytes(usize::from(size))
                    .ok_or(CodegenError::Internal("odd read size"))?;
                self.e.emit(Insn::ldx(width, p, Reg::R10, tmp));
                if signed && size < 8 {
                    self.sign_extend(p, size);
                }
                Ok(p)
            }
        }
    }

    /// Write a string context value into `d` (no context value is a string today).
    pub fn context_string(&mut self, _c: &ContextValue, _d: Dest) -> Result<(), CodegenError> {
        Err(CodegenError::Internal("context value used as a string"))
    }
}
