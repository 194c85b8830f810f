//! `kestrel policy ...`: argument parsing and printing for per-workload network policy
//! (kestrel-net's `policy` module).

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use kestrel_net::policy::live::{self, Session};
use kestrel_net::policy::record::VerdictRecord;
use kestrel_net::policy::spec::DEFAULT_ROOT;
use kestrel_net::policy::status::{self, Status, WorkloadStatus};
use kestrel_net::policy::{cgroups, check};

/// `kestrel policy`
#[derive(Parser, Debug)]
#[command(
    name = "kestrel policy",
    bin_name = "kestrel policy",
    about = "Network policy per workload (cgroup), enforced by cgroup hooks, with verdict records and audit mode"
)]
struct PolicyCli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check a policy file and compile it, touching nothing (no root needed).
    Check {
        /// Policy file (TOML).
        file: String,
        /// Print each program's instructions.
        #[arg(long)]
        dump: bool,
    },
    /// Attach the policy to its workloads' cgroups; it stays (pinned) after kestrel exits.
    Up {
        /// Policy file (TOML).
        #[arg(long)]
        file: String,
        /// Pin nothing: stay in the foreground printing verdict records; any exit of this
        /// process (Ctrl-C, kill -9) detaches everything.
        #[arg(long)]
        no_pin: bool,
        /// With --no-pin: one JSON object per record.
        #[arg(long)]
        json: bool,
    },
    /// Detach the pinned policy and remove every pin.
    Down,
    /// Counters per rule: packets, bytes, denied, audited.
    Status {
        /// One JSON object for machines.
        #[arg(long)]
        json: bool,
        /// The counters in Prometheus text format (kestrel_policy_verdicts_total).
        #[arg(long, conflicts_with = "json")]
        prometheus: bool,
    },
    /// Replace the pinned policy atomically (maps filled and programs verified before the swap).
    Reload {
        /// Policy file (TOML).
        #[arg(long)]
        file: String,
    },
    /// Print verdict records (denied and audit would-be-denied flows) as they happen.
    Watch {
        /// One JSON object per record.
        #[arg(long)]
        json: bool,
        /// Stop after this many records.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
    },
    /// Run CMD in a new cgroup of workload NAME (under the policy's root).
    Run {
        /// Workload name.
        #[arg(long)]
        workload: String,
        /// Policy file: load it for this command only (nothing pinned). Without it, the
        /// pinned policy (`up`) is used.
        #[arg(long)]
        file: Option<String>,
        /// Do not print verdict records (with --file).
        #[arg(long, short)]
        quiet: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
}

