//! Attaching programs to their hooks, and running BEGIN/END programs once.
//!
//! Every attachment is an aya link taken out of its program ([`OwnedLink`]): dropping it
//! detaches, and because the link is a file descriptor (a perf event fd with the program
//! attached, or a bpf_link), the kernel also detaches when the process dies, even by
//! `kill -9`. Nothing is pinned.

use std::io;
use std::os::fd::AsFd;

use aya::programs::perf_event::{
    PerfEventConfig, PerfEventLink, PerfEventScope, SamplePolicy, SoftwareEvent,
};
use aya::programs::trace_point::{TracePointError, TracePointLink};
use aya::programs::{Program, ProgramError};
use aya::Ebpf;
use kestrel_codegen::{AttachPoint, ProgramSpec};

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
    /// A perf event (interval timer).
    PerfEvent(#[allow(dead_code)] PerfEventLink),
}

/// Attaches `prog`. Returns `None` for BEGIN/END, which are run, not attached.
pub(crate) fn attach(
    ebpf: &mut Ebpf,
    prog: &ProgramSpec,
) -> Result<Option<OwnedLink>, RuntimeError> {
    let program = program_mut(ebpf, &prog.name)?;
    let attach_err = |e: ProgramError| attach_error(prog, e);
    match (&prog.attach, program) {
        (AttachPoint::Begin | AttachPoint::End, _) => Ok(None),
        (AttachPoint::Tracepoint { category, name }, Program::TracePoint(p)) => {
            let id = p.attach(category, name).map_err(attach_err)?;
            let link = p.take_link(id).map_err(attach_err)?;
            Ok(Some(OwnedLink::TracePoint(link)))
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
            Ok(Some(OwnedLink::PerfEvent(link)))
        }
        _ => Err(attach_err(ProgramError::UnexpectedProgramType)),
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
