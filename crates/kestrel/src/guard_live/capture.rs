//! The live capture: maps created, programs generated for exactly the syscalls the rules
//! need, loaded, attached to their tracepoints by perf-event links; records read from the
//! ring buffer and decoded into kestrel-guard events; the in-kernel counters read back.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use kestrel_guard::analysis::KExpr;
use kestrel_guard::{ArgValue, Dir, Event, ExecInfo, ProcEvent, Ruleset, SockAddr};
use kestrel_kernel::{KernelFacts, LiveKernel};
use kestrel_sys::{
    FdReloc, Link, Map, MapDef, MapType, PerfEvent, ProgType, Program, ProgramLoad, RingBuf,
};

use super::layout::*;
use super::program::{self, ExitSpec, GMap, GenProgram};

/// The fd-table syscalls whose successful calls go to userspace whatever the filters say
/// (close is not traced: a stale entry is replaced by the next open/socket/dup delivered
/// for that number, see docs/GUARD.md).
const TABLE_PASS: &[&str] = &[
    "socket",
    "connect",
    "bind",
    "accept",
    "accept4",
    "dup",
    "dup2",
    "dup3",
    "memfd_create",
    "chdir",
    "fchdir",
];

/// Not attached even when a rule set lists them (see [`TABLE_PASS`]).
const NOT_TRACED: &[&str] = &["close"];

/// Options for building the capture.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ring_bytes: u32,
    /// Send SIGKILL from the kernel for exact `action: kill` rules.
    pub enforce: bool,
}

/// One loaded program with its links.
struct Loaded {
    program: Program,
    _links: Vec<Link>,
}

/// A decoded record.
pub enum Record {
    /// A syscall, and whether the kernel already killed the process.
    Syscall(Event, bool),
    /// A process-table event.
    Proc(ProcEvent),
}

/// The capture: maps, programs and links (all detached when dropped).
pub struct Capture {
    /// The traced syscalls, by index in the record.
    pub layouts: Vec<SyscallLayout>,
    /// Rules killed from the kernel (exact, `action: kill`, with enforcement on).
    pub kernel_kill_rules: BTreeSet<String>,
    ring: RingBuf,
    counters: Map,
    programs: Vec<Loaded>,
    _maps: Vec<Map>,
    mono_to_wall: i128,
}

/// Why the capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A tracepoint's layout.
    #[error("{0}")]
    Layout(#[from] LayoutError),
    /// Program generation.
    #[error("program for {0}: {1}")]
    Gen(String, String),
    /// A kernel object.
    #[error("{0}: {1}")]
    Sys(String, kestrel_sys::SysError),
}

fn sys(what: impl Into<String>) -> impl FnOnce(kestrel_sys::SysError) -> CaptureError {
    let w = what.into();
    move |e| CaptureError::Sys(w, e)
}

fn tracepoint_id(facts: &LiveKernel, cat: &str, name: &str) -> Result<u64, CaptureError> {
    let id = kestrel_kernel::TracepointId::new(cat, name);
    facts
        .tracepoint_format(&id)
        .map(|f| u64::from(f.event_id))
        .map_err(|e| CaptureError::Layout(LayoutError::Format(id.to_string(), e.to_string())))
}

