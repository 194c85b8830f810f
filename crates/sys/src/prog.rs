//! Programs: loaded from raw instructions through the verifier, held by file descriptor, run
//! with `BPF_PROG_TEST_RUN`, and described by `BPF_OBJ_GET_INFO_BY_FD`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use kestrel_isa::Insn;

use crate::attr::{ProgInfo, ProgLoadAttr, TestRunAttr};
use crate::btf::Btf;
use crate::cmd::Cmd;
use crate::error::{bpf_err, is_rejection, SysError};
use crate::map::Map;
use crate::obj::{obj_get, obj_info, obj_pin};
use crate::syscall::{bpf, bpf_fd, fd_u32};
use crate::util::{name16, name_from16};

/// Program types (`enum bpf_prog_type`) kestrel loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ProgType {
    SocketFilter,
    /// kprobes and uprobes.
    Kprobe,
    /// tc / tcx classifiers.
    SchedCls,
    Tracepoint,
    Xdp,
    PerfEvent,
    CgroupSkb,
    CgroupSock,
    SockOps,
    SkSkb,
    CgroupDevice,
    SkMsg,
    RawTracepoint,
    CgroupSockAddr,
    CgroupSysctl,
    CgroupSockopt,
    /// fentry/fexit/LSM (refused on kestrel's target kernel).
    Tracing,
}

impl ProgType {
    /// The kernel's number for the type.
    pub fn id(self) -> u32 {
        match self {
            ProgType::SocketFilter => 1,
            ProgType::Kprobe => 2,
            ProgType::SchedCls => 3,
            ProgType::Tracepoint => 5,
            ProgType::Xdp => 6,
            ProgType::PerfEvent => 7,
            ProgType::CgroupSkb => 8,
            ProgType::CgroupSock => 9,
            ProgType::SockOps => 13,
            ProgType::SkSkb => 14,
            ProgType::CgroupDevice => 15,
            ProgType::SkMsg => 16,
            ProgType::RawTracepoint => 17,
            ProgType::CgroupSockAddr => 18,
            ProgType::CgroupSysctl => 23,
            ProgType::CgroupSockopt => 25,
            ProgType::Tracing => 26,
        }
    }
}

/// Attach types (`enum bpf_attach_type`): where a program goes, and for some program types
/// also what the verifier checks at load time (`expected_attach_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum AttachType {
    CgroupInetIngress,
    CgroupInetEgress,
    CgroupInetSockCreate,
    CgroupSockOps,
    CgroupDevice,
    SkMsgVerdict,
    CgroupInet4Bind,
    CgroupInet6Bind,
    CgroupInet4Connect,
    CgroupInet6Connect,
    CgroupInet4PostBind,
    CgroupInet6PostBind,
    CgroupUdp4Sendmsg,
    CgroupUdp6Sendmsg,
    CgroupSysctl,
    CgroupUdp4Recvmsg,
    CgroupUdp6Recvmsg,
    CgroupGetsockopt,
    CgroupSetsockopt,
    TraceFentry,
    TraceFexit,
    CgroupInetSockRelease,
    Xdp,
    PerfEvent,
    TcxIngress,
    TcxEgress,
}

impl AttachType {
    /// The kernel's number for the attach type.
    pub fn id(self) -> u32 {
        use AttachType::*;
        match self {
            CgroupInetIngress => 0,
            CgroupInetEgress => 1,
            CgroupInetSockCreate => 2,
            CgroupSockOps => 3,
            CgroupDevice => 6,
            SkMsgVerdict => 7,
            CgroupInet4Bind => 8,
            CgroupInet6Bind => 9,
            CgroupInet4Connect => 10,
            CgroupInet6Connect => 11,
            CgroupInet4PostBind => 12,
            CgroupInet6PostBind => 13,
            CgroupUdp4Sendmsg => 14,
            CgroupUdp6Sendmsg => 15,
            CgroupSysctl => 18,
            CgroupUdp4Recvmsg => 19,
            CgroupUdp6Recvmsg => 20,
            CgroupGetsockopt => 21,
            CgroupSetsockopt => 22,
            TraceFentry => 24,
            TraceFexit => 25,
            CgroupInetSockRelease => 34,
            Xdp => 37,
            PerfEvent => 41,
            TcxIngress => 46,
            TcxEgress => 47,
        }
    }
}

