//! A structural checker for generated code: the promises codegen makes to the kernel's
//! verifier that can be checked without a kernel. The fuzzer runs it on every program it
//! compiles, so a codegen bug shows up as a [`StructureError`] rather than a verifier
//! rejection on someone's machine.
//!
//! It checks that every instruction is well formed and every jump lands on an instruction
//! ([`kestrel_isa::validate`]); that every instruction is reachable and the code cannot run
//! off its end; that no register is read before it is written on some path; that stack
//! accesses through the frame pointer (directly or via a register holding `r10 + k`) stay
//! within the 512-byte frame; that `r10` is never written; that calls go to helpers the
//! kernel knows; and that `r0` is set at every `exit`.
//!
//! It is deliberately simpler than the verifier (it does not track value ranges or pointer
//! types beyond the frame pointer), so passing it is necessary, not sufficient.

use kestrel_isa::opcode::*;
use kestrel_isa::{helper, Insn};

/// The kernel's stack frame per program, in bytes.
const STACK_SIZE: i64 = 512;
/// The most instructions a privileged program may have (BPF_COMPLEXITY_LIMIT_INSNS).
const MAX_INSNS: usize = 1_000_000;

/// A broken promise, with the instruction it was found at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instruction {index}: {problem}")]
pub struct StructureError {
    /// Index of the offending instruction slot.
    pub index: usize,
    /// What is wrong.
    pub problem: String,
}

/// What is known about a register at one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// Never written on some path to here.
    Uninit,
    /// Written; nothing more is tracked.
    Init,
    /// The frame pointer plus this many bytes.
    Fp(i64),
}

impl Val {
    fn join(self, other: Val) -> Val {
        match (self, other) {
            (a, b) if a == b => a,
            (Val::Uninit, _) | (_, Val::Uninit) => Val::Uninit,
            _ => Val::Init,
        }
    }
}

type Regs = [Val; 11];

/// How a program is entered: which registers hold arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A probe program: `r1` is the context.
    Program,
    /// A callback (e.g. of `bpf_for_each_map_elem`): `r1`..`r5` are arguments.
    Callback,
}

fn entry_regs(entry: Entry) -> Regs {
    let mut regs = [Val::Uninit; 11];
    regs[1] = Val::Init;
    if entry == Entry::Callback {
        for r in &mut regs[2..=5] {
            *r = Val::Init;
        }
    }
    regs[10] = Val::Fp(0);
    regs
}

/// Check `insns`, entered as `entry`.
pub fn check_structure(insns: &[Insn], entry: Entry) -> Result<(), StructureError> {
    let fail = |index: usize, problem: String| Err(StructureError { index, problem });
    if insns.is_empty() {
        return fail(0, "the program is empty".into());
    }
    if insns.len() > MAX_INSNS {
        return fail(
            MAX_INSNS,
            format!(
                "{} instructions; the kernel allows {MAX_INSNS}",
                insns.len()
            ),
        );
    }
    if let Err(e) = kestrel_isa::validate(insns) {
        return fail(0, format!("malformed code: {e}"));
    }
    // Dataflow to a fixed point: the state on entry to each instruction.
    let mut state: Vec<Option<Regs>> = vec![None; insns.len()];
    state[0] = Some(entry_regs(entry));
    let mut work = vec![0usize];
    // Entries of bpf-to-bpf functions called from this code.
    let mut queued = vec![false; insns.len()];
    queued[0] = true;
    while let Some(pc) = work.pop() {
        queued[pc] = false;
        let Some(regs) = state[pc] else { continue };
        let step = transfer(insns, pc, regs)?;
        for (next, out) in step {
            if next >= insns.len() {
                return fail(pc, "execution can run past the last instruction".into());
            }
            let merged = match state[next] {
                None => out,
                Some(old) => {
                    let mut m = old;
                    for (a, b) in m.iter_mut().zip(out) {
                        *a = a.join(b);
                    }
                    m
                }
            };
            if state[next] != Some(merged) {
                state[next] = Some(merged);
                if !queued[next] {
                    queued[next] = true;
                    work.push(next);
                }
            }
        }
    }
    let mut i = 0;
    while i < insns.len() {
        if state[i].is_none() {
            return fail(i, "unreachable instruction".into());
        }
        i += if insns[i].is_ld_imm64() { 2 } else { 1 };
    }
    Ok(())
}

