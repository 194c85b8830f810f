//! Code for actions ([`Action`]): most become a ring-buffer record asking userspace to act;
//! `signal()` and `debugf()` call a kernel helper directly.

use kestrel_isa::{Insn, JmpOp, Reg, Size};
use kestrel_lang::actions::{Action, ActionDecl, ActionKind as LangKind};
use kestrel_lang::ir::Expr;
use kestrel_lang::Type;

use crate::layout::{scalar, slot_size, MapLayout};
use crate::object::{ActionKind, ActionSpec, Field, EVENT_ACTION_BASE};
use crate::probe::{helper, Dest, ProbeCompiler};
use crate::CodegenError;

/// The record layout of one action, with map ids turned into object map indexes.
pub(crate) fn action_layout(
    decl: &ActionDecl,
    maps: &[MapLayout],
    tuples: &[Vec<Type>],
) -> Result<ActionSpec, CodegenError> {
    let map_index = |id: usize| {
        maps.get(id)
            .map(|m| m.index)
            .ok_or(CodegenError::Internal("action on an unknown map"))
    };
    let kind = match &decl.kind {
        LangKind::PrintMap { map, top, div } => ActionKind::PrintMap {
            map: map_index(*map)?,
            top: *top,
            div: *div,
        },
        LangKind::ClearMap { map } => ActionKind::ClearMap {
            map: map_index(*map)?,
        },
        LangKind::ZeroMap { map } => ActionKind::ZeroMap {
            map: map_index(*map)?,
        },
        LangKind::PrintValue => ActionKind::PrintValue,
        LangKind::Time { format } => ActionKind::Time {
            format: format.clone(),
        },
        LangKind::Cat { format } => ActionKind::Cat {
            format: format.clone(),
        },
        LangKind::System { format } => ActionKind::System {
            format: format.clone(),
        },
        LangKind::Join { sep, str_len } => ActionKind::Join {
            sep: sep.clone(),
            max_args: kestrel_lang::actions::JOIN_MAX_ARGS,
            str_len: *str_len,
        },
    };
    let mut offset = 8;
    let mut args = Vec::with_capacity(decl.args.len());
    for &ty in &decl.args {
        args.push(Field {
            offset,
            ty: scalar(ty, tuples),
        });
        offset += slot_size(ty);
    }
    if let ActionKind::Join {
        max_args, str_len, ..
    } = &kind
    {
        offset = 16 + max_args * str_len;
    }
    Ok(ActionSpec {
        kind,
        args,
        record_size: offset,
    })
}

