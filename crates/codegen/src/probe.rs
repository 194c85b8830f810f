//! Compiling one IR probe into one eBPF program.

use kestrel_isa::{Insn, JmpOp, Reg, Size};
use kestrel_lang::ir::{self, StmtKind};
use kestrel_lang::Type;

use crate::emit::{Emitter, Label};
use crate::frame::{Frame, MAX_STACK};
use crate::layout::{slot_size, MapLayout};
use crate::object::{PrintfSpec, EVENT_EXIT};
use crate::regs::{Pool, CTX};
use crate::CodegenError;

/// Kernel helper ids: the one table in kestrel-isa.
pub(crate) use kestrel_isa::helper;

/// `BPF_ANY` / `BPF_NOEXIST` flags of map updates.
pub(crate) const BPF_ANY: i32 = 0;
pub(crate) const BPF_NOEXIST: i32 = 1;

/// Where a string value is written: a stack buffer of `cap` bytes at `r10 + off`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dest {
    /// Register holding the buffer's base: r10 for the stack, or a pool register holding a
    /// map value pointer (per-CPU scratch space for records too big for the stack).
    pub base: Reg,
    pub off: i16,
    pub cap: u32,
}

/// What every probe of one object, and every callback inside a probe, shares: map layouts,
/// the printf and action tables, and the object's special maps. Built once per object and
/// borrowed by each [`ProbeCompiler`], so a callback cannot see a different object than its
/// probe.
pub(crate) struct ObjectContext<'a> {
    pub maps: &'a [MapLayout],
    pub printfs: &'a [PrintfSpec],
    pub events_map: usize,
    /// Element types of every tuple shape.
    pub tuples: &'a [Vec<Type>],
    /// The per-CPU scratch map for records too big for the stack, if the program has one.
    pub scratch_map: Option<usize>,
    /// The per-CPU counter of events lost to a full ring buffer.
    pub lost_map: Option<usize>,
    /// The map `exit()` sets (see `MapRole::ExitFlag`), when the script calls `exit()`.
    pub exit_flag: Option<usize>,
    /// The stack-trace maps `kstack`/`ustack` store into.
    pub stack_maps: Vec<crate::layout::StackMapRef>,
    /// Record layouts of the program's actions.
    pub actions: &'a [crate::object::ActionSpec],
    /// The per-CPU counters of updates dropped by full maps, if the program has maps.
    pub full_map: Option<usize>,
}

/// State while compiling one probe (or one callback of a probe).
pub(crate) struct ProbeCompiler<'a> {
    /// The object-wide context every probe and callback borrows.
    pub ctx: &'a ObjectContext<'a>,
    pub e: Emitter,
    pub frame: Frame,
    pub pool: Pool,
    /// Stack offset of each `$variable`.
    pub var_slots: Vec<(i16, Type)>,
    /// The shared "return 0" at the end of the program.
    pub epilogue: Label,
    /// (continue, break) targets of the enclosing loops, innermost last.
    pub loops: Vec<(Label, Label)>,
    /// Register variables are addressed from: r10 in a probe, r9 (the caller's frame) in a
    /// `for` loop callback.
    pub var_base: Reg,
    /// Callbacks compiled so far: their code and the instruction loading their address.
    pub callbacks: Vec<(Emitter, usize)>,
    /// The probe runs on user-space code (uprobe, usdt): `str()` reads user memory.
    pub user_memory: bool,
}

/// Printf records larger than this are built in the scratch map instead of on the stack.
pub(crate) const SCRATCH_THRESHOLD: u32 = 192;

