//! The BPF programs, generated with the label builder (`kestrel_isa::builder::Asm`) and
//! checked with `kestrel_obj::check` before loading:
//!
//! - `sys_enter_X`: copy the raw arguments, the string arguments (`bpf_probe_read_user_str`)
//!   and a sockaddr / `struct open_how` into a per-CPU scratch record, then store it in the
//!   `stash` hash under the thread id.
//! - `sys_exit_X`: take the stashed record, add the return value, comm and uid, test the
//!   kernel filters (the OR of every rule's [`KExpr`] for this syscall, plus "successful
//!   fd-table update" for the table syscalls); when one passes, count it as generated and
//!   write it to the ring buffer (a failed write is counted lost). A rule whose whole
//!   condition is the kernel filter and whose action is `kill` (with `--enforce`) sends
//!   SIGKILL from here with `bpf_send_signal`.
//! - task_newtask / sched_process_exec / sched_process_exit: process-table records.
//!
//! Registers: r6 = ctx, r8 = the record (a map value), r7 = pid_tgid. Stack: -8 thread id
//! key (u32), -16 zero key, -24/-32 "string slot N is relative or has '..'" flags.

use kestrel_guard::analysis::KExpr;
use kestrel_guard::cond::Op;
use kestrel_guard::syscalls;
use kestrel_isa::builder::{Asm, Label};
use kestrel_isa::{helper, AluOp, Insn, JmpOp, Reg, Size};

use super::layout::*;

/// Maps the programs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GMap {
    /// Per-CPU array of one record: the enter program's scratch space.
    Scratch,
    /// LRU hash: thread id → record stashed at enter.
    Stash,
    /// The ring buffer.
    Events,
    /// Per-CPU array of u64 counters ([`CNT_GENERATED`], ...).
    Counters,
}

/// A generated program.
#[derive(Clone, Debug)]
pub struct GenProgram {
    /// Instructions.
    pub insns: Vec<Insn>,
    /// Map references.
    pub relocs: Vec<(usize, GMap)>,
}

const KEY: i16 = -8;
const ZERO: i16 = -16;
const DOTS: i16 = -24;
const P: Reg = Reg::R8;
const CTX: Reg = Reg::R6;

fn finish(a: Asm<GMap>) -> Result<GenProgram, String> {
    let (insns, relocs) = a.finish()?;
    kestrel_obj::check::check_structure(&insns, kestrel_obj::check::Entry::Program)
        .map_err(|e| format!("generated program fails the structure check: {e}"))?;
    Ok(GenProgram { insns, relocs })
}

/// `r0 = lookup(map, fp+key_off)`; jumps to `none` when null, else r8 = r0.
fn lookup(a: &mut Asm<GMap>, map: GMap, key_off: i16, none: Label) {
    a.ld_map(Reg::R1, map);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, key_off as i32));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, none);
    a.push(Insn::mov64_reg(P, Reg::R0));
}

/// Adds 1 to per-CPU counter `slot` (clobbers r0-r5).
fn count(a: &mut Asm<GMap>, slot: u32) {
    let skip = a.label();
    a.push(Insn::st_imm(Size::W, Reg::R10, ZERO, slot as i32));
    a.ld_map(Reg::R1, GMap::Counters);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, ZERO as i32));
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, skip);
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
    a.push(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
    a.bind(skip);
}

/// Stores the current thread id at fp-8 and pid_tgid in r7; returns early for our own
/// process (the engine's /proc reads must not feed themselves back).
fn prologue(a: &mut Asm<GMap>, self_tgid: u32, out: Label) {
    a.push(Insn::mov64_reg(CTX, Reg::R1));
    a.push(Insn::call_helper(helper::GET_CURRENT_PID_TGID));
    a.push(Insn::mov64_reg(Reg::R7, Reg::R0));
    a.push(Insn::stx(Size::W, Reg::R10, KEY, Reg::R0));
    a.push(Insn::st_imm(Size::W, Reg::R10, ZERO, 0));
    a.push(Insn::mov64_reg(Reg::R1, Reg::R7));
    a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 32));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, self_tgid as i32, out);
}

