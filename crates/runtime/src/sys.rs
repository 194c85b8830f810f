//! The few bpf(2) commands aya 0.14 does not expose publicly: `BPF_PROG_TEST_RUN` (to run
//! BEGIN/END programs once) and the raw map iteration commands (to read maps with key and
//! value sizes only known at run time, including per-CPU values).
//!
//! Each call fills a `#[repr(C)]` prefix of `union bpf_attr` and passes its exact size: the
//! kernel zero-extends shorter attrs and rejects non-zero bytes it does not know.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// The `test` member of `union bpf_attr` (kernel 5.10+ layout, 80 bytes).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// The map-element member of `union bpf_attr` (used by lookup and get-next-key).
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    /// `value` for lookups, `next_key` for get-next-key.
    value_or_next_key: u64,
    flags: u64,
}

/// Calls bpf(2) with `attr`, which must be a `#[repr(C)]` prefix of `union bpf_attr`.
pub(crate) fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct laid out as a prefix of
    // `union bpf_attr`, and we pass its exact size. Every pointer inside it (set by the
    // callers in this module and in `rawbpf`) points to a live buffer whose length was checked against what
    // the kernel reads or writes for this command: the test-run ctx is read for exactly
    // `ctx_size_in` bytes; map keys and values are checked against `RawMap`'s sizes.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
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

/// Runs a raw tracepoint program once in the calling thread with the zeroed context
/// `ctx` (its arguments) and returns the program's return value.
pub fn prog_test_run_raw_tp(prog: BorrowedFd<'_>, ctx: &[u64]) -> io::Result<u32> {
    let ctx_size_in = u32::try_from(std::mem::size_of_val(ctx))
        .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let mut attr = TestRunAttr {
        prog_fd: fd_u32(prog)?,
        ctx_size_in,
        ctx_in: ctx.as_ptr() as u64,
        ..TestRunAttr::default()
    };
    sys_bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(attr.retval)
}

/// A map fd plus the sizes the kernel will read and write for it, so that the iteration
/// calls below can check every buffer before handing its address to the kernel.
pub struct RawMap<'fd> {
    fd: BorrowedFd<'fd>,
    key_size: usize,
    value_len: usize,
}

impl<'fd> RawMap<'fd> {
    /// `key_size`/`value_size` must be the sizes the kernel reports for the map (`MapInfo`);
    /// for per-CPU maps the kernel copies `round_up(value_size, 8)` bytes for each of
    /// `possible_cpus` CPUs.
    pub fn new(
        fd: BorrowedFd<'fd>,
        key_size: u32,
        value_size: u32,
        per_cpu: bool,
        possible_cpus: usize,
    ) -> RawMap<'fd> {
        let value_size = value_size as usize;
        let value_len = if per_cpu {
            value_size.next_multiple_of(8) * possible_cpus
        } else {
            value_size
        };
        RawMap {
            fd,
            key_size: key_size as usize,
            value_len,
        }
    }

    /// Bytes in one key.
    pub fn key_size(&self) -> usize {
        self.key_size
    }

    /// Bytes one lookup writes (all CPUs' copies for per-CPU maps).
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// Copies the key following `key` (or the first key, if `key` is `None`) into `next`.
    /// Returns `Ok(false)` at the end of the map.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
        if key.is_some_and(|k| k.len() != self.key_size) || next.len() != self.key_size {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd)?,
            key: key.map_or(0, |k| k.as_ptr() as u64),
            value_or_next_key: next.as_mut_ptr() as u64,
            ..MapElemAttr::default()
        };
        match sys_bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Copies the value stored under `key` into `value`. Returns `Ok(false)` if the key is
    /// absent.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
        if key.len() != self.key_size || value.len() != self.value_len {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd)?,
            key: key.as_ptr() as u64,
            value_or_next_key: value.as_mut_ptr() as u64,
            ..MapElemAttr::default()
        };
        match sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores `value` (all CPUs' copies for per-CPU maps) under `key`.
    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if key.len() != self.key_size || value.len() != self.value_len {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd)?,
            key: key.as_ptr() as u64,
            value_or_next_key: value.as_ptr() as u64,
            ..MapElemAttr::default()
        };
        sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
    }

    /// Deletes `key`. Returns `Ok(false)` if it was already absent.
    pub fn delete(&self, key: &[u8]) -> io::Result<bool> {
        if key.len() != self.key_size {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd)?,
            key: key.as_ptr() as u64,
            ..MapElemAttr::default()
        };
        match sys_bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

pub(crate) fn fd_u32(fd: BorrowedFd<'_>) -> io::Result<u32> {
    u32::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_FENTRY: u32 = 24;

/// The `BPF_PROG_LOAD` member of `union bpf_attr`, up to `attach_btf_id` and its union.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
    _pad: u32,
}

/// The `BPF_LINK_CREATE` member of `union bpf_attr` (its fixed head plus the tracing
/// target, which stays zero: attach where the program's `attach_btf_id` says).
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    target_btf_id: u32,
    _pad: u32,
    cookie: u64,
}

/// Loads `return 0` as an fentry program on the vmlinux function with BTF id `btf_id`, and
/// attaches it, then closes both. `Ok(())` means fentry works here.
pub fn probe_fentry(btf_id: u32) -> io::Result<()> {
    use std::os::fd::{FromRawFd, OwnedFd};

    // r0 = 0; exit
    let insns: [u64; 2] = [u64::from_le_bytes([0xb7, 0, 0, 0, 0, 0, 0, 0]), 0x95];
    let license = b"GPL\0";
    let mut load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_TRACING,
        insn_cnt: 2,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_TRACE_FENTRY,
        attach_btf_id: btf_id,
        ..ProgLoadAttr::default()
    };
    let prog = sys_bpf(BPF_PROG_LOAD, &mut load)?;
    let prog = i32::try_from(prog).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: BPF_PROG_LOAD returned a new file descriptor that nothing else owns.
    let prog = unsafe { OwnedFd::from_raw_fd(prog) };

    let mut link = LinkCreateAttr {
        prog_fd: fd_u32(prog.as_fd())?,
        attach_type: BPF_TRACE_FENTRY,
        ..LinkCreateAttr::default()
    };
    let link = sys_bpf(BPF_LINK_CREATE, &mut link)?;
    let link = i32::try_from(link).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: BPF_LINK_CREATE returned a new file descriptor that nothing else owns; owning
    // it closes (detaches) it when this function returns.
    drop(unsafe { OwnedFd::from_raw_fd(link) });
    Ok(())
}