impl<'a> ProbeCompiler<'a> {
    /// A compiler for one probe of the object `ctx` describes; `user_memory` when the probe
    /// runs on user-space code (its pointers are user addresses).
    pub fn new(ctx: &'a ObjectContext<'a>, user_memory: bool) -> ProbeCompiler<'a> {
        let mut e = Emitter::default();
        let epilogue = e.new_label();
        ProbeCompiler {
            ctx,
            e,
            frame: Frame::default(),
            pool: Pool::default(),
            var_slots: Vec::new(),
            epilogue,
            loops: Vec::new(),
            var_base: Reg::R10,
            callbacks: Vec::new(),
            user_memory,
        }
    }

    /// A compiler for a callback of this probe (a `for` loop body): the same object
    /// context and memory kind, variables addressed through the caller's frame.
    fn callback(&self) -> ProbeCompiler<'a> {
        let mut cb = ProbeCompiler::new(self.ctx, self.user_memory);
        cb.var_base = Reg::R9;
        cb
    }

    /// Compile the whole probe: prologue, predicate, body, epilogue.
    pub fn compile(
        mut self,
        probe: &ir::Probe,
    ) -> Result<(Emitter, Vec<(Emitter, usize)>), CodegenError> {
        self.e.emit(Insn::mov64_reg(CTX, Reg::R1));
        if !matches!(probe.attach, ir::Attach::Begin | ir::Attach::End) {
            // After exit() nothing more may be counted, however long userspace takes to detach.
            // BEGIN and END always run (a timer may fire exit() before BEGIN has run).
            if let Some(flag) = self.ctx.exit_flag {
                let running = self.e.new_label();
                self.exit_flag_ptr(flag, running);
                self.e.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                // Return right here: a jump to the epilogue could be too far for a big body.
                self.e.jump_imm(JmpOp::Jeq, Reg::R1, 0, running);
                self.e.emit(Insn::mov64_imm(Reg::R0, 0));
                self.e.emit(Insn::exit());
                self.e.bind(running);
            }
        }
        // Variables start zeroed: a variable assigned only on one branch reads as 0/"" on the
        // other, and the verifier never sees an uninitialised stack read.
        for var in &probe.vars {
            let size = slot_size(var.ty);
            let off = self.frame.alloc(size);
            self.zero(off, size);
            self.var_slots.push((off, var.ty));
        }
        if let Some(pred) = &probe.predicate {
            self.e.set_span(Some((pred.span.start, pred.span.end)));
            let mark = self.frame.mark();
            self.branch(pred, false, self.epilogue)?;
            self.frame.reset(mark);
        }
        self.block(&probe.body)?;
        self.e.set_span(None);
        self.e.bind(self.epilogue);
        self.e.emit(Insn::mov64_imm(Reg::R0, 0));
        self.e.emit(Insn::exit());
        self.e.finish().map_err(|_| CodegenError::TooLarge {
            probe: probe.attach.describe(),
        })?;
        if self.frame.high_water > MAX_STACK {
            return Err(CodegenError::StackOverflow {
                probe: probe.attach.describe(),
                bytes: self.frame.high_water,
            });
        }
        self.drop_unused_ctx_save();
        Ok((self.e, self.callbacks))
    }

    /// Remove the prologue's `r9 = r1` when nothing reads r9 (most probes never touch their
    /// context), shifting every recorded instruction index by one.
    fn drop_unused_ctx_save(&mut self) {
        let uses_ctx = self
            .e
            .insns
            .iter()
            .skip(1)
            .any(|i| i.dst == CTX as u8 || i.src == CTX as u8);
        if uses_ctx || self.e.insns.is_empty() {
            return;
        }
        self.e.insns.remove(0);
        self.e.spans.remove(0);
        for (insn, _) in &mut self.e.relocs {
            *insn -= 1;
        }
        for (insn, _) in &mut self.e.runtime_consts {
            *insn -= 1;
        }
        for (_, loaded_at) in &mut self.callbacks {
            *loaded_at -= 1;
        }
    }

    /// The body of `for ($kv : @map)` as a `bpf_for_each_map_elem` callback:
    /// `long cb(map, key, value, ctx)`, where `ctx` points into the probe's frame so the body
    /// reads and writes the probe's variables through r9. Returns 0 to go on, 1 to stop.
    fn compile_callback(
        mut self,
        map: &MapLayout,
        var: usize,
        body: &[ir::Stmt],
        describe: &str,
    ) -> Result<Emitter, CodegenError> {
        self.e.emit(Insn::mov64_reg(Reg::R9, Reg::R4));
        let (kv, kv_ty) = self.var_slots[var];
        let (key_ty, value_ty) = match kv_ty {
            Type::Tuple { id, .. } => {
                let t = self
                    .ctx
                    .tuples
                    .get(id as usize)
                    .cloned()
                    .unwrap_or_default();
                match t.as_slice() {
                    [k, v] => (*k, *v),
                    _ => return Err(CodegenError::Internal("for loop variable is not a pair")),
                }
            }
            _ => return Err(CodegenError::Internal("for loop variable is not a tuple")),
        };
        let key_len = slot_size(key_ty).min(map.key_size);
        self.copy_mem(Reg::R9, kv, Reg::R2, 0, key_len);
        let value_len = slot_size(value_ty).min(map.value_size);
        self.copy_mem(
            Reg::R9,
            kv + slot_size(key_ty) as i16,
            Reg::R3,
            0,
            value_len,
        );
        let stop = self.e.new_label();
        let next = self.e.new_label();
        // exit() ends the iteration too.
        self.epilogue = stop;
        self.loops.push((next, stop));
        self.block(body)?;
        self.e.set_span(None);
        if falls_through(body) || self.e.is_targeted(next) {
            self.e.bind(next);
            self.e.emit(Insn::mov64_imm(Reg::R0, 0));
            self.e.emit(Insn::exit());
        }
        // The verifier rejects unreachable code: only emit "stop" if something jumps there.
        if self.e.is_targeted(stop) {
            self.e.bind(stop);
            self.e.emit(Insn::mov64_imm(Reg::R0, 1));
            self.e.emit(Insn::exit());
        }
        self.e.finish().map_err(|_| CodegenError::TooLarge {
            probe: describe.to_string(),
        })?;
        if self.frame.high_water > MAX_STACK {
            return Err(CodegenError::StackOverflow {
                probe: describe.to_string(),
                bytes: self.frame.high_water,
            });
        }
        Ok(self.e)
    }

    fn block(&mut self, stmts: &[ir::Stmt]) -> Result<(), CodegenError> {
        for s in stmts {
            let outer = self.e.set_span(Some((s.span.start, s.span.end)));
            let mark = self.frame.mark();
            self.stmt(s)?;
            self.frame.reset(mark);
            self.e.set_span(outer);
            // The verifier rejects unreachable instructions, so nothing after a statement
            // that always jumps away is emitted.
            if terminates(s) {
                break;
            }
        }
        Ok(())
    }

    fn stmt(&mut self, s: &ir::Stmt) -> Result<(), CodegenError> {
        match &s.kind {
            StmtKind::Expr(e) => {
                if e.ty.is_int() {
                    let r = self.int(e)?;
                    self.pool.release(r);
                } else if e.ty.is_buffer() {
                    let len = slot_size(e.ty);
                    let off = self.frame.alloc(len);
                    self.string(
                        e,
                        Dest {
                            base: Reg::R10,
                            off,
                            cap: len,
                        },
                    )?;
                }
            }
            StmtKind::VarStore { var, value } => {
                let (off, ty) = self.var_slots[*var];
                let base = self.var_base;
                match ty {
                    t if t.is_buffer() => self.string(
                        value,
                        Dest {
                            base,
                            off,
                            cap: slot_size(ty),
                        },
                    )?,
                    _ => match value.kind {
                        ir::ExprKind::Int(v) => self.store_u64(base, off, v as u64),
                        _ => {
                            let r = self.int(value)?;
                            self.e.emit(Insn::stx(Size::DW, base, off, r));
                            self.pool.release(r);
                        }
                    },
                }
            }
            StmtKind::MapStore { map, keys, value } => self.map_store(*map, keys, value)?,
            StmtKind::MapAggregate { map, keys, value } => {
                self.map_aggregate(*map, keys, value.as_ref())?
            }
            StmtKind::MapDelete { map, keys } => self.map_delete(*map, keys)?,
            StmtKind::Printf { id, args } => self.printf(*id, args)?,
            StmtKind::Exit => {
                let off = self.frame.alloc(8);
                if let Some(flag) = self.ctx.exit_flag {
                    let absent = self.e.new_label();
                    self.exit_flag_ptr(flag, absent);
                    self.e.emit(Insn::st_imm(Size::DW, Reg::R0, 0, 1));
                    self.e.bind(absent);
                }
                self.store_u64(Reg::R10, off, EVENT_EXIT);
                self.ringbuf_output(off, 8);
                self.e.goto(self.epilogue);
            }
            StmtKind::Return => self.e.goto(self.epilogue),
            StmtKind::Action(a) => self.action(a)?,
            StmtKind::While { cond, body } => {
                let top = self.e.new_label();
                let end = self.e.new_label();
                self.e.bind(top);
                self.branch(cond, false, end)?;
                self.loops.push((top, end));
                self.block(body)?;
                self.loops.pop();
                if falls_through(body) {
                    self.e.goto(top);
                }
                self.e.bind(end);
            }
            StmtKind::ForMap { map, var, body } => {
                let layout = self
                    .ctx
                    .maps
                    .get(*map)
                    .cloned()
                    .ok_or(CodegenError::Internal("unknown map id"))?;
                // The callback reaches the probe's variables through a pointer to the lowest
                // variable slot (the kernel hands it to the callback as its `ctx`).
                let low = self.var_slots.iter().map(|(o, _)| *o).min().unwrap_or(-8);
                let mut cb = self.callback();
                cb.var_slots = self.var_slots.iter().map(|&(o, t)| (o - low, t)).collect();
                let code = cb.compile_callback(&layout, *var, body, "for loop")?;
                self.e.load_map(Reg::R1, layout.index);
                let at = self.e.insns.len();
                // The loader points this at the callback (BPF_PSEUDO_FUNC) through a relocation.
                self.e.emit2(Insn::ld_imm64(Reg::R2, 0));
                self.ptr_to(Reg::R3, Reg::R10, low);
                self.e.emit(Insn::mov64_imm(Reg::R4, 0));
                self.e.emit(Insn::call_helper(helper::FOR_EACH_MAP_ELEM));
                self.callbacks.push((code, at));
            }
            StmtKind::Break | StmtKind::Continue => {
                let &(top, end) = self
                    .loops
                    .last()
                    .ok_or(CodegenError::Internal("break outside a loop"))?;
                self.e.goto(if matches!(s.kind, StmtKind::Break) {
                    end
                } else {
                    top
                });
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                let else_label = self.e.new_label();
                self.branch(cond, false, else_label)?;
                self.block(then)?;
                if otherwise.is_empty() {
                    self.e.bind(else_label);
                } else {
                    let end = self.e.new_label();
                    // A branch that always jumps away needs no jump over the other one (it
                    // would be unreachable, which the verifier rejects).
                    if falls_through(then) {
                        self.e.goto(end);
                    }
                    self.e.bind(else_label);
                    self.block(otherwise)?;
                    self.e.bind(end);
                }
            }
        }
        Ok(())
    }

    fn printf(&mut self, id: usize, args: &[ir::Expr]) -> Result<(), CodegenError> {
        let spec = &self.ctx.printfs[id];
        let size = spec.record_size;
        let fields: Vec<u32> = spec.args.iter().map(|f| f.offset).collect();
        self.record(id as u64, &fields, size, args)
    }

    /// Send a ring-buffer record: the u64 `event_id`, then each argument at its offset.
    pub(crate) fn record(
        &mut self,
        event_id: u64,
        fields: &[u32],
        size: u32,
        args: &[ir::Expr],
    ) -> Result<(), CodegenError> {
        // Small records are built on the stack; big ones in per-CPU scratch space, so a
        // printf of several long strings never overflows the 512-byte stack.
        let (base, rec, done) = match self.ctx.scratch_map.filter(|_| size > SCRATCH_THRESHOLD) {
            Some(map) => {
                let (p, done) = self.scratch_ptr(map)?;
                (p, 0i16, Some(done))
            }
            None => (Reg::R10, self.frame.alloc(size), None),
        };
        self.store_u64(base, rec, event_id);
        for (arg, &field) in args.iter().zip(fields) {
            let off = rec + field as i16;
            match arg.ty {
                t if t.is_buffer() => {
                    let slot = slot_size(t);
                    self.string(
                        arg,
                        Dest {
                            base,
                            off,
                            cap: slot,
                        },
                    )?;
                }
                _ => {
                    let r = self.int(arg)?;
                    self.e.emit(Insn::stx(Size::DW, base, off, r));
                    self.pool.release(r);
                }
            }
        }
        self.ringbuf_output_at(base, rec, size);
        if let Some(done) = done {
            self.pool.release(base);
            self.e.bind(done);
        }
        Ok(())
    }

    /// Look up the per-CPU scratch buffer: returns a pool register holding its address and
    /// the label to bind after the code that uses it (reached directly if the lookup fails).
    pub(crate) fn scratch_ptr(&mut self, map: usize) -> Result<(Reg, Label), CodegenError> {
        let key = self.frame.alloc(8);
        self.e.emit(Insn::st_imm(Size::W, Reg::R10, key, 0));
        self.e.load_map(Reg::R1, map);
        self.stack_ptr(Reg::R2, key);
        self.e.emit(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
        let done = self.e.new_label();
        self.e.jump_imm(JmpOp::Jeq, Reg::R0, 0, done);
        let p = self.alloc()?;
        self.e.emit(Insn::mov64_reg(p, Reg::R0));
        Ok((p, done))
    }

    /// `bpf_ringbuf_output(&events, r10 + off, size, 0)`.
    pub fn ringbuf_output(&mut self, off: i16, size: u32) {
        self.ringbuf_output_at(Reg::R10, off, size);
    }

    /// `bpf_ringbuf_output(&events, base + off, size, 0)`.
    pub fn ringbuf_output_at(&mut self, base: Reg, off: i16, size: u32) {
        self.e.load_map(Reg::R1, self.ctx.events_map);
        self.ptr_to(Reg::R2, base, off);
        self.e.emit(Insn::mov64_imm(Reg::R3, size as i32));
        self.e.emit(Insn::mov64_imm(Reg::R4, 0));
        self.e.emit(Insn::call_helper(helper::RINGBUF_OUTPUT));
        // A full ring buffer drops the event: count it so userspace can say "Lost N events"
        // instead of losing output silently. Only the failure path pays for this.
        if let Some(lost) = self.ctx.lost_map {
            let done = self.e.new_label();
            self.e.jump_imm(JmpOp::Jsge, Reg::R0, 0, done);
            let key = self.frame.alloc(8);
            self.e.emit(Insn::st_imm(Size::W, Reg::R10, key, 0));
            self.e.load_map(Reg::R1, lost);
            self.stack_ptr(Reg::R2, key);
            self.e.emit(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
            self.e.jump_imm(JmpOp::Jeq, Reg::R0, 0, done);
            self.e.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
            self.e
                .emit(Insn::alu64_imm(kestrel_isa::AluOp::Add, Reg::R1, 1));
            self.e.emit(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
            self.e.bind(done);
        }
    }

    /// `r0 = &exit_flag[0]`, jumping to `absent` if the lookup fails (it cannot for an array).
    fn exit_flag_ptr(&mut self, flag: usize, absent: crate::emit::Label) {
        let key = self.frame.alloc(8);
        self.e.emit(Insn::st_imm(Size::W, Reg::R10, key, 0));
        self.e.load_map(Reg::R1, flag);
        self.stack_ptr(Reg::R2, key);
        self.e.emit(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
        self.e.jump_imm(JmpOp::Jeq, Reg::R0, 0, absent);
    }

    /// `*(u64 *)(base + off) = v`, as one store of an immediate when `v` fits one.
    pub fn store_u64(&mut self, base: Reg, off: i16, v: u64) {
        // The immediate is sign-extended to 64 bits, so u64::MAX is the immediate -1.
        match i32::try_from(v as i64) {
            Ok(imm) => self.e.emit(Insn::st_imm(Size::DW, base, off, imm)),
            Err(_) => {
                self.e.mov_imm(Reg::R1, v as i64);
                self.e.emit(Insn::stx(Size::DW, base, off, Reg::R1));
            }
        }
    }

    /// `dst = r10 + off`.
    pub fn stack_ptr(&mut self, dst: Reg, off: i16) {
        self.e.emit(Insn::mov64_reg(dst, Reg::R10));
        self.e.emit(Insn::alu64_imm(
            kestrel_isa::AluOp::Add,
            dst,
            i32::from(off),
        ));
    }

    /// `dst = base + off`.
    pub fn ptr_to(&mut self, dst: Reg, base: Reg, off: i16) {
        self.e.emit(Insn::mov64_reg(dst, base));
        if off != 0 {
            self.e.emit(Insn::alu64_imm(
                kestrel_isa::AluOp::Add,
                dst,
                i32::from(off),
            ));
        }
    }

    /// Zero `size` bytes of stack at `r10 + off` (off 8-aligned, size any).
    pub fn zero(&mut self, off: i16, size: u32) {
        self.zero_at(Reg::R10, off, size);
    }

    /// Zero `size` bytes at `base + off` (base 8-aligned memory).
    pub fn zero_at(&mut self, base: Reg, off: i16, size: u32) {
        let mut i = 0u32;
        while i < size {
            let left = size - i;
            let at = off + i as i16;
            let width = if left >= 8 && at % 8 == 0 {
                Size::DW
            } else if left >= 4 && at % 4 == 0 {
                Size::W
            } else if left >= 2 && at % 2 == 0 {
                Size::H
            } else {
                Size::B
            };
            self.e.emit(Insn::st_imm(width, base, at, 0));
            i += width.bytes() as u32;
        }
    }

    /// Take a register for an expression value.
    pub fn alloc(&mut self) -> Result<Reg, CodegenError> {
        self.pool
            .alloc()
            .ok_or(CodegenError::Internal("expression register pool exhausted"))
    }
}

/// True when `s` never falls through to the next statement.
fn terminates(s: &ir::Stmt) -> bool {
    match &s.kind {
        StmtKind::Exit | StmtKind::Return | StmtKind::Break | StmtKind::Continue => true,
        StmtKind::If {
            then, otherwise, ..
        } => then.iter().any(terminates) && otherwise.iter().any(terminates),
        _ => false,
    }
}

/// True when control can reach the end of `stmts`. [`ProbeCompiler::block`] stops emitting
/// at the first statement that always jumps away, so any such statement (not only the last)
/// means the end is never reached: emitting a jump there would be unreachable code, which
/// the verifier rejects (a fuzz finding: `while (..) { break; @x = 1; }`).
fn falls_through(stmts: &[ir::Stmt]) -> bool {
    !stmts.iter().any(terminates)
}