fn epilogue(a: &mut Asm<GMap>, out: Label) {
    a.bind(out);
    a.push(Insn::mov64_imm(Reg::R0, 0));
    a.push(Insn::exit());
}

/// The sys_enter program of `l`.
pub fn enter(l: &SyscallLayout, self_tgid: u32) -> Result<GenProgram, String> {
    let mut a: Asm<GMap> = Asm::new();
    let out = a.label();
    prologue(&mut a, self_tgid, out);
    // The record lives in the stash from the start (a copy of the scratch record whose
    // contents do not matter), so a preempted program sharing the per-CPU scratch cannot
    // corrupt it.
    lookup(&mut a, GMap::Scratch, ZERO, out);
    a.ld_map(Reg::R1, GMap::Stash);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, KEY as i32));
    a.push(Insn::mov64_reg(Reg::R3, P));
    a.push(Insn::mov64_imm(Reg::R4, 0));
    a.push(Insn::call_helper(helper::MAP_UPDATE_ELEM));
    lookup(&mut a, GMap::Stash, KEY, out);
    for (i, off) in l.arg_offsets.iter().enumerate() {
        a.push(Insn::ldx(Size::DW, Reg::R1, CTX, *off));
        a.push(Insn::stx(Size::DW, P, OFF_ARGS + 8 * i as i16, Reg::R1));
    }
    let mut buf_done = false;
    for (_, src) in &l.args {
        match *src {
            Src::Str { pos, slot } => {
                a.push(Insn::mov64_reg(Reg::R1, P));
                a.push(Insn::alu64_imm(
                    AluOp::Add,
                    Reg::R1,
                    (OFF_STR0 + STR_LEN * slot as i16) as i32,
                ));
                a.push(Insn::mov64_imm(Reg::R2, STR_LEN as i32));
                a.push(Insn::ldx(Size::DW, Reg::R3, CTX, l.arg_offsets[pos]));
                a.push(Insn::call_helper(helper::PROBE_READ_USER_STR));
            }
            Src::Sock { pos, len_pos } if !buf_done => {
                buf_done = true;
                let skip = a.label();
                let ok = a.label();
                a.push(Insn::ldx(Size::DW, Reg::R2, CTX, l.arg_offsets[len_pos]));
                a.jmp_imm(JmpOp::Jsle, Reg::R2, 0, skip);
                a.jmp_imm(JmpOp::Jle, Reg::R2, BUF_LEN as i32, ok);
                a.push(Insn::mov64_imm(Reg::R2, BUF_LEN as i32));
                a.bind(ok);
                a.push(Insn::mov64_reg(Reg::R1, P));
                a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, OFF_BUF as i32));
                a.push(Insn::ldx(Size::DW, Reg::R3, CTX, l.arg_offsets[pos]));
                a.push(Insn::call_helper(helper::PROBE_READ_USER));
                a.bind(skip);
            }
            Src::Argv { pos } if !buf_done => {
                buf_done = true;
                // The pointer array, then each string; a NULL pointer ends argv.
                let end = a.label();
                for i in 0..ARGV_MAX {
                    a.push(Insn::st_imm(
                        Size::B,
                        P,
                        OFF_STR0 + STR_LEN + (ARGV_LEN * i) as i16,
                        0,
                    ));
                }
                a.push(Insn::mov64_reg(Reg::R1, P));
                a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, OFF_BUF as i32));
                a.push(Insn::mov64_imm(Reg::R2, (8 * ARGV_MAX) as i32));
                a.push(Insn::ldx(Size::DW, Reg::R3, CTX, l.arg_offsets[pos]));
                a.push(Insn::call_helper(helper::PROBE_READ_USER));
                a.jmp_imm(JmpOp::Jne, Reg::R0, 0, end);
                for i in 0..ARGV_MAX {
                    a.push(Insn::ldx(Size::DW, Reg::R3, P, OFF_BUF + 8 * i as i16));
                    a.jmp_imm(JmpOp::Jeq, Reg::R3, 0, end);
                    a.push(Insn::mov64_reg(Reg::R1, P));
                    a.push(Insn::alu64_imm(
                        AluOp::Add,
                        Reg::R1,
                        (OFF_STR0 + STR_LEN) as i32 + (ARGV_LEN * i) as i32,
                    ));
                    a.push(Insn::mov64_imm(Reg::R2, ARGV_LEN as i32));
                    a.push(Insn::call_helper(helper::PROBE_READ_USER_STR));
                }
                a.bind(end);
            }
            Src::How { pos, .. } if !buf_done => {
                buf_done = true;
                a.push(Insn::mov64_reg(Reg::R1, P));
                a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, OFF_BUF as i32));
                a.push(Insn::mov64_imm(Reg::R2, 24));
                a.push(Insn::ldx(Size::DW, Reg::R3, CTX, l.arg_offsets[pos]));
                a.push(Insn::call_helper(helper::PROBE_READ_USER));
            }
            _ => {}
        }
    }
    epilogue(&mut a, out);
    finish(a)
}

