//! Attaching programs to their hooks, and running BEGIN/END programs once.
//!
//! Every attachment is an aya link taken out of its program ([`OwnedLink`]): dropping it
//! detaches, and because the link is a file descriptor (a perf event fd with the program
//! attached, or a bpf_link), the kernel also detaches when the process dies, even by
//! `kill -9`. Nothing is pinned.

use std::io;
use std::os::fd::AsFd;

use std::num::NonZeroU32;

use aya::programs::fentry::FEntryLink;
use aya::programs::fexit::FExitLink;
use aya::programs::kprobe::KProbeLink;
use aya::programs::perf_event::{
    HardwareEvent, PerfEventConfig, PerfEventLink, PerfEventScope, SamplePolicy, SoftwareEvent,
};
use aya::programs::raw_trace_point::RawTracePointLink;
use aya::programs::trace_point::{TracePointError, TracePointLink};
use aya::programs::uprobe::{UProbeAttachLocation, UProbeLink, UProbeScope};
use aya::programs::{Program, ProgramError};
use aya::Ebpf;
use kestrel_obj::{AttachPoint, ProgramSpec};

use crate::loader::program_mut;
use crate::perm::{denied, is_eperm};
use crate::{sys, RuntimeError};

/// The argument block handed to a BEGIN/END raw tracepoint program: 8 zeroed u64 arguments.
const ONCE_CTX: [u64; 8] = [0; 8];

