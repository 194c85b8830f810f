//! The fuzzing loop: feed inputs to a target on a worker thread (with a roomy stack, as the
//! CLI compiles), catch panics, and treat an input that runs past its time budget as a hang.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::generate::{self, TracepointInfo};
use crate::mutate;
use crate::rng::Rng;
use crate::targets::{Harness, Target};

/// The compiler thread's stack in the CLI; the fuzzer uses the same.
const WORKER_STACK: usize = 1 << 30;

/// One failing input.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The target it failed.
    pub target: Target,
    /// What went wrong (panic message, broken property or "hang").
    pub problem: String,
    /// The input.
    pub input: Vec<u8>,
}

/// Totals of a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Inputs run.
    pub runs: u64,
    /// Of those, scripts that compiled (compile target) or decoded (isa target).
    pub accepted: u64,
    /// Distinct findings.
    pub findings: Vec<Finding>,
    /// True when the run stopped early because an input hung.
    pub hung: bool,
}

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Route panic messages into [`LAST_PANIC`] instead of stderr while fuzzing.
fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut slot) = LAST_PANIC.lock() {
            *slot = Some(format!("panicked: {msg}{at}"));
        }
    }));
}

type Job = (Target, Vec<u8>);
type Reply = (Result<(), String>, bool);

/// A worker thread running targets.
struct Worker {
    jobs: mpsc::Sender<Job>,
    replies: mpsc::Receiver<Reply>,
}