/// What the exit program of one syscall tests.
#[derive(Clone, Debug)]
pub struct ExitSpec {
    /// Index of the syscall in the attached list (written to the record).
    pub index: u32,
    /// Pass to userspace when this holds (the OR over rules, already folded).
    pub pass: KExpr,
    /// Also pass every successful call (fd-table syscalls).
    pub table: bool,
    /// SIGKILL (and pass) when one of these holds (exact kill rules, with `--enforce`).
    pub kill: Vec<KExpr>,
}

/// The sys_exit program of `l`.
pub fn exit(l: &SyscallLayout, spec: &ExitSpec, self_tgid: u32) -> Result<GenProgram, String> {
    let pass = resolve(&spec.pass, l);
    let kills: Vec<KExpr> = spec
        .kill
        .iter()
        .map(|k| resolve(k, l))
        .filter(|k| *k != KExpr::False)
        .collect();
    let mut a: Asm<GMap> = Asm::new();
    let out = a.label();
    prologue(&mut a, self_tgid, out);
    lookup(&mut a, GMap::Stash, KEY, out);
    count(&mut a, CNT_SEEN);
    let never = pass == KExpr::False && kills.is_empty() && !spec.table;
    a.push(Insn::ldx(Size::DW, Reg::R1, CTX, l.ret_offset));
    a.push(Insn::stx(Size::DW, P, OFF_RES, Reg::R1));
    a.push(Insn::mov64_reg(Reg::R1, P));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, OFF_COMM as i32));
    a.push(Insn::mov64_imm(Reg::R2, 16));
    a.push(Insn::call_helper(helper::GET_CURRENT_COMM));
    a.push(Insn::call_helper(helper::GET_CURRENT_UID_GID));
    a.push(Insn::stx(Size::W, P, OFF_UID, Reg::R0));
    a.push(Insn::st_imm(Size::W, P, OFF_FLAGS, 0));
    // "Relative or has '..'" per string slot, for the path-prefix tests.
    let mut uses = [false; 2];
    collect_path_slots(&pass, l, &mut uses);
    for k in &kills {
        collect_path_slots(k, l, &mut uses);
    }
    for (slot, used) in uses.iter().enumerate() {
        if *used {
            dots_flag(&mut a, slot);
        }
    }
    let emit = a.label();
    let drop = a.label();
    if never {
        // Nothing this syscall does can match: forget the stashed record.
        a.bind(drop);
        delete_stash(&mut a);
        epilogue(&mut a, out);
        return finish(a);
    }
    for k in &kills {
        let t = a.label();
        let f = a.label();
        cond(&mut a, k, l, t, f);
        a.bind(t);
        a.push(Insn::mov64_imm(Reg::R1, 9));
        a.push(Insn::call_helper(helper::SEND_SIGNAL));
        a.push(Insn::st_imm(Size::W, P, OFF_FLAGS, FLAG_KILLED as i32));
        count(&mut a, CNT_KILLED);
        a.ja(emit);
        a.bind(f);
    }
    if spec.table {
        a.push(Insn::ldx(Size::DW, Reg::R1, P, OFF_RES));
        a.jmp_imm(JmpOp::Jsge, Reg::R1, 0, emit);
    }
    cond(&mut a, &pass, l, emit, drop);
    a.bind(emit);
    a.push(Insn::st_imm(Size::W, P, OFF_KIND, KIND_SYSCALL as i32));
    a.push(Insn::st_imm(Size::W, P, OFF_SC, spec.index as i32));
    a.push(Insn::stx(Size::DW, P, OFF_PIDTGID, Reg::R7));
    a.push(Insn::call_helper(helper::KTIME_GET_NS));
    a.push(Insn::stx(Size::DW, P, OFF_TS, Reg::R0));
    output(&mut a, REC_LEN);
    a.bind(drop);
    delete_stash(&mut a);
    epilogue(&mut a, out);
    finish(a)
}

