//! `kestrel guard` live: Falco-format rules on syscall tracepoints, with enforcement.
//!
//! - [`layout`]: the record the programs write; where each syscall's arguments are in its
//!   tracepoint (offsets from tracefs formats).
//! - [`program`]: the generated BPF programs (label builder, structure-checked).
//! - [`capture`]: maps, loading, attaching, ring-buffer decoding, in-kernel counters.
//! - [`sink`]: stdout / file / HTTP (falcosidekick) outputs.
//! - [`scenario`]: the built-in offender programs (`kestrel guard scenario NAME`).
//!
//! The loop: records are decoded in order from one ring buffer (process events and
//! syscalls interleaved as they happened), process events update the engine's tables,
//! syscalls go through [`kestrel_guard::Engine::process`]; each alert gets its outcome
//! (what was done) and goes to every sink. Every second the per-CPU lost counter is read;
//! a window with losses raises the built-in "syscall event drop" alert.
//!
//! For the agent: [`Guard::alert_counts`] gives the alert counters per rule and priority.

pub mod capture;
pub mod layout;
pub mod program;
pub mod scenario;
pub mod sink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kestrel_guard::{Action, Alert, DropStats, Engine, Priority, Ruleset};

use capture::{Capture, CaptureOptions, Record};
use layout::{CNT_GENERATED, CNT_KILLED, CNT_LOST, CNT_SEEN};

/// What `kestrel guard` (the run mode) was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Rules files (empty: the built-in rules).
    pub rules: Vec<PathBuf>,
    /// Falco JSON lines instead of text lines.
    pub json: bool,
    /// Also write alerts to this file.
    pub output: Option<PathBuf>,
    /// POST each alert here.
    pub http: Option<String>,
    /// Carry out `action: kill`.
    pub enforce: bool,
    /// Only alerts from this process and its descendants.
    pub pid: Option<u32>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Print the counters as one JSON line on stderr when stopping.
    pub stats: bool,
    /// Ring buffer size in MiB (power of two).
    pub ring_mb: u32,
    /// Create this file once every program is attached.
    pub ready_file: Option<PathBuf>,
}

/// Alert and event counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records handed to the ring buffer (in-kernel count, summed over CPUs).
    pub generated: u64,
    /// Records the ring buffer had no room for (in-kernel count).
    pub lost: u64,
    /// Syscall exits seen by the programs (before filtering).
    pub seen: u64,
    /// SIGKILLs sent from the kernel.
    pub kernel_kills: u64,
    /// Records read from the ring buffer.
    pub delivered: u64,
    /// Alerts written.
    pub alerts: u64,
}

/// A running guard: the capture and the engine.
pub struct Guard {
    /// The capture.
    pub capture: Capture,
    /// The engine.
    pub engine: Engine,
    /// Records read so far.
    pub delivered: u64,
    /// Syscall records read, per syscall (`--stats`).
    pub per_syscall: BTreeMap<String, u64>,
}

impl Guard {
    /// Loads `set` into the kernel and seeds the engine from this machine.
    pub fn start(set: Ruleset, enforce: bool, ring_mb: u32) -> anyhow::Result<Guard> {
        let opts = CaptureOptions {
            ring_bytes: ring_mb.max(1).next_power_of_two() << 20,
            enforce,
        };
        let capture = Capture::start(&set, &opts)?;
        let engine = Engine::live(set, std::path::Path::new("/"))?;
        Ok(Guard {
            capture,
            engine,
            delivered: 0,
            per_syscall: BTreeMap::new(),
        })
    }

