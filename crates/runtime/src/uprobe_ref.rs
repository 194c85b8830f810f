//! Uprobes whose USDT semaphore the kernel counts up while they are attached
//! (`ref_ctr_offset`). aya 0.14 cannot ask for that, so this module opens the uprobe perf
//! event itself: `perf_event_open` on the `uprobe` PMU with the semaphore's file offset in
//! `config` bits 32–63, then `PERF_EVENT_IOC_SET_BPF` and `PERF_EVENT_IOC_ENABLE`. Closing
//! the returned fd detaches the program and drops the semaphore count again.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;
/// `sizeof(struct perf_event_attr)` of the layout filled here (PERF_ATTR_SIZE_VER5).
const ATTR_SIZE: u32 = 112;

/// The first 112 bytes of `struct perf_event_attr`, with only what a uprobe needs named.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    /// `uprobe_path`: a pointer to the binary's path.
    config1: u64,
    /// `probe_offset`: the instruction's file offset.
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
}

/// Attaches program `prog` as a uprobe (or uretprobe) at file offset `offset` of `path`,
/// with the usdt semaphore at file offset `ref_ctr`; only in process `pid` when given.
pub(crate) fn attach(
    prog: BorrowedFd<'_>,
    path: &Path,
    offset: u64,
    ref_ctr: u64,
    ret: bool,
    pid: Option<u32>,
) -> io::Result<OwnedFd> {
    let pmu: u32 = std::fs::read_to_string("/sys/bus/event_source/devices/uprobe/type")?
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad uprobe PMU type"))?;
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let attr = PerfEventAttr {
        kind: pmu,
        size: ATTR_SIZE,
        config: (ref_ctr << 32) | u64::from(ret),
        config1: c_path.as_ptr() as u64,
        config2: offset,
        ..Default::default()
    };
    // A process-wide probe is opened on CPU 0; the kernel runs the program on every CPU.
    let (pid, cpu) = match pid {
        Some(p) => (p as libc::pid_t, -1),
        None => (-1, 0),
    };
    // SAFETY: `attr` is a live #[repr(C)] perf_event_attr prefix whose `size` field says how
    // many bytes the kernel may read; `config1` points to `c_path`, alive until the call
    // returns. The remaining arguments are plain integers.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            pid,
            cpu,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: perf_event_open returned a new file descriptor that nothing else owns.
    let event = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    // SAFETY: both ioctls take an integer argument (a program fd, or 0) on a perf event fd
    // we own.
    let rc = unsafe {
        libc::ioctl(
            event.as_raw_fd(),
            PERF_EVENT_IOC_SET_BPF as _,
            prog.as_raw_fd(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    let rc = unsafe { libc::ioctl(event.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(event)
}