fn delete_stash(a: &mut Asm<GMap>) {
    a.ld_map(Reg::R1, GMap::Stash);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R10));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R2, KEY as i32));
    a.push(Insn::call_helper(helper::MAP_DELETE_ELEM));
}

/// generated += 1; ringbuf_output(record at r8, len); lost += 1 on failure.
fn output(a: &mut Asm<GMap>, len: usize) {
    count(a, CNT_GENERATED);
    let ok = a.label();
    a.ld_map(Reg::R1, GMap::Events);
    a.push(Insn::mov64_reg(Reg::R2, P));
    a.push(Insn::mov64_imm(Reg::R3, len as i32));
    a.push(Insn::mov64_imm(Reg::R4, 0));
    a.push(Insn::call_helper(helper::RINGBUF_OUTPUT));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, ok);
    count(a, CNT_LOST);
    a.bind(ok);
}

fn collect_path_slots(e: &KExpr, l: &SyscallLayout, uses: &mut [bool; 2]) {
    match e {
        KExpr::PathPrefix { arg, .. } => {
            if let Some(s) = l.str_slot(arg) {
                uses[s] = true;
            }
        }
        KExpr::And(v) | KExpr::Or(v) => v.iter().for_each(|x| collect_path_slots(x, l, uses)),
        KExpr::Not(x) => collect_path_slots(x, l, uses),
        _ => {}
    }
}

/// fp[DOTS - 8*slot] = 1 when the string is relative or contains "..", else 0 (an unrolled
/// scan that stops at the terminating NUL).
fn dots_flag(a: &mut Asm<GMap>, slot: usize) {
    let base = OFF_STR0 + STR_LEN * slot as i16;
    let flag = DOTS - 8 * slot as i16;
    let yes = a.label();
    let no = a.label();
    let done = a.label();
    a.push(Insn::ldx(Size::B, Reg::R1, P, base));
    a.jmp_imm(JmpOp::Jne, Reg::R1, b'/' as i32, yes);
    for i in 1..(STR_LEN - 1) {
        let next = a.label();
        a.push(Insn::ldx(Size::B, Reg::R1, P, base + i));
        a.jmp_imm(JmpOp::Jeq, Reg::R1, 0, no);
        a.jmp_imm(JmpOp::Jne, Reg::R1, b'.' as i32, next);
        a.push(Insn::ldx(Size::B, Reg::R2, P, base + i + 1));
        a.jmp_imm(JmpOp::Jeq, Reg::R2, b'.' as i32, yes);
        a.bind(next);
    }
    a.bind(no);
    a.push(Insn::st_imm(Size::DW, Reg::R10, flag, 0));
    a.ja(done);
    a.bind(yes);
    a.push(Insn::st_imm(Size::DW, Reg::R10, flag, 1));
    a.bind(done);
}

