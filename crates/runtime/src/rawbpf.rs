//! Raw kernel objects for the packet path: maps, programs and links held by file descriptor,
//! created straight from instructions with bpf(2).
//!
//! Why not aya here: aya 0.14 loads programs only from ELF objects and creates each object's
//! maps itself, while the firewall must (a) load a new program that reuses the *pinned* maps of
//! the running one (block lists and counters survive `reload`), and (b) swap it in with
//! `BPF_LINK_UPDATE`, which aya's XDP API does not expose for programs it did not load. Both
//! are a few bpf(2) commands, so this module issues them directly, in the style of
//! [`crate::sys`]. Every buffer handed to the kernel is checked against the sizes the kernel
//! itself reports for the object (`BPF_OBJ_GET_INFO_BY_FD`), so a pin that turns out to be a
//! different map cannot make the kernel write past a buffer.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use kestrel_isa::Insn;

use crate::sys::{fd_u32, sys_bpf};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_UPDATE: libc::c_long = 29;
const BPF_LINK_DETACH: libc::c_long = 34;

/// `BPF_F_TEST_XDP_LIVE_FRAMES`: test-run frames really go out (redirect, TX).
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// Errors from the raw object layer. Each names the bpf(2) command and the object.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// A bpf(2) command failed.
    #[error("{what} (bpf {cmd})")]
    Sys {
        /// The command, e.g. `BPF_MAP_CREATE`.
        cmd: &'static str,
        /// The object it was about, e.g. `map 'fw_block4'` or a pin path.
        what: String,
        /// errno.
        #[source]
        source: io::Error,
    },
    /// The verifier rejected a program; the whole log is kept.
    #[error("the verifier rejected program '{program}': {}", last_lines(log))]
    Verifier {
        /// Program name.
        program: String,
        /// The verifier's complete log.
        log: String,
    },
    /// A buffer or pinned object did not have the size or type expected.
    #[error("{0}")]
    Mismatch(String),
}

fn last_lines(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" | ")
}

fn sys(cmd: &'static str, what: impl Into<String>) -> impl FnOnce(io::Error) -> BpfError {
    let what = what.into();
    move |source| BpfError::Sys { cmd, what, source }
}

/// Takes ownership of a file descriptor returned by bpf(2).
fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: bpf(2) just returned this new descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out
        .iter_mut()
        .zip(
            name.bytes()
                .filter(|b| b.is_ascii_alphanumeric() || *b == b'_'),
        )
        .take(15)
    {
        *o = b;
    }
    out
}