impl Capture {
    /// Builds, loads and attaches everything `set` needs.
    pub fn start(set: &Ruleset, opts: &CaptureOptions) -> Result<Capture, CaptureError> {
        let facts = LiveKernel::new();
        let self_tgid = std::process::id();
        let mut names: Vec<String> = set
            .syscalls()
            .into_iter()
            .filter(|s| !NOT_TRACED.contains(&s.as_str()))
            .collect();
        // A syscall this kernel does not have (e.g. open on arm64) is skipped.
        names.retain(|n| {
            facts
                .tracepoint_format(&kestrel_kernel::TracepointId::new(
                    "syscalls",
                    format!("sys_enter_{n}"),
                ))
                .is_ok()
        });
        let mut layouts = Vec::new();
        for n in &names {
            layouts.push(layout(&facts, n)?);
        }
        let proc_l = proc_layout(&facts)?;
        let scratch = Map::create(&MapDef {
            name: "guard_scratch".into(),
            kind: MapType::PerCpuArray,
            key_size: 4,
            value_size: REC_LEN as u32,
            max_entries: 1,
            flags: 0,
        })
        .map_err(sys("map guard_scratch"))?;
        let stash = Map::create(&MapDef {
            name: "guard_stash".into(),
            kind: MapType::LruHash,
            key_size: 4,
            value_size: REC_LEN as u32,
            max_entries: 16384,
            flags: 0,
        })
        .map_err(sys("map guard_stash"))?;
        let events = Map::create(&MapDef {
            name: "guard_events".into(),
            kind: MapType::RingBuf,
            key_size: 0,
            value_size: 0,
            max_entries: opts.ring_bytes,
            flags: 0,
        })
        .map_err(sys("ring buffer guard_events"))?;
        let counters = Map::create(&MapDef {
            name: "guard_counts".into(),
            kind: MapType::PerCpuArray,
            key_size: 4,
            value_size: 8,
            max_entries: CNT_SLOTS,
            flags: 0,
        })
        .map_err(sys("map guard_counts"))?;
        let map_of = |m: GMap| match m {
            GMap::Scratch => &scratch,
            GMap::Stash => &stash,
            GMap::Events => &events,
            GMap::Counters => &counters,
        };
        let filters = set.kernel_filters();
        let mut kernel_kill_rules = BTreeSet::new();
        let mut programs = Vec::new();
        let load = |gp: &GenProgram, name: &str| -> Result<Program, CaptureError> {
            let relocs: Vec<FdReloc> = gp
                .relocs
                .iter()
                .map(|(insn, m)| FdReloc {
                    insn: *insn,
                    map: map_of(*m),
                })
                .collect();
            let load = ProgramLoad::new(ProgType::Tracepoint, name, &gp.insns).with_relocs(&relocs);
            Program::load(&load).map_err(sys(format!("loading {name}")))
        };
        let attach = |p: &Program, cat: &str, tp: &str| -> Result<Link, CaptureError> {
            let id = tracepoint_id(&facts, cat, tp)?;
            let ev = PerfEvent::tracepoint(id, &format!("tracepoint {cat}:{tp}"))
                .map_err(sys(format!("perf_event_open {cat}:{tp}")))?;
            Link::attach_perf_event(p, ev).map_err(sys(format!("attaching {cat}:{tp}")))
        };
        for (i, l) in layouts.iter().enumerate() {
            let mut pass = Vec::new();
            let mut kill = Vec::new();
            for (r, f) in set.rules.iter().zip(&filters) {
                if !f.syscalls.contains(&l.name) {
                    continue;
                }
                let k = f.for_syscall(&l.name);
                if opts.enforce
                    && f.exact
                    && r.action == kestrel_guard::Action::Kill
                    && k != KExpr::False
                {
                    kill.push(k.clone());
                    kernel_kill_rules.insert(r.name.clone());
                }
                pass.push(k);
            }
            let spec = ExitSpec {
                index: i as u32,
                pass: KExpr::Or(pass).for_syscall(&l.name),
                table: TABLE_PASS.contains(&l.name.as_str())
                    && set.rules.iter().any(|r| r.uses_fds),
                kill,
            };
            let en =
                program::enter(l, self_tgid).map_err(|e| CaptureError::Gen(l.name.clone(), e))?;
            let ex = program::exit(l, &spec, self_tgid)
                .map_err(|e| CaptureError::Gen(l.name.clone(), e))?;
            let pe = load(&en, &format!("ge_{}", l.name))?;
            let px = load(&ex, &format!("gx_{}", l.name))?;
            let le = attach(&pe, "syscalls", &format!("sys_enter_{}", l.name))?;
            // Exit first attached after enter: an exit without a stash entry is ignored.
            let lx = attach(&px, "syscalls", &format!("sys_exit_{}", l.name))?;
            programs.push(Loaded {
                program: pe,
                _links: vec![le],
            });
            programs.push(Loaded {
                program: px,
                _links: vec![lx],
            });
        }
        let procs: [(GenProgram, &str, &str, &str); 3] = [
            (
                program::newtask(&proc_l, self_tgid)
                    .map_err(|e| CaptureError::Gen("task_newtask".into(), e))?,
                "task",
                "task_newtask",
                "g_newtask",
            ),
            (
                program::exec(&proc_l, self_tgid)
                    .map_err(|e| CaptureError::Gen("sched_process_exec".into(), e))?,
                "sched",
                "sched_process_exec",
                "g_exec",
            ),
            (
                program::exit_proc(&proc_l, self_tgid)
                    .map_err(|e| CaptureError::Gen("sched_process_exit".into(), e))?,
                "sched",
                "sched_process_exit",
                "g_exit",
            ),
        ];
        for (gp, cat, tp, name) in &procs {
            let p = load(gp, name)?;
            let l = attach(&p, cat, tp)?;
            programs.push(Loaded {
                program: p,
                _links: vec![l],
            });
        }
        let ring = RingBuf::new(&events).map_err(sys("mapping the ring buffer"))?;
        let mono = kestrel_sys::monotonic_ns() as i128;
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        Ok(Capture {
            layouts,
            kernel_kill_rules,
            ring,
            counters,
            programs,
            _maps: vec![scratch, stash, events],
            mono_to_wall: wall - mono,
        })
    }