/// Loads integer argument `name` into r1 (sign-extended when 32-bit); false if the
/// syscall has no such captured integer.
fn load_int(a: &mut Asm<GMap>, l: &SyscallLayout, name: &str) -> bool {
    match l.src(name) {
        Some(Src::Int { pos, wide }) => {
            a.push(Insn::ldx(Size::DW, Reg::R1, P, OFF_ARGS + 8 * pos as i16));
            if !wide {
                a.push(Insn::movsx64(Reg::R1, Reg::R1, 32));
            }
            true
        }
        Some(Src::How { off, .. }) => {
            a.push(Insn::ldx(Size::DW, Reg::R1, P, OFF_BUF + off as i16));
            true
        }
        _ => false,
    }
}

/// `if r1 == v goto t` for any 64-bit v.
fn jeq_value(a: &mut Asm<GMap>, v: i64, t: Label) {
    if let Ok(imm) = i32::try_from(v) {
        a.jmp_imm(JmpOp::Jeq, Reg::R1, imm, t);
    } else {
        a.ld64(Reg::R2, v as u64);
        a.jmp_reg(JmpOp::Jeq, Reg::R1, Reg::R2, t);
    }
}

/// Jumps to `t` when the bytes at r8+off start with `prefix` (and, when `whole`, end
/// there), else falls through.
fn bytes_match(a: &mut Asm<GMap>, off: i16, prefix: &[u8], whole: bool, t: Label) {
    let miss = a.label();
    for (i, b) in prefix.iter().enumerate() {
        a.push(Insn::ldx(Size::B, Reg::R1, P, off + i as i16));
        a.jmp_imm(JmpOp::Jne, Reg::R1, i32::from(*b), miss);
    }
    if whole {
        a.push(Insn::ldx(Size::B, Reg::R1, P, off + prefix.len() as i16));
        a.jmp_imm(JmpOp::Jne, Reg::R1, 0, miss);
    }
    a.ja(t);
    a.bind(miss);
}

/// `e` with every leaf this syscall decides statically (arguments it lacks, empty lists,
/// prefixes longer than the captured string) replaced by True/False, and folded: the code
/// [`cond`] emits then has no unreachable instructions.
pub fn resolve(e: &KExpr, l: &SyscallLayout) -> KExpr {
    let has_int = |a: &str| matches!(l.src(a), Some(Src::Int { .. } | Src::How { .. }));
    let r = match e {
        KExpr::EvtType(_) => KExpr::True,
        KExpr::CommIn(v) | KExpr::CommPrefix(v) if v.is_empty() => KExpr::False,
        KExpr::CommPrefix(v) if v.iter().any(|p| p.is_empty()) => KExpr::True,
        KExpr::PathPrefix { arg, prefixes } => {
            if l.str_slot(arg).is_none()
                || prefixes
                    .iter()
                    .any(|p| p.is_empty() || p.len() >= STR_LEN as usize - 1)
            {
                KExpr::True
            } else {
                e.clone()
            }
        }
        KExpr::ArgIn { arg, values } if values.is_empty() || !has_int(arg) => KExpr::False,
        KExpr::ArgBits { arg, .. } if !has_int(arg) => KExpr::False,
        KExpr::OpenAccess { write } if !has_int("flags") => {
            if l.name == "creat" && *write {
                KExpr::True
            } else {
                KExpr::False
            }
        }
        KExpr::Res(op, _) if !matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge) => {
            KExpr::True
        }
        KExpr::UidIn(v) if v.is_empty() => KExpr::False,
        KExpr::And(v) => KExpr::And(v.iter().map(|x| resolve(x, l)).collect()),
        KExpr::Or(v) => KExpr::Or(v.iter().map(|x| resolve(x, l)).collect()),
        KExpr::Not(x) => KExpr::Not(Box::new(resolve(x, l))),
        other => other.clone(),
    };
    // for_syscall folds constants (the evt.type tests are already gone).
    r.for_syscall(&l.name)
}