/// Kernel map types used on the packet path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawMapType {
    /// `BPF_MAP_TYPE_ARRAY`
    Array = 2,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`
    PerCpuArray = 6,
    /// `BPF_MAP_TYPE_LRU_HASH`
    LruHash = 9,
    /// `BPF_MAP_TYPE_LPM_TRIE` (created with `BPF_F_NO_PREALLOC`, as the kernel requires)
    LpmTrie = 11,
}

impl RawMapType {
    fn per_cpu(type_id: u32) -> bool {
        // PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH
        matches!(type_id, 5 | 6 | 10)
    }
}

/// What to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMapSpec {
    /// Name (kernel keeps 15 bytes of `[A-Za-z0-9_]`).
    pub name: String,
    /// Map type.
    pub kind: RawMapType,
    /// Key bytes.
    pub key_size: u32,
    /// Value bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The head of `struct bpf_map_info`.
#[repr(C)]
#[derive(Default)]
struct MapInfo {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; 16],
}

/// A live map held by its file descriptor (closed, and freed if unpinned, on drop).
#[derive(Debug)]
pub struct BpfMap {
    fd: OwnedFd,
    type_id: u32,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
    value_len: usize,
}

impl BpfMap {
    /// `BPF_MAP_CREATE`.
    pub fn create(spec: &RawMapSpec) -> Result<BpfMap, BpfError> {
        const BPF_F_NO_PREALLOC: u32 = 1;
        let mut attr = MapCreateAttr {
            map_type: spec.kind as u32,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: if spec.kind == RawMapType::LpmTrie {
                BPF_F_NO_PREALLOC
            } else {
                0
            },
            map_name: name16(&spec.name),
            ..MapCreateAttr::default()
        };
        let what = format!("cannot create map '{}'", spec.name);
        let fd = sys_bpf(BPF_MAP_CREATE, &mut attr)
            .and_then(owned)
            .map_err(sys("BPF_MAP_CREATE", what))?;
        BpfMap::from_fd(fd)
    }

    /// Opens the map pinned at `path`, with its sizes as the kernel reports them.
    pub fn from_pin(path: &Path) -> Result<BpfMap, BpfError> {
        let fd = obj_get(path)?;
        BpfMap::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> Result<BpfMap, BpfError> {
        let mut info = MapInfo::default();
        let mut attr = InfoAttr {
            bpf_fd: fd_u32(fd.as_fd()).map_err(sys("BPF_OBJ_GET_INFO_BY_FD", "map"))?,
            info_len: std::mem::size_of::<MapInfo>() as u32,
            info: &mut info as *mut MapInfo as u64,
        };
        sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)
            .map_err(sys("BPF_OBJ_GET_INFO_BY_FD", "cannot read map info"))?;
        let value_size = info.value_size as usize;
        let value_len = if RawMapType::per_cpu(info.map_type) {
            let cpus = aya::util::nr_cpus()
                .map_err(|(_, e)| BpfError::Mismatch(format!("cannot count CPUs: {e}")))?;
            value_size.next_multiple_of(8) * cpus
        } else {
            value_size
        };
        Ok(BpfMap {
            fd,
            type_id: info.map_type,
            key_size: info.key_size as usize,
            value_size,
            max_entries: info.max_entries,
            value_len,
        })
    }

    /// The descriptor (for ld_imm64 map references).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The kernel's map type number.
    pub fn type_id(&self) -> u32 {
        self.type_id
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> usize {
        self.key_size
    }

    /// Value size in bytes (of one CPU's copy).
    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// Capacity.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// Bytes a lookup writes: `value_size`, or every possible CPU's 8-aligned copy.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// Pins the map at `path` (on a bpffs).
    pub fn pin(&self, path: &Path) -> Result<(), BpfError> {
        obj_pin(self.fd.as_fd(), path)
    }

    fn check(&self, key: &[u8], value: Option<usize>) -> Result<(), BpfError> {
        if key.len() != self.key_size || value.is_some_and(|v| v != self.value_len) {
            return Err(BpfError::Mismatch(format!(
                "map key/value buffer sizes {}/{:?} do not match the map ({}/{})",
                key.len(),
                value,
                self.key_size,
                self.value_len
            )));
        }
        Ok(())
    }

    /// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`. For per-CPU maps `value` holds every CPU's copy.
    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<(), BpfError> {
        self.check(key, Some(value.len()))?;
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd()).map_err(sys("BPF_MAP_UPDATE_ELEM", "map"))?,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            ..MapElemAttr::default()
        };
        sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr)
            .map(drop)
            .map_err(sys("BPF_MAP_UPDATE_ELEM", "cannot update map entry"))
    }

    /// `BPF_MAP_DELETE_ELEM`; `Ok(false)` if the key was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, BpfError> {
        self.check(key, None)?;
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd()).map_err(sys("BPF_MAP_DELETE_ELEM", "map"))?,
            key: key.as_ptr() as u64,
            ..MapElemAttr::default()
        };
        match sys_bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(sys("BPF_MAP_DELETE_ELEM", "cannot delete map entry")(e)),
        }
    }

    /// `BPF_MAP_LOOKUP_ELEM` into `value` (of [`BpfMap::value_len`] bytes); `Ok(false)` if absent.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<bool, BpfError> {
        self.check(key, Some(value.len()))?;
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd()).map_err(sys("BPF_MAP_LOOKUP_ELEM", "map"))?,
            key: key.as_ptr() as u64,
            value: value.as_mut_ptr() as u64,
            ..MapElemAttr::default()
        };
        match sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(sys("BPF_MAP_LOOKUP_ELEM", "cannot read map entry")(e)),
        }
    }

    /// Every key in the map (order is the kernel's).
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, BpfError> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut next = vec![0u8; self.key_size];
            let mut attr = MapElemAttr {
                map_fd: fd_u32(self.fd()).map_err(sys("BPF_MAP_GET_NEXT_KEY", "map"))?,
                key: out.last().map_or(0, |k| k.as_ptr() as u64),
                value: next.as_mut_ptr() as u64,
                ..MapElemAttr::default()
            };
            match sys_bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
                Ok(_) => out.push(next),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(out),
                Err(e) => return Err(sys("BPF_MAP_GET_NEXT_KEY", "cannot list map keys")(e)),
            }
            if out.len() > self.max_entries as usize + 1 {
                // A trie walk restarting under concurrent updates; stop rather than loop.
                return Ok(out);
            }
        }
    }
}