/// "The ld_imm64 at instruction `insn` loads map `map`."
#[derive(Clone, Copy, Debug)]
pub struct FdReloc<'a> {
    /// First slot of the ld_imm64.
    pub insn: usize,
    /// The map.
    pub map: &'a Map,
}

/// One record of BTF function info: the function starting at `insn_off` has BTF type
/// `type_id` (a FUNC). Needed for programs with subprograms used as callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct FuncInfo {
    /// Instruction index where the function starts.
    pub insn_off: u32,
    /// Its FUNC type in the program's BTF.
    pub type_id: u32,
}

/// How much the verifier should say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VerifierLog {
    /// No log unless the load fails (then level 1 to explain why). Fastest.
    #[default]
    OnError,
    /// Always keep the level-1 log with statistics (instruction counts for `-v`).
    Stats,
    /// Level 2: every state at every instruction (debugging a rejection).
    Verbose,
}

/// Everything a program load needs.
#[derive(Clone, Copy, Debug)]
pub struct ProgramLoad<'a> {
    /// Program type.
    pub kind: ProgType,
    /// `expected_attach_type`, required by some types (cgroup sock_addr, XDP, tcx, ...).
    pub attach: Option<AttachType>,
    /// Name (the kernel keeps 15 bytes).
    pub name: &'a str,
    /// The code, map loads still unpatched.
    pub insns: &'a [Insn],
    /// Map loads to patch with map descriptors.
    pub relocs: &'a [FdReloc<'a>],
    /// BTF with the FUNC types `func_info` names.
    pub btf: Option<&'a Btf>,
    /// Function info (empty unless the program has subprograms).
    pub func_info: &'a [FuncInfo],
    /// The license (helpers such as bpf_probe_read need a GPL-compatible one).
    pub license: &'a str,
    /// How much verifier log to keep.
    pub log: VerifierLog,
    /// The kernel BTF id of the function a tracing (fentry/fexit) program attaches to.
    pub attach_btf_id: u32,
}

impl<'a> ProgramLoad<'a> {
    /// A load of `insns` as program type `kind`, GPL, no BTF, no relocations.
    pub fn new(kind: ProgType, name: &'a str, insns: &'a [Insn]) -> ProgramLoad<'a> {
        ProgramLoad {
            kind,
            attach: None,
            name,
            insns,
            relocs: &[],
            btf: None,
            func_info: &[],
            license: "GPL",
            log: VerifierLog::OnError,
            attach_btf_id: 0,
        }
    }

    /// The same load with `expected_attach_type` set.
    pub fn with_attach(mut self, attach: AttachType) -> ProgramLoad<'a> {
        self.attach = Some(attach);
        self
    }

    /// The same load with map relocations.
    pub fn with_relocs(mut self, relocs: &'a [FdReloc<'a>]) -> ProgramLoad<'a> {
        self.relocs = relocs;
        self
    }
}

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramInfo {
    /// The kernel's id.
    pub id: u32,
    /// Program type number.
    pub prog_type: u32,
    /// Name as the kernel keeps it.
    pub name: String,
    /// Translated (post-verifier) size in bytes.
    pub xlated_len: u32,
    /// JIT-compiled size in bytes.
    pub jited_len: u32,
    /// Total run time in ns while `kernel.bpf_stats_enabled` was on.
    pub run_time_ns: u64,
    /// Runs counted while `kernel.bpf_stats_enabled` was on.
    pub run_cnt: u64,
    /// Instructions the verifier processed (kernel 5.16+; 0 before).
    pub verified_insns: u32,
}

/// The size of the log buffer for a failed load: the verifier truncates beyond it.
const LOG_SIZE: usize = 4 << 20;

/// A loaded (verified) program.
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
    name: String,
    kind: ProgType,
    log: String,
}

