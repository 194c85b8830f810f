//! String expressions: each is written into a caller-chosen stack buffer, NUL-terminated and
//! zero-filled to the buffer's end (so strings compare and hash as map keys byte for byte).

use kestrel_isa::{AluOp, Insn, JmpOp, Reg, Size};
use kestrel_lang::ir::{Builtin, Expr, ExprKind as K, NtopSource};
use kestrel_lang::Type;

use crate::probe::{helper, Dest, ProbeCompiler};
use crate::regs::CTX;
use crate::CodegenError;

impl ProbeCompiler<'_> {
    /// Write the string value of `e` into `d`.
    pub fn string(&mut self, e: &Expr, d: Dest) -> Result<(), CodegenError> {
        match &e.kind {
            K::Str(s) => {
                let mut bytes = s.as_bytes().to_vec();
                bytes.truncate(d.cap as usize - 1);
                bytes.resize(d.cap as usize, 0);
                self.store_bytes(d.base, d.off, &bytes);
            }
            K::Builtin(Builtin::Comm) => {
                let n = d.cap.min(16);
                self.ptr_to(Reg::R1, d.base, d.off);
                self.e.emit(Insn::mov64_imm(Reg::R2, n as i32));
                self.e.emit(Insn::call_helper(helper::GET_CURRENT_COMM));
                self.zero_at(d.base, d.off + n as i16, d.cap - n);
            }
            K::Var(id) => {
                let (off, ty) = self.var_slots[*id];
                self.copy_string(self.var_base, off, ty, d);
            }
            K::TracepointCharArray { offset } => {
                let Type::Str { len } = e.ty else {
                    return Err(CodegenError::Internal("char array type"));
                };
                self.copy_string(CTX, *offset as i16, Type::Str { len }, d);
            }
            K::TracepointDataLoc { offset } => {
                // The descriptor's low 16 bits are the string's offset within the record.
                self.zero_at(d.base, d.off, d.cap);
                self.e
                    .emit(Insn::ldx(Size::W, Reg::R3, CTX, *offset as i16));
                self.e.emit(Insn::alu64_imm(AluOp::And, Reg::R3, 0xffff));
                self.e.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, CTX));
                self.ptr_to(Reg::R1, d.base, d.off);
                self.e.emit(Insn::mov64_imm(Reg::R2, d.cap as i32));
                self.e
                    .emit(Insn::call_helper(helper::PROBE_READ_KERNEL_STR));
            }
            K::ReadStr { ptr, len: limit } => {
                let p = self.int(ptr)?;
                let Type::Str { len } = e.ty else {
                    return Err(CodegenError::Internal("str type"));
                };
                let cap = d.cap.min(len);
                let n = match limit {
                    Some(l) => Some(self.int(l)?),
                    None => None,
                };
                self.zero_at(d.base, d.off, d.cap);
                if let Some(n) = n {
                    // size = min(n + 1, cap), kept provably in [0, cap] for the verifier.
                    let ok = self.e.new_label();
                    self.e.emit(Insn::mov64_reg(Reg::R2, n));
                    self.e.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                    self.e.jump_imm(JmpOp::Jle, Reg::R2, cap as i32, ok);
                    self.e.emit(Insn::mov64_imm(Reg::R2, cap as i32));
                    self.e.bind(ok);
                    self.pool.release(n);
                } else {
                    self.e.emit(Insn::mov64_imm(Reg::R2, cap as i32));
                }
                self.e.emit(Insn::mov64_reg(Reg::R3, p));
                self.pool.release(p);
                self.ptr_to(Reg::R1, d.base, d.off);
                // In uprobes pointers are user addresses; elsewhere bpf_probe_read_str picks
                // user or kernel memory by address, as bpftrace's str() does.
                let read = if self.user_memory {
                    helper::PROBE_READ_USER_STR
                } else {
                    helper::PROBE_READ_STR
                };
                self.e.emit(Insn::call_helper(read));
            }
            K::MapRead { map, keys } => {
                let found = self.e.new_label();
                let end = self.e.new_label();
                self.map_lookup(*map, keys)?;
                self.e.jump_imm(JmpOp::Jne, Reg::R0, 0, found);
                self.zero_at(d.base, d.off, d.cap);
                self.e.goto(end);
                self.e.bind(found);
                let v = self.alloc()?;
                self.e.emit(Insn::mov64_reg(v, Reg::R0));
                self.copy_string(v, 0, e.ty, d);
                self.pool.release(v);
                self.e.bind(end);
            }
            K::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let else_label = self.e.new_label();
                let end = self.e.new_label();
                let c = self.int(cond)?;
                self.e.jump_imm(JmpOp::Jeq, c, 0, else_label);
                self.pool.release(c);
                self.string(then, d)?;
                self.e.goto(end);
                self.e.bind(else_label);
                self.string(otherwise, d)?;
                self.e.bind(end);
            }
            K::Context(c) => self.context_string(c, d)?,
            K::TracepointBytes { offset, len } => {
                self.zero_at(d.base, d.off, d.cap);
                self.copy_mem(d.base, d.off, CTX, *offset as i16, (*len).min(d.cap));
            }
            K::ReadBuf { ptr, len } => {
                let p = self.int(ptr)?;
                self.zero_at(d.base, d.off, d.cap);
                let n = (*len).min(d.cap.saturating_sub(8));
                self.e.emit(Insn::st_imm(Size::DW, d.base, d.off, n as i32));
                self.ptr_to(Reg::R1, d.base, d.off + 8);
                self.e.emit(Insn::mov64_imm(Reg::R2, n as i32));
                self.e.emit(Insn::mov64_reg(Reg::R3, p));
                self.pool.release(p);
                // bpf_probe_read reads user or kernel memory by address, like bpftrace's buf().
                self.e.emit(Insn::call_helper(helper::PROBE_READ));
            }
            K::StrBuf { value, len } => {
                self.zero_at(d.base, d.off, d.cap);
                let n = (*len).min(d.cap.saturating_sub(8));
                self.e.emit(Insn::st_imm(Size::DW, d.base, d.off, n as i32));
                // One byte more than kept: the string writer ends what it copies with a NUL.
                let scratch = (value.ty.storage_size()).max(n + 1);
                let tmp = self.frame.alloc(scratch);
                self.string(
                    value,
                    Dest {
                        base: Reg::R10,
                        off: tmp,
                        cap: scratch,
                    },
                )?;
                self.copy_mem(d.base, d.off + 8, Reg::R10, tmp, n);
            }
            K::Tuple(elems) => {
                self.zero_at(d.base, d.off, d.cap);
                let declared = match e.ty {
                    Type::Tuple { id, .. } => self
                        .ctx
                        .tuples
                        .get(id as usize)
                        .cloned()
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                let mut at = 0u32;
                for (i, el) in elems.iter().enumerate() {
                    // Slots follow the tuple's declared element types, which may be wider than
                    // the element's own (sema widens strings).
                    let slot = crate::layout::slot_size(declared.get(i).copied().unwrap_or(el.ty));
                    // Register values (integers, and uid/errno/ksym-like values printed
                    // specially) are stored as 8 bytes; buffers are copied. Same rule as map
                    // values: `is_int` alone missed e.g. `username` (a fuzz finding).
                    if !el.ty.is_buffer() {
                        let r = self.int(el)?;
                        self.e
                            .emit(Insn::stx(Size::DW, d.base, d.off + at as i16, r));
                        self.pool.release(r);
                    } else {
                        self.string(
                            el,
                            Dest {
                                base: d.base,
                                off: d.off + at as i16,
                                cap: slot,
                            },
                        )?;
                    }
                    at += slot;
                }
            }
            K::TupleGet { tuple, offset } => {
                let (base, tmp) = self.tuple_place(tuple)?;
                self.copy_string(base, tmp + *offset as i16, e.ty, d);
            }
            K::Ntop { family, source } => {
                self.zero_at(d.base, d.off, d.cap);
                let (default_family, bytes) = match source {
                    NtopSource::Int(_) => (2, 4),
                    NtopSource::TracepointBytes { len, .. }
                    | NtopSource::KernelBytes { len, .. } => {
                        (if *len == 16 { 10 } else { 2 }, *len)
                    }
                };
                match family {
                    Some(f) => {
                        let r = self.int(f)?;
                        self.e.emit(Insn::stx(Size::DW, d.base, d.off, r));
                        self.pool.release(r);
                    }
                    None => self
                        .e
                        .emit(Insn::st_imm(Size::DW, d.base, d.off, default_family)),
                }
                match source {
                    NtopSource::Int(v) => {
                        let r = self.int(v)?;
                        // Stored as it sat in kernel memory: network byte order survives.
                        self.e.emit(Insn::stx(Size::W, d.base, d.off + 8, r));
                        self.pool.release(r);
                    }
                    NtopSource::TracepointBytes { offset, .. } => {
                        self.copy_mem(d.base, d.off + 8, CTX, *offset as i16, bytes.min(16));
                    }
                    NtopSource::KernelBytes { addr, .. } => {
                        let p = self.int(addr)?;
                        self.ptr_to(Reg::R1, d.base, d.off + 8);
                        self.e.emit(Insn::mov64_imm(Reg::R2, bytes.min(16) as i32));
                        self.e.emit(Insn::mov64_reg(Reg::R3, p));
                        self.pool.release(p);
                        self.e.emit(Insn::call_helper(helper::PROBE_READ_KERNEL));
                    }
                }
            }
            K::KernelStr { addr, len } => {
                let p = self.int(addr)?;
                self.zero_at(d.base, d.off, d.cap);
                let n = (*len).min(d.cap);
                self.ptr_to(Reg::R1, d.base, d.off);
                self.e.emit(Insn::mov64_imm(Reg::R2, n as i32));
                self.e.emit(Insn::mov64_reg(Reg::R3, p));
                self.pool.release(p);
                self.e.emit(Insn::call_helper(helper::PROBE_READ_KERNEL));
                // A full char array need not hold a NUL; the buffer's last byte is one.
                self.e
                    .emit(Insn::st_imm(Size::B, d.base, d.off + d.cap as i16 - 1, 0));
            }
            K::Usym { .. } => self.usym_into(e, d)?,
            _ => return Err(CodegenError::Internal("integer used as a string")),
        }
        Ok(())
    }

    /// Copy a string of type `ty` from `src + src_off` into `d`, truncating with a NUL or
    /// zero-filling as needed.
    fn copy_string(&mut self, src: Reg, src_off: i16, ty: Type, d: Dest) {
        let len = ty.storage_size();
        let n = len.min(d.cap);
        self.copy_mem(d.base, d.off, src, src_off, n);
        if n < d.cap {
            self.zero_at(d.base, d.off + n as i16, d.cap - n);
        } else if len > d.cap {
            self.e
                .emit(Insn::st_imm(Size::B, d.base, d.off + d.cap as i16 - 1, 0));
        }
    }

    /// Copy `len` bytes from `src + src_off` to the stack at `r10 + dst_off` with plain loads
    /// and stores, each as wide as both addresses' alignment allows (context reads must be
    /// naturally aligned).
    pub fn copy_mem(&mut self, dst: Reg, dst_off: i16, src: Reg, src_off: i16, len: u32) {
        let mut i = 0u32;
        while i < len {
            let left = len - i;
            let s = i32::from(src_off) + i as i32;
            let t = i32::from(dst_off) + i as i32;
            let width = [8u32, 4, 2, 1]
                .into_iter()
                .find(|&w| left >= w && s % w as i32 == 0 && t % w as i32 == 0)
                .unwrap_or(1);
            let size = Size::from_bytes(width as usize).unwrap_or(Size::B);
            self.e.emit(Insn::ldx(size, Reg::R1, src, s as i16));
            self.e.emit(Insn::stx(size, dst, t as i16, Reg::R1));
            i += width;
        }
    }

    /// Store constant bytes to the stack (4 bytes per store where aligned).
    fn store_bytes(&mut self, base: Reg, off: i16, bytes: &[u8]) {
        let mut i = 0usize;
        while i < bytes.len() {
            let at = off + i as i16;
            let left = bytes.len() - i;
            if left >= 4 && at % 4 == 0 {
                let v = i32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
                self.e.emit(Insn::st_imm(Size::W, base, at, v));
                i += 4;
            } else {
                self.e
                    .emit(Insn::st_imm(Size::B, base, at, i32::from(bytes[i])));
                i += 1;
            }
        }
    }
}

impl ProbeCompiler<'_> {
    /// Where the tuple `t` can be read (base register and offset): a variable's own slot, or
    /// a stack temporary the tuple is built into.
    pub fn tuple_place(&mut self, t: &Expr) -> Result<(Reg, i16), CodegenError> {
        if let K::Var(id) = t.kind {
            return Ok((self.var_base, self.var_slots[id].0));
        }
        let size = t.ty.storage_size();
        let tmp = self.frame.alloc(size);
        self.string(
            t,
            Dest {
                base: Reg::R10,
                off: tmp,
                cap: size,
            },
        )?;
        Ok((Reg::R10, tmp))
    }
}
