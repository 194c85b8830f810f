//! `kestrel agent --config FILE`: scripts always on, their maps exported as metrics.
//!
//! One thread (this one) owns the config, the running scripts ([`entries`]) and every
//! number; it wakes every [`TICK`] to drain script events, answers the HTTP thread's
//! requests ([`server`]), pushes OTLP on its interval, and reloads on SIGHUP: the new set
//! is compiled, loaded and attached first, unchanged running entries are moved over with
//! their maps, then the old set is dropped. A config that does not parse keeps the old set.
//!
//! Modules: [`config`] (TOML, located errors), [`decode`] (label decoders), [`metrics`]
//! (maps → families), [`selfmetrics`], [`caps`] (least privilege), [`server`].

mod caps;
mod config;
mod decode;
mod entries;
mod metrics;
mod selfmetrics;
mod server;
mod tools;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kestrel_export::otlp::{self, LogEvent, Severity, Times};
use kestrel_export::queue::{ExportQueue, QueueConfig};
use kestrel_export::resource::Resource;
use kestrel_export::{prom, Family};

use self::config::Config;
use self::entries::{Entry, State};
use self::server::Request;

/// How often the main loop wakes to drain events and look at signals.
const TICK: Duration = Duration::from_millis(100);
/// Log records held for the next OTLP push at most; the rest are counted as dropped.
const MAX_LOG_BATCH: usize = 10_000;

const USAGE: &str = "usage: kestrel agent --config FILE [--drop-caps] [--check]

Runs the [[script]] entries of FILE (TOML) always on and exports their maps as metrics:
/metrics (OpenMetrics, or Prometheus text 0.0.4 on request), /healthz and /readyz on
`listen` (default 127.0.0.1:9435), and OTLP/HTTP pushes when [otlp] is set.

  --config FILE  the agent config (see README: The agent)
  --drop-caps    drop every capability once the scripts are attached
  --check        check the config (and compile nothing), then exit
SIGHUP reloads FILE; SIGINT/SIGTERM stop the agent.";