fn path_cstring(path: &Path) -> Result<CString, BpfError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| BpfError::Mismatch(format!("pin path {} contains NUL", path.display())))
}

fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> Result<(), BpfError> {
    let c = path_cstring(path)?;
    let what = format!("cannot pin at {}", path.display());
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: fd_u32(fd).map_err(sys("BPF_OBJ_PIN", what.clone()))?,
        file_flags: 0,
    };
    sys_bpf(BPF_OBJ_PIN, &mut attr)
        .map(drop)
        .map_err(sys("BPF_OBJ_PIN", what))
}

fn obj_get(path: &Path) -> Result<OwnedFd, BpfError> {
    let c = path_cstring(path)?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        ..ObjAttr::default()
    };
    sys_bpf(BPF_OBJ_GET, &mut attr).and_then(owned).map_err(sys(
        "BPF_OBJ_GET",
        format!("cannot open pin {}", path.display()),
    ))
}

/// Program types used on the packet path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawProgType {
    /// `BPF_PROG_TYPE_XDP` (expected attach type `BPF_XDP`).
    Xdp,
    /// `BPF_PROG_TYPE_SCHED_CLS` for tcx ingress.
    TcxIngress,
}

const BPF_XDP: u32 = 37;
const BPF_TCX_INGRESS: u32 = 46;

impl RawProgType {
    fn ids(self) -> (u32, u32) {
        match self {
            RawProgType::Xdp => (6, BPF_XDP),
            RawProgType::TcxIngress => (3, BPF_TCX_INGRESS),
        }
    }
}

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
}

/// A loaded (verified) program.
#[derive(Debug)]
pub struct BpfProg {
    fd: OwnedFd,
    kind: RawProgType,
}

/// "The ld_imm64 at instruction `insn` loads map `fd`."
#[derive(Clone, Copy, Debug)]
pub struct FdReloc<'a> {
    /// First slot of the ld_imm64.
    pub insn: usize,
    /// The map.
    pub map: &'a BpfMap,
}