/// Successors of `pc` with the register state on each edge, after checking the
/// instruction's reads and stack accesses.
fn transfer(
    insns: &[Insn],
    pc: usize,
    mut regs: Regs,
) -> Result<Vec<(usize, Regs)>, StructureError> {
    let insn = insns[pc];
    let fail = |problem: String| StructureError { index: pc, problem };
    let read = |regs: &Regs, r: u8| -> Result<Val, StructureError> {
        match regs.get(usize::from(r)) {
            Some(Val::Uninit) => Err(fail(format!("r{r} is read before it is written"))),
            Some(v) => Ok(*v),
            None => Err(fail(format!("no register r{r}"))),
        }
    };
    let write = |regs: &mut Regs, r: u8, v: Val| -> Result<(), StructureError> {
        if r == 10 {
            return Err(fail("r10 (the frame pointer) is read-only".into()));
        }
        regs[usize::from(r)] = v;
        Ok(())
    };
    let stack = |base: Val, off: i16, size: i64| -> Result<(), StructureError> {
        if let Val::Fp(k) = base {
            let at = k + i64::from(off);
            if at < -STACK_SIZE || at + size > 0 {
                return Err(fail(format!(
                    "stack access of {size} bytes at fp{at:+} is outside the {STACK_SIZE}-byte frame"
                )));
            }
        }
        Ok(())
    };
    let size_of = |code: u8| match code & 0x18 {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    };
    let next = pc + 1;
    match insn.class() {
        BPF_ALU | BPF_ALU64 => {
            let op = insn.code & 0xf0;
            let from_reg = insn.code & BPF_X != 0;
            const MOV: u8 = 0xb0;
            const ADD: u8 = 0x00;
            const SUB: u8 = 0x10;
            const NEG: u8 = 0x80;
            const END: u8 = 0xd0;
            let result = if op == MOV {
                if from_reg {
                    let v = read(&regs, insn.src)?;
                    // A 32-bit or sign-extending move of a pointer is just a number.
                    if insn.class() == BPF_ALU64 && insn.off == 0 {
                        v
                    } else {
                        Val::Init
                    }
                } else {
                    Val::Init
                }
            } else {
                let d = read(&regs, insn.dst)?;
                let s = if from_reg && op != NEG && op != END {
                    Some(read(&regs, insn.src)?)
                } else {
                    None
                };
                match (insn.class(), op, d, s) {
                    (BPF_ALU64, ADD, Val::Fp(k), None) => Val::Fp(k + i64::from(insn.imm)),
                    (BPF_ALU64, SUB, Val::Fp(k), None) => Val::Fp(k - i64::from(insn.imm)),
                    _ => Val::Init,
                }
            };
            write(&mut regs, insn.dst, result)?;
            Ok(vec![(next, regs)])
        }
        BPF_LDX => {
            let base = read(&regs, insn.src)?;
            stack(base, insn.off, size_of(insn.code))?;
            write(&mut regs, insn.dst, Val::Init)?;
            Ok(vec![(next, regs)])
        }
        BPF_ST => {
            let base = read(&regs, insn.dst)?;
            stack(base, insn.off, size_of(insn.code))?;
            Ok(vec![(next, regs)])
        }
        BPF_STX => {
            let base = read(&regs, insn.dst)?;
            read(&regs, insn.src)?;
            stack(base, insn.off, size_of(insn.code))?;
            if insn.code & 0xe0 == BPF_ATOMIC {
                if insn.imm == BPF_CMPXCHG {
                    read(&regs, 0)?;
                    regs[0] = Val::Init;
                } else if insn.imm & BPF_FETCH != 0 {
                    write(&mut regs, insn.src, Val::Init)?;
                }
            }
            Ok(vec![(next, regs)])
        }
        BPF_LD => {
            if insn.is_ld_imm64() {
                write(&mut regs, insn.dst, Val::Init)?;
                return Ok(vec![(pc + 2, regs)]);
            }
            // Legacy packet loads: read the context in r6, clobber r0..r5.
            read(&regs, 6)?;
            if insn.code & 0xe0 == BPF_IND {
                read(&regs, insn.src)?;
            }
            clobber_call(&mut regs);
            Ok(vec![(next, regs)])
        }
        BPF_JMP | BPF_JMP32 => {
            let op = insn.code & 0xf0;
            match op {
                0x80 => {
                    // call
                    match insn.src {
                        0 => {
                            if helper::helper_name(insn.imm).is_none() {
                                return Err(fail(format!("call to unknown helper #{}", insn.imm)));
                            }
                        }
                        BPF_PSEUDO_CALL => {}
                        other => {
                            return Err(fail(format!(
                                "call kind {other} (kfunc or unknown) is not generated by kestrel"
                            )))
                        }
                    }
                    clobber_call(&mut regs);
                    Ok(vec![(next, regs)])
                }
                0x90 => {
                    // exit
                    read(&regs, 0)?;
                    Ok(Vec::new())
                }
                0x00 => {
                    // ja / gotol
                    let delta = if insn.class() == BPF_JMP32 {
                        i64::from(insn.imm)
                    } else {
                        i64::from(insn.off)
                    };
                    Ok(vec![(target(pc, delta), regs)])
                }
                0xe0 => {
                    // may_goto: either way.
                    Ok(vec![(next, regs), (target(pc, i64::from(insn.off)), regs)])
                }
                _ => {
                    read(&regs, insn.dst)?;
                    if insn.code & BPF_X != 0 {
                        read(&regs, insn.src)?;
                    }
                    Ok(vec![(next, regs), (target(pc, i64::from(insn.off)), regs)])
                }
            }
        }
        other => Err(fail(format!("unknown instruction class {other}"))),
    }
}