impl ProbeCompiler<'_> {
    /// Emit the code for one action call.
    pub fn action(&mut self, a: &Action) -> Result<(), CodegenError> {
        match a {
            Action::Event { id, args } => {
                let spec = self
                    .ctx
                    .actions
                    .get(*id)
                    .ok_or(CodegenError::Internal("unknown action id"))?;
                let size = spec.record_size;
                let fields: Vec<u32> = spec.args.iter().map(|f| f.offset).collect();
                self.record(EVENT_ACTION_BASE + *id as u64, &fields, size, args)
            }
            Action::Join { id, ptr, .. } => self.join(*id, ptr),
            Action::Signal { sig } => {
                let r = self.int(sig)?;
                self.e.emit(Insn::mov64_reg(Reg::R1, r));
                self.pool.release(r);
                self.e.emit(Insn::call_helper(helper::SEND_SIGNAL));
                Ok(())
            }
            Action::Debugf { format, args } => self.debugf(format, args),
        }
    }

    /// `join(argv)`: in per-CPU scratch space, the event id, a count, and up to `max_args`
    /// strings read from the user array of pointers, stopping at the first NULL.
    fn join(&mut self, id: usize, ptr: &Expr) -> Result<(), CodegenError> {
        let spec = self
            .ctx
            .actions
            .get(id)
            .ok_or(CodegenError::Internal("unknown action id"))?;
        let size = spec.record_size;
        let ActionKind::Join {
            max_args, str_len, ..
        } = spec.kind
        else {
            return Err(CodegenError::Internal("join() action of another kind"));
        };
        let map = self
            .ctx
            .scratch_map
            .ok_or(CodegenError::Internal("join() without scratch space"))?;
        let array = self.int(ptr)?;
        let (base, done) = self.scratch_ptr(map)?;
        self.e
            .mov_imm(Reg::R1, (EVENT_ACTION_BASE + id as u64) as i64);
        self.e.emit(Insn::stx(Size::DW, base, 0, Reg::R1));
        self.e.emit(Insn::st_imm(Size::DW, base, 8, 0));
        let slot = self.frame.alloc(8);
        let send = self.e.new_label();
        for i in 0..max_args {
            // The i-th pointer of the array (user memory, as argv is).
            self.stack_ptr(Reg::R1, slot);
            self.e.emit(Insn::mov64_imm(Reg::R2, 8));
            self.ptr_to(Reg::R3, array, (i * 8) as i16);
            self.e.emit(Insn::call_helper(helper::PROBE_READ_USER));
            self.e.jump_imm(JmpOp::Jne, Reg::R0, 0, send);
            self.e.emit(Insn::ldx(Size::DW, Reg::R3, Reg::R10, slot));
            self.e.jump_imm(JmpOp::Jeq, Reg::R3, 0, send);
            self.ptr_to(Reg::R1, base, (16 + i * str_len) as i16);
            self.e.emit(Insn::mov64_imm(Reg::R2, str_len as i32));
            self.e.emit(Insn::call_helper(helper::PROBE_READ_USER_STR));
            self.e.emit(Insn::st_imm(Size::DW, base, 8, (i + 1) as i32));
        }
        self.e.bind(send);
        self.pool.release(array);
        self.ringbuf_output_at(base, 0, size);
        self.pool.release(base);
        self.e.bind(done);
        Ok(())
    }

    /// `len(@map)`: `bpf_for_each_map_elem` with a callback that only continues returns the
    /// number of elements it visited.
    pub(crate) fn map_len(&mut self, map: usize) -> Result<Reg, CodegenError> {
        let index = self
            .ctx
            .maps
            .get(map)
            .map(|m| m.index)
            .ok_or(CodegenError::Internal("len() of an unknown map"))?;
        let mut cb = crate::emit::Emitter::default();
        cb.emit(Insn::mov64_imm(Reg::R0, 0));
        cb.emit(Insn::exit());
        cb.finish()
            .map_err(|_| CodegenError::Internal("len() callback"))?;
        self.e.load_map(Reg::R1, index);
        let at = self.e.insns.len();
        // The loader points this at the callback (BPF_PSEUDO_FUNC) through a relocation.
        self.e.emit2(Insn::ld_imm64(Reg::R2, 0));
        self.e.emit(Insn::mov64_imm(Reg::R3, 0));
        self.e.emit(Insn::mov64_imm(Reg::R4, 0));
        self.e.emit(Insn::call_helper(helper::FOR_EACH_MAP_ELEM));
        self.callbacks.push((cb, at));
        let r = self.alloc()?;
        self.e.emit(Insn::mov64_reg(r, Reg::R0));
        Ok(r)
    }

    /// `debugf(fmt, a, b, c)`: `bpf_trace_printk(fmt, sizeof fmt, a, b, c)` with the format
    /// on the stack.
    fn debugf(&mut self, format: &str, args: &[Expr]) -> Result<(), CodegenError> {
        let len = format.len() as u32 + 1;
        let cap = slot_size(Type::Str { len });
        let off = self.frame.alloc(cap);
        let fmt = Expr {
            kind: kestrel_lang::ir::ExprKind::Str(format.to_string()),
            ty: Type::Str { len: cap },
            span: kestrel_lang::Span::new(0, 0),
        };
        self.string(
            &fmt,
            Dest {
                base: Reg::R10,
                off,
                cap,
            },
        )?;
        // Evaluate the arguments into stack slots first: evaluation may call helpers, which
        // clobber r3-r5.
        let mut slots = Vec::with_capacity(args.len());
        for a in args {
            let r = self.int(a)?;
            let s = self.frame.alloc(8);
            self.e.emit(Insn::stx(Size::DW, Reg::R10, s, r));
            self.pool.release(r);
            slots.push(s);
        }
        self.stack_ptr(Reg::R1, off);
        self.e.emit(Insn::mov64_imm(Reg::R2, len as i32));
        for (reg, s) in [Reg::R3, Reg::R4, Reg::R5].into_iter().zip(slots) {
            self.e.emit(Insn::ldx(Size::DW, reg, Reg::R10, s));
        }
        self.e.emit(Insn::call_helper(helper::TRACE_PRINTK));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use kestrel_kernel::FixtureKernel;

    use crate::object::{ActionKind, MapRole, EVENT_ACTION_BASE};
    use crate::CompileOptions;

    fn compile(src: &str, options: &CompileOptions) -> crate::ObjectSpec {
        let ast = kestrel_lang::parse(src).unwrap();
        let analysis = kestrel_lang::analyze(&ast, &FixtureKernel::standard()).unwrap();
        crate::compile_with(&analysis.program, options).unwrap()
    }

    #[test]
    fn actions_get_ids_after_the_action_base_and_map_indexes() {
        let obj = compile(
            r#"BEGIN { @a[1] = 2; @b = 3; print(@b, 2, 10); clear(@a); time(); print((1, "x")); }"#,
            &CompileOptions::default(),
        );
        let kinds: Vec<&ActionKind> = obj.actions.iter().map(|a| &a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                &ActionKind::PrintMap {
                    map: 1,
                    top: 2,
                    div: 10
                },
                &ActionKind::ClearMap { map: 0 },
                &ActionKind::Time {
                    format: "%H:%M:%S\n".into()
                },
                &ActionKind::PrintValue,
            ]
        );
        // The tuple's record: the id, then the tuple (an int slot and a 64-byte string).
        assert_eq!(obj.actions[3].record_size, 80);
        let base = (EVENT_ACTION_BASE as i64 + 3) as i32;
        let insns = &obj.programs[0].insns;
        // ld_imm64 of the id: low half in the first slot, high half (1) in the second.
        assert!(insns
            .windows(2)
            .any(|w| w[0].imm == base && w[1].imm == (EVENT_ACTION_BASE >> 32) as i32));
    }

    #[test]
    fn map_full_counters_are_opt_in() {
        let src = "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); @total = count(); }";
        let plain = compile(src, &CompileOptions::default());
        let counted = compile(
            src,
            &CompileOptions {
                count_map_full: true,
            },
        );
        assert!(!plain.maps.iter().any(|m| m.role == MapRole::MapFull));
        assert!(counted.maps.iter().any(|m| m.role == MapRole::MapFull));
        // Only @[comm] can fill up: one counter block of ten instructions.
        assert_eq!(
            counted.programs[0].insns.len(),
            plain.programs[0].insns.len() + 10
        );
    }
}