    /// Alert counters per rule and priority, for /metrics.
    pub fn alert_counts(&self) -> BTreeMap<(String, Priority), u64> {
        self.engine
            .counts
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The in-kernel counters and the delivered count.
    pub fn stats(&self) -> Stats {
        let sum = |slot| self.capture.counter(slot).iter().sum::<u64>();
        Stats {
            generated: sum(CNT_GENERATED),
            lost: sum(CNT_LOST),
            seen: sum(CNT_SEEN),
            kernel_kills: sum(CNT_KILLED),
            delivered: self.delivered,
            alerts: self.engine.counts.values().sum(),
        }
    }

    /// Reads up to [`BATCH`] available records; returns the alerts (outcome not yet set)
    /// with the "killed in the kernel" flag of their event. With `root`, only alerts from
    /// that process and its descendants — decided as each event is processed, while the
    /// process is still in the table (a later exit record in the same batch removes it).
    pub fn poll(&mut self, root: Option<u32>) -> Vec<(Alert, bool)> {
        let mut out = Vec::new();
        let engine = &mut self.engine;
        let per = &mut self.per_syscall;
        let n = self.capture.drain(BATCH, |r| match r {
            Record::Proc(mut p) => {
                if let kestrel_guard::ProcEvent::Exec { pid, info, .. } = &mut p {
                    stale_exec(*pid, info);
                }
                engine.on_proc_event(&p)
            }
            Record::Syscall(ev, killed) => {
                patch_argv(engine, &ev);
                match per.get_mut(&ev.syscall) {
                    Some(c) => *c += 1,
                    None => {
                        per.insert(ev.syscall.clone(), 1);
                    }
                }
                for a in engine.process(&ev) {
                    if root.is_none_or(|root| under(engine, a.pid, root)) {
                        out.push((a, killed));
                    }
                }
            }
        });
        self.delivered += n as u64;
        out
    }
}

/// Records handled per [`Guard::poll`], so that kills and drop checks are not starved by a
/// busy ring.
pub const BATCH: usize = 512;

/// The engine fills exec details from /proc when the record is handled; by then the
/// process may have exec'd again (or exited). When /proc's comm is not the one this exec
/// gave, /proc describes a later image: keep to what the record says (the file name as
/// exe path; argv comes from the execve exit, see [`patch_argv`]).
fn stale_exec(pid: u32, info: &mut kestrel_guard::ExecInfo) {
    let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if info.comm.as_deref() != Some(now.trim_end_matches('\n')) {
        info.exepath = Some(info.filename.clone());
        info.argv = Some(vec![info.filename.clone()]);
    }
}

/// A successful execve carries the argv captured at its entry (up to 4 entries of 63
/// bytes): when the exec record could not read /proc (the process was already gone), the
/// table has only the file name — fill in the command line from the capture.
fn patch_argv(engine: &mut Engine, ev: &kestrel_guard::Event) {
    if !matches!(ev.syscall.as_str(), "execve" | "execveat") || ev.res != Some(0) {
        return;
    }
    let (Some(first), Some(kestrel_guard::ArgValue::Strs(rest))) =
        (ev.str_arg("exe"), ev.arg("args"))
    else {
        return;
    };
    if let Some(p) = engine.procs.get(ev.pid) {
        if p.args.is_empty() && !rest.is_empty() {
            let mut p = p.clone();
            p.exe = first.to_string();
            p.args.clone_from(rest);
            engine.procs.insert(p);
        }
    }
}

/// True when `pid` is `root` or one of its descendants in the engine's table.
fn under(engine: &Engine, pid: u32, root: u32) -> bool {
    pid == root || engine.procs.ancestors(pid).iter().any(|p| p.pid == root)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// What was done about an alert.
fn outcome(a: &Alert, killed_in_kernel: bool, guard: &Guard, enforce: bool) -> String {
    match a.action {
        Action::Alert => "alert".into(),
        Action::Kill if !enforce => "alert only (action kill needs --enforce)".into(),
        Action::Deny if !enforce => "alert only (action deny needs --enforce)".into(),
        Action::Deny => "alert only (deny is not implemented yet)".into(),
        Action::Kill => {
            if killed_in_kernel && guard.capture.kernel_kill_rules.contains(&a.rule) {
                return "killed (SIGKILL from the BPF program)".into();
            }
            let pid = nix::unistd::Pid::from_raw(a.pid as i32);
            match nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
                Ok(()) => {
                    let delay = now_ns().saturating_sub(a.ts_ns);
                    format!(
                        "killed (SIGKILL from userspace {:.3} ms after the syscall)",
                        delay as f64 / 1e6
                    )
                }
                Err(e) => format!("kill failed: {e}"),
            }
        }
    }
}

/// `kestrel guard` run mode.
pub fn run(opts: &RunOptions) -> anyhow::Result<std::process::ExitCode> {
    let set = if opts.rules.is_empty() {
        Ruleset::load(&[(
            kestrel_guard::DEFAULT_RULES_NAME.to_string(),
            kestrel_guard::DEFAULT_RULES.to_string(),
        )])
    } else {
        Ruleset::load_paths(&opts.rules)
    };
    let set = match set {
        Ok(s) => s,
        Err(d) => {
            eprint!("{}", kestrel_guard::diag::render_all(&d));
            return Ok(std::process::ExitCode::from(1));
        }
    };
    for s in &set.skipped {
        eprintln!(
            "kestrel guard: not evaluable: {} ({}): {}",
            s.name, s.position, s.reason
        );
    }
    let nrules = set.rules.len();
    // Run-time accounting of every program (bpf_stats) while we run, for --stats.
    let _stats_on = if opts.stats {
        kestrel_sys::features::enable_stats().ok()
    } else {
        None
    };
    let mut guard = Guard::start(set, opts.enforce, opts.ring_mb)?;
    let mut sinks = sink::Sinks {
        json: opts.json,
        file: match &opts.output {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
            ),
            None => None,
        },
        http: match &opts.http {
            Some(u) => Some(sink::parse_url(u).map_err(|e| anyhow::anyhow!("--http-output {e}"))?),
            None => None,
        },
        http_errors: 0,
    };
    let names: Vec<&str> = guard
        .capture
        .layouts
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    eprintln!(
        "kestrel guard: {nrules} rules, {} programs on syscalls {} + task_newtask, sched_process_exec/exit{}",
        guard.capture.program_count(),
        names.join(","),
        if opts.enforce { "; enforcing" } else { "" }
    );
    if let Some(p) = &opts.ready_file {
        std::fs::write(p, format!("{}\n", std::process::id()))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let started = Instant::now();
    let mut window = Instant::now();
    let mut last_lost: Vec<u64> = guard.capture.counter(CNT_LOST);
    let mut last_delivered = 0u64;
    let hostname = guard.engine.hostname.clone();
    let mut alerts_written = 0u64;
    loop {
        let done =
            stop.load(Ordering::Relaxed) || opts.duration.is_some_and(|d| started.elapsed() >= d);
        if guard.capture.pending() == 0 {
            let _ = guard.capture.wait(if done { 0 } else { 100 });
        }
        for (mut a, killed) in guard.poll(opts.pid) {
            a.outcome = Some(outcome(&a, killed, &guard, opts.enforce));
            sinks.emit(&a);
            alerts_written += 1;
        }
        if window.elapsed() >= Duration::from_secs(1) || done {
            let lost_now = guard.capture.counter(CNT_LOST);
            let per_cpu: Vec<u64> = lost_now
                .iter()
                .enumerate()
                .map(|(i, v)| v.saturating_sub(last_lost.get(i).copied().unwrap_or(0)))
                .collect();
            let stats = DropStats {
                delivered: guard.delivered - last_delivered,
                lost: per_cpu.iter().sum(),
                lost_per_cpu: per_cpu,
                window_ns: window.elapsed().as_nanos() as u64,
            };
            if let Some(mut a) = kestrel_guard::drop_alert(&stats, now_ns(), &hostname) {
                a.outcome = Some("alert".into());
                sinks.emit(&a);
                alerts_written += 1;
            }
            last_lost = lost_now;
            last_delivered = guard.delivered;
            window = Instant::now();
        }
        if done {
            break;
        }
    }
    let (run_ns, run_cnt) = guard.capture.run_stats();
    // Detach first so that no record is produced between reading the counters and the
    // last drain: then delivered + lost == generated exactly.
    guard.capture.detach();
    let mut s = guard.stats();
    loop {
        let before = guard.delivered;
        for (mut a, killed) in guard.poll(opts.pid) {
            a.outcome = Some(outcome(&a, killed, &guard, opts.enforce));
            sinks.emit(&a);
            alerts_written += 1;
        }
        if guard.delivered == before {
            break;
        }
    }
    s.delivered = guard.delivered;
    s.alerts = alerts_written;
    if opts.stats {
        let counts: BTreeMap<String, u64> = guard
            .alert_counts()
            .into_iter()
            .map(|((r, p), n)| (format!("{r} [{}]", p.as_str()), n))
            .collect();
        eprintln!(
            "{}",
            serde_json::json!({
                "generated": s.generated, "lost": s.lost, "delivered": s.delivered,
                "seen": s.seen, "kernel_kills": s.kernel_kills, "alerts": s.alerts,
                "http_errors": sinks.http_errors, "alert_counts": counts,
                "delivered_per_syscall": guard.per_syscall,
                "bpf_run_time_ns": run_ns, "bpf_run_count": run_cnt,
            })
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