    /// Waits up to `timeout_ms` for records.
    pub fn wait(&self, timeout_ms: i32) -> Result<bool, CaptureError> {
        self.ring
            .wait(timeout_ms)
            .map_err(sys("waiting on the ring buffer"))
    }

    /// Decodes up to `max` available records, handing each to `f`; returns how many.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(Record)) -> usize {
        let layouts = &self.layouts;
        let off = self.mono_to_wall;
        let mut n = 0;
        self.ring.read(|data| {
            if let Some(r) = decode(data, layouts, off) {
                f(r);
            }
            n += 1;
            n < max
        })
    }

    /// Bytes in the ring not yet read.
    pub fn pending(&self) -> u64 {
        self.ring.pending()
    }

    /// The per-CPU values of counter `slot`.
    pub fn counter(&self, slot: u32) -> Vec<u64> {
        let mut v = vec![0u8; self.counters.value_len()];
        if !matches!(self.counters.lookup(&slot.to_ne_bytes(), &mut v), Ok(true)) {
            return Vec::new();
        }
        self.counters
            .per_cpu_values(&v)
            .iter()
            .map(|b| u64::from_ne_bytes(b[..8].try_into().unwrap_or([0; 8])))
            .collect()
    }

    /// Run time and count summed over the guard's programs (with bpf_stats on).
    pub fn run_stats(&self) -> (u64, u64) {
        self.programs
            .iter()
            .filter_map(|p| p.program.info().ok())
            .fold((0, 0), |(t, c), i| (t + i.run_time_ns, c + i.run_cnt))
    }

    /// Detaches and unloads every program (maps and the ring stay readable).
    pub fn detach(&mut self) {
        self.programs.clear();
    }

    /// Number of programs loaded.
    pub fn program_count(&self) -> usize {
        self.programs.len()
    }
}

fn u32_at(d: &[u8], off: i16) -> u32 {
    let o = off as usize;
    d.get(o..o + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0)
}

fn u64_at(d: &[u8], off: usize) -> u64 {
    d.get(off..off + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}

fn cstr(d: &[u8], off: usize, max: usize) -> String {
    let end = (off + max).min(d.len());
    let s = d.get(off..end).unwrap_or(&[]);
    let n = s.iter().position(|b| *b == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..n]).into_owned()
}

