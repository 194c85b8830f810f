//! `kestrel http`: one line per HTTP request seen on this machine's TCP sockets (syscall
//! tracepoints; no kprobes, no changes to the applications), and RED metrics at exit.
//! The work is kestrel-http-capture's and kestrel-l7's; this file parses flags and prints.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use kestrel_http_capture::{render, CaptureConfig, Filter, Session, SessionConfig};

/// `kestrel http`
#[derive(Parser, Debug)]
#[command(
    name = "kestrel http",
    bin_name = "kestrel http",
    about = "One line per HTTP request on this machine (servers and clients), RED metrics with OpenTelemetry names",
    after_help = "EXAMPLES:\n  kestrel http                          # every HTTP/1 and h2c exchange\n  kestrel http --server --port 8080     # what the server on port 8080 answers\n  kestrel http -p 1234 --json           # one JSON object per request of PID 1234\n  kestrel http --metrics-summary -d 30  # RED metrics after 30 seconds"
)]
struct HttpCli {
    /// Only this process (decided in the kernel).
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// Only connections with this local or peer port.
    #[arg(long)]
    port: Option<u16>,
    /// Only processes with this command name (as in /proc/PID/comm).
    #[arg(long)]
    comm: Option<String>,
    /// Only processes in this cgroup (v2 path) or below it.
    #[arg(long)]
    cgroup: Option<String>,
    /// Only the server side (accepted connections).
    #[arg(long, conflicts_with = "client")]
    server: bool,
    /// Only the client side (connections this machine opened).
    #[arg(long)]
    client: bool,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Bytes copied per read/write (64..=65536).
    #[arg(long, default_value_t = 1024)]
    capture_bytes: u32,
    /// Keep Authorization, Cookie and query strings (never shown otherwise).
    #[arg(long)]
    capture_sensitive: bool,
    /// Print RED metrics (OpenTelemetry names, default buckets) at exit.
    #[arg(long)]
    metrics_summary: bool,
    /// Also print the metrics in Prometheus text format at exit.
    #[arg(long)]
    prometheus: bool,
    /// Stop after this many seconds.
    #[arg(short = 'd', long)]
    duration: Option<f64>,
    /// Do not print request lines (useful with --metrics-summary).
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Turn on kernel.bpf_stats_enabled while running and print each program's run time
    /// and run count at exit (a `bpf_stats:` JSON line on stderr).
    #[arg(long)]
    bpf_stats: bool,
    /// Ring buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 16)]
    ring_mib: u32,
}

/// Entry point (`args[0]` is "http").
pub fn main(args: &[String]) -> anyhow::Result<ExitCode> {
    let cli = HttpCli::parse_from(args);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let role = match (cli.server, cli.client) {
        (true, _) => Some(kestrel_l7::Role::Server),
        (_, true) => Some(kestrel_l7::Role::Client),
        _ => None,
    };
    let cfg = SessionConfig {
        capture: CaptureConfig {
            capture_bytes: cli.capture_bytes,
            pid: cli.pid,
            ring_bytes: cli.ring_mib.saturating_mul(1 << 20),
            ..CaptureConfig::default()
        },
        filter: Filter {
            pid: cli.pid,
            port: cli.port,
            comm: cli.comm.clone(),
            cgroup: cli.cgroup.clone(),
            role,
        },
        l7: kestrel_l7::Config {
            capture_sensitive: cli.capture_sensitive,
            ..kestrel_l7::Config::default()
        },
    };
    // Before the programs load, so every run is counted; off again when this drops.
    let _stats = if cli.bpf_stats {
        Some(kestrel_sys::features::enable_stats()?)
    } else {
        None
    };
    let mut session = Session::start(cfg)?;
    eprintln!(
        "kestrel http: {} programs attached, {} connections already open; Ctrl-C to stop",
        session.capture().links(),
        session.capture().seeded().len()
    );
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Test harnesses (and bpftrace's runtime suite) wait for this line on stdout.
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        writeln!(out, "__BPFTRACE_NOTIFY_PROBES_ATTACHED")?;
        out.flush()?;
    }
    if !cli.json && !cli.quiet {
        writeln!(out, "{}", render::HEADER)?;
        out.flush()?;
    }
    let deadline = cli
        .duration
        .map(|d| Instant::now() + Duration::from_secs_f64(d.max(0.0)));
    let print =
        |out: &mut dyn Write, es: &[kestrel_http_capture::Exchange]| -> std::io::Result<()> {
            if cli.quiet {
                return Ok(());
            }
            for e in es {
                let l = if cli.json {
                    render::json(e)
                } else {
                    render::line(e)
                };
                if let Some(l) = l {
                    writeln!(out, "{l}")?;
                }
            }
            out.flush()
        };
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        let es = session.poll(100)?;
        if print(&mut out, &es).is_err() {
            break; // stdout closed (a pipe's reader left)
        }
    }
    let es = session.finish();
    let _ = print(&mut out, &es);
    let losses = session.losses()?;
    let st = session.stats().clone();
    let ps = session.parser_stats().clone();
    if cli.metrics_summary {
        let _ = write!(out, "{}", session.red().summary());
    }
    if cli.prometheus {
        let text = kestrel_export::prom::encode(
            &session.red().families(),
            kestrel_export::prom::Format::Text004,
        )?;
        let _ = write!(out, "{text}");
    }
    let _ = out.flush();
    eprintln!(
        "kestrel http: {} records from the kernel, {} lost (per CPU {:?}; {} reported on their connections), {} connections ({} filtered out); parser: {} exchanges, {} unparsed bytes, {} parse errors, {} dropped requests, {} routes over the cap",
        st.records,
        losses.total,
        losses.per_cpu,
        losses.per_connection,
        st.connections,
        st.filtered,
        ps.records,
        ps.unparsed_bytes,
        ps.parse_errors,
        ps.dropped_requests,
        session.red().routes_overflowed()
    );
    if cli.bpf_stats {
        let mut progs = serde_json::Map::new();
        for p in session.capture().programs() {
            if let Ok(i) = p.program.info() {
                progs.insert(
                    p.tracepoint.clone(),
                    serde_json::json!({"run_time_ns": i.run_time_ns, "run_cnt": i.run_cnt}),
                );
            }
        }
        eprintln!("bpf_stats: {}", serde_json::Value::Object(progs));
    }
    // The same numbers for scripts and tests, one JSON object.
    eprintln!(
        "stats: {}",
        serde_json::json!({
            "records": st.records,
            "malformed": st.malformed,
            "lost": losses.total,
            "lost_per_cpu": losses.per_cpu,
            "lost_reported_per_connection": losses.per_connection,
            "connections": st.connections,
            "filtered": st.filtered,
            "not_tcp": st.not_tcp,
            "copy_failed": st.copy_failed,
            "exchanges": ps.records,
            "unparsed_bytes": ps.unparsed_bytes,
            "parse_errors": ps.parse_errors,
            "undetected_connections": ps.undetected_connections,
            "dropped_requests": ps.dropped_requests,
            "unmatched_responses": ps.unmatched_responses,
            "oversized": ps.oversized,
            "routes_overflowed": session.red().routes_overflowed(),
        })
    );
    Ok(ExitCode::SUCCESS)
}
