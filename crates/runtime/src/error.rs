//! The runtime's one error type. Each variant names the object (probe, program, map) and the
//! operation that failed; text is produced only by `Display`.

use std::io;

use crate::verifier;

/// Everything that can go wrong between an [`ObjectSpec`](kestrel_obj::ObjectSpec) and
/// running probes.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The process may not use bpf(2): not root, or missing CAP_BPF/CAP_PERFMON.
    #[error("{reason}")]
    Permission {
        /// One line saying what is missing and what to do.
        reason: String,
    },

    /// The kernel's verifier rejected a program. `Display` shows the probe and the last
    /// lines of the log; the whole log is kept in `log`.
    #[error("{}", verifier::summary(probe, *insn, log))]
    Verifier {
        /// Program (symbol) name.
        program: String,
        /// The probe as the user wrote it, e.g. `tracepoint:syscalls:sys_enter_openat`.
        probe: String,
        /// The complete verifier log.
        log: String,
        /// Index of the instruction the verifier stopped at, if the log shows it.
        insn: Option<usize>,
    },

    /// The compiled object could not be serialized as ELF (a codegen bug).
    #[error("cannot build the BPF object: {0}")]
    Elf(#[from] kestrel_obj::elf::ElfError),

    /// A kernel object could not be created, loaded or attached; `source` names the
    /// command, the errno and what it usually means.
    #[error("{what}: {source}")]
    Kernel {
        /// The object, e.g. `map 'events'` or `probe 'tracepoint:sched:sched_switch'`.
        what: String,
        /// The failure.
        #[source]
        source: kestrel_sys::SysError,
    },

    /// The tracepoint does not exist on this kernel.
    #[error("cannot attach probe '{probe}': unknown tracepoint '{category}:{name}' (no {path})")]
    UnknownTracepoint {
        /// The probe.
        probe: String,
        /// Tracepoint category.
        category: String,
        /// Tracepoint name.
        name: String,
        /// The tracefs file that was missing.
        path: String,
    },

    /// The kernel cannot run this kind of probe (no kprobes, fentry refused, no hardware
    /// counters); `reason` says why and what to use instead.
    #[error("cannot attach probe '{probe}': {reason}")]
    Unavailable {
        /// The probe.
        probe: String,
        /// Why, and the alternative.
        reason: String,
    },

    /// Attaching a probe failed (perf_event_open, BPF_LINK_CREATE, ioctl ...).
    #[error("cannot attach probe '{probe}': {source}")]
    Attach {
        /// The probe.
        probe: String,
        /// The failure (names the syscall).
        #[source]
        source: kestrel_sys::SysError,
    },

    /// Running a BEGIN/END program with `BPF_PROG_TEST_RUN` failed.
    #[error("cannot run probe '{probe}' (bpf BPF_PROG_TEST_RUN): {source}")]
    TestRun {
        /// The probe (`BEGIN` or `END`).
        probe: String,
        /// errno.
        #[source]
        source: kestrel_sys::SysError,
    },

    /// Reading a map from userspace failed.
    #[error("cannot read map '{map}' (bpf {op}): {source}")]
    MapRead {
        /// Map name.
        map: String,
        /// The bpf(2) command.
        op: &'static str,
        /// errno.
        #[source]
        source: io::Error,
    },

    /// A ring-buffer record does not match the object's printf table (a codegen bug).
    #[error("malformed event record (id {id}, {len} bytes): {reason}")]
    BadEvent {
        /// The record's event id (0 if the record was shorter than 8 bytes).
        id: u64,
        /// The record's length.
        len: usize,
        /// What is wrong.
        reason: &'static str,
    },

    /// A printf format does not fit its recorded arguments (a codegen bug).
    #[error("cannot format printf #{id}: {source}")]
    Printf {
        /// The printf's event id.
        id: u64,
        /// What is wrong.
        #[source]
        source: crate::output::OutputError,
    },

    /// The object names something the loaded object does not have (a codegen bug).
    #[error("the loaded object has no {what} named '{name}'")]
    Missing {
        /// `program` or `map`.
        what: &'static str,
        /// The name.
        name: String,
    },

    /// A system call outside bpf(2) failed (poll, sigaction, reading /sys).
    #[error("{call}: {source}")]
    Sys {
        /// What was being done.
        call: &'static str,
        /// errno.
        #[source]
        source: io::Error,
    },

    /// Writing output failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
}

/// A kernel-object failure as the runtime reports it: privilege problems become the one
/// permission line; anything else names the object.
pub(crate) fn sys_error(e: kestrel_sys::SysError, what: impl FnOnce() -> String) -> RuntimeError {
    if e.is_permission() {
        if let kestrel_sys::SysError::Sys { call, .. } = &e {
            return RuntimeError::Permission {
                reason: crate::denial::reason(call),
            };
        }
    }
    RuntimeError::Kernel {
        what: what(),
        source: e,
    }
}

/// Why a kernel-function probe cannot attach here, with the tracepoint to use instead.
pub(crate) fn kernel_func_error(
    prog: &kestrel_obj::ProgramSpec,
    e: &dyn std::fmt::Display,
) -> RuntimeError {
    let kestrel_obj::AttachPoint::KernelFunc {
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
            if text.contains("Operation not permitted")
                || text.contains("EPERM")
                || text.contains("not permitted")
            {
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