impl BpfProg {
    /// Patches map fds into `insns` and loads them through the verifier (license GPL).
    pub fn load(
        kind: RawProgType,
        name: &str,
        insns: &[Insn],
        relocs: &[FdReloc<'_>],
    ) -> Result<BpfProg, BpfError> {
        const BPF_PSEUDO_MAP_FD: u8 = 1;
        let mut code: Vec<Insn> = insns.to_vec();
        for r in relocs {
            let fd = r.map.fd.as_fd();
            let raw = fd_u32(fd).map_err(sys("BPF_PROG_LOAD", name))?;
            let slot = code
                .get_mut(r.insn)
                .filter(|i| i.is_ld_imm64())
                .ok_or_else(|| {
                    BpfError::Mismatch(format!("map relocation at {} is not an ld_imm64", r.insn))
                })?;
            slot.src = BPF_PSEUDO_MAP_FD;
            slot.imm = raw as i32;
        }
        let bytes: Vec<u8> = code.iter().flat_map(|i| i.to_bytes()).collect();
        let license = b"GPL\0";
        let (prog_type, attach) = kind.ids();
        let try_load = |log: &mut Vec<u8>, level: u32| {
            let mut attr = ProgLoadAttr {
                prog_type,
                insn_cnt: code.len() as u32,
                insns: bytes.as_ptr() as u64,
                license: license.as_ptr() as u64,
                log_level: level,
                log_size: log.len() as u32,
                log_buf: if log.is_empty() {
                    0
                } else {
                    log.as_mut_ptr() as u64
                },
                prog_name: name16(name),
                expected_attach_type: attach,
                ..ProgLoadAttr::default()
            };
            sys_bpf(BPF_PROG_LOAD, &mut attr).and_then(owned)
        };
        // Load without a log first (fast path); on failure, again with one to explain why.
        match try_load(&mut Vec::new(), 0) {
            Ok(fd) => Ok(BpfProg { fd, kind }),
            Err(first) => {
                let mut log = vec![0u8; 4 << 20];
                let _ = try_load(&mut log, 1);
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]).into_owned();
                if text.trim().is_empty() {
                    Err(sys(
                        "BPF_PROG_LOAD",
                        format!("cannot load program '{name}'"),
                    )(first))
                } else {
                    Err(BpfError::Verifier {
                        program: name.to_string(),
                        log: text,
                    })
                }
            }
        }
    }

    /// The descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The program type it was loaded as.
    pub fn kind(&self) -> RawProgType {
        self.kind
    }

    /// Runs the program `repeat` times over `data` with `BPF_PROG_TEST_RUN`; returns the last
    /// return value and the kernel's average run time in nanoseconds.
    pub fn test_run(&self, data: &[u8], repeat: u32) -> Result<(u32, u32), BpfError> {
        self.run(data, repeat, 0, 0)
    }

    /// `BPF_PROG_TEST_RUN` in live-frames mode (XDP only): the `repeat` frames built from
    /// `data` are really processed — `XDP_REDIRECT` transmits them — in batches of `batch`.
    pub fn test_run_live(&self, data: &[u8], repeat: u32, batch: u32) -> Result<u32, BpfError> {
        self.run(data, repeat, BPF_F_TEST_XDP_LIVE_FRAMES, batch)
            .map(|(_, d)| d)
    }

    /// Runs the program once over `data` with a caller-supplied context (`ctx_in`, e.g. an
    /// `xdp_md` whose `data` field skips metadata at the front of `data`); returns the
    /// program's return value.
    pub fn test_run_ctx(&self, data: &[u8], ctx: &[u8]) -> Result<u32, BpfError> {
        self.run_with(data, 1, 0, 0, ctx).map(|(r, _)| r)
    }

    fn run(
        &self,
        data: &[u8],
        repeat: u32,
        flags: u32,
        batch: u32,
    ) -> Result<(u32, u32), BpfError> {
        self.run_with(data, repeat, flags, batch, &[])
    }

    fn run_with(
        &self,
        data: &[u8],
        repeat: u32,
        flags: u32,
        batch: u32,
        ctx: &[u8],
    ) -> Result<(u32, u32), BpfError> {
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
        let mut attr = TestRunAttr {
            prog_fd: fd_u32(self.fd()).map_err(sys("BPF_PROG_TEST_RUN", "program"))?,
            data_size_in: data.len() as u32,
            data_in: data.as_ptr() as u64,
            repeat,
            flags,
            batch_size: batch,
            ctx_size_in: ctx.len() as u32,
            ctx_in: if ctx.is_empty() {
                0
            } else {
                ctx.as_ptr() as u64
            },
            ..TestRunAttr::default()
        };
        sys_bpf(BPF_PROG_TEST_RUN, &mut attr)
            .map_err(sys("BPF_PROG_TEST_RUN", "cannot test-run program"))?;
        Ok((attr.retval, attr.duration))
    }
}

/// How an XDP program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// In the generic stack path (`XDP_FLAGS_SKB_MODE`).
    Generic,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target: u32,
    attach_type: u32,
    flags: u32,
    rel: u32,
    _pad: u32,
    expected_revision: u64,
}

#[repr(C)]
#[derive(Default)]
struct LinkUpdateAttr {
    link_fd: u32,
    new_prog_fd: u32,
    flags: u32,
    old_prog_fd: u32,
}

