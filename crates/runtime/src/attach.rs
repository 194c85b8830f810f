//! Attaching programs to their hooks, and running BEGIN/END programs once.
//!
//! Every attachment is a [`Link`] held by file descriptor: dropping it detaches, and because
//! it is a descriptor the kernel also detaches when the process dies, even by `kill -9`.
//! Nothing is pinned.

use std::path::Path;

use kestrel_obj::{AttachPoint, ProgramSpec};
use kestrel_sys::{Link, PerfEvent, Program, Sample, Scope, SysError};

use crate::error::{kernel_func_error, sys_error};
use crate::RuntimeError;

/// The argument block handed to a BEGIN/END raw tracepoint program: 8 zeroed u64 arguments.
const ONCE_CTX: [u64; 8] = [0; 8];

/// The software cpu-clock event (`PERF_COUNT_SW_CPU_CLOCK`).
const SW_CPU_CLOCK: u64 = 0;

/// Attaches `prog`: no link for BEGIN/END (they are run, not attached), one for most probes,
/// one per online CPU for perf-event probes. On failure nothing of `prog` stays attached.
pub(crate) fn attach(program: &Program, prog: &ProgramSpec) -> Result<Vec<Link>, RuntimeError> {
    let attach_err = |e: SysError| attach_error(prog, e);
    match &prog.attach {
        AttachPoint::Begin | AttachPoint::End => Ok(Vec::new()),
        AttachPoint::Tracepoint { category, name } => {
            let id = tracepoint_id(prog, category, name)?;
            let event = PerfEvent::tracepoint(id, &format!("tracepoint {category}:{name}"))
                .map_err(attach_err)?;
            Ok(vec![
                Link::attach_perf_event(program, event).map_err(attach_err)?
            ])
        }
        AttachPoint::Interval { period_ns } => {
            // One CPU only: an interval fires once per period, not once per CPU.
            let event = PerfEvent::counter(
                false,
                SW_CPU_CLOCK,
                Sample::Period(*period_ns),
                Scope::Cpu(0),
                &prog.probe,
            )
            .map_err(attach_err)?;
            Ok(vec![
                Link::attach_perf_event(program, event).map_err(attach_err)?
            ])
        }
        AttachPoint::Perf {
            hardware,
            config,
            sample,
            frequency,
        } => {
            let policy = if *frequency {
                Sample::Frequency(*sample)
            } else {
                Sample::Period(*sample)
            };
            let cpus = kestrel_sys::online_cpus().map_err(attach_err)?;
            let mut links = Vec::with_capacity(cpus.len());
            for cpu in cpus {
                let event =
                    PerfEvent::counter(*hardware, *config, policy, Scope::Cpu(cpu), &prog.probe)
                        .map_err(|e| perf_error(prog, *hardware, e))?;
                links.push(Link::attach_perf_event(program, event).map_err(attach_err)?);
            }
            Ok(links)
        }
        AttachPoint::Uprobe {
            path,
            offset,
            pid,
            ret,
            semaphore,
        } => {
            let event = PerfEvent::uprobe(Path::new(path), *offset, *ret, *semaphore, *pid)
                .map_err(attach_err)?;
            Ok(vec![
                Link::attach_perf_event(program, event).map_err(attach_err)?
            ])
        }
        AttachPoint::RawTracepoint { name } => Ok(vec![
            Link::attach_raw_tracepoint(program, name).map_err(attach_err)?
        ]),
        AttachPoint::KernelFunc { func, provider, .. } => {
            let link = match provider.as_str() {
                "kfunc" | "kretfunc" => Link::attach_tracing(program),
                _ => PerfEvent::kprobe(func, provider == "kretprobe")
                    .and_then(|event| Link::attach_perf_event(program, event)),
            };
            Ok(vec![link.map_err(|e| kernel_func_error(prog, &e))?])
        }
    }
}

/// The tracefs id of a tracepoint, or the "unknown tracepoint" error naming the file.
fn tracepoint_id(prog: &ProgramSpec, category: &str, name: &str) -> Result<u64, RuntimeError> {
    let root = kestrel_kernel::ensure_tracefs().map_err(|e| RuntimeError::Unavailable {
        probe: prog.probe.clone(),
        reason: format!("cannot mount tracefs: {e}"),
    })?;
    let path = root
        .path
        .join("events")
        .join(category)
        .join(name)
        .join("id");
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|_| RuntimeError::Unavailable {
            probe: prog.probe.clone(),
            reason: format!("{} does not hold a tracepoint id", path.display()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(RuntimeError::UnknownTracepoint {
                probe: prog.probe.clone(),
                category: category.to_string(),
                name: name.to_string(),
                path: path.display().to_string(),
            })
        }
        Err(source) => Err(RuntimeError::Sys {
            call: "reading a tracepoint id",
            source,
        }),
    }
}

/// A failed perf_event_open: for hardware events, one line saying the machine has none.
fn perf_error(prog: &ProgramSpec, hardware: bool, e: SysError) -> RuntimeError {
    if hardware
        && matches!(
            e.errno(),
            Some(libc::ENOENT | libc::EOPNOTSUPP | libc::ENODEV | libc::EINVAL)
        )
    {
        return RuntimeError::Unavailable {
            probe: prog.probe.clone(),
            reason: format!(
                "this machine has no hardware performance counters ({e}); use software:cpu-clock (or profile:hz:99) instead"
            ),
        };
    }
    attach_error(prog, e)
}

fn attach_error(prog: &ProgramSpec, e: SysError) -> RuntimeError {
    if e.is_permission() {
        return sys_error(e, String::new);
    }
    RuntimeError::Attach {
        probe: prog.probe.clone(),
        source: e,
    }
}

/// Runs a BEGIN/END program once, in this thread, via `BPF_PROG_TEST_RUN`.
pub(crate) fn run_once(program: &Program, prog: &ProgramSpec) -> Result<u32, RuntimeError> {
    program
        .test_run_raw_tp(&ONCE_CTX)
        .map_err(|source| RuntimeError::TestRun {
            probe: prog.probe.clone(),
            source,
        })
}
