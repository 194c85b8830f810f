//! kestrel-http-capture: the capture half of `kestrel http` — HTTP (and the other kestrel-l7
//! protocols) seen from syscall tracepoints, without kprobes and without touching the
//! applications.
//!
//! What it owns:
//! - [`program`]: the kernel programs, built with the isa label builder against the
//!   running kernel's tracefs formats and checked by kestrel-obj's structural checker.
//! - [`live`]: maps, loading, perf-event links, the ring buffer ([`Capture`]).
//! - [`seed`]: connections that existed before the capture (/proc).
//! - [`decode`]: ring-buffer records → values; [`layout`]: the bytes both sides agree on.
//! - [`monitor`]: records → connections → [`kestrel_l7::Tracker`] → [`Exchange`]s, with
//!   filters (pid, port, comm, cgroup, role).
//! - [`metrics`]: RED metrics with OpenTelemetry names on kestrel-export's model.
//! - [`render`]: text lines and JSON objects.
//! - [`Session`]: all of it in one value, the API `kestrel http` and the agent call.
//!
//! It does not parse protocols (kestrel-l7 does) nor print or export (the CLI and the
//! agent do).
//!
//! ```no_run
//! use kestrel_http_capture::{Session, SessionConfig};
//! let mut s = Session::start(SessionConfig::default())?;
//! loop {
//!     for e in s.poll(200)? {
//!         if let Some(l) = kestrel_http_capture::render::line(&e) { println!("{l}"); }
//!     }
//! #   break;
//! }
//! let families = s.red().families(); // http_server_request_duration_seconds, ...
//! # Ok::<(), kestrel_http_capture::CaptureError>(())
//! ```

pub mod decode;
pub mod layout;
pub mod live;
pub mod metrics;
pub mod monitor;
pub mod program;
pub mod render;
pub mod seed;

pub use live::{Capture, CaptureConfig};
pub use metrics::Red;
pub use monitor::{Exchange, Filter, Monitor, MonitorStats};

/// Why a capture could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A bad option.
    #[error("{0}")]
    Config(String),
    /// A tracepoint format lacks a field a program needs.
    #[error("tracepoint format: {0}")]
    Format(String),
    /// Program generation failed (a bug: the structural checker or the builder said so).
    #[error("internal: program generation: {0}")]
    Codegen(String),
    /// tracefs or another kernel fact could not be read.
    #[error("{0}")]
    Kernel(String),
    /// A bpf(2)/perf_event_open(2) call failed.
    #[error("{0}: {1}")]
    Sys(String, #[source] kestrel_sys::SysError),
}

/// Everything a session needs.
#[derive(Clone, Debug, Default)]
pub struct SessionConfig {
    /// The kernel side.
    pub capture: CaptureConfig,
    /// What to keep.
    pub filter: Filter,
    /// The parser's configuration (`capture_sensitive` and limits).
    pub l7: kestrel_l7::Config,
}

/// Losses, the kernel's and the parser's, for reports and self-metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Records the ring buffer had no room for, per CPU.
    pub per_cpu: Vec<u64>,
    /// Their sum.
    pub total: u64,
    /// Of them, attributed to a connection (reported with its next record or close).
    pub per_connection: u64,
}

/// A running capture with its parser and RED metrics: the library API for the agent.
pub struct Session {
    capture: Capture,
    monitor: Monitor,
    red: Red,
    last_expire: u64,
}

/// The longest sleep between two drains of the ring buffer, ms.
const DRAIN_MS: i32 = 20;

/// Connections silent this long are finished (their close was missed).
const IDLE_NS: u64 = 300_000_000_000;

impl Session {
    /// Starts the capture (needs root or CAP_BPF + CAP_PERFMON).
    pub fn start(cfg: SessionConfig) -> Result<Session, CaptureError> {
        let mut filter = cfg.filter.clone();
        if filter.pid.is_none() {
            filter.pid = cfg.capture.pid;
        }
        let capture = Capture::start(&CaptureConfig {
            pid: filter.pid,
            ..cfg.capture.clone()
        })?;
        let mut monitor = Monitor::new(cfg.l7.clone(), filter);
        monitor.seed(capture.seeded());
        Ok(Session {
            capture,
            monitor,
            red: Red::default(),
            last_expire: monitor::now_mono(),
        })
    }

    /// Waits up to `timeout_ms` for records and returns the exchanges they finished (all
    /// protocols; HTTP ones are also counted in [`Session::red`]).
    pub fn poll(&mut self, timeout_ms: i32) -> Result<Vec<Exchange>, CaptureError> {
        let mut out = Vec::new();
        // The programs do not wake us (see program.rs: output), so this is a timer: at most
        // DRAIN_MS between drains.
        self.capture.wait(timeout_ms.clamp(0, DRAIN_MS))?;
        self.drain_into(&mut out);
        let now = monitor::now_mono();
        if now.saturating_sub(self.last_expire) > 10_000_000_000 {
            self.last_expire = now;
            self.monitor.expire(IDLE_NS, &mut out);
        }
        for e in &out {
            self.red.observe(e);
        }
        Ok(out)
    }

    fn drain_into(&mut self, out: &mut Vec<Exchange>) {
        let monitor = &mut self.monitor;
        self.capture.drain(|raw| monitor.handle(raw, out));
        for (pid, fd) in self.monitor.take_untrack() {
            self.capture.untrack(pid, fd);
        }
    }

    /// Reads what is left and finishes every connection (requests still waiting become
    /// records). Call once at the end.
    pub fn finish(&mut self) -> Vec<Exchange> {
        let mut out = Vec::new();
        self.drain_into(&mut out);
        self.monitor.finish(&mut out);
        for e in &out {
            self.red.observe(e);
        }
        out
    }

    /// RED metrics so far.
    pub fn red(&self) -> &Red {
        &self.red
    }

    /// The capture side's counters.
    pub fn stats(&self) -> &MonitorStats {
        &self.monitor.stats
    }

    /// The parser's counters (unparsed bytes, parse errors, ...).
    pub fn parser_stats(&self) -> &kestrel_l7::Stats {
        self.monitor.tracker().stats()
    }

    /// Records lost in the kernel.
    pub fn losses(&self) -> Result<Losses, CaptureError> {
        let per_cpu = self.capture.lost_per_cpu()?;
        Ok(Losses {
            total: per_cpu.iter().sum(),
            per_cpu,
            per_connection: self.monitor.stats.lost_per_conn,
        })
    }

    /// The capture (programs, for run-time statistics).
    pub fn capture(&self) -> &Capture {
        &self.capture
    }
}