/// Compiles `e` (already [`resolve`]d) to jumps: to `t` when it holds, to `f` when not. Follows
/// [`KExpr::eval`] exactly (the reference the tests compare against).
pub fn cond(a: &mut Asm<GMap>, e: &KExpr, l: &SyscallLayout, t: Label, f: Label) {
    match e {
        // Left unfolded only if the syscall is not in the list; EvtType of a folded
        // predicate never appears, so treat it as the over-approximation.
        KExpr::True | KExpr::EvtType(_) => a.ja(t),
        KExpr::False => a.ja(f),
        KExpr::CommIn(names) => {
            for n in names {
                let b = n.as_bytes();
                let b = &b[..b.len().min(15)];
                bytes_match(a, OFF_COMM, b, true, t);
            }
            a.ja(f);
        }
        KExpr::CommPrefix(names) => {
            for n in names {
                let b = n.as_bytes();
                bytes_match(a, OFF_COMM, &b[..b.len().min(15)], false, t);
            }
            a.ja(f);
        }
        KExpr::PathPrefix { arg, prefixes } => match l.str_slot(arg) {
            None => a.ja(t),
            Some(slot) => {
                a.push(Insn::ldx(
                    Size::DW,
                    Reg::R1,
                    Reg::R10,
                    DOTS - 8 * slot as i16,
                ));
                a.jmp_imm(JmpOp::Jne, Reg::R1, 0, t);
                let base = OFF_STR0 + STR_LEN * slot as i16;
                for p in prefixes {
                    let b = p.as_bytes();
                    if b.len() >= STR_LEN as usize - 1 {
                        // Longer than the captured string: let userspace decide.
                        a.ja(t);
                        continue;
                    }
                    bytes_match(a, base, b, false, t);
                }
                a.ja(f);
            }
        },
        KExpr::ArgIn { arg, values } => {
            if !load_int(a, l, arg) {
                a.ja(f);
                return;
            }
            for v in values {
                jeq_value(a, *v, t);
            }
            a.ja(f);
        }
        KExpr::ArgBits { arg, bits } => {
            if !load_int(a, l, arg) {
                a.ja(f);
                return;
            }
            a.ld64(Reg::R2, *bits as u64);
            a.push(Insn::alu64_reg(AluOp::And, Reg::R1, Reg::R2));
            a.jmp_reg(JmpOp::Jeq, Reg::R1, Reg::R2, t);
            a.ja(f);
        }
        KExpr::OpenAccess { write } => {
            if !load_int(a, l, "flags") {
                if l.name == "creat" && *write {
                    a.ja(t);
                } else {
                    a.ja(f);
                }
                return;
            }
            a.push(Insn::alu64_imm(
                AluOp::And,
                Reg::R1,
                syscalls::O_ACCMODE as i32,
            ));
            a.jmp_imm(JmpOp::Jeq, Reg::R1, 2, t);
            a.jmp_imm(JmpOp::Jeq, Reg::R1, if *write { 1 } else { 0 }, t);
            a.ja(f);
        }
        KExpr::Res(op, n) => {
            a.push(Insn::ldx(Size::DW, Reg::R1, P, OFF_RES));
            a.ld64(Reg::R2, *n as u64);
            let j = match op {
                Op::Eq => JmpOp::Jeq,
                Op::Ne => JmpOp::Jne,
                Op::Lt => JmpOp::Jslt,
                Op::Le => JmpOp::Jsle,
                Op::Gt => JmpOp::Jsgt,
                Op::Ge => JmpOp::Jsge,
                _ => {
                    a.ja(t);
                    return;
                }
            };
            a.jmp_reg(j, Reg::R1, Reg::R2, t);
            a.ja(f);
        }
        KExpr::UidIn(v) => {
            a.push(Insn::ldx(Size::W, Reg::R1, P, OFF_UID));
            for u in v {
                jeq_value(a, *u, t);
            }
            a.ja(f);
        }
        KExpr::And(v) => {
            for x in v {
                let next = a.label();
                cond(a, x, l, next, f);
                a.bind(next);
            }
            a.ja(t);
        }
        KExpr::Or(v) => {
            for x in v {
                let next = a.label();
                cond(a, x, l, t, next);
                a.bind(next);
            }
            a.ja(f);
        }
        KExpr::Not(x) => cond(a, x, l, f, t),
    }
}

