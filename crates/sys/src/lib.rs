//! kestrel-sys: the one layer for live kernel objects.
//!
//! Everything kestrel asks of the kernel about BPF goes through this crate: bpf(2),
//! perf_event_open(2), the ring buffer's mmap'd pages and its epoll descriptor. It is the only
//! crate with `unsafe`, each block with a `// SAFETY:` comment. It knows nothing of what the
//! programs mean: compilers hand it instructions and map definitions, loaders get back
//! [`Map`], [`Program`] and [`Link`] values that close their descriptors when dropped.
//!
//! What it owns:
//! - [`Map`]: create from a [`MapDef`], open a pin (with type and size checks), lookup,
//!   update, delete, iterate, batch and per-CPU reads.
//! - [`Program`]: load raw instructions with map relocations and BTF function info; the
//!   verifier's whole log is kept, and a failure is called a rejection only when the log and
//!   errno say so ([`SysError::Verifier`]); `BPF_PROG_TEST_RUN`; run-time statistics.
//! - [`Link`]: XDP, tcx, every cgroup attach type, perf events (tracepoints, uprobes with
//!   USDT semaphores, kprobes, timers and counters), raw tracepoints; pin, update, detach.
//! - [`RingBuf`]: the consumer side of `BPF_MAP_TYPE_RINGBUF`.
//! - [`features`]: probes of what this kernel supports.
//! - [`fake`]: a stand-in for bpf(2) in unit tests.
//!
//! ```no_run
//! use kestrel_isa::Insn;
//! use kestrel_sys::{ProgType, Program, ProgramLoad};
//! let code = [Insn::mov64_imm(kestrel_isa::Reg::R0, 2), Insn::exit()]; // XDP_PASS
//! let prog = Program::load(&ProgramLoad::new(ProgType::Xdp, "pass", &code))?;
//! let (verdict, _ns) = prog.test_run(&[0u8; 64], 1)?;
//! assert_eq!(verdict, 2);
//! # Ok::<(), kestrel_sys::SysError>(())
//! ```

mod attr;
mod btf;
mod cmd;
mod error;
pub mod features;
mod link;
mod map;
mod obj;
pub mod os;
mod perf;
mod prog;
mod ringbuf;
mod syscall;
mod util;

pub use btf::Btf;
pub use cmd::Cmd;
pub use error::{is_rejection, summary, SysError};
pub use link::{
    attach_socket_filter, attach_to_map, detach_socket_filter, Link, LinkDetails, XdpMode,
};
pub use map::{Entry, Map, MapDef, MapType, UpdateFlags, BPF_F_NO_PREALLOC};
pub use obj::{all_ids, fd_by_id, ObjKind};
pub use perf::{PerfEvent, Sample, Scope};
pub use prog::{
    program_info, AttachType, FdReloc, FuncInfo, ProgType, Program, ProgramInfo, ProgramLoad,
    VerifierLog,
};
pub use ringbuf::RingBuf;
pub use syscall::fake;
pub use util::{
    ensure_bpffs_dir, ifindex, monotonic_ns, online_cpus, parse_cpu_list, possible_cpus,
};
