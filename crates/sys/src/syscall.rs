//! The one entry point for bpf(2), and the other raw calls on kernel objects
//! (perf_event_open, ioctl on perf events).
//!
//! Every bpf(2) call in kestrel goes through [`bpf`], which hands the attribute struct to the
//! kernel, or — in unit tests — to a fake installed with [`fake::install`] (aya's pattern:
//! code above this layer is tested without root and without a kernel).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::cmd::Cmd;

/// Calls bpf(2) with `attr`, which must be a `#[repr(C)]` prefix of `union bpf_attr` whose
/// pointers (if any) point to live buffers of the sizes the command reads or writes. The
/// callers in this crate check every buffer against the object's kernel-reported sizes.
pub(crate) fn bpf<T>(cmd: Cmd, attr: &mut T) -> io::Result<libc::c_long> {
    if let Some(ret) = fake::call(cmd, attr) {
        return ret;
    }
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct laid out as a prefix
    // of `union bpf_attr`, and its exact size is passed, so the kernel reads no further. The
    // pointers inside it were set by this crate's callers to buffers that outlive the call and
    // whose lengths match what the command reads or writes (checked where they are built).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Calls bpf(2) for a command that returns a new file descriptor, and owns it.
pub(crate) fn bpf_fd<T>(cmd: Cmd, attr: &mut T) -> io::Result<OwnedFd> {
    bpf(cmd, attr).and_then(owned)
}

/// Takes ownership of a file descriptor a syscall just returned.
pub(crate) fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the kernel just returned this new descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A descriptor as the u32 that `union bpf_attr` carries.
pub(crate) fn fd_u32(fd: BorrowedFd<'_>) -> io::Result<u32> {
    u32::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))
}

/// perf_event_open(2) with a `perf_event_attr` prefix whose `size` field is set.
pub(crate) fn perf_event_open<T>(
    attr: &T,
    pid: libc::pid_t,
    cpu: libc::c_int,
    flags: libc::c_ulong,
) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a live #[repr(C)] prefix of `struct perf_event_attr` whose `size`
    // field (set by the caller) says how many bytes the kernel may read; pointers inside it
    // (a uprobe's path) point to buffers alive until the call returns. The other arguments
    // are plain integers; group fd -1 means no group.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *const T,
            pid,
            cpu,
            -1 as libc::c_int,
            flags,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    owned(fd)
}

/// A fake bpf(2) for unit tests of code above this layer: the closure sees the command and
/// the attribute bytes (which it may rewrite, e.g. to return a value) and returns what the
/// syscall would.
pub mod fake {
    use std::cell::RefCell;
    use std::io;

    use crate::cmd::Cmd;

    /// The fake's signature: command and attr bytes in, syscall result out.
    pub type FakeBpf = Box<dyn FnMut(Cmd, &mut [u8]) -> io::Result<libc::c_long>>;

    thread_local! {
        static FAKE: RefCell<Option<FakeBpf>> = const { RefCell::new(None) };
    }

    /// Routes this thread's bpf(2) calls to `fake` until the returned guard is dropped.
    pub fn install(fake: FakeBpf) -> Guard {
        FAKE.with(|f| *f.borrow_mut() = Some(fake));
        Guard(())
    }

    /// Removes the fake when dropped.
    #[derive(Debug)]
    pub struct Guard(());

    impl Drop for Guard {
        fn drop(&mut self) {
            FAKE.with(|f| *f.borrow_mut() = None);
        }
    }

    pub(crate) fn call<T>(cmd: Cmd, attr: &mut T) -> Option<io::Result<libc::c_long>> {
        FAKE.with(|f| {
            let mut slot = f.borrow_mut();
            let fake = slot.as_mut()?;
            let size = std::mem::size_of::<T>();
            let ptr = attr as *mut T as *mut u8;
            // SAFETY: `attr` is an exclusively borrowed, initialized #[repr(C)] struct of
            // `size` bytes made only of integer fields (no padding holes: every attr struct
            // in this crate names its padding), so viewing it as bytes is sound for the
            // borrow's duration.
            let bytes = unsafe { std::slice::from_raw_parts_mut(ptr, size) };
            Some(fake(cmd, bytes))
        })
    }
}
