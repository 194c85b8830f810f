//! Map operations: keys, reads, stores, deletes and the aggregations.

use kestrel_isa::{AluOp, AtomicOp, Insn, JmpOp, Reg, Size};
use kestrel_lang::ir::{Expr, MapValue};

use crate::layout::{slot_size, MapLayout};
use crate::object::MapKind;
use crate::probe::{helper, Dest, ProbeCompiler, BPF_ANY, BPF_NOEXIST};
use crate::CodegenError;

/// `E2BIG`: what `bpf_map_update_elem` returns (negated) when a hash map is full.
const E2BIG: i32 = 7;

/// Whether updates of this map can fail for lack of room: not when it has no keys and no
/// histogram buckets (it then holds exactly one element).
fn can_fill(layout: &MapLayout) -> bool {
    !layout.key_fields.is_empty() || layout.bucket_offset.is_some()
}

impl ProbeCompiler<'_> {
    fn layout(&self, map: usize) -> Result<MapLayout, CodegenError> {
        self.ctx
            .maps
            .get(map)
            .cloned()
            .ok_or(CodegenError::Internal("unknown map id"))
    }

    /// Build the key of `map` on the stack; returns its offset. `bucket` (hist/lhist) is a
    /// register holding the bucket index, stored after the user keys.
    fn build_key(
        &mut self,
        layout: &MapLayout,
        keys: &[Expr],
        bucket: Option<Reg>,
    ) -> Result<i16, CodegenError> {
        let off = self.frame.alloc(layout.key_size);
        // Every key component fills its whole slot (integers are stored as 8 bytes; string
        // writers zero-fill to the slot's end), so only a scalar map's dummy key, or a key
        // built from values whose writers make no such promise, needs zeroing first — one
        // store fewer per 8 key bytes on the hot path.
        let filled = !keys.is_empty()
            && keys
                .iter()
                .all(|k| !matches!(k.kind, kestrel_lang::ir::ExprKind::Context(_)));
        if !filled {
            self.zero(off, layout.key_size);
        }
        for (k, &(field, ty)) in keys.iter().zip(&layout.key_fields) {
            let at = off + field as i16;
            match ty {
                t if t.is_buffer() => self.string(
                    k,
                    Dest {
                        base: Reg::R10,
                        off: at,
                        cap: slot_size(ty),
                    },
                )?,
                _ => {
                    let r = self.int(k)?;
                    self.e.emit(Insn::stx(Size::DW, Reg::R10, at, r));
                    self.pool.release(r);
                }
            }
        }
        if let (Some(b), Some(at)) = (bucket, layout.bucket_offset) {
            self.e
                .emit(Insn::stx(Size::DW, Reg::R10, off + at as i16, b));
        }
        Ok(off)
    }

    /// `r0 = bpf_map_lookup_elem(&map, key)`.
    pub fn map_lookup(&mut self, map: usize, keys: &[Expr]) -> Result<i16, CodegenError> {
        let layout = self.layout(map)?;
        let key = self.build_key(&layout, keys, None)?;
        self.call_lookup(layout.index, key);
        Ok(key)
    }

    fn call_lookup(&mut self, index: usize, key: i16) {
        self.e.load_map(Reg::R1, index);
        self.stack_ptr(Reg::R2, key);
        self.e.emit(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    }

    /// `bpf_map_update_elem(&map, key, value, flags)`; `can_fill` is false for maps that
    /// always hold one element (no keys, not a histogram), which can never be full.
    fn call_update(&mut self, index: usize, key: i16, value: i16, flags: i32, can_fill: bool) {
        self.e.load_map(Reg::R1, index);
        self.stack_ptr(Reg::R2, key);
        self.stack_ptr(Reg::R3, value);
        self.e.emit(Insn::mov64_imm(Reg::R4, flags));
        self.e.emit(Insn::call_helper(helper::MAP_UPDATE_ELEM));
        // A full hash map fails new keys with -E2BIG: count it per map so userspace can
        // warn. Only the failure path pays for more than one compare.
        if let Some(full) = self.ctx.full_map.filter(|_| can_fill) {
            let done = self.e.new_label();
            self.e.jump_imm(JmpOp::Jne, Reg::R0, -E2BIG, done);
            let slot = self.frame.alloc(8);
            self.e
                .emit(Insn::st_imm(Size::W, Reg::R10, slot, index as i32));
            self.e.load_map(Reg::R1, full);
            self.stack_ptr(Reg::R2, slot);
            self.e.emit(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
            self.e.jump_imm(JmpOp::Jeq, Reg::R0, 0, done);
            // One instruction fewer than load/add/store; the slot is this CPU's anyway.
            self.e.emit(Insn::mov64_imm(Reg::R1, 1));
            self.e.emit(Insn::atomic(
                Size::DW,
                AtomicOp::Add,
                Reg::R0,
                0,
                Reg::R1,
                false,
            ));
            self.e.bind(done);
        }
    }

    /// The integer value of a map element, 0 when absent.
    pub fn map_read_int(&mut self, map: usize, keys: &[Expr]) -> Result<Reg, CodegenError> {
        self.map_lookup(map, keys)?;
        let r = self.alloc()?;
        let missing = self.e.new_label();
        let end = self.e.new_label();
        self.e.jump_imm(JmpOp::Jeq, Reg::R0, 0, missing);
        self.e.emit(Insn::ldx(Size::DW, r, Reg::R0, 0));
        self.e.goto(end);
        self.e.bind(missing);
        self.e.emit(Insn::mov64_imm(r, 0));
        self.e.bind(end);
        Ok(r)
    }

    /// `@map[keys] = value`.
    pub fn map_store(
        &mut self,
        map: usize,
        keys: &[Expr],
        value: &Expr,
    ) -> Result<(), CodegenError> {
        let layout = self.layout(map)?;
        // Evaluate the value first: it may itself read this map.
        let val = self.frame.alloc(layout.value_size);
        match value.ty {
            t if t.is_buffer() => self.string(
                value,
                Dest {
                    base: Reg::R10,
                    off: val,
                    cap: layout.value_size,
                },
            )?,
            _ => {
                let r = self.int(value)?;
                self.e.emit(Insn::stx(Size::DW, Reg::R10, val, r));
                self.pool.release(r);
            }
        }
        let key = self.build_key(&layout, keys, None)?;
        self.call_update(layout.index, key, val, BPF_ANY, can_fill(&layout));
        Ok(())
    }

    /// `delete(@map[keys])`.
    pub fn map_delete(&mut self, map: usize, keys: &[Expr]) -> Result<(), CodegenError> {
        let layout = self.layout(map)?;
        let key = self.build_key(&layout, keys, None)?;
        self.e.load_map(Reg::R1, layout.index);
        self.stack_ptr(Reg::R2, key);
        self.e.emit(Insn::call_helper(helper::MAP_DELETE_ELEM));
        Ok(())
    }

    /// `@map[keys] = count() / sum(v) / min(v) / ...`.
    pub fn map_aggregate(
        &mut self,
        map: usize,
        keys: &[Expr],
        value: Option<&Expr>,
    ) -> Result<(), CodegenError> {
        let layout = self.layout(map)?;
        // count() and histogram buckets add a constant 1: no register is needed for it.
        let v = match value {
            Some(e) => Some(self.int(e)?),
            None => None,
        };
        let bucket = match (layout.value, v) {
            (MapValue::Hist, Some(v)) => Some(self.log2_bucket(v)?),
            (MapValue::Lhist { min, max, step }, Some(v)) => {
                Some(self.linear_bucket(v, min, max, step)?)
            }
            _ => None,
        };
        let key = self.build_key(&layout, keys, bucket)?;
        let v = match bucket {
            Some(b) => {
                self.pool.release(b);
                if let Some(v) = v {
                    self.pool.release(v);
                }
                None
            }
            None => v,
        };
        self.call_lookup(layout.index, key);
        let absent = self.e.new_label();
        let end = self.e.new_label();
        self.e.jump_imm(JmpOp::Jeq, Reg::R0, 0, absent);
        let shared = layout.kind == MapKind::Hash;
        match layout.value {
            MapValue::Count | MapValue::Sum | MapValue::Hist | MapValue::Lhist { .. } => {
                match (v, shared) {
                    (Some(v), true) => {
                        self.e
                            .emit(Insn::atomic(Size::DW, AtomicOp::Add, Reg::R0, 0, v, false))
                    }
                    (Some(v), false) => self.add_at(Reg::R0, 0, v),
                    (None, true) => {
                        self.e.emit(Insn::mov64_imm(Reg::R1, 1));
                        self.e.emit(Insn::atomic(
                            Size::DW,
                            AtomicOp::Add,
                            Reg::R0,
                            0,
                            Reg::R1,
                            false,
                        ));
                    }
                    (None, false) => {
                        self.e.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                        self.e.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
                        self.e.emit(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
                    }
                }
            }
            MapValue::Min | MapValue::Max => {
                let v = v.ok_or(CodegenError::Internal("min/max without a value"))?;
                let keep = self.e.new_label();
                let replace = self.e.new_label();
                self.e.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
                self.e.jump_imm(JmpOp::Jeq, Reg::R1, 0, replace);
                self.e.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                let better = if layout.value == MapValue::Min {
                    JmpOp::Jsle
                } else {
                    JmpOp::Jsge
                };
                // keep the current value unless v is strictly better
                self.e.jump_reg(better, Reg::R1, v, keep);
                self.e.bind(replace);
                self.e.emit(Insn::stx(Size::DW, Reg::R0, 0, v));
                self.e.emit(Insn::st_imm(Size::DW, Reg::R0, 8, 1));
                self.e.bind(keep);
            }
            MapValue::Avg | MapValue::Stats => {
                let v = v.ok_or(CodegenError::Internal("avg/stats without a value"))?;
                self.add_at(Reg::R0, 0, v);
                self.e.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
                self.e.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
                self.e.emit(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
            }
            MapValue::Scalar(_) => {
                return Err(CodegenError::Internal("aggregate into a plain map"))
            }
        }
        self.e.goto(end);
        // First event for this key: insert the initial value. If another CPU inserted it
        // meanwhile, BPF_NOEXIST makes this a no-op and one event is lost — rare, and
        // cheaper than a retry loop.
        self.e.bind(absent);
        let val = self.frame.alloc(layout.value_size);
        match v {
            Some(v) => self.e.emit(Insn::stx(Size::DW, Reg::R10, val, v)),
            None => self.e.emit(Insn::st_imm(Size::DW, Reg::R10, val, 1)),
        }
        if layout.value_size == 16 {
            self.e.emit(Insn::st_imm(Size::DW, Reg::R10, val + 8, 1));
        }
        self.call_update(layout.index, key, val, BPF_NOEXIST, can_fill(&layout));
        self.e.bind(end);
        if let Some(v) = v {
            self.pool.release(v);
        }
        Ok(())
    }

    /// `*(u64 *)(base + off) += v` without atomics (per-CPU data).
    fn add_at(&mut self, base: Reg, off: i16, v: Reg) {
        self.e.emit(Insn::ldx(Size::DW, Reg::R1, base, off));
        self.e.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, v));
        self.e.emit(Insn::stx(Size::DW, base, off, Reg::R1));
    }

    /// The log2 histogram bucket of `v` (see `ValueKind::Hist`), in a new register.
    fn log2_bucket(&mut self, v: Reg) -> Result<Reg, CodegenError> {
        let b = self.alloc()?;
        let done = self.e.new_label();
        self.e.emit(Insn::mov64_imm(b, 0));
        self.e.jump_imm(JmpOp::Jslt, v, 0, done);
        self.e.emit(Insn::mov64_imm(b, 1));
        self.e.jump_imm(JmpOp::Jeq, v, 0, done);
        // b = 2 + floor(log2(v)) by binary search over the bit position, on a copy in r2.
        self.e.emit(Insn::mov64_reg(Reg::R2, v));
        self.e.emit(Insn::mov64_imm(b, 2));
        for shift in [32, 16, 8, 4, 2, 1] {
            let skip = self.e.new_label();
            if shift == 32 {
                // 1 << 32 does not fit an immediate: test the high half instead.
                self.e.emit(Insn::mov64_reg(Reg::R1, Reg::R2));
                self.e.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R1, shift));
                self.e.jump_imm(JmpOp::Jeq, Reg::R1, 0, skip);
                self.e.emit(Insn::mov64_reg(Reg::R2, Reg::R1));
            } else {
                self.e.jump_imm(JmpOp::Jlt, Reg::R2, 1 << shift, skip);
                self.e.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R2, shift));
            }
            self.e.emit(Insn::alu64_imm(AluOp::Add, b, shift));
            self.e.bind(skip);
        }
        self.e.bind(done);
        Ok(b)
    }

    /// Jump to `target` when `v op k` (a signed comparison against a constant).
    fn jump_if_signed(&mut self, op: JmpOp, v: Reg, k: i64, target: crate::emit::Label) {
        match i32::try_from(k) {
            Ok(imm) => self.e.jump_imm(op, v, imm, target),
            Err(_) => {
                self.e.mov_imm(Reg::R1, k);
                self.e.jump_reg(op, v, Reg::R1, target);
            }
        }
    }

    /// The linear histogram bucket of `v` (see `ValueKind::Lhist`), in a new register.
    fn linear_bucket(
        &mut self,
        v: Reg,
        min: i64,
        max: i64,
        step: i64,
    ) -> Result<Reg, CodegenError> {
        let b = self.alloc()?;
        let done = self.e.new_label();
        self.e.emit(Insn::mov64_imm(b, 0));
        self.jump_if_signed(JmpOp::Jslt, v, min, done);
        self.e.mov_imm(b, (max - min) / step + 1);
        self.jump_if_signed(JmpOp::Jsge, v, max, done);
        self.e.emit(Insn::mov64_reg(b, v));
        if min != 0 {
            match i32::try_from(min) {
                Ok(imm) => self.e.emit(Insn::alu64_imm(AluOp::Sub, b, imm)),
                Err(_) => {
                    self.e.mov_imm(Reg::R1, min);
                    self.e.emit(Insn::alu64_reg(AluOp::Sub, b, Reg::R1));
                }
            }
        }
        // `b` is non-negative here, so the unsigned division is the arithmetic one.
        match i32::try_from(step) {
            Ok(imm) => self.e.emit(Insn::alu64_imm(AluOp::Div, b, imm)),
            Err(_) => {
                self.e.mov_imm(Reg::R1, step);
                self.e.emit(Insn::alu64_reg(AluOp::Div, b, Reg::R1));
            }
        }
        self.e.emit(Insn::alu64_imm(AluOp::Add, b, 1));
        self.e.bind(done);
        Ok(b)
    }
}