/// A sockaddr of `len` bytes.
pub fn sockaddr(b: &[u8]) -> Option<SockAddr> {
    let fam = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = |b: &[u8]| b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    Some(match fam {
        2 => {
            let a = b.get(4..8)?;
            SockAddr::Inet(SocketAddr::new(
                Ipv4Addr::new(a[0], a[1], a[2], a[3]).into(),
                port(b)?,
            ))
        }
        10 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            SockAddr::Inet(SocketAddr::new(Ipv6Addr::from(a).into(), port(b)?))
        }
        1 => {
            let p = b.get(2..).unwrap_or(&[]);
            if p.first() == Some(&0) {
                let n = p[1..].iter().position(|c| *c == 0).unwrap_or(p.len() - 1);
                SockAddr::Unix(format!("@{}", String::from_utf8_lossy(&p[1..1 + n])))
            } else {
                let n = p.iter().position(|c| *c == 0).unwrap_or(p.len());
                SockAddr::Unix(String::from_utf8_lossy(&p[..n]).into_owned())
            }
        }
        f => SockAddr::Other(f),
    })
}

fn decode(d: &[u8], layouts: &[SyscallLayout], mono_to_wall: i128) -> Option<Record> {
    let kind = u32_at(d, OFF_KIND);
    let ts = (u64_at(d, OFF_TS as usize) as i128 + mono_to_wall).max(0) as u64;
    let pid_tgid = u64_at(d, OFF_PIDTGID as usize);
    let (pid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
    let arg = |i: usize| u64_at(d, OFF_ARGS as usize + 8 * i);
    match kind {
        KIND_SYSCALL => {
            let l = layouts.get(u32_at(d, OFF_SC) as usize)?;
            let mut args = Vec::with_capacity(l.args.len());
            for (name, src) in &l.args {
                let v = match *src {
                    Src::Int { pos, wide } => {
                        let raw = arg(pos);
                        ArgValue::Int(if wide {
                            raw as i64
                        } else {
                            raw as u32 as i32 as i64
                        })
                    }
                    Src::Str { slot, .. } => ArgValue::Str(cstr(
                        d,
                        OFF_STR0 as usize + STR_LEN as usize * slot,
                        STR_LEN as usize,
                    )),
                    Src::Sock { len_pos, .. } => {
                        let len = (arg(len_pos) as usize).min(BUF_LEN as usize);
                        let b = d
                            .get(OFF_BUF as usize..OFF_BUF as usize + len)
                            .unwrap_or(&[]);
                        match sockaddr(b) {
                            Some(s) => ArgValue::Sock(s),
                            None => continue,
                        }
                    }
                    Src::How { off, .. } => ArgValue::Int(u64_at(d, OFF_BUF as usize + off) as i64),
                    Src::Argv { .. } => {
                        let base = (OFF_STR0 + STR_LEN) as usize;
                        let v: Vec<String> = (0..ARGV_MAX)
                            .map(|i| cstr(d, base + ARGV_LEN * i, ARGV_LEN))
                            .take_while(|s| !s.is_empty())
                            .collect();
                        // As Falco's execve exit: `exe` is argv[0], `args` the rest.
                        if let Some(first) = v.first() {
                            args.push(("exe".to_string(), ArgValue::Str(first.clone())));
                        }
                        ArgValue::Strs(v.into_iter().skip(1).collect())
                    }
                };
                args.push((name.to_string(), v));
            }
            let ev = Event {
                ts_ns: ts,
                pid,
                tid,
                syscall: l.name.clone(),
                dir: Dir::Exit,
                args,
                res: Some(u64_at(d, OFF_RES as usize) as i64),
            };
            Some(Record::Syscall(ev, u32_at(d, OFF_FLAGS) & FLAG_KILLED != 0))
        }
        KIND_FORK => {
            let child = arg(0) as u32;
            const CLONE_THREAD: u64 = 0x10000;
            Some(Record::Proc(ProcEvent::Fork {
                ts_ns: ts,
                parent: pid,
                child,
                thread: arg(1) & CLONE_THREAD != 0,
            }))
        }
        KIND_EXEC => Some(Record::Proc(ProcEvent::Exec {
            ts_ns: ts,
            pid,
            info: ExecInfo {
                filename: cstr(d, OFF_STR0 as usize, STR_LEN as usize),
                argv: None,
                comm: Some(cstr(d, OFF_COMM as usize, 16)),
                exepath: None,
            },
        })),
        KIND_EXIT => Some(Record::Proc(ProcEvent::Exit { ts_ns: ts, pid })),
        _ => None,
    }
}