impl Program {
    /// Patches map descriptors into the code and loads it through the verifier.
    ///
    /// Errors: [`SysError::Verifier`] only when the verifier refused the code (EACCES,
    /// EINVAL or E2BIG with a log that says why); any other failure — memory, JIT limits,
    /// privileges — is a [`SysError::Sys`] with its errno, even if a verifier log exists.
    pub fn load(load: &ProgramLoad<'_>) -> Result<Program, SysError> {
        const BPF_PSEUDO_MAP_FD: u8 = 1;
        let name = load.name;
        let mut code: Vec<Insn> = load.insns.to_vec();
        for r in load.relocs {
            let raw =
                fd_u32(r.map.fd()).map_err(bpf_err(Cmd::ProgLoad, format!("program '{name}'")))?;
            let slot = code
                .get_mut(r.insn)
                .filter(|i| i.is_ld_imm64())
                .ok_or_else(|| {
                    SysError::Mismatch(format!(
                        "program '{name}': map relocation at instruction {} is not an ld_imm64",
                        r.insn
                    ))
                })?;
            slot.src = BPF_PSEUDO_MAP_FD;
            slot.imm = raw as i32;
        }
        let bytes: Vec<u8> = code.iter().flat_map(|i| i.to_bytes()).collect();
        let mut license = load.license.as_bytes().to_vec();
        license.push(0);
        let btf_fd = match load.btf {
            Some(btf) => {
                fd_u32(btf.fd()).map_err(bpf_err(Cmd::ProgLoad, format!("program '{name}'")))?
            }
            None => 0,
        };
        let insn_cnt = u32::try_from(code.len())
            .map_err(|_| SysError::Mismatch(format!("program '{name}' is too long")))?;
        let try_load = |log: &mut Vec<u8>, level: u32| {
            let mut attr = ProgLoadAttr {
                prog_type: load.kind.id(),
                insn_cnt,
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
                expected_attach_type: load.attach.map_or(0, AttachType::id),
                prog_btf_fd: btf_fd,
                func_info_rec_size: if load.func_info.is_empty() { 0 } else { 8 },
                func_info: load.func_info.as_ptr() as u64,
                func_info_cnt: load.func_info.len() as u32,
                attach_btf_id: load.attach_btf_id,
                ..ProgLoadAttr::default()
            };
            bpf_fd(Cmd::ProgLoad, &mut attr)
        };
        let log_text = |log: &[u8]| {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            String::from_utf8_lossy(&log[..end]).into_owned()
        };
        // BPF_LOG_LEVEL1 = 1, BPF_LOG_LEVEL2 = 2, BPF_LOG_STATS = 4.
        let level = match load.log {
            VerifierLog::OnError => 0,
            VerifierLog::Stats => 1 | 4,
            VerifierLog::Verbose => 2 | 4,
        };
        let mut log = if level == 0 {
            Vec::new()
        } else {
            vec![0u8; LOG_SIZE]
        };
        let first = match try_load(&mut log, level) {
            Ok(fd) => {
                return Ok(Program {
                    fd,
                    name: name.to_string(),
                    kind: load.kind,
                    log: log_text(&log),
                })
            }
            Err(e) => e,
        };
        // Explain the failure: load again with a log unless there already is one. A retry
        // that succeeds means the first failure was transient (memory pressure): keep it.
        let (err, text) = if level == 0 {
            let mut log = vec![0u8; LOG_SIZE];
            match try_load(&mut log, 1) {
                Ok(fd) => {
                    return Ok(Program {
                        fd,
                        name: name.to_string(),
                        kind: load.kind,
                        log: String::new(),
                    })
                }
                Err(second) => (second, log_text(&log)),
            }
        } else {
            (first, log_text(&log))
        };
        let errno = err.raw_os_error().unwrap_or(0);
        if is_rejection(errno, &text) {
            Err(SysError::Verifier {
                program: name.to_string(),
                log: text,
                errno,
            })
        } else {
            Err(SysError::bpf(
                Cmd::ProgLoad,
                format!("cannot load program '{name}'"),
                err,
            ))
        }
    }

