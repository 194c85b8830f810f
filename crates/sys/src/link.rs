//! Links: attachments held by file descriptor. Dropping the last descriptor (and pin)
//! detaches, so any exit of the process — even `kill -9` — leaves nothing attached unless it
//! was pinned on purpose.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::attr::{LinkCreateAttr, LinkInfo, LinkUpdateAttr, ProgAttachAttr, RawTpAttr};
use crate::cmd::Cmd;
use crate::error::{bpf_err, SysError};
use crate::obj::{obj_get, obj_info, obj_pin};
use crate::perf::PerfEvent;
use crate::prog::{AttachType, Program};
use crate::syscall::{bpf, bpf_fd, fd_u32};

/// How an XDP program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// In the generic stack path (`XDP_FLAGS_SKB_MODE`).
    Generic,
}

/// What the kernel says about a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkDetails {
    /// The link's id.
    pub id: u32,
    /// `enum bpf_link_type`.
    pub link_type: u32,
    /// The id of the attached program.
    pub prog_id: u32,
}

/// A BPF link (the attachment).
#[derive(Debug)]
pub struct Link {
    fd: OwnedFd,
    /// The perf event a perf-event link hangs from; closed after the link.
    _event: Option<PerfEvent>,
    what: String,
}

impl Link {
    fn create(
        prog: &Program,
        target: u32,
        attach: AttachType,
        flags: u32,
        what: String,
    ) -> Result<Link, SysError> {
        let mut attr = LinkCreateAttr {
            prog_fd: fd_u32(prog.fd()).map_err(bpf_err(Cmd::LinkCreate, what.clone()))?,
            target,
            attach_type: attach.id(),
            flags,
            ..LinkCreateAttr::default()
        };
        let fd =
            bpf_fd(Cmd::LinkCreate, &mut attr).map_err(bpf_err(Cmd::LinkCreate, what.clone()))?;
        Ok(Link {
            fd,
            _event: None,
            what,
        })
    }

    /// Attaches an XDP program to interface `ifindex`.
    pub fn attach_xdp(prog: &Program, ifindex: u32, mode: XdpMode) -> Result<Link, SysError> {
        const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
        const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
        let flags = match mode {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
        };
        Self::create(
            prog,
            ifindex,
            AttachType::Xdp,
            flags,
            format!("XDP program '{}' on interface index {ifindex}", prog.name()),
        )
    }

    /// Attaches a sched_cls program at a tcx hook (`TcxIngress` or `TcxEgress`) of
    /// `ifindex`, after the programs already there.
    pub fn attach_tcx(prog: &Program, ifindex: u32, hook: AttachType) -> Result<Link, SysError> {
        if !matches!(hook, AttachType::TcxIngress | AttachType::TcxEgress) {
            return Err(SysError::Mismatch(format!("{hook:?} is not a tcx hook")));
        }
        Self::create(
            prog,
            ifindex,
            hook,
            0,
            format!(
                "tc program '{}' at {hook:?} of interface index {ifindex}",
                prog.name()
            ),
        )
    }

    /// Attaches a cgroup program (skb, sock, sock_addr, sock_ops, device, sysctl, sockopt)
    /// to the cgroup v2 directory open at `cgroup` (an `O_RDONLY` directory descriptor).
    pub fn attach_cgroup(
        prog: &Program,
        cgroup: BorrowedFd<'_>,
        attach: AttachType,
    ) -> Result<Link, SysError> {
        let what = format!("program '{}' at {attach:?} of a cgroup", prog.name());
        let target = fd_u32(cgroup).map_err(bpf_err(Cmd::LinkCreate, what.clone()))?;
        Self::create(prog, target, attach, 0, what)
    }

    /// Attaches a cgroup program to the cgroup v2 directory at `path`.
    pub fn attach_cgroup_path(
        prog: &Program,
        path: &Path,
        attach: AttachType,
    ) -> Result<Link, SysError> {
        let dir = std::fs::File::open(path)
            .map_err(|e| SysError::call("open", format!("cgroup {}", path.display()), e))?;
        Self::attach_cgroup(prog, dir.as_fd(), attach)
    }

    /// Attaches a tracepoint, kprobe/uprobe or perf-counter program to a perf event
    /// (`BPF_LINK_CREATE` with `BPF_PERF_EVENT`); the link owns the event.
    pub fn attach_perf_event(prog: &Program, event: PerfEvent) -> Result<Link, SysError> {
        let what = format!("program '{}' on a perf event", prog.name());
        let target = fd_u32(event.fd()).map_err(bpf_err(Cmd::LinkCreate, what.clone()))?;
        let mut link = Self::create(prog, target, AttachType::PerfEvent, 0, what)?;
        link._event = Some(event);
        Ok(link)
    }

    /// Attaches a tracing program (fentry/fexit) where its `attach_btf_id` says
    /// (`BPF_RAW_TRACEPOINT_OPEN` with no name).
    pub fn attach_tracing(prog: &Program) -> Result<Link, SysError> {
        let what = format!("tracing program '{}'", prog.name());
        let mut attr = RawTpAttr {
            prog_fd: fd_u32(prog.fd()).map_err(bpf_err(Cmd::RawTracepointOpen, what.clone()))?,
            ..RawTpAttr::default()
        };
        let fd = bpf_fd(Cmd::RawTracepointOpen, &mut attr)
            .map_err(bpf_err(Cmd::RawTracepointOpen, what.clone()))?;
        Ok(Link {
            fd,
            _event: None,
            what,
        })
    }

