//! An [`ObjectSpec`] made live through kestrel-sys: maps created, callbacks linked behind
//! their programs, load-time constants written, programs verified. The only module that
//! knows how a spec becomes kernel objects; `attach.rs` hangs the programs on their hooks.

use kestrel_isa::Insn;
use kestrel_obj::elf::btf::{funcs_btf, Func};
use kestrel_obj::{AttachPoint, MapKind, MapSpec, ObjectSpec, ProgramSpec, RuntimeValue};
use kestrel_sys::{
    AttachType, Btf, FdReloc, FuncInfo, Map, MapDef, MapType, ProgType, Program, ProgramLoad,
    SysError, VerifierLog,
};

use crate::error::{kernel_func_error, sys_error};
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
    /// instruction. Only useful when debugging a rejection; by default the log is asked for
    /// only when a load fails.
    pub verbose_verifier: bool,
    /// PID of the child started with `-c`, the value of the `cpid` builtin.
    pub child_pid: Option<u32>,
}

/// `BPF_PSEUDO_FUNC`: an ld_imm64 that loads the address of a subprogram.
const BPF_PSEUDO_FUNC: u8 = 4;

/// The kernel map type of a spec's map kind.
fn map_type(kind: MapKind) -> MapType {
    match kind {
        MapKind::Hash => MapType::Hash,
        MapKind::PerCpuHash => MapType::PerCpuHash,
        MapKind::Array => MapType::Array,
        MapKind::PerCpuArray => MapType::PerCpuArray,
        MapKind::RingBuf => MapType::RingBuf,
        MapKind::StackTrace => MapType::StackTrace,
    }
}

/// Creates every map of the object, in object order (relocations index into this list).
pub(crate) fn create_maps(spec: &ObjectSpec) -> Result<Vec<Map>, RuntimeError> {
    spec.maps.iter().map(create_map).collect()
}

fn create_map(m: &MapSpec) -> Result<Map, RuntimeError> {
    Map::create(&MapDef {
        name: m.name.clone(),
        kind: map_type(m.kind),
        key_size: m.key_size,
        value_size: m.value_size,
        max_entries: m.max_entries,
        flags: m.flags,
    })
    .map_err(|e| sys_error(e, || format!("map '{}'", m.name)))
}

/// What kind of program a probe is, and the expected attach type its load needs.
fn program_type(attach: &AttachPoint) -> (ProgType, Option<AttachType>) {
    match attach {
        AttachPoint::Begin | AttachPoint::End | AttachPoint::RawTracepoint { .. } => {
            (ProgType::RawTracepoint, None)
        }
        AttachPoint::Tracepoint { .. } => (ProgType::Tracepoint, None),
        AttachPoint::Interval { .. } | AttachPoint::Perf { .. } => (ProgType::PerfEvent, None),
        AttachPoint::Uprobe { .. } => (ProgType::Kprobe, None),
        AttachPoint::KernelFunc { provider, .. } => match provider.as_str() {
            "kfunc" => (ProgType::Tracing, Some(AttachType::TraceFentry)),
            "kretfunc" => (ProgType::Tracing, Some(AttachType::TraceFexit)),
            _ => (ProgType::Kprobe, None),
        },
    }
}

/// The instructions the kernel gets for program `index`: its own code with load-time
/// constants written in, followed by the callbacks it passes to helpers, every map load and
/// callback address relocated; plus the function info the verifier needs for callbacks.
struct Linked {
    insns: Vec<Insn>,
    /// (instruction, map index)
    map_relocs: Vec<(usize, usize)>,
    funcs: Vec<Func>,
}

fn link(
    spec: &ObjectSpec,
    index: usize,
    prog: &ProgramSpec,
    opts: &LoadOptions,
    start_ns: u64,
) -> Result<Linked, RuntimeError> {
    let mut insns = prog.insns.clone();
    write_runtime_consts(spec, index, &mut insns, opts, start_ns);
    let mut map_relocs: Vec<(usize, usize)> =
        prog.map_relocs.iter().map(|r| (r.insn, r.map)).collect();
    let mut funcs = vec![Func {
        name: prog.name.clone(),
        offset: 0,
        callback: false,
    }];
    for cb in spec.callbacks.iter().filter(|c| c.program == index) {
        let start = insns.len();
        insns.extend_from_slice(&cb.insns);
        map_relocs.extend(cb.map_relocs.iter().map(|r| (start + r.insn, r.map)));
        let bad = || RuntimeError::Missing {
            what: "callback load (ld_imm64) in program",
            name: format!("{} at instruction {}", prog.name, cb.loaded_at),
        };
        let slot = insns
            .get_mut(cb.loaded_at)
            .filter(|i| i.is_ld_imm64())
            .ok_or_else(bad)?;
        // The kernel reads a subprogram address as an offset from the next instruction.
        let rel = i32::try_from(start as i64 - cb.loaded_at as i64 - 1).map_err(|_| bad())?;
        slot.src = BPF_PSEUDO_FUNC;
        slot.imm = rel;
        if let Some(next) = insns.get_mut(cb.loaded_at + 1) {
            next.imm = 0;
        }
        funcs.push(Func {
            name: cb.name.clone(),
            offset: start as u32,
            callback: true,
        });
    }
    Ok(Linked {
        insns,
        map_relocs,
        funcs,
    })
}

