//! Commands shared by every object kind: pins, info, ids.

use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use crate::attr::{IdAttr, InfoAttr, ObjAttr};
use crate::cmd::Cmd;
use crate::error::{bpf_err, SysError};
use crate::syscall::{bpf, bpf_fd, fd_u32};

fn c_path(path: &Path, cmd: Cmd) -> Result<CString, SysError> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
        SysError::Mismatch(format!(
            "{cmd}: path {} contains a NUL byte",
            path.display()
        ))
    })
}

/// `BPF_OBJ_PIN`: pins the object `fd` at `path`.
pub(crate) fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> Result<(), SysError> {
    let c = c_path(path, Cmd::ObjPin)?;
    let what = format!("cannot pin at {}", path.display());
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: fd_u32(fd).map_err(bpf_err(Cmd::ObjPin, what.clone()))?,
        ..ObjAttr::default()
    };
    bpf(Cmd::ObjPin, &mut attr)
        .map(drop)
        .map_err(bpf_err(Cmd::ObjPin, what))
}

/// `BPF_OBJ_GET`: opens the object pinned at `path`.
pub(crate) fn obj_get(path: &Path) -> Result<OwnedFd, SysError> {
    let c = c_path(path, Cmd::ObjGet)?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        ..ObjAttr::default()
    };
    bpf_fd(Cmd::ObjGet, &mut attr).map_err(bpf_err(
        Cmd::ObjGet,
        format!("cannot open pin {}", path.display()),
    ))
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `T` (a `#[repr(C)]` prefix of the object's info struct
/// made of integers only; the kernel writes at most `size_of::<T>()` bytes).
pub(crate) fn obj_info<T: Default>(fd: BorrowedFd<'_>, name: &str) -> Result<T, SysError> {
    let mut info = T::default();
    let what = format!("'{name}'");
    let mut attr = InfoAttr {
        bpf_fd: fd_u32(fd).map_err(bpf_err(Cmd::ObjGetInfoByFd, what.clone()))?,
        info_len: std::mem::size_of::<T>() as u32,
        info: &mut info as *mut T as u64,
    };
    bpf(Cmd::ObjGetInfoByFd, &mut attr).map_err(bpf_err(Cmd::ObjGetInfoByFd, what))?;
    Ok(info)
}

/// Which kind of object an id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjKind {
    /// A program.
    Program,
    /// A map.
    Map,
    /// A link.
    Link,
}

/// Every id of `kind` loaded on the machine now (`BPF_*_GET_NEXT_ID`), as `bpftool prog
/// list` walks them.
pub fn all_ids(kind: ObjKind) -> Result<Vec<u32>, SysError> {
    let cmd = match kind {
        ObjKind::Program => Cmd::ProgGetNextId,
        ObjKind::Map => Cmd::MapGetNextId,
        ObjKind::Link => Cmd::LinkGetNextId,
    };
    let mut ids = Vec::new();
    let mut start = 0;
    loop {
        let mut attr = IdAttr {
            id: start,
            ..IdAttr::default()
        };
        match bpf(cmd, &mut attr) {
            Ok(_) => {
                ids.push(attr.next_id);
                start = attr.next_id;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(ids),
            Err(e) => return Err(SysError::bpf(cmd, "ids", e)),
        }
    }
}

/// Opens the object with id `id` (`BPF_*_GET_FD_BY_ID`).
pub fn fd_by_id(kind: ObjKind, id: u32) -> Result<OwnedFd, SysError> {
    let cmd = match kind {
        ObjKind::Program => Cmd::ProgGetFdById,
        ObjKind::Map => Cmd::MapGetFdById,
        ObjKind::Link => Cmd::LinkGetFdById,
    };
    let mut attr = IdAttr {
        id,
        ..IdAttr::default()
    };
    bpf_fd(cmd, &mut attr).map_err(bpf_err(cmd, format!("id {id}")))
}