    /// Attaches a raw tracepoint program (`BPF_RAW_TRACEPOINT_OPEN`).
    pub fn attach_raw_tracepoint(prog: &Program, name: &str) -> Result<Link, SysError> {
        let what = format!("raw tracepoint {name}");
        let c = CString::new(name)
            .map_err(|_| SysError::Mismatch(format!("{what}: name contains a NUL byte")))?;
        let mut attr = RawTpAttr {
            name: c.as_ptr() as u64,
            prog_fd: fd_u32(prog.fd()).map_err(bpf_err(Cmd::RawTracepointOpen, what.clone()))?,
            ..RawTpAttr::default()
        };
        let fd = bpf_fd(Cmd::RawTracepointOpen, &mut attr)
            .map_err(bpf_err(Cmd::RawTracepointOpen, what.clone()))?;
        Ok(Link {
            fd,
            _event: None,
            what,
        })
    }

    /// Opens the link pinned at `path`.
    pub fn from_pin(path: &Path) -> Result<Link, SysError> {
        Ok(Link {
            fd: obj_get(path)?,
            _event: None,
            what: format!("link pinned at {}", path.display()),
        })
    }

    /// Pins the link at `path`, so it outlives this process.
    pub fn pin(&self, path: &Path) -> Result<(), SysError> {
        obj_pin(self.fd.as_fd(), path)
    }

    /// The descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The link's id, type and program.
    pub fn info(&self) -> Result<LinkDetails, SysError> {
        let info: LinkInfo = obj_info(self.fd(), &self.what)?;
        Ok(LinkDetails {
            id: info.id,
            link_type: info.link_type,
            prog_id: info.prog_id,
        })
    }

    /// Atomically replaces the attached program (`BPF_LINK_UPDATE`): events see either the
    /// old program or the new one, never none.
    pub fn update(&self, prog: &Program) -> Result<(), SysError> {
        let mut attr = LinkUpdateAttr {
            link_fd: fd_u32(self.fd()).map_err(bpf_err(Cmd::LinkUpdate, self.what.clone()))?,
            new_prog_fd: fd_u32(prog.fd()).map_err(bpf_err(Cmd::LinkUpdate, self.what.clone()))?,
            ..LinkUpdateAttr::default()
        };
        bpf(Cmd::LinkUpdate, &mut attr).map(drop).map_err(bpf_err(
            Cmd::LinkUpdate,
            format!("cannot swap the program of {}", self.what),
        ))
    }

    /// Detaches the program now (`BPF_LINK_DETACH`), whoever else holds the link or its pin.
    pub fn detach(&self) -> Result<(), SysError> {
        let mut attr = LinkUpdateAttr {
            link_fd: fd_u32(self.fd()).map_err(bpf_err(Cmd::LinkDetach, self.what.clone()))?,
            ..LinkUpdateAttr::default()
        };
        bpf(Cmd::LinkDetach, &mut attr).map(drop).map_err(bpf_err(
            Cmd::LinkDetach,
            format!("cannot detach {}", self.what),
        ))
    }
}

/// Attaches a socket-filter program to a socket (`SO_ATTACH_BPF`); it stays until the
/// socket closes or [`detach_socket_filter`].
pub fn attach_socket_filter(socket: BorrowedFd<'_>, prog: &Program) -> Result<(), SysError> {
    let fd: libc::c_int = prog.fd().as_raw_fd();
    // SAFETY: SO_ATTACH_BPF reads one c_int (the program fd) from a pointer to a live local
    // of exactly that size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_BPF,
            &fd as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(SysError::call(
            "setsockopt(SO_ATTACH_BPF)",
            format!("socket filter '{}'", prog.name()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Removes a socket's filter program (`SO_DETACH_BPF`).
pub fn detach_socket_filter(socket: BorrowedFd<'_>) -> Result<(), SysError> {
    let zero: libc::c_int = 0;
    // SAFETY: SO_DETACH_BPF ignores its value; we pass a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DETACH_BPF,
            &zero as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(SysError::call(
            "setsockopt(SO_DETACH_BPF)",
            "socket filter",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Attaches a program to a map with `BPF_PROG_ATTACH` (sk_msg verdict programs on a
/// sockmap/sockhash). Such attachments live as long as the map.
pub fn attach_to_map(
    prog: &Program,
    map: &crate::map::Map,
    attach: AttachType,
) -> Result<(), SysError> {
    let what = format!("program '{}' to map '{}'", prog.name(), map.name());
    let mut attr = ProgAttachAttr {
        target_fd: fd_u32(map.fd()).map_err(bpf_err(Cmd::ProgAttach, what.clone()))?,
        attach_bpf_fd: fd_u32(prog.fd()).map_err(bpf_err(Cmd::ProgAttach, what.clone()))?,
        attach_type: attach.id(),
        ..ProgAttachAttr::default()
    };
    bpf(Cmd::ProgAttach, &mut attr)
        .map(drop)
        .map_err(bpf_err(Cmd::ProgAttach, what))
}