/// `kestrel agent ...` (`argv[0]` is `agent`).
pub fn main(argv: &[String]) -> anyhow::Result<ExitCode> {
    let mut config_path: Option<PathBuf> = None;
    let mut drop_caps = false;
    let mut check = false;
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => match args.next() {
                Some(p) => config_path = Some(PathBuf::from(p)),
                None => anyhow::bail!("--config needs a FILE\n{USAGE}"),
            },
            s if s.starts_with("--config=") => {
                config_path = Some(PathBuf::from(&s["--config=".len()..]))
            }
            "--drop-caps" => drop_caps = true,
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let Some(path) = config_path else {
        anyhow::bail!("no config given\n{USAGE}");
    };
    let config = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if check {
        println!(
            "{}: ok ({} script(s))",
            path.display(),
            config.scripts.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    run(path, config, drop_caps)
}

/// What the agent holds while it runs.
struct Agent {
    path: PathBuf,
    config: Config,
    entries: Vec<Entry>,
    kernel: Option<Box<dyn kestrel_kernel::KernelFacts + Sync>>,
    decoders: decode::Decoders,
    started: SystemTime,
    resource: Resource,
    queue: Option<ExportQueue>,
    last_push: Instant,
    logs: Vec<LogEvent>,
    logs_dropped: u64,
    reloads_ok: u64,
    reloads_failed: u64,
    missing: Vec<&'static caps::Need>,
    caps_dropped: bool,
    stats: StatsSysctl,
}

fn run(path: PathBuf, config: Config, drop_caps: bool) -> anyhow::Result<ExitCode> {
    let stop = kestrel_runtime::StopFlag::install()?;
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .map_err(|e| anyhow::anyhow!("cannot install the SIGHUP handler: {e}"))?;
    let missing = caps::missing(caps::effective(), caps::is_root());
    for line in caps::report(&missing) {
        eprintln!("{line}");
    }
    let kernel = match crate::compile::kernel_facts(false, false) {
        Ok(k) => Some(k),
        Err(e) => {
            eprintln!("kestrel agent: {e:#}; no script can be compiled");
            None
        }
    };
    let mut agent = Agent {
        path,
        config,
        entries: Vec::new(),
        kernel,
        decoders: decode::Decoders::default(),
        started: SystemTime::now(),
        resource: Resource::from_env(env!("CARGO_PKG_VERSION")),
        queue: None,
        last_push: Instant::now(),
        logs: Vec::new(),
        logs_dropped: 0,
        reloads_ok: 0,
        reloads_failed: 0,
        missing,
        caps_dropped: false,
        stats: StatsSysctl::enable(),
    };
    // Listen first: a port already taken is the one error that stops the agent.
    let (to_main, requests) = mpsc::channel();
    let server = match server::Server::start(agent.config.listen, to_main) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    eprintln!(
        "kestrel agent: serving /metrics, /healthz, /readyz on http://{}",
        agent.config.listen
    );
    agent.configure_otlp();
    let scripts = agent.config.scripts.clone();
    agent.entries = agent.start_set(&scripts);
    if drop_caps {
        match caps::drop_all() {
            Ok(()) => {
                agent.caps_dropped = true;
                eprintln!("kestrel agent: dropped all capabilities (a reload can keep running scripts but load no new ones)");
            }
            Err(e) => eprintln!("kestrel agent: --drop-caps: {e}"),
        }
    }
    while !stop.is_set() {
        match requests.recv_timeout(TICK) {
            Ok(req) => agent.answer(req),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        agent.service();
        if hup.swap(false, Ordering::SeqCst) {
            agent.reload();
        }
        agent.push_if_due();
    }
    eprintln!("kestrel agent: stopping");
    drop(server);
    agent.push_now();
    // Detach before anything else goes.
    agent.entries.clear();
    Ok(ExitCode::SUCCESS)
}

impl Agent {
    fn start_set(&mut self, scripts: &[config::ScriptConfig]) -> Vec<Entry> {
        let mut out = std::io::stdout().lock();
        match &self.kernel {
            Some(k) => entries::rebuild(&mut self.entries, scripts, k.as_ref(), &mut out),
            None => scripts
                .iter()
                .map(|cfg| Entry {
                    cfg: cfg.clone(),
                    state: State::Failed {
                        stage: entries::Stage::Compile,
                        error: "kernel tracepoints cannot be read (tracefs)".into(),
                    },
                    metrics: cfg
                        .metrics
                        .iter()
                        .cloned()
                        .map(metrics::MetricState::new)
                        .collect(),
                })
                .collect(),
        }
    }

    /// SIGHUP: a new config that parses replaces the old one; one that does not is logged
    /// and the old set keeps running.
    fn reload(&mut self) {
        let config = match config::load(&self.path) {
            Ok(c) => c,
            Err(e) => {
                self.reloads_failed += 1;
                eprintln!("kestrel agent: reload refused, the running config stays: {e}");
                return;
            }
        };
        if config.listen != self.config.listen {
            eprintln!(
                "kestrel agent: listen changed to {}; it takes effect on restart (still serving {})",
                config.listen, self.config.listen
            );
        }
        if self.kernel.is_none() {
            self.kernel = crate::compile::kernel_facts(false, false).ok();
        }
        let new = self.start_set(&config.scripts);
        // The swap: what was not moved over detaches now.
        let old = std::mem::replace(&mut self.entries, new);
        drop(old);
        let otlp_changed = config.otlp != self.config.otlp;
        self.config = Config {
            listen: self.config.listen,
            ..config
        };
        if otlp_changed {
            self.configure_otlp();
        }
        self.reloads_ok += 1;
        let running = self.entries.iter().filter(|e| e.running()).count();
        eprintln!(
            "kestrel agent: reloaded: {running} of {} script(s) running",
            self.entries.len()
        );
    }

    fn configure_otlp(&mut self) {
        self.queue = self.config.otlp.as_ref().and_then(|o| {
            let cfg = QueueConfig {
                headers: o.headers.clone(),
                ..QueueConfig::new(&o.endpoint)
            };
            match ExportQueue::start(cfg) {
                Ok(q) => Some(q),
                Err(e) => {
                    eprintln!("kestrel agent: OTLP disabled: {e}");
                    None
                }
            }
        });
    }

    /// Drains every running script's events: printed to stdout, and kept as OTLP log
    /// records when OTLP logs are on.
    fn service(&mut self) {
        let keep_logs = self.queue.is_some() && self.config.otlp.as_ref().is_some_and(|o| o.logs);
        let mut stdout = std::io::stdout().lock();
        for entry in &mut self.entries {
            let State::Running { session, .. } = &mut entry.state else {
                continue;
            };
            let mut buf = Vec::new();
            if let Err(e) = session.service(&mut buf) {
                eprintln!("kestrel agent: script {}: {e}", entry.cfg.name);
            }
            if buf.is_empty() {
                continue;
            }
            let _ = stdout.write_all(&buf);
            if keep_logs {
                let now = unix_nanos(SystemTime::now());
                for line in String::from_utf8_lossy(&buf).lines() {
                    if self.logs.len() >= MAX_LOG_BATCH {
                        self.logs_dropped += 1;
                        continue;
                    }
                    self.logs.push(LogEvent {
                        time_unix_nano: now,
                        severity: Severity::Info,
                        body: line.to_string(),
                        attributes: vec![("kestrel.script".into(), entry.cfg.name.clone())],
                    });
                }
            }
        }
        let _ = stdout.flush();
    }

    /// Every metric: the scripts', then the agent's own.
    fn families(&mut self) -> Vec<Family> {
        let mut out = Vec::new();
        for entry in &mut self.entries {
            let State::Running { session, .. } = &entry.state else {
                continue;
            };
            let maps = match session.map_values() {
                Ok(m) => m,
                Err(e) => {
                    eprintln!(
                        "kestrel agent: script {}: cannot read maps: {e}",
                        entry.cfg.name
                    );
                    continue;
                }
            };
            for state in &mut entry.metrics {
                if let Some(map) = maps.iter().find(|m| m.name == state.cfg.map) {
                    out.push(metrics::family(state, map, &mut self.decoders));
                }
            }
        }
        out.extend(selfmetrics::families(self));
        out
    }

    fn answer(&mut self, req: Request) {
        match req {
            Request::Metrics { format, reply } => {
                let families = self.families();
                let _ = reply.send(prom::encode(&families, format).map_err(|e| e.to_string()));
            }
            Request::Ready { reply } => {
                let _ = reply.send(self.readiness());
            }
        }
    }

    /// Ready when every required capability is there and every script runs.
    fn readiness(&self) -> (bool, String) {
        let mut why = Vec::new();
        for n in self.missing.iter().filter(|n| n.required) {
            why.push(format!("missing {}: needed {}", n.name, n.why));
        }
        for e in &self.entries {
            if let State::Failed { stage, error } = &e.state {
                why.push(format!(
                    "script {} failed to {}: {error}",
                    e.cfg.name,
                    stage.as_str()
                ));
            }
        }
        if why.is_empty() {
            (true, "ready\n".into())
        } else {
            (false, why.join("\n") + "\n")
        }
    }

    fn push_if_due(&mut self) {
        let Some(interval) = self.config.otlp.as_ref().map(|o| o.interval) else {
            return;
        };
        if self.last_push.elapsed() >= interval {
            self.push_now();
        }
    }

    fn push_now(&mut self) {
        if self.queue.is_none() {
            return;
        }
        self.last_push = Instant::now();
        let families = self.families();
        let times = Times {
            start_unix_nano: unix_nanos(self.started),
            now_unix_nano: unix_nanos(SystemTime::now()),
        };
        let version = env!("CARGO_PKG_VERSION");
        let Some(queue) = &self.queue else {
            return;
        };
        match otlp::encode_metrics(&self.resource, version, &families, times) {
            Ok(body) => queue.push(otlp::METRICS_PATH, body),
            Err(e) => eprintln!("kestrel agent: OTLP metrics: {e}"),
        }
        if !self.logs.is_empty() {
            let logs = std::mem::take(&mut self.logs);
            queue.push(
                otlp::LOGS_PATH,
                otlp::encode_logs(&self.resource, version, &logs),
            );
        }
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Per-program run time and count accounting, on while the agent runs: the fd-based
/// `BPF_ENABLE_STATS` of the kernel layer, reference-counted by the kernel, so it turns off
/// however the agent ends (kill -9 included) and never under another user's feet.
struct StatsSysctl {
    _guard: Option<kestrel_sys::features::StatsGuard>,
    enabled: bool,
}

impl StatsSysctl {
    fn enable() -> StatsSysctl {
        match kestrel_sys::features::enable_stats() {
            Ok(g) => StatsSysctl {
                _guard: Some(g),
                enabled: true,
            },
            Err(e) => {
                // Already on system-wide (sysctl) still counts.
                let on = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
                    .is_ok_and(|s| s.trim() == "1");
                if !on {
                    eprintln!("kestrel agent: cannot turn on BPF run-time statistics ({e}); per-program run time and count stay 0");
                }
                StatsSysctl {
                    _guard: None,
                    enabled: on,
                }
            }
        }
    }
}
