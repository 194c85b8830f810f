//! Userspace cost of the engine with the default rules: a mix of syscall events like a busy
//! host produces (opens of ordinary files, execs, sockets, closes), evaluated in a loop.
//!
//! `cargo run --release -p kestrel-guard --example engine_rate [EVENTS]` (reports CPU time)

use std::time::Instant;

use kestrel_guard::event::{Event, SockAddr};
use kestrel_guard::proc::Process;
use kestrel_guard::{Engine, Ruleset};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let set = match Ruleset::load(&[(
        "kestrel_rules.yaml".into(),
        kestrel_guard::DEFAULT_RULES.into(),
    )]) {
        Ok(s) => s,
        Err(d) => {
            eprint!("{}", kestrel_guard::diag::render_all(&d));
            std::process::exit(1);
        }
    };
    let mut e = Engine::new(set);
    for pid in 1..=64u32 {
        e.procs.insert(Process {
            pid,
            ppid: pid.saturating_sub(1),
            comm: format!("worker{pid}"),
            exe: "w".into(),
            exepath: "/usr/bin/w".into(),
            args: vec!["-x".into()],
            cwd: "/srv".into(),
            ..Process::default()
        });
    }
    let events: Vec<Event> = (0..64u32)
        .flat_map(|i| {
            let pid = 1 + i % 64;
            [
                Event::exit(1, pid, "openat", 5)
                    .int("dirfd", -100)
                    .str("name", "/usr/lib/x86_64-linux-gnu/libc.so.6")
                    .int("flags", 0o2000000),
                Event::exit(2, pid, "openat", 6)
                    .int("dirfd", -100)
                    .str("name", "data/file.txt")
                    .int("flags", 0o101),
                Event::exit(3, pid, "close", 0).int("fd", 5),
                Event::exit(4, pid, "socket", 7)
                    .int("domain", 2)
                    .int("type", 1)
                    .int("proto", 0),
                Event::exit(5, pid, "connect", 0)
                    .int("fd", 7)
                    .sock("addr", SockAddr::Inet(([127, 0, 0, 1], 8080).into())),
                Event::exit(6, pid, "close", 0).int("fd", 7),
                Event::exit(7, pid, "close", 0).int("fd", 6),
                Event::exit(8, pid, "execve", 0)
                    .str("filename", "/usr/bin/w")
                    .strs("args", &["w", "-x"]),
            ]
        })
        .collect();
    let cpu0 = cpu_ns();
    let start = Instant::now();
    let mut alerts = 0usize;
    for i in 0..n {
        alerts += e.process(&events[i % events.len()]).len();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = (cpu_ns().saturating_sub(cpu0)) as f64 / 1e9;
    println!(
        "{n} events, {alerts} alerts: {cpu:.3} s on CPU = {:.0} ns/event = {:.0} events/s per core ({secs:.3} s wall clock)",
        cpu * 1e9 / n as f64,
        n as f64 / cpu
    );
}

/// This thread's time on a CPU (ns), from /proc/thread-self/schedstat: wall-clock rates mean
/// little on a shared machine.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}