/// The instruction `delta + 1` after `pc` (validate() has checked it is in range).
fn target(pc: usize, delta: i64) -> usize {
    usize::try_from(pc as i64 + 1 + delta).unwrap_or(usize::MAX)
}

/// After a call: r0 holds the result, r1..r5 are scratch.
fn clobber_call(regs: &mut Regs) {
    regs[0] = Val::Init;
    for r in &mut regs[1..=5] {
        *r = Val::Uninit;
    }
}

/// Check every program and callback of a compiled object.
pub fn check_object(object: &crate::ObjectSpec) -> Result<(), (String, StructureError)> {
    for p in &object.programs {
        check_structure(&p.insns, Entry::Program).map_err(|e| (p.probe.clone(), e))?;
    }
    for c in &object.callbacks {
        check_structure(&c.insns, Entry::Callback).map_err(|e| (c.name.clone(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_isa::{Reg, Size};

    fn ok(insns: &[Insn]) -> Result<(), StructureError> {
        check_structure(insns, Entry::Program)
    }

    #[test]
    fn accepts_a_small_program() {
        let mut p = vec![
            Insn::mov64_reg(Reg::R6, Reg::R1),
            Insn::call_helper(helper::GET_CURRENT_PID_TGID),
            Insn::stx(Size::DW, Reg::R10, -8, Reg::R0),
            Insn::mov64_reg(Reg::R2, Reg::R10),
            Insn::alu64_imm(kestrel_isa::AluOp::Add, Reg::R2, -8),
            Insn::ldx(Size::DW, Reg::R3, Reg::R2, 0),
        ];
        p.extend(Insn::ld_map_fd(Reg::R1, 5));
        p.extend([Insn::mov64_imm(Reg::R0, 0), Insn::exit()]);
        assert_eq!(ok(&p), Ok(()));
    }

    #[test]
    fn rejects_each_broken_promise() {
        let exit0 = [Insn::mov64_imm(Reg::R0, 0), Insn::exit()];
        let cases: Vec<(Vec<Insn>, &str)> = vec![
            (vec![Insn::exit()], "r0 is read before"),
            (
                vec![Insn::mov64_reg(Reg::R0, Reg::R3), Insn::exit()],
                "r3 is read before",
            ),
            (
                vec![
                    Insn::call_helper(helper::KTIME_GET_NS),
                    Insn::mov64_reg(Reg::R0, Reg::R1),
                    Insn::exit(),
                ],
                "r1 is read before",
            ),
            (
                [
                    vec![Insn::stx(Size::DW, Reg::R10, -516, Reg::R1)],
                    exit0.to_vec(),
                ]
                .concat(),
                "outside the 512-byte frame",
            ),
            (
                [vec![Insn::st_imm(Size::W, Reg::R10, -2, 0)], exit0.to_vec()].concat(),
                "outside the 512-byte frame",
            ),
            (
                [
                    vec![
                        Insn::mov64_reg(Reg::R2, Reg::R10),
                        Insn::alu64_imm(kestrel_isa::AluOp::Add, Reg::R2, -520),
                        Insn::ldx(Size::B, Reg::R3, Reg::R2, 0),
                    ],
                    exit0.to_vec(),
                ]
                .concat(),
                "outside the 512-byte frame",
            ),
            (
                [vec![Insn::call_helper(100_000)], exit0.to_vec()].concat(),
                "unknown helper",
            ),
            (
                vec![Insn::mov64_imm(Reg::R0, 0)],
                "past the last instruction",
            ),
            (
                [vec![Insn::ja(2)], exit0.to_vec(), exit0.to_vec()].concat(),
                "unreachable",
            ),
            (
                [vec![Insn::mov64_imm(Reg::R10, 0)], exit0.to_vec()].concat(),
                "read only",
            ),
            (vec![Insn::ja(5), Insn::exit()], "malformed"),
            (Vec::new(), "empty"),
        ];
        for (prog, want) in cases {
            let got = ok(&prog);
            assert!(
                got.as_ref().is_err_and(|e| e.problem.contains(want)),
                "{want}: {got:?}\n{}",
                kestrel_isa::disassemble(&prog)
            );
        }
    }

    #[test]
    fn joins_paths_and_follows_loops() {
        // r2 is written on one branch only, then read: rejected.
        let p = vec![
            Insn::mov64_imm(Reg::R0, 0),
            Insn::jmp_imm(kestrel_isa::JmpOp::Jeq, Reg::R1, 0, 1),
            Insn::mov64_imm(Reg::R2, 1),
            Insn::mov64_reg(Reg::R0, Reg::R2),
            Insn::exit(),
        ];
        assert!(ok(&p).is_err_and(|e| e.index == 3));
        // A bounded loop with the counter set before it: accepted.
        let p = vec![
            Insn::mov64_imm(Reg::R0, 0),
            Insn::alu64_imm(kestrel_isa::AluOp::Add, Reg::R0, 1),
            Insn::jmp_imm(kestrel_isa::JmpOp::Jlt, Reg::R0, 10, -2),
            Insn::exit(),
        ];
        assert_eq!(ok(&p), Ok(()));
    }
}
