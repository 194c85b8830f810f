//! Feature probes: what this kernel lets us load and attach, asked of the kernel itself.

use kestrel_isa::Insn;

use crate::attr::EnableStatsAttr;
use crate::cmd::Cmd;
use crate::error::SysError;
use crate::map::{Map, MapDef, MapType};
use crate::prog::{AttachType, ProgType, Program, ProgramLoad};
use crate::syscall::bpf_fd;

/// `r0 = 0; exit`.
fn return_zero() -> [Insn; 2] {
    [Insn::mov64_imm(kestrel_isa::Reg::R0, 0), Insn::exit()]
}

/// Whether a program of `kind` (with `attach` as its expected attach type) loads here.
pub fn program_type(kind: ProgType, attach: Option<AttachType>) -> Result<(), SysError> {
    let code = return_zero();
    let mut load = ProgramLoad::new(kind, "kestrel_probe", &code);
    load.attach = attach;
    Program::load(&load).map(drop)
}

/// Whether maps of `kind` can be created here.
pub fn map_type(kind: MapType) -> Result<(), SysError> {
    let (key_size, value_size, max_entries) = match kind {
        MapType::RingBuf => (0, 0, 4096),
        MapType::LpmTrie => (8, 8, 1),
        MapType::StackTrace => (4, 8, 1),
        _ => (4, 4, 1),
    };
    Map::create(&MapDef {
        name: "kestrel_probe".into(),
        kind,
        key_size,
        value_size,
        max_entries,
        flags: 0,
    })
    .map(drop)
}

/// Loads `return 0` as an fentry program on the vmlinux function with BTF id `btf_id` and
/// attaches it, then closes both. `Ok(())` means fentry works here.
pub fn fentry(btf_id: u32) -> Result<(), SysError> {
    let code = return_zero();
    let mut load = ProgramLoad::new(ProgType::Tracing, "kestrel_probe", &code)
        .with_attach(AttachType::TraceFentry);
    load.attach_btf_id = btf_id;
    let prog = Program::load(&load)?;
    // The link closes (detaches) when it is dropped at the end of this function.
    crate::link::Link::attach_tracing(&prog).map(drop)
}

/// Run-time statistics of every program (`kernel.bpf_stats_enabled`), on while the returned
/// descriptor is open (`BPF_ENABLE_STATS`, kernel 5.8+) — so they turn off again however
/// this process ends.
#[derive(Debug)]
pub struct StatsGuard {
    _fd: std::os::fd::OwnedFd,
}

/// Turns on run time and run count accounting for every program until the guard drops.
pub fn enable_stats() -> Result<StatsGuard, SysError> {
    /// `BPF_STATS_RUN_TIME`.
    const RUN_TIME: u32 = 0;
    let mut attr = EnableStatsAttr { kind: RUN_TIME };
    let fd = bpf_fd(Cmd::EnableStats, &mut attr)
        .map_err(|e| SysError::bpf(Cmd::EnableStats, "run-time statistics", e))?;
    Ok(StatsGuard { _fd: fd })
}
