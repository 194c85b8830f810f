//! Code generation: typed IR → eBPF instructions, map specs and format tables ([`ObjectSpec`]).
//! The object contract itself — the specs, the ELF writer and the structural checker — lives
//! in kestrel-obj and is re-exported here (`object`, `elf`, `check`) for callers of the
//! compiler.
//!
//! Codegen does no I/O and makes no syscalls; the runtime loads what it produces. Generated
//! code is built to pass the verifier on the first try: every map lookup is NULL-checked,
//! string copies are bounded by their buffer, and the stack frame is checked against the
//! 512-byte limit here, before the kernel sees it.
//!
//! ```ignore
//! let analysis = kestrel_lang::analyze(&ast, &kernel)?;
//! let object = kestrel_codegen::compile(&analysis.program)?;
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod actions;
mod context;
mod emit;
mod expr;
mod frame;
mod layout;
mod maps;
mod probe;
mod regs;
mod stacks;
mod strings;

pub use kestrel_obj::spec as object;
pub use kestrel_obj::spec::*;
pub use kestrel_obj::{check, elf};

use kestrel_lang::ir::{self, Attach};

/// Why a checked program could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// The probe needs more than the kernel's 512 bytes of stack.
    #[error("probe {probe} needs {bytes} bytes of stack; the kernel allows 512 (use fewer or shorter strings per statement)")]
    StackOverflow {
        /// The probe, e.g. `tracepoint:syscalls:sys_enter_openat`.
        probe: String,
        /// Bytes needed.
        bytes: u32,
    },
    /// A jump does not fit in 16 bits: the probe is too large.
    #[error("probe {probe} is too large to compile")]
    TooLarge {
        /// The probe.
        probe: String,
    },
    /// A bug in kestrel: semantic analysis let through something codegen cannot handle.
    #[error("internal compiler error: {0}")]
    Internal(&'static str),
}

/// Choices that change the generated code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Count, per map, the updates that fail because a keyed map is full (about ten
    /// instructions per update site, off the hot path but counted by the verifier). Without
    /// it, userspace still notices a map that reached its size and warns, without the count.
    pub count_map_full: bool,
}

/// Compile a checked program to an object with default [`CompileOptions`]: one program per
/// probe, the script's maps plus the event ring buffer, and the printf format table.
pub fn compile(program: &ir::Program) -> Result<ObjectSpec, CodegenError> {
    compile_with(program, &CompileOptions::default())
}

/// Compile a checked program to an object with `options`.
pub fn compile_with(
    program: &ir::Program,
    options: &CompileOptions,
) -> Result<ObjectSpec, CodegenError> {
    let mut maps = Vec::with_capacity(program.maps.len() + 1);
    let mut layouts = Vec::with_capacity(program.maps.len());
    for (i, decl) in program.maps.iter().enumerate() {
        let (layout, spec) = layout::map_layout(decl, i, &program.tuples);
        layouts.push(layout);
        maps.push(spec);
    }
    let events_map = maps.len();
    maps.push(layout::events_map());
    let lost_map = maps.len();
    maps.push(layout::lost_events_map());
    let exit_flag = layout::uses_exit(program).then(|| {
        maps.push(layout::exit_flag_map());
        maps.len() - 1
    });
    // Counters of updates lost to full maps, so userspace can warn instead of staying silent.
    let full_map = (options.count_map_full && !program.maps.is_empty()).then(|| {
        maps.push(layout::map_full_map(program.maps.len()));
        maps.len() - 1
    });
    let mut stack_maps = Vec::new();
    for (user, depth) in stacks::stack_kinds(program) {
        stack_maps.push(((user, depth), maps.len()));
        maps.push(stacks::stack_map(user, depth));
    }
    let actions: Vec<ActionSpec> = program
        .actions
        .iter()
        .map(|a| actions::action_layout(a, &layouts, &program.tuples))
        .collect::<Result<_, _>>()?;
    // join() always builds its record in scratch space.
    let join_record = actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::Join { .. }))
        .map(|a| a.record_size);
    let big_record = program
        .printfs
        .iter()
        .map(|p| layout::printf_layout(p, &program.tuples).record_size)
        .chain(actions.iter().map(|a| a.record_size))
        .filter(|&n| n > probe::SCRATCH_THRESHOLD)
        .chain(join_record)
        .max();
    let scratch_map = big_record.map(|size| {
        maps.push(MapSpec {
            name: "scratch".into(),
            kind: MapKind::PerCpuArray,
            key_size: 4,
            value_size: size,
            max_entries: 1,
            flags: 0,
            role: MapRole::Scratch,
        });
        maps.len() - 1
    });
    let printfs: Vec<PrintfSpec> = program
        .printfs
        .iter()
        .map(|p| layout::printf_layout(p, &program.tuples))
        .collect();

    let mut programs = Vec::with_capacity(program.probes.len());
    let mut runtime_consts = Vec::new();
    let mut callbacks = Vec::new();
    let ctx = probe::ObjectContext {
        maps: &layouts,
        printfs: &printfs,
        events_map,
        tuples: &program.tuples,
        scratch_map,
        lost_map: Some(lost_map),
        exit_flag,
        stack_maps,
        actions: &actions,
        full_map,
    };
    for (i, probe) in program.probes.iter().enumerate() {
        // Pointers a uprobe sees are user-space addresses.
        let user_memory = matches!(probe.attach, Attach::Uprobe(_));
        let compiler = probe::ProbeCompiler::new(&ctx, user_memory);
        let (emitted, probe_callbacks) = compiler.compile(probe)?;
        for (n, (code, loaded_at)) in probe_callbacks.into_iter().enumerate() {
            callbacks.push(CallbackSpec {
                name: format!("cb{i}_{n}"),
                program: i,
                map_relocs: code
                    .relocs
                    .iter()
                    .map(|&(insn, map)| MapReloc { insn, map })
                    .collect(),
                insns: code.insns,
                insn_spans: code.spans,
                loaded_at,
            });
        }
        runtime_consts.extend(
            emitted
                .runtime_consts
                .iter()
                .map(|&(insn, value)| RuntimeConst {
                    program: i,
                    insn,
                    value,
                }),
        );
        programs.push(ProgramSpec {
            name: program_symbol(&probe.attach, i),
            probe: describe(&probe.attach),
            attach: attach_point(&probe.attach),
            insns: emitted.insns,
            map_relocs: emitted
                .relocs
                .iter()
                .map(|&(insn, map)| MapReloc { insn, map })
                .collect(),
            insn_spans: emitted.spans,
        });
    }
    Ok(ObjectSpec {
        programs,
        maps,
        printfs,
        runtime_consts,
        callbacks,
        actions,
        strftimes: program.strftimes.clone(),
    })
}