    /// Opens the program pinned at `path`.
    pub fn from_pin(path: &Path, kind: ProgType) -> Result<Program, SysError> {
        Ok(Program {
            fd: obj_get(path)?,
            name: path.display().to_string(),
            kind,
            log: String::new(),
        })
    }

    /// Pins the program at `path`.
    pub fn pin(&self, path: &Path) -> Result<(), SysError> {
        obj_pin(self.fd.as_fd(), path)
    }

    /// The descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The name it was loaded with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program type it was loaded as.
    pub fn kind(&self) -> ProgType {
        self.kind
    }

    /// The verifier log of the load, when one was asked for ([`VerifierLog::Stats`]).
    pub fn verifier_log(&self) -> &str {
        &self.log
    }

    /// What the kernel says about the program (id, sizes, bpf_stats run time and count).
    pub fn info(&self) -> Result<ProgramInfo, SysError> {
        program_info(self.fd(), &self.name)
    }

    /// Runs the program `repeat` times over `data` with `BPF_PROG_TEST_RUN`; returns the last
    /// return value and the kernel's average run time in nanoseconds.
    pub fn test_run(&self, data: &[u8], repeat: u32) -> Result<(u32, u32), SysError> {
        self.run(TestRun {
            data,
            repeat,
            ..TestRun::default()
        })
        .map(|r| (r.retval, r.duration_ns))
    }

    /// Runs the program once over `data`, returning its return value and the packet it
    /// left behind (`data_out`, at most `out_capacity` bytes).
    pub fn test_run_output(
        &self,
        data: &[u8],
        out_capacity: usize,
    ) -> Result<(u32, Vec<u8>), SysError> {
        let mut out = vec![0u8; out_capacity];
        let r = self.run(TestRun {
            data,
            repeat: 1,
            data_out: Some(&mut out),
            ..TestRun::default()
        })?;
        out.truncate(r.data_out_len);
        Ok((r.retval, out))
    }

    /// `BPF_PROG_TEST_RUN` in live-frames mode (XDP only): the `repeat` frames built from
    /// `data` are really processed — `XDP_REDIRECT` transmits them — in batches of `batch`.
    pub fn test_run_live(&self, data: &[u8], repeat: u32, batch: u32) -> Result<u32, SysError> {
        /// `BPF_F_TEST_XDP_LIVE_FRAMES`.
        const LIVE_FRAMES: u32 = 1 << 1;
        self.run(TestRun {
            data,
            repeat,
            flags: LIVE_FRAMES,
            batch,
            ..TestRun::default()
        })
        .map(|r| r.duration_ns)
    }

    /// Runs the program once over `data` with a caller-supplied context (`ctx_in`, e.g. an
    /// `xdp_md`); returns the program's return value.
    pub fn test_run_ctx(&self, data: &[u8], ctx: &[u8]) -> Result<u32, SysError> {
        self.run(TestRun {
            data,
            repeat: 1,
            ctx,
            ..TestRun::default()
        })
        .map(|r| r.retval)
    }

    /// Runs a raw tracepoint program once in the calling thread with `args` as its
    /// arguments (how BEGIN/END probes run); returns its return value.
    pub fn test_run_raw_tp(&self, args: &[u64]) -> Result<u32, SysError> {
        let ctx: Vec<u8> = args.iter().flat_map(|a| a.to_ne_bytes()).collect();
        self.run(TestRun {
            ctx: &ctx,
            ..TestRun::default()
        })
        .map(|r| r.retval)
    }

