//! The only module that knows how aya 0.14 loads objects: ELF bytes → maps created →
//! programs through the verifier. An aya upgrade should touch this file and `attach.rs`.

use aya::programs::{
    FEntry, FExit, KProbe, PerfEvent, Program, ProgramError, RawTracePoint, TracePoint, UProbe,
};
use aya::{Ebpf, EbpfError, EbpfLoader, VerifierLogLevel};
use kestrel_obj::{elf::write_elf, ObjectSpec, ProgramSpec, RuntimeValue};

use crate::perm::{denied, is_eperm};
use crate::{verifier, RuntimeError};

/// How events and maps are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// bpftrace's text output.
    #[default]
    Text,
    /// bpftrace's `-f json`: one JSON object per line.
    Json,
}

/// How to load and run an object.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Text or JSON lines, for printf events and [`Session::print_maps`](crate::Session::print_maps).
    pub format: OutputFormat,
    /// Ask the verifier for its most detailed log (`BPF_LOG_LEVEL2`): every state at every
    /// instruction. Only useful when debugging a rejection; by default the log is level 1,
    /// which already shows the failing instruction.
    pub verbose_verifier: bool,
    /// PID of the child started with `-c`, the value of the `cpid` builtin.
    pub child_pid: Option<u32>,
}

/// Serializes `spec` as ELF and lets aya create its maps. No program is loaded yet.
pub(crate) fn create_maps(spec: &ObjectSpec, opts: &LoadOptions) -> Result<Ebpf, RuntimeError> {
    let patched;
    let spec = if spec.runtime_consts.is_empty() {
        spec
    } else {
        patched = with_runtime_consts(spec, opts);
        &patched
    };
    let bytes = write_elf(spec)?;
    let level = if opts.verbose_verifier {
        VerifierLogLevel::VERBOSE | VerifierLogLevel::STATS
    } else {
        VerifierLogLevel::DEBUG | VerifierLogLevel::STATS
    };
    // Our objects carry no BTF, so the loader need not parse the kernel's.
    EbpfLoader::new()
        .btf(None)
        .verifier_log_level(level)
        .load(&bytes)
        .map_err(ebpf_error)
}

/// A copy of `spec` with the load-time constants (start time, child pid) written into their
/// ld_imm64 instructions.
fn with_runtime_consts(spec: &ObjectSpec, opts: &LoadOptions) -> ObjectSpec {
    let start_ns = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0);
    let mut out = spec.clone();
    for c in &spec.runtime_consts {
        let value = match c.value {
            RuntimeValue::StartNs => start_ns,
            RuntimeValue::ChildPid => u64::from(opts.child_pid.unwrap_or(0)),
        };
        if let Some(prog) = out.programs.get_mut(c.program) {
            if c.insn + 1 < prog.insns.len() {
                prog.insns[c.insn].imm = value as u32 as i32;
                prog.insns[c.insn + 1].imm = (value >> 32) as u32 as i32;
            }
        }
    }
    out
}

fn ebpf_error(e: EbpfError) -> RuntimeError {
    match e {
        EbpfError::MapError(aya::maps::MapError::CreateError { name, io_error }) => {
            if is_eperm(&io_error) {
                denied("BPF_MAP_CREATE")
            } else {
                RuntimeError::MapCreate {
                    map: name,
                    source: io_error,
                }
            }
        }
        other => RuntimeError::Object {
            source: Box::new(other),
        },
    }
}

/// Loads (verifies) the program `prog` of the object.
pub(crate) fn load_program(ebpf: &mut Ebpf, prog: &ProgramSpec) -> Result<(), RuntimeError> {
    let program = program_mut(ebpf, &prog.name)?;
    let result = match program {
        Program::TracePoint(p) => TracePoint::load(p),
        Program::PerfEvent(p) => PerfEvent::load(p),
        Program::RawTracePoint(p) => RawTracePoint::load(p),
        Program::UProbe(p) => UProbe::load(p),
        Program::KProbe(p) => KProbe::load(p),
        Program::FEntry(p) => {
            let func = kernel_func(prog);
            kernel_btf(prog).and_then(|btf| {
                FEntry::load(p, &func, &btf).map_err(|e| crate::attach::kernel_func_error(prog, &e))
            })?;
            return Ok(());
        }
        Program::FExit(p) => {
            let func = kernel_func(prog);
            kernel_btf(prog).and_then(|btf| {
                FExit::load(p, &func, &btf).map_err(|e| crate::attach::kernel_func_error(prog, &e))
            })?;
            return Ok(());
        }
        _ => Err(ProgramError::UnexpectedProgramType),
    };
    result.map_err(|e| load_error(prog, e))
}

pub(crate) fn program_mut<'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
) -> Result<&'a mut Program, RuntimeError> {
    ebpf.program_mut(name).ok_or_else(|| RuntimeError::Missing {
        what: "program",
        name: name.to_string(),
    })
}

fn load_error(prog: &ProgramSpec, e: ProgramError) -> RuntimeError {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            if !log.trim().is_empty() {
                RuntimeError::Verifier {
                    program: prog.name.clone(),
                    probe: prog.probe.clone(),
                    insn: verifier::failing_insn(&log),
                    log,
                }
            } else if is_eperm(&io_error) {
                denied("BPF_PROG_LOAD")
            } else {
                RuntimeError::ProgramLoad {
                    probe: prog.probe.clone(),
                    source: Box::new(ProgramError::LoadError {
                        io_error,
                        verifier_log,
                    }),
                }
            }
        }
        other => RuntimeError::ProgramLoad {
            probe: prog.probe.clone(),
            source: Box::new(other),
        },
    }
}

/// The kernel function of a kfunc/kretfunc program.
fn kernel_func(prog: &ProgramSpec) -> String {
    match &prog.attach {
        kestrel_obj::AttachPoint::KernelFunc { func, .. } => func.clone(),
        _ => String::new(),
    }
}

/// The running kernel's BTF, which fentry/fexit programs are loaded against.
fn kernel_btf(prog: &ProgramSpec) -> Result<aya::Btf, RuntimeError> {
    aya::Btf::from_sys_fs().map_err(|e| crate::attach::kernel_func_error(prog, &e))
}
