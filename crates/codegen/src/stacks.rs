//! Stacks and symbols: `kstack`/`ustack` as `bpf_get_stackid` calls into one stack-trace map
//! per (kernel/user, depth), and the values `ksym(addr)` / `usym(addr)` that userspace prints
//! as symbols.

use std::collections::BTreeSet;

use kestrel_isa::{helper as h, AluOp, Insn, Reg, Size};
use kestrel_lang::ir::{self, Expr, ExprKind as K};
use kestrel_lang::Type;

use crate::object::{MapKind, MapRole, MapSpec};
use crate::probe::{helper, Dest, ProbeCompiler};
use crate::regs::CTX;
use crate::CodegenError;

/// Stack ids a stack map hands out before `bpf_get_stackid` starts failing (bpftrace's size).
pub(crate) const STACK_MAP_ENTRIES: u32 = 4096;

/// `BPF_F_USER_STACK`: walk the user stack instead of the kernel's.
const BPF_F_USER_STACK: i32 = 1 << 8;

/// Every (user?, depth) stack kind the program's keys, values, records, tuples and
/// variables can hold, sorted so the object is the same on every run.
pub(crate) fn stack_kinds(program: &ir::Program) -> BTreeSet<(bool, u8)> {
    let mut kinds = BTreeSet::new();
    let mut note = |t: &Type| match *t {
        Type::KStack { depth, .. } => {
            kinds.insert((false, depth));
        }
        Type::UStack { depth, .. } => {
            kinds.insert((true, depth));
        }
        _ => {}
    };
    for m in &program.maps {
        m.keys.iter().for_each(&mut note);
        if let ir::MapValue::Scalar(t) = &m.value {
            note(t);
        }
    }
    for p in &program.printfs {
        p.args.iter().for_each(&mut note);
    }
    for t in &program.tuples {
        t.iter().for_each(&mut note);
    }
    for p in &program.probes {
        for v in &p.vars {
            note(&v.ty);
        }
    }
    kinds
}

/// The stack map for one (user?, depth) kind.
pub(crate) fn stack_map(user: bool, depth: u8) -> MapSpec {
    MapSpec {
        name: format!("{}stack{depth}", if user { "u" } else { "k" }),
        kind: MapKind::StackTrace,
        key_size: 4,
        value_size: 8 * u32::from(depth),
        max_entries: STACK_MAP_ENTRIES,
        flags: 0,
        role: MapRole::Stacks { user, depth },
    }
}

impl ProbeCompiler<'_> {
    /// `kstack` / `ustack` / `ksym(addr)` evaluated into a fresh pool register.
    pub fn stack_int(&mut self, e: &Expr) -> Result<Reg, CodegenError> {
        match (&e.kind, e.ty) {
            (K::Ksym { addr }, _) => self.int(addr),
            (K::Stack, Type::KStack { depth, .. }) => self.stack_id(false, depth),
            (K::Stack, Type::UStack { depth, .. }) => {
                let r = self.stack_id(true, depth)?;
                // Keep the id's low 32 bits and put the process id (tgid, the upper half of
                // bpf_get_current_pid_tgid) above them.
                self.e.emit(Insn::alu32_reg(AluOp::Mov, r, r));
                self.e.emit(Insn::call_helper(helper::GET_CURRENT_PID_TGID));
                self.e.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                self.e.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
                self.e.emit(Insn::alu64_reg(AluOp::Or, r, Reg::R0));
                Ok(r)
            }
            _ => Err(CodegenError::Internal("not a stack or symbol expression")),
        }
    }

    /// `r = bpf_get_stackid(ctx, &stack_map, flags)`.
    fn stack_id(&mut self, user: bool, depth: u8) -> Result<Reg, CodegenError> {
        let map = self
            .ctx
            .stack_maps
            .iter()
            .find(|(kind, _)| *kind == (user, depth))
            .map(|&(_, index)| index)
            .ok_or(CodegenError::Internal("no stack map for this stack"))?;
        self.e.emit(Insn::mov64_reg(Reg::R1, CTX));
        self.e.load_map(Reg::R2, map);
        let flags = if user { BPF_F_USER_STACK } else { 0 };
        self.e.emit(Insn::mov64_imm(Reg::R3, flags));
        self.e.emit(Insn::call_helper(h::GET_STACKID));
        let r = self.alloc()?;
        self.e.emit(Insn::mov64_reg(r, Reg::R0));
        Ok(r)
    }

    /// `usym(addr)` into `d`: the address, then the current process id.
    pub fn usym_into(&mut self, e: &Expr, d: Dest) -> Result<(), CodegenError> {
        let K::Usym { addr } = &e.kind else {
            return Err(CodegenError::Internal("not a usym expression"));
        };
        if d.cap < 16 {
            return Err(CodegenError::Internal("usym slot too small"));
        }
        let r = self.int(addr)?;
        self.e.emit(Insn::stx(Size::DW, d.base, d.off, r));
        self.pool.release(r);
        self.e.emit(Insn::call_helper(helper::GET_CURRENT_PID_TGID));
        self.e.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
        self.e.emit(Insn::stx(Size::DW, d.base, d.off + 8, Reg::R0));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use kestrel_isa::helper as h;
    use kestrel_kernel::FixtureKernel;

    use crate::object::{MapKind, MapRole, ScalarType, StackMode};

    fn compile(src: &str) -> crate::ObjectSpec {
        let ast = kestrel_lang::parse(src).unwrap();
        let analysis = kestrel_lang::analyze(&ast, &FixtureKernel::standard()).unwrap();
        crate::compile(&analysis.program).unwrap()
    }

    #[test]
    fn kstack_key_compiles_to_get_stackid_on_a_stack_map() {
        let obj = compile(
            "tracepoint:syscalls:sys_enter_openat { @[kstack] = count(); @u[ustack(perf, 5), comm] = count(); }",
        );
        let stacks: Vec<_> = obj
            .maps
            .iter()
            .filter(|m| m.kind == MapKind::StackTrace)
            .map(|m| (m.role.clone(), m.value_size))
            .collect();
        assert_eq!(
            stacks,
            vec![
                (
                    MapRole::Stacks {
                        user: false,
                        depth: 127
                    },
                    1016
                ),
                (
                    MapRole::Stacks {
                        user: true,
                        depth: 5
                    },
                    40
                ),
            ]
        );
        let prog = &obj.programs[0];
        let calls = prog
            .insns
            .iter()
            .filter(|i| i.code == 0x85 && i.imm == h::GET_STACKID)
            .count();
        assert_eq!(calls, 2);
        let MapRole::User(layout) = &obj.maps[1].role else {
            panic!("not a user map");
        };
        assert_eq!(
            layout.keys[0].ty,
            ScalarType::UStack {
                depth: 5,
                mode: StackMode::Perf
            }
        );
    }

    #[test]
    fn ksym_and_usym_in_printf() {
        let obj = compile(
            r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", ksym(nsecs), usym(nsecs)); }"#,
        );
        let args: Vec<_> = obj.printfs[0].args.iter().map(|a| a.ty.clone()).collect();
        assert_eq!(args, vec![ScalarType::Ksym, ScalarType::Usym]);
        assert_eq!(obj.printfs[0].record_size, 8 + 8 + 16);
    }
}