    fn run(&self, t: TestRun<'_>) -> Result<TestRunResult, SysError> {
        let what = format!("cannot test-run program '{}'", self.name);
        let (out_ptr, out_len) = match t.data_out {
            Some(buf) => (buf.as_mut_ptr() as u64, buf.len() as u32),
            None => (0, 0),
        };
        let mut attr = TestRunAttr {
            prog_fd: fd_u32(self.fd()).map_err(bpf_err(Cmd::ProgTestRun, what.clone()))?,
            data_size_in: t.data.len() as u32,
            data_in: if t.data.is_empty() {
                0
            } else {
                t.data.as_ptr() as u64
            },
            data_size_out: out_len,
            data_out: out_ptr,
            repeat: t.repeat,
            flags: t.flags,
            batch_size: t.batch,
            ctx_size_in: t.ctx.len() as u32,
            ctx_in: if t.ctx.is_empty() {
                0
            } else {
                t.ctx.as_ptr() as u64
            },
            ..TestRunAttr::default()
        };
        bpf(Cmd::ProgTestRun, &mut attr).map_err(bpf_err(Cmd::ProgTestRun, what))?;
        Ok(TestRunResult {
            retval: attr.retval,
            duration_ns: attr.duration,
            data_out_len: (attr.data_size_out as usize).min(out_len as usize),
        })
    }
}

#[derive(Default)]
struct TestRun<'a> {
    data: &'a [u8],
    repeat: u32,
    flags: u32,
    batch: u32,
    ctx: &'a [u8],
    data_out: Option<&'a mut [u8]>,
}

struct TestRunResult {
    retval: u32,
    duration_ns: u32,
    data_out_len: usize,
}

/// What the kernel says about the program behind `fd`.
pub fn program_info(fd: BorrowedFd<'_>, name: &str) -> Result<ProgramInfo, SysError> {
    let info: ProgInfo = obj_info(fd, name)?;
    Ok(ProgramInfo {
        id: info.id,
        prog_type: info.prog_type,
        name: name_from16(&info.name),
        xlated_len: info.xlated_prog_len,
        jited_len: info.jited_prog_len,
        run_time_ns: info.run_time_ns,
        run_cnt: info.run_cnt,
        verified_insns: info.verified_insns,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fake;
    use kestrel_isa::Reg;

    /// Reads the u32 at `off` of an attr the fake was handed.
    fn u32_at(attr: &[u8], off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&attr[off..off + 4]);
        u32::from_ne_bytes(b)
    }

    #[test]
    fn a_failure_that_is_not_the_verifiers_is_reported_with_its_errno() {
        let calls = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = calls.clone();
        let _guard = fake::install(Box::new(move |cmd, attr| {
            // BPF_PROG_LOAD: log_level is the u32 at offset 24.
            seen.borrow_mut().push((cmd, u32_at(attr, 24)));
            Err(std::io::Error::from_raw_os_error(libc::ENOMEM))
        }));
        let code = [Insn::mov64_imm(Reg::R0, 0), Insn::exit()];
        let err = Program::load(&ProgramLoad::new(ProgType::Xdp, "p", &code)).unwrap_err();
        assert!(matches!(err, SysError::Sys { .. }), "{err:?}");
        assert_eq!(err.errno(), Some(libc::ENOMEM));
        assert!(err.to_string().contains("BPF_PROG_LOAD"), "{err}");
        // First without a log (fast path), then once more with one to explain the failure.
        assert_eq!(*calls.borrow(), [(Cmd::ProgLoad, 0), (Cmd::ProgLoad, 1)]);
    }

    #[test]
    fn a_transient_failure_that_succeeds_with_a_log_is_not_an_error() {
        let n = std::rc::Rc::new(std::cell::Cell::new(0));
        let count = n.clone();
        let _guard = fake::install(Box::new(move |_, _| {
            count.set(count.get() + 1);
            if count.get() == 1 {
                Err(std::io::Error::from_raw_os_error(libc::EAGAIN))
            } else {
                // A descriptor the test owns: /dev/null, opened and leaked into the fake's
                // return value so that Program can own and close it.
                use std::os::fd::IntoRawFd;
                let f = std::fs::File::open("/dev/null")?;
                Ok(f.into_raw_fd() as libc::c_long)
            }
        }));
        let code = [Insn::mov64_imm(Reg::R0, 0), Insn::exit()];
        let prog = Program::load(&ProgramLoad::new(ProgType::Xdp, "p", &code)).unwrap();
        assert_eq!(prog.name(), "p");
        assert_eq!(n.get(), 2);
    }
}