/// A live attachment. Dropping it detaches the probe.
#[derive(Debug)]
pub(crate) enum OwnedLink {
    /// A perf tracepoint.
    TracePoint(#[allow(dead_code)] TracePointLink),
    /// A perf event (interval timer, profile, software/hardware counter on one CPU).
    PerfEvent(#[allow(dead_code)] PerfEventLink),
    /// A uprobe or uretprobe.
    UProbe(#[allow(dead_code)] UProbeLink),
    /// A raw tracepoint.
    RawTracePoint(#[allow(dead_code)] RawTracePointLink),
    /// A kprobe or kretprobe.
    KProbe(#[allow(dead_code)] KProbeLink),
    /// An fentry (kfunc) program.
    FEntry(#[allow(dead_code)] FEntryLink),
    /// An fexit (kretfunc) program.
    FExit(#[allow(dead_code)] FExitLink),
    /// A perf event opened by kestrel itself (a usdt uprobe with a semaphore).
    Fd(#[allow(dead_code)] std::os::fd::OwnedFd),
}

/// Attaches `prog`: no link for BEGIN/END (they are run, not attached), one for most probes,
/// one per online CPU for perf-event probes. On failure nothing of `prog` stays attached.
pub(crate) fn attach(ebpf: &mut Ebpf, prog: &ProgramSpec) -> Result<Vec<OwnedLink>, RuntimeError> {
    let program = program_mut(ebpf, &prog.name)?;
    let attach_err = |e: ProgramError| attach_error(prog, e);
    match (&prog.attach, program) {
        (AttachPoint::Begin | AttachPoint::End, _) => Ok(Vec::new()),
        (AttachPoint::Tracepoint { category, name }, Program::TracePoint(p)) => {
            let id = p.attach(category, name).map_err(attach_err)?;
            let link = p.take_link(id).map_err(attach_err)?;
            Ok(vec![OwnedLink::TracePoint(link)])
        }
        (AttachPoint::Interval { period_ns }, Program::PerfEvent(p)) => {
            // One CPU only: an interval fires once per period, not once per CPU.
            let id = p
                .attach(
                    PerfEventConfig::Software(SoftwareEvent::CpuClock),
                    PerfEventScope::AllProcessesOneCpu { cpu: 0 },
                    SamplePolicy::Period(*period_ns),
                    false,
                )
                .map_err(attach_err)?;
            let link = p.take_link(id).map_err(attach_err)?;
            Ok(vec![OwnedLink::PerfEvent(link)])
        }
        (
            AttachPoint::Perf {
                hardware,
                config,
                sample,
                frequency,
            },
            Program::PerfEvent(p),
        ) => {
            let event =
                perf_config(*hardware, *config).ok_or_else(|| RuntimeError::Unavailable {
                    probe: prog.probe.clone(),
                    reason: format!("unknown perf event config {config}"),
                })?;
            let policy = if *frequency {
                SamplePolicy::Frequency(*sample)
            } else {
                SamplePolicy::Period(*sample)
            };
            let cpus = aya::util::online_cpus()
                .map_err(|(what, source)| RuntimeError::Sys { call: what, source })?;
            let mut links = Vec::with_capacity(cpus.len());
            for cpu in cpus {
                let id = p
                    .attach(
                        event,
                        PerfEventScope::AllProcessesOneCpu { cpu },
                        policy,
                        false,
                    )
                    .map_err(|e| perf_error(prog, *hardware, e))?;
                links.push(OwnedLink::PerfEvent(p.take_link(id).map_err(attach_err)?));
            }
            Ok(links)
        }
        (
            AttachPoint::Uprobe {
                path,
                offset,
                pid,
                ret,
                semaphore: Some(sem),
            },
            Program::UProbe(p),
        ) => {
            let fd = p.fd().map_err(attach_err)?;
            let event = crate::uprobe_ref::attach(
                fd.as_fd(),
                std::path::Path::new(path),
                *offset,
                *sem,
                *ret,
                *pid,
            )
            .map_err(|source| RuntimeError::Sys {
                call: "perf_event_open (uprobe with a usdt semaphore)",
                source,
            })?;
            Ok(vec![OwnedLink::Fd(event)])
        }
        (
            AttachPoint::Uprobe {
                path, offset, pid, ..
            },
            Program::UProbe(p),
        ) => {
            let scope = match pid.and_then(NonZeroU32::new) {
                Some(pid) => UProbeScope::OneProcess(pid),
                None => UProbeScope::AllProcesses,
            };
            let id = p
                .attach(UProbeAttachLocation::AbsoluteOffset(*offset), path, scope)
                .map_err(attach_err)?;
            let link = p.take_link(id).map_err(attach_err)?;
            Ok(vec![OwnedLink::UProbe(link)])
        }
        (AttachPoint::RawTracepoint { name }, Program::RawTracePoint(p)) => {
            let id = p.attach(name).map_err(attach_err)?;
            let link = p.take_link(id).map_err(attach_err)?;
            Ok(vec![OwnedLink::RawTracePoint(link)])
        }
        (AttachPoint::KernelFunc { func, .. }, Program::KProbe(p)) => {
            let id = p.attach(func, 0).map_err(|e| kernel_func_error(prog, &e))?;
            let link = p.take_link(id).map_err(attach_err)?;
            Ok(vec![OwnedLink::KProbe(link)])
        }
        (AttachPoint::KernelFunc { .. }, Program::FEntry(p)) => {
            let id = p.attach().map_err(|e| kernel_func_error(prog, &e))?;
            let link = p.take_link(id).map_err(attach_err)?;
            Ok(vec![OwnedLink::FEntry(link)])
        }
        (AttachPoint::KernelFunc { .. }, Program::FExit(p)) => {
            let id = p.attach().map_err(|e| kernel_func_error(prog, &e))?;
            let link = p.take_link(id).map_err(attach_err)?;
            Ok(vec![OwnedLink::FExit(link)])
        }
        _ => Err(attach_err(ProgramError::UnexpectedProgramType)),
    }
}

/// aya's name for a perf event config.
fn perf_config(hardware: bool, config: u64) -> Option<PerfEventConfig> {
    use HardwareEvent as H;
    use SoftwareEvent as S;
    Some(if hardware {
        PerfEventConfig::Hardware(match config {
            0 => H::CpuCycles,
            1 => H::Instructions,
            2 => H::CacheReferences,
            3 => H::CacheMisses,
            4 => H::BranchInstructions,
            5 => H::BranchMisses,
            6 => H::BusCycles,
            7 => H::StalledCyclesFrontend,
            8 => H::StalledCyclesBackend,
            9 => H::RefCpuCycles,
            _ => return None,
        })
    } else {
        PerfEventConfig::Software(match config {
            0 => S::CpuClock,
            1 => S::TaskClock,
            2 => S::PageFaults,
            3 => S::ContextSwitches,
            4 => S::CpuMigrations,
            5 => S::PageFaultsMin,
            6 => S::PageFaultsMaj,
            7 => S::AlignmentFaults,
            8 => S::EmulationFaults,
            9 => S::Dummy,
            10 => S::BpfOutput,
            _ => return None,
        })
    })
}

/// A failed perf_event_open: for hardware events, one line saying the machine has none.
fn perf_error(prog: &ProgramSpec, hardware: bool, e: ProgramError) -> RuntimeError {
    if hardware {
        if let ProgramError::SyscallError(s) = &e {
            if matches!(
                s.io_error.raw_os_error(),
                Some(libc::ENOENT | libc::EOPNOTSUPP | libc::ENODEV | libc::EINVAL)
            ) {
                return RuntimeError::Unavailable {
                    probe: prog.probe.clone(),
                    reason: format!(
                        "this machine has no hardware performance counters (perf_event_open: {}); use software:cpu-clock (or profile:hz:99) instead",
                        s.io_error
                    ),
                };
            }
        }
    }
    attach_error(prog, e)
}

/// Why a kernel-function probe cannot attach here, with the tracepoint to use instead.
pub(crate) fn kernel_func_error(prog: &ProgramSpec, e: &dyn std::fmt::Display) -> RuntimeError {
    let AttachPoint::KernelFunc {
        provider,
        alternative,
        ..
    } = &prog.attach
    else {
        return RuntimeError::Unavailable {
            probe: prog.probe.clone(),
            reason: e.to_string(),
        };
    };
    let why = match provider.as_str() {
        "kprobe" | "kretprobe"
            if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() =>
        {
            "this kernel has no kprobes (CONFIG_KPROBES is off)".to_string()
        }
        "kfunc" | "kretfunc" => {
            let text = e.to_string();
            if text.contains("Operation not permitted") || text.contains("EPERM") {
                "this kernel refuses fentry/fexit programs (BPF_PROG_LOAD: EPERM)".to_string()
            } else {
                format!("this kernel cannot run fentry/fexit programs ({text})")
            }
        }
        _ => e.to_string(),
    };
    RuntimeError::Unavailable {
        probe: prog.probe.clone(),
        reason: format!("{why}; {alternative}"),
    }
}

fn attach_error(prog: &ProgramSpec, e: ProgramError) -> RuntimeError {
    if let (
        AttachPoint::Tracepoint { category, name },
        ProgramError::TracePointError(TracePointError::FileError { filename, io_error }),
    ) = (&prog.attach, &e)
    {
        if io_error.kind() == io::ErrorKind::NotFound {
            return RuntimeError::UnknownTracepoint {
                probe: prog.probe.clone(),
                category: category.clone(),
                name: name.clone(),
                path: filename.display().to_string(),
            };
        }
    }
    if let ProgramError::SyscallError(s) = &e {
        if is_eperm(&s.io_error) {
            return denied(s.call);
        }
    }
    RuntimeError::Attach {
        probe: prog.probe.clone(),
        source: Box::new(e),
    }
}

/// Runs a BEGIN/END program once, in this thread, via `BPF_PROG_TEST_RUN`.
pub(crate) fn run_once(ebpf: &mut Ebpf, prog: &ProgramSpec) -> Result<u32, RuntimeError> {
    let program = program_mut(ebpf, &prog.name)?;
    let test_run_err = |source: io::Error| RuntimeError::TestRun {
        probe: prog.probe.clone(),
        source,
    };
    let Program::RawTracePoint(p) = program else {
        return Err(RuntimeError::Attach {
            probe: prog.probe.clone(),
            source: Box::new(ProgramError::UnexpectedProgramType),
        });
    };
    let fd = p.fd().map_err(|e| RuntimeError::Attach {
        probe: prog.probe.clone(),
        source: Box::new(e),
    })?;
    sys::prog_test_run_raw_tp(fd.as_fd(), &ONCE_CTX).map_err(test_run_err)
}