impl Worker {
    fn start() -> Result<Worker, String> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (reply_tx, replies) = mpsc::channel::<Reply>();
        std::thread::Builder::new()
            .name("kestrel-fuzz".into())
            .stack_size(WORKER_STACK)
            .spawn(move || {
                let harness = Harness::new();
                for (target, input) in job_rx {
                    let result = panic::catch_unwind(AssertUnwindSafe(|| match target {
                        // Mutated scripts may hold invalid UTF-8; compile what the CLI
                        // would show, rather than skipping them.
                        Target::Compile => harness.compile(&String::from_utf8_lossy(&input)),
                        t => harness.run(t, &input),
                    }));
                    let reply = match result {
                        Ok(Ok(accepted)) => (Ok(()), accepted),
                        Ok(Err(e)) => (Err(e), false),
                        Err(_) => {
                            let msg = LAST_PANIC
                                .lock()
                                .ok()
                                .and_then(|mut s| s.take())
                                .unwrap_or_else(|| "panicked".into());
                            (Err(msg), false)
                        }
                    };
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the fuzz worker: {e}"))?;
        Ok(Worker { jobs, replies })
    }
}

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Targets to fuzz, one after the other.
    pub targets: Vec<Target>,
    /// Time per target.
    pub duration: Duration,
    /// Most inputs per target (whichever limit comes first).
    pub max_runs: u64,
    /// Time one input may take before it counts as a hang.
    pub budget: Duration,
    /// Random seed.
    pub seed: u64,
    /// Where failing inputs are written (None: not written).
    pub save: Option<PathBuf>,
}

/// Script seeds plus generated scripts, and byte seeds for the decoder.
struct Pools {
    scripts: Vec<Vec<u8>>,
    code: Vec<Vec<u8>>,
    tracepoints: Vec<TracepointInfo>,
}

fn pools(harness: &Harness) -> Pools {
    let scripts: Vec<Vec<u8>> = crate::seeds::all()
        .into_iter()
        .map(String::into_bytes)
        .collect();
    let mut code = Vec::new();
    for s in scripts.iter().take(60) {
        let src = String::from_utf8_lossy(s);
        if let Ok(Some(program)) = harness.sema(&src) {
            if let Ok(object) = kestrel_codegen::compile(&program) {
                for p in object.programs.iter().take(2) {
                    code.push(kestrel_isa::encode(&p.insns));
                }
            }
        }
    }
    Pools {
        scripts,
        code,
        tracepoints: generate::tracepoints(harness.kernel()),
    }
}

fn next_input(rng: &mut Rng, target: Target, pools: &Pools) -> Vec<u8> {
    let any = |rng: &mut Rng, v: &[Vec<u8>]| v.get(rng.below(v.len())).cloned().unwrap_or_default();
    if target == Target::L7 {
        return crate::l7::input(rng);
    }
    if target == Target::Rules {
        return crate::guard::input(rng);
    }
    if target == Target::Isa {
        let base = any(rng, &pools.code);
        let mut out = if rng.one_in(8) || base.is_empty() {
            (0..8 * (1 + rng.below(16)))
                .map(|_| rng.next_u64() as u8)
                .collect()
        } else {
            base
        };
        // Flip a few bytes, favouring opcode and register bytes.
        for _ in 0..1 + rng.below(4) {
            if out.is_empty() {
                break;
            }
            let slot = rng
                .below(out.len() / 8 + 1)
                .min(out.len() / 8)
                .saturating_sub(0);
            let i = (slot * 8 + rng.below(8)).min(out.len() - 1);
            out[i] ^= 1 << rng.below(8);
        }
        return out;
    }
    match rng.below(10) {
        0..=4 => {
            let a = any(rng, &pools.scripts);
            let b = any(rng, &pools.scripts);
            mutate::mutate(rng, &a, &b)
        }
        5..=7 => generate::script(rng, &pools.tracepoints).into_bytes(),
        _ => {
            let g = generate::script(rng, &pools.tracepoints).into_bytes();
            let b = any(rng, &pools.scripts);
            mutate::mutate(rng, &g, &b)
        }
    }
}

/// Fuzz each target of `config` in turn. Stops early on a hang (the stuck worker cannot be
/// cancelled).
pub fn run(
    config: &Config,
    mut progress: impl FnMut(Target, &Stats),
) -> Result<Vec<(Target, Stats)>, String> {
    quiet_panics();
    let harness = Harness::new();
    let pools = pools(&harness);
    let worker = Worker::start()?;
    let mut rng = Rng::new(config.seed);
    let mut results = Vec::new();
    for &target in &config.targets {
        let mut stats = Stats::default();
        let start = Instant::now();
        // Regression inputs first, every run.
        let mut queue: Vec<Vec<u8>> = crate::seeds::regressions()
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        while start.elapsed() < config.duration && stats.runs < config.max_runs {
            let input = queue
                .pop()
                .unwrap_or_else(|| next_input(&mut rng, target, &pools));
            worker
                .jobs
                .send((target, input.clone()))
                .map_err(|_| "the fuzz worker stopped".to_string())?;
            stats.runs += 1;
            match worker.replies.recv_timeout(config.budget) {
                Ok((Ok(()), accepted)) => stats.accepted += u64::from(accepted),
                Ok((Err(problem), _)) => record(config, &mut stats, target, problem, input),
                Err(_) => {
                    let problem = format!("hang: still running after {:?}", config.budget);
                    record(config, &mut stats, target, problem, input);
                    stats.hung = true;
                    results.push((target, stats));
                    return Ok(results);
                }
            }
        }
        progress(target, &stats);
        results.push((target, stats));
    }
    Ok(results)
}

fn record(config: &Config, stats: &mut Stats, target: Target, problem: String, input: Vec<u8>) {
    // One finding per distinct first line of the problem.
    let key = problem.lines().next().unwrap_or("").to_string();
    if stats
        .findings
        .iter()
        .any(|f| f.problem.lines().next() == Some(key.as_str()))
    {
        return;
    }
    if let Some(dir) = &config.save {
        let _ = std::fs::create_dir_all(dir);
        let name = format!("{}-{}.bin", target.name(), stats.findings.len());
        let _ = std::fs::write(dir.join(name), &input);
    }
    stats.findings.push(Finding {
        target,
        problem,
        input,
    });
}