/// task_newtask: a new process or thread (args[0] = new tid, args[1] = clone flags).
pub fn newtask(pl: &ProcLayout, self_tgid: u32) -> Result<GenProgram, String> {
    let mut a: Asm<GMap> = Asm::new();
    let out = a.label();
    prologue(&mut a, self_tgid, out);
    lookup(&mut a, GMap::Scratch, ZERO, out);
    a.push(Insn::ldx(Size::W, Reg::R1, CTX, pl.newtask_pid));
    a.push(Insn::stx(Size::DW, P, OFF_ARGS, Reg::R1));
    a.push(Insn::ldx(Size::DW, Reg::R1, CTX, pl.newtask_flags));
    a.push(Insn::stx(Size::DW, P, OFF_ARGS + 8, Reg::R1));
    proc_record(&mut a, KIND_FORK, PROC_LEN);
    epilogue(&mut a, out);
    finish(a)
}

/// sched_process_exec: str0 = the filename, comm = the new comm.
pub fn exec(pl: &ProcLayout, self_tgid: u32) -> Result<GenProgram, String> {
    let mut a: Asm<GMap> = Asm::new();
    let out = a.label();
    prologue(&mut a, self_tgid, out);
    lookup(&mut a, GMap::Scratch, ZERO, out);
    a.push(Insn::ldx(Size::W, Reg::R3, CTX, pl.exec_filename));
    a.push(Insn::alu64_imm(AluOp::And, Reg::R3, 0xffff));
    a.push(Insn::alu64_reg(AluOp::Add, Reg::R3, CTX));
    a.push(Insn::mov64_reg(Reg::R1, P));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, OFF_STR0 as i32));
    a.push(Insn::mov64_imm(Reg::R2, STR_LEN as i32));
    a.push(Insn::call_helper(helper::PROBE_READ_KERNEL_STR));
    a.push(Insn::mov64_reg(Reg::R1, P));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, OFF_COMM as i32));
    a.push(Insn::mov64_imm(Reg::R2, 16));
    a.push(Insn::call_helper(helper::GET_CURRENT_COMM));
    proc_record(&mut a, KIND_EXEC, EXEC_LEN);
    epilogue(&mut a, out);
    finish(a)
}

/// sched_process_exit of a process's last thread.
pub fn exit_proc(pl: &ProcLayout, self_tgid: u32) -> Result<GenProgram, String> {
    let mut a: Asm<GMap> = Asm::new();
    let out = a.label();
    prologue(&mut a, self_tgid, out);
    match pl.exit_group_dead {
        Some(off) => {
            a.push(Insn::ldx(Size::B, Reg::R1, CTX, off));
            a.jmp_imm(JmpOp::Jeq, Reg::R1, 0, out);
        }
        None => {
            // Only the thread-group leader: tid == tgid.
            a.push(Insn::mov64_reg(Reg::R1, Reg::R7));
            a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 32));
            a.push(Insn::mov64_reg(Reg::R2, Reg::R7));
            a.push(Insn::alu64_imm(AluOp::Lsh, Reg::R2, 32));
            a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R2, 32));
            a.jmp_reg(JmpOp::Jne, Reg::R1, Reg::R2, out);
        }
    }
    lookup(&mut a, GMap::Scratch, ZERO, out);
    proc_record(&mut a, KIND_EXIT, PROC_LEN);
    epilogue(&mut a, out);
    finish(a)
}

/// Header of a process record, then the ring-buffer write.
fn proc_record(a: &mut Asm<GMap>, kind: u32, len: usize) {
    a.push(Insn::st_imm(Size::W, P, OFF_KIND, kind as i32));
    a.push(Insn::st_imm(Size::W, P, OFF_SC, 0));
    a.push(Insn::stx(Size::DW, P, OFF_PIDTGID, Reg::R7));
    a.push(Insn::call_helper(helper::KTIME_GET_NS));
    a.push(Insn::stx(Size::DW, P, OFF_TS, Reg::R0));
    a.push(Insn::call_helper(helper::GET_CURRENT_UID_GID));
    a.push(Insn::stx(Size::W, P, OFF_UID, Reg::R0));
    output(a, len);
}