/// Runs `kestrel policy ARGS` (`args` starts with "policy").
pub fn main(args: &[String]) -> anyhow::Result<ExitCode> {
    let cli = PolicyCli::parse_from(args);
    match cli.cmd {
        Cmd::Check { file, dump } => {
            let src =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?;
            let c = check(&file, &src)?;
            let insns: usize = c
                .programs
                .iter()
                .flatten()
                .map(|(_, p)| p.insns.len())
                .sum();
            println!(
                "{file}: ok, {} workloads, {} rules; {} peer prefixes (v4 {}, v6 {}), {} port entries, {} programs ({} instructions)",
                c.policy.workloads.len(),
                c.policy.rule_count(),
                c.tables.peers4.len() + c.tables.peers6.len(),
                c.tables.peers4.len(),
                c.tables.peers6.len(),
                c.tables.ports.len(),
                c.programs.iter().map(Vec::len).sum::<usize>(),
                insns
            );
            if dump {
                for (w, progs) in c.policy.workloads.iter().zip(&c.programs) {
                    for (hook, p) in progs {
                        println!("; workload '{}' {}", w.name, hook.name());
                        print!("{}", kestrel_isa::disassemble(&p.insns));
                    }
                }
            }
        }
        Cmd::Up { file, no_pin, json } => {
            let c = live::compile_file(&file)?;
            if no_pin {
                let mut s = Session::new(c)?;
                let n = s.attach_selected()?;
                eprintln!("policy up (not pinned): {n} links; Ctrl-C detaches");
                let stop = AtomicBool::new(false);
                s.watch(&stop, &mut |r| print_record(r, json))?;
                return Ok(ExitCode::SUCCESS);
            }
            let rep = live::up(&c)?;
            println!(
                "policy up: {} workloads, {} rules, {} links on {} cgroups; pinned in {}",
                c.policy.workloads.len(),
                c.policy.rule_count(),
                rep.links,
                rep.attachments.len(),
                live::PIN_ROOT
            );
            for a in &rep.attachments {
                println!("  {} -> {}", a.workload, a.cgroup);
            }
        }
        Cmd::Down => {
            if live::down()? {
                println!("policy down");
            } else {
                println!("no kestrel policy is up");
            }
        }
        Cmd::Status {
            prometheus: true, ..
        } => {
            println!("# TYPE {} counter", status::METRIC);
            for c in status::verdict_counters()? {
                println!(
                    "{}{{workload=\"{}\",rule=\"{}\",verdict=\"{}\",direction=\"{}\"}} {}",
                    status::METRIC,
                    c.workload,
                    c.rule,
                    c.verdict,
                    c.direction,
                    c.value
                );
            }
        }
        Cmd::Status { json, .. } => {
            let st = status::status()?;
            if json {
                println!("{}", serde_json::to_string(&st)?);
            } else {
                print_status(&st);
            }
        }
        Cmd::Reload { file } => {
            let c = live::compile_file(&file)?;
            let r = live::reload(&c)?;
            println!(
                "policy reloaded (generation {}): {} links swapped, {} attached, {} detached",
                r.generation, r.swapped, r.attached, r.detached
            );
        }
        Cmd::Watch {
            json,
            count,
            duration,
        } => {
            let stop = AtomicBool::new(false);
            let start = Instant::now();
            let mut seen = 0u64;
            let deadline = duration.map(|d| Duration::from_secs_f64(d.max(0.0)));
            // The deadline is checked by a timer thread so an idle watch still ends.
            std::thread::scope(|sc| -> anyhow::Result<()> {
                if let Some(d) = deadline {
                    let stop = &stop;
                    sc.spawn(move || {
                        while start.elapsed() < d && !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        stop.store(true, Ordering::Relaxed);
                    });
                }
                let r = live::watch(&stop, &mut |r| {
                    if count.is_some_and(|c| seen >= c) {
                        return;
                    }
                    print_record(r, json);
                    seen += 1;
                    if count.is_some_and(|c| seen >= c) {
                        stop.store(true, Ordering::Relaxed);
                    }
                });
                stop.store(true, Ordering::Relaxed);
                Ok(r?)
            })?;
        }
        Cmd::Run {
            workload,
            file,
            quiet,
            cmd,
        } => return run(&workload, file.as_deref(), quiet, &cmd),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_record(r: &VerdictRecord, json: bool) {
    let mut out = std::io::stdout().lock();
    let _ = if json {
        serde_json::to_string(r).map_or(Ok(()), |s| writeln!(out, "{s}"))
    } else {
        writeln!(out, "{r}")
    };
    let _ = out.flush();
}

fn run(name: &str, file: Option<&str>, quiet: bool, cmd: &[String]) -> anyhow::Result<ExitCode> {
    let Some((prog, args)) = cmd.split_first() else {
        bail!("usage: kestrel policy run --workload NAME [--file F] -- CMD [ARGS...]");
    };
    // Resolve the policy and the workload before creating anything.
    let (policy, session) = match file {
        Some(f) => {
            let c = live::compile_file(f)?;
            live::workload_index(&c.policy, name)?;
            let p = c.policy.clone();
            (p, Some(Session::new(c)?))
        }
        None => {
            let p = live::pinned_policy()?;
            live::workload_index(&p, name)?;
            (p, None)
        }
    };
    let w = live::workload_index(&policy, name)?;
    // The default root follows the cgroup v2 mount (/sys/fs/cgroup on unified systems).
    let root = match cgroups::cgroup2_mount() {
        Some(m) if policy.root == std::path::Path::new(DEFAULT_ROOT) => m.join("kestrel"),
        _ => policy.root.clone(),
    };
    let cg = root.join(name).join(format!("run-{}", std::process::id()));
    // Remove afterwards what this run creates: the run cgroup, and the workload's and the
    // root's directories if they did not exist before.
    let made: Vec<std::path::PathBuf> = [root.clone(), root.join(name)]
        .into_iter()
        .filter(|d| !d.exists())
        .collect();
    std::fs::create_dir_all(&cg).with_context(|| format!("creating cgroup {}", cg.display()))?;
    let result = (|| -> anyhow::Result<ExitCode> {
        let mut session = session;
        let _joined = match &mut session {
            Some(s) => {
                s.attach_to(w, &cg)?;
                None
            }
            None => Some(live::join_pinned(name, &cg)?),
        };
        let mut child = cgroups::spawn_in(&cg, std::process::Command::new(prog).args(args))
            .with_context(|| format!("starting {prog}"))?;
        let stop = AtomicBool::new(false);
        let status = std::thread::scope(|sc| {
            if let (Some(s), false) = (&session, quiet) {
                let stop = &stop;
                sc.spawn(move || {
                    let _ = s.watch(stop, &mut |r| eprintln!("kestrel policy: {r}"));
                });
            }
            let st = child.wait();
            // Let the last records arrive.
            std::thread::sleep(Duration::from_millis(250));
            stop.store(true, Ordering::Relaxed);
            st
        })?;
        Ok(match status.code() {
            Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
            None => ExitCode::from(128 + 9),
        })
    })();
    let _ = cgroups::remove_cgroup(&cg);
    for d in made.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    result
}

fn print_workload(w: &WorkloadStatus) {
    println!(
        "workload {}{}: {}",
        w.name,
        if w.audit {
            " (audit mode: denials logged, traffic passes)"
        } else {
            ""
        },
        if w.cgroups.is_empty() {
            "(no cgroup; kestrel policy run)".to_string()
        } else {
            w.cgroups.join(", ")
        }
    );
    println!(
        "  {:<24} {:<8} {:<7} {:>12} {:>14} {:>10} {:>10}",
        "RULE", "DIR", "VERDICT", "PACKETS", "BYTES", "DENIED", "AUDITED"
    );
    for r in &w.rules {
        println!(
            "  {:<24} {:<8} {:<7} {:>12} {:>14} {:>10} {:>10}",
            r.name,
            r.direction,
            r.verdict,
            r.counters.packets,
            r.counters.bytes,
            r.counters.denied,
            r.counters.audited
        );
    }
}

fn print_status(st: &Status) {
    println!("policy from {} (generation {})", st.file, st.generation);
    for w in &st.workloads {
        print_workload(w);
    }
    println!(
        "verdict records dropped: {} (rate limit), {} (ring buffer full)",
        st.records_rate_limited, st.records_ring_full
    );
    println!("note: {}", st.note);
}