/// CLOCK_MONOTONIC nanoseconds now: the origin of `elapsed`, read once per object so that
/// every probe measures from the same instant.
pub(crate) fn start_ns() -> u64 {
    kestrel_sys::monotonic_ns()
}

/// Writes the values known only now (start time, the `-c` child's pid) into their ld_imm64s.
fn write_runtime_consts(
    spec: &ObjectSpec,
    index: usize,
    insns: &mut [Insn],
    opts: &LoadOptions,
    start_ns: u64,
) {
    for c in spec.runtime_consts.iter().filter(|c| c.program == index) {
        let value = match c.value {
            RuntimeValue::StartNs => start_ns,
            RuntimeValue::ChildPid => u64::from(opts.child_pid.unwrap_or(0)),
        };
        if c.insn + 1 < insns.len() {
            insns[c.insn].imm = value as u32 as i32;
            insns[c.insn + 1].imm = (value >> 32) as u32 as i32;
        }
    }
}

/// Loads (verifies) program `index` of the object against the live `maps`.
pub(crate) fn load_program(
    spec: &ObjectSpec,
    index: usize,
    maps: &[Map],
    opts: &LoadOptions,
    start_ns: u64,
) -> Result<Program, RuntimeError> {
    let prog = spec
        .programs
        .get(index)
        .ok_or_else(|| RuntimeError::Missing {
            what: "program",
            name: format!("#{index}"),
        })?;
    let linked = link(spec, index, prog, opts, start_ns)?;
    let mut relocs = Vec::with_capacity(linked.map_relocs.len());
    for &(insn, map) in &linked.map_relocs {
        let map = maps.get(map).ok_or_else(|| RuntimeError::Missing {
            what: "map",
            name: format!("#{map} (relocated in {})", prog.name),
        })?;
        relocs.push(FdReloc { insn, map });
    }
    // Function info (and the BTF it points into) only when there are subprograms.
    let (btf, func_info) = if linked.funcs.len() > 1 {
        let (blob, ids) = funcs_btf(&linked.funcs);
        let btf = Btf::load(&blob)
            .map_err(|e| sys_error(e, || format!("BTF of program '{}'", prog.name)))?;
        let info: Vec<FuncInfo> = linked
            .funcs
            .iter()
            .zip(ids)
            .map(|(f, type_id)| FuncInfo {
                insn_off: f.offset,
                type_id,
            })
            .collect();
        (Some(btf), info)
    } else {
        (None, Vec::new())
    };
    let (kind, attach) = program_type(&prog.attach);
    let attach_btf_id = match &prog.attach {
        AttachPoint::KernelFunc { func, provider, .. } if kind == ProgType::Tracing => {
            kernel_func_btf_id(func).ok_or_else(|| {
                kernel_func_error(
                    prog,
                    &format!("no BTF for kernel function {func} ({provider})"),
                )
            })?
        }
        _ => 0,
    };
    let load = ProgramLoad {
        kind,
        attach,
        name: &prog.name,
        insns: &linked.insns,
        relocs: &relocs,
        btf: btf.as_ref(),
        func_info: &func_info,
        license: "GPL",
        log: if opts.verbose_verifier {
            VerifierLog::Verbose
        } else {
            VerifierLog::OnError
        },
        attach_btf_id,
    };
    Program::load(&load).map_err(|e| match e {
        SysError::Verifier { log, .. } => RuntimeError::Verifier {
            program: prog.name.clone(),
            probe: prog.probe.clone(),
            insn: verifier::failing_insn(&log),
            log,
        },
        other if kind == ProgType::Tracing => kernel_func_error(prog, &other),
        other => sys_error(other, || format!("probe '{}'", prog.probe)),
    })
}

/// The vmlinux BTF id of function `func`, for fentry/fexit programs.
fn kernel_func_btf_id(func: &str) -> Option<u32> {
    let btf = kestrel_kernel::btf::Btf::vmlinux().ok()?;
    btf.find_by_name(kestrel_kernel::btf::BtfKind::Func, func)
        .map(|id| id.0)
}