/// A BPF link (the attachment), detached when the last descriptor and pin are gone.
#[derive(Debug)]
pub struct BpfLink {
    fd: OwnedFd,
}

impl BpfLink {
    /// Attaches an XDP program to interface `ifindex` (`BPF_LINK_CREATE`, `BPF_XDP`).
    pub fn attach_xdp(prog: &BpfProg, ifindex: u32, mode: XdpMode) -> Result<BpfLink, BpfError> {
        const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
        const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
        let flags = match mode {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
        };
        Self::create(prog, ifindex, BPF_XDP, flags)
    }

    /// Attaches a sched_cls program at the tcx ingress hook of `ifindex`.
    pub fn attach_tcx_ingress(prog: &BpfProg, ifindex: u32) -> Result<BpfLink, BpfError> {
        Self::create(prog, ifindex, BPF_TCX_INGRESS, 0)
    }

    fn create(
        prog: &BpfProg,
        ifindex: u32,
        attach_type: u32,
        flags: u32,
    ) -> Result<BpfLink, BpfError> {
        let what = format!("cannot attach to interface index {ifindex}");
        let mut attr = LinkCreateAttr {
            prog_fd: fd_u32(prog.fd()).map_err(sys("BPF_LINK_CREATE", what.clone()))?,
            target: ifindex,
            attach_type,
            flags,
            ..LinkCreateAttr::default()
        };
        let fd = sys_bpf(BPF_LINK_CREATE, &mut attr)
            .and_then(owned)
            .map_err(sys("BPF_LINK_CREATE", what))?;
        Ok(BpfLink { fd })
    }

    /// Opens the link pinned at `path`.
    pub fn from_pin(path: &Path) -> Result<BpfLink, BpfError> {
        Ok(BpfLink { fd: obj_get(path)? })
    }

    /// Pins the link at `path`, so it outlives this process.
    pub fn pin(&self, path: &Path) -> Result<(), BpfError> {
        obj_pin(self.fd.as_fd(), path)
    }

    /// Atomically replaces the attached program (`BPF_LINK_UPDATE`): packets see either the
    /// old program or the new one, never no program.
    pub fn update(&self, prog: &BpfProg) -> Result<(), BpfError> {
        let mut attr = LinkUpdateAttr {
            link_fd: fd_u32(self.fd.as_fd()).map_err(sys("BPF_LINK_UPDATE", "link"))?,
            new_prog_fd: fd_u32(prog.fd()).map_err(sys("BPF_LINK_UPDATE", "program"))?,
            ..LinkUpdateAttr::default()
        };
        sys_bpf(BPF_LINK_UPDATE, &mut attr)
            .map(drop)
            .map_err(sys("BPF_LINK_UPDATE", "cannot swap the attached program"))
    }

    /// Detaches the program now (`BPF_LINK_DETACH`), whoever else holds the link.
    pub fn detach(&self) -> Result<(), BpfError> {
        let mut attr = LinkUpdateAttr {
            link_fd: fd_u32(self.fd.as_fd()).map_err(sys("BPF_LINK_DETACH", "link"))?,
            ..LinkUpdateAttr::default()
        };
        sys_bpf(BPF_LINK_DETACH, &mut attr)
            .map(drop)
            .map_err(sys("BPF_LINK_DETACH", "cannot detach link"))
    }
}

/// Makes sure a bpffs is mounted at /sys/fs/bpf (mounting one if not) and creates `dir`
/// below it. Returns true if this call mounted the filesystem.
pub fn ensure_bpffs_dir(dir: &Path) -> Result<bool, BpfError> {
    let mounted = kestrel_kernel::ensure_bpffs()
        .map_err(|e| BpfError::Mismatch(format!("cannot mount bpffs at /sys/fs/bpf: {e}")))?
        .newly_mounted;
    std::fs::create_dir_all(dir).map_err(|source| BpfError::Sys {
        cmd: "mkdir",
        what: format!("cannot create {}", dir.display()),
        source,
    })?;
    Ok(mounted)
}

/// The interface index of `name`, if it exists.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}