fn attach_point(a: &Attach) -> AttachPoint {
    match a {
        Attach::Begin => AttachPoint::Begin,
        Attach::End => AttachPoint::End,
        Attach::Tracepoint { category, name } => AttachPoint::Tracepoint {
            category: category.clone(),
            name: name.clone(),
        },
        Attach::Interval { period_ns } => AttachPoint::Interval {
            period_ns: *period_ns,
        },
        Attach::Uprobe(u) => AttachPoint::Uprobe {
            path: u.path.clone(),
            offset: u.offset,
            ret: u.ret,
            pid: u.pid,
            semaphore: u.semaphore,
        },
        Attach::Perf(p) => AttachPoint::Perf {
            hardware: p.hardware,
            config: p.config,
            sample: p.sample,
            frequency: p.frequency,
        },
        Attach::RawTracepoint { name } => AttachPoint::RawTracepoint { name: name.clone() },
        Attach::Kernel(k) => AttachPoint::KernelFunc {
            func: k.func.clone(),
            provider: k.provider.clone(),
            alternative: k.alternative.clone(),
        },
    }
}

/// The probe as the user would write it.
fn describe(a: &Attach) -> String {
    match a {
        Attach::Interval { period_ns } if period_ns % 1_000_000_000 == 0 => {
            format!("interval:s:{}", period_ns / 1_000_000_000)
        }
        Attach::Interval { period_ns } if period_ns % 1_000_000 == 0 => {
            format!("interval:ms:{}", period_ns / 1_000_000)
        }
        Attach::Interval { period_ns } if period_ns % 1_000 == 0 => {
            format!("interval:us:{}", period_ns / 1_000)
        }
        other => other.describe(),
    }
}

/// A unique, kernel-friendly program name such as `p3_sys_enter_ope` (15 bytes at most).
fn program_symbol(a: &Attach, index: usize) -> String {
    let base = match a {
        Attach::Begin => "BEGIN".to_string(),
        Attach::End => "END".to_string(),
        Attach::Tracepoint { name, .. } => name.clone(),
        Attach::Interval { .. } => "interval".to_string(),
        Attach::Uprobe(u) => u.func.rsplit(':').next().unwrap_or("uprobe").to_string(),
        Attach::Perf(p) => p.name.split(':').next().unwrap_or("perf").to_string(),
        Attach::RawTracepoint { name } => name.clone(),
        Attach::Kernel(k) => k.func.clone(),
    };
    let mut s = format!("p{index}_{base}");
    s.retain(|c| c.is_ascii_alphanumeric() || c == '_');
    s.truncate(15);
    s
}
