//! perf events: the hooks that tracepoint, kprobe/uprobe, timer and counter programs hang
//! from (`perf_event_open`).

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::attr::{PerfEventAttr, PERF_ATTR_SIZE};
use crate::error::SysError;
use crate::syscall::perf_event_open;

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// `perf_event_attr.freq`: `sample` is a frequency, not a period.
const FLAG_FREQ: u64 = 1 << 10;

/// Which processes and CPUs an event covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every process, on one CPU.
    Cpu(u32),
    /// One process, on every CPU.
    Process(u32),
}

impl Scope {
    fn args(self) -> (libc::pid_t, libc::c_int) {
        match self {
            Scope::Cpu(cpu) => (-1, cpu as libc::c_int),
            Scope::Process(pid) => (pid as libc::pid_t, -1),
        }
    }
}

/// How often a sampling event fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample {
    /// Every N events (ns for the clocks).
    Period(u64),
    /// N times a second.
    Frequency(u64),
}

/// An open perf event; closing it detaches whatever program hangs from it.
#[derive(Debug)]
pub struct PerfEvent {
    fd: OwnedFd,
}

impl PerfEvent {
    /// The descriptor.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    fn open(attr: &PerfEventAttr, scope: Scope, what: &str) -> Result<PerfEvent, SysError> {
        let (pid, cpu) = scope.args();
        perf_event_open(attr, pid, cpu, PERF_FLAG_FD_CLOEXEC)
            .map(|fd| PerfEvent { fd })
            .map_err(|e| SysError::call("perf_event_open", what.to_string(), e))
    }

    /// A tracepoint by its tracefs id (`events/CATEGORY/NAME/id`), for every process: the
    /// kernel runs the program on every CPU from one event opened on CPU 0.
    pub fn tracepoint(id: u64, what: &str) -> Result<PerfEvent, SysError> {
        let attr = PerfEventAttr {
            kind: PERF_TYPE_TRACEPOINT,
            size: PERF_ATTR_SIZE,
            config: id,
            sample: 1,
            wakeup_events: 1,
            ..PerfEventAttr::default()
        };
        Self::open(&attr, Scope::Cpu(0), what)
    }

    /// A software (`hardware == false`) or hardware counter event that samples as `sample`
    /// says.
    pub fn counter(
        hardware: bool,
        config: u64,
        sample: Sample,
        scope: Scope,
        what: &str,
    ) -> Result<PerfEvent, SysError> {
        let (value, flags) = match sample {
            Sample::Period(p) => (p, 0),
            Sample::Frequency(f) => (f, FLAG_FREQ),
        };
        let attr = PerfEventAttr {
            kind: if hardware {
                PERF_TYPE_HARDWARE
            } else {
                PERF_TYPE_SOFTWARE
            },
            size: PERF_ATTR_SIZE,
            config,
            sample: value,
            flags,
            ..PerfEventAttr::default()
        };
        Self::open(&attr, scope, what)
    }

    /// A uprobe (or uretprobe) at file offset `offset` of `path` on the uprobe PMU, with an
    /// optional USDT semaphore (`ref_ctr_offset`, a file offset) that the kernel counts up
    /// while the probe exists; only in process `pid` when given.
    pub fn uprobe(
        path: &Path,
        offset: u64,
        ret: bool,
        ref_ctr: Option<u64>,
        pid: Option<u32>,
    ) -> Result<PerfEvent, SysError> {
        let what = format!("uprobe {}:{offset:#x}", path.display());
        let pmu = pmu_type("uprobe").map_err(|e| SysError::call("read", what.clone(), e))?;
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| SysError::Mismatch(format!("{what}: path contains a NUL byte")))?;
        let attr = PerfEventAttr {
            kind: pmu,
            size: PERF_ATTR_SIZE,
            // bit 0: retprobe; bits 32-63: ref_ctr_offset.
            config: (ref_ctr.unwrap_or(0) << 32) | u64::from(ret),
            config1: c_path.as_ptr() as u64,
            config2: offset,
            ..PerfEventAttr::default()
        };
        let scope = match pid {
            Some(p) => Scope::Process(p),
            None => Scope::Cpu(0),
        };
        Self::open(&attr, scope, &what)
    }

    /// A kprobe (or kretprobe) on kernel function `func` on the kprobe PMU. Kernels without
    /// CONFIG_KPROBES have no such PMU; the error says so.
    pub fn kprobe(func: &str, ret: bool) -> Result<PerfEvent, SysError> {
        let what = format!("kprobe {func}");
        let pmu = pmu_type("kprobe").map_err(|e| {
            SysError::call("read", format!("{what} (this kernel has no kprobe PMU)"), e)
        })?;
        let c_func = CString::new(func)
            .map_err(|_| SysError::Mismatch(format!("{what}: name contains a NUL byte")))?;
        let attr = PerfEventAttr {
            kind: pmu,
            size: PERF_ATTR_SIZE,
            config: u64::from(ret),
            config1: c_func.as_ptr() as u64,
            ..PerfEventAttr::default()
        };
        Self::open(&attr, Scope::Cpu(0), &what)
    }
}

/// The dynamic PMU type number of `name` (`/sys/bus/event_source/devices/NAME/type`).
fn pmu_type(name: &str) -> std::io::Result<u32> {
    std::fs::read_to_string(format!("/sys/bus/event_source/devices/{name}/type"))?
        .trim()
        .parse()
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad {name} PMU type"),
            )
        })
}
