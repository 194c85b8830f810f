//! The agent's own metrics (`kestrel_agent_*`): scripts and programs, per-program run
//! time and count from the kernel (BPF_OBJ_GET_INFO_BY_FD while stats are on), lost events, full maps,
//! decoder errors, series dropped by the cardinality cap, export queue counters, reloads,
//! missing capabilities and readiness.

use std::os::fd::AsRawFd;

use kestrel_export::{Family, Kind, Value};

use super::entries::State;
use super::Agent;

/// run_time_ns, run_cnt and prog_id of a program fd, from /proc/self/fdinfo.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ProgInfo {
    /// The kernel's id of the program (`bpftool prog show id N`).
    pub id: u64,
    /// Nanoseconds spent in the program (counted while bpf stats are on).
    pub run_time_ns: u64,
    /// Runs (counted while bpf stats are on).
    pub run_cnt: u64,
}

/// Parses a BPF program fd's fdinfo text.
pub fn parse_fdinfo(text: &str) -> ProgInfo {
    let mut info = ProgInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().parse::<u64>().unwrap_or(0);
        match k.trim() {
            "prog_id" => info.id = v,
            "run_time_ns" => info.run_time_ns = v,
            "run_cnt" => info.run_cnt = v,
            _ => {}
        }
    }
    info
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> Family {
    Family::new(name, help, Kind::Gauge, labels)
}

fn counter(name: &str, help: &str, labels: &[&str]) -> Family {
    Family::new(name, help, Kind::Counter, labels)
}

/// Every self-metric family, now.
pub fn families(agent: &Agent) -> Vec<Family> {
    let mut scripts = gauge(
        "kestrel_agent_scripts",
        "Scripts by state (running, failed).",
        &["state"],
    );
    let mut up = gauge(
        "kestrel_agent_script_up",
        "1 if the script is loaded and attached, 0 if it failed.",
        &["script"],
    );
    let mut failed = gauge(
        "kestrel_agent_script_failed",
        "1 for each script that failed, with the stage it failed at (compile, load, attach).",
        &["script", "stage"],
    );
    let mut programs = gauge(
        "kestrel_agent_programs",
        "Probes attached (state=attached) and scripts whose programs failed to compile, load or attach (state=failed).",
        &["state"],
    );
    let mut run_time = counter(
        "kestrel_agent_program_run_time_seconds_total",
        "Time spent in each BPF program (kernel.bpf_stats_enabled run_time_ns).",
        &["script", "probe", "prog_id"],
    )
    .with_unit(kestrel_export::Unit::Seconds);
    let mut run_cnt = counter(
        "kestrel_agent_program_runs_total",
        "Runs of each BPF program (kernel.bpf_stats_enabled run_cnt).",
        &["script", "probe", "prog_id"],
    );
    let mut lost = counter(
        "kestrel_agent_lost_events_total",
        "Events the ring buffer dropped.",
        &["script"],
    );
    let mut full = gauge(
        "kestrel_agent_full_maps",
        "Script maps found full (updates adding keys are dropped).",
        &["script"],
    );
    let mut dec = counter(
        "kestrel_agent_decoder_errors_total",
        "Map key components a label decoder could not decode (the raw value is used).",
        &["metric", "decoder"],
    );
    let mut dropped = counter(
        "kestrel_agent_series_dropped_total",
        "Distinct label sets folded into the overflow series by the cardinality cap.",
        &["metric"],
    );
    let (mut running_n, mut failed_n, mut attached_n) = (0.0, 0.0, 0.0);
    for e in &agent.entries {
        let name = e.cfg.name.clone();
        for m in &e.metrics {
            for (d, n) in &m.decoder_errors {
                dec.push(
                    vec![m.cfg.name.clone(), d.to_string()],
                    Value::Counter(*n as f64),
                );
            }
            dropped.push(
                vec![m.cfg.name.clone()],
                Value::Counter(m.capper.dropped() as f64),
            );
        }
        match &e.state {
            State::Running { session, attached } => {
                running_n += 1.0;
                attached_n += *attached as f64;
                up.push(vec![name.clone()], Value::Gauge(1.0));
                lost.push(
                    vec![name.clone()],
                    Value::Counter(session.lost_events() as f64),
                );
                full.push(vec![name.clone()], Value::Gauge(session.full_maps() as f64));
                for (probe, fd) in session.program_fds() {
                    let info = match kestrel_sys::program_info(fd, &probe) {
                        Ok(i) => ProgInfo {
                            id: u64::from(i.id),
                            run_time_ns: i.run_time_ns,
                            run_cnt: i.run_cnt,
                        },
                        // The same numbers, as /proc shows them.
                        Err(_) => {
                            let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
                            parse_fdinfo(&std::fs::read_to_string(path).unwrap_or_default())
                        }
                    };
                    let labels = vec![name.clone(), probe, info.id.to_string()];
                    run_time.push(
                        labels.clone(),
                        Value::Counter(info.run_time_ns as f64 / 1e9),
                    );
                    run_cnt.push(labels, Value::Counter(info.run_cnt as f64));
                }
            }
            State::Failed { stage, .. } => {
                failed_n += 1.0;
                up.push(vec![name.clone()], Value::Gauge(0.0));
                failed.push(vec![name, stage.as_str().to_string()], Value::Gauge(1.0));
            }
        }
    }
    scripts.push(vec!["running".into()], Value::Gauge(running_n));
    scripts.push(vec!["failed".into()], Value::Gauge(failed_n));
    programs.push(vec!["attached".into()], Value::Gauge(attached_n));
    programs.push(vec!["failed".into()], Value::Gauge(failed_n));

    let mut export = counter(
        "kestrel_agent_export_payloads_total",
        "OTLP payloads by result (sent; dropped: queue full, refused, or out of retries).",
        &["result"],
    );
    let mut attempts = counter(
        "kestrel_agent_export_failed_attempts_total",
        "OTLP requests that failed (each retry counts).",
        &[],
    );
    let mut queued = gauge(
        "kestrel_agent_export_queue_length",
        "OTLP payloads waiting to be sent.",
        &[],
    );
    let mut logs_dropped = counter(
        "kestrel_agent_log_records_dropped_total",
        "Script output lines not kept for OTLP logs (batch full).",
        &[],
    );
    if let Some(q) = &agent.queue {
        let s = q.stats();
        export.push(vec!["sent".into()], Value::Counter(s.sent as f64));
        export.push(vec!["dropped".into()], Value::Counter(s.dropped as f64));
        attempts.push(vec![], Value::Counter(s.failed_attempts as f64));
        queued.push(vec![], Value::Gauge(s.queued as f64));
    }
    logs_dropped.push(vec![], Value::Counter(agent.logs_dropped as f64));
    let mut reloads = counter("kestrel_agent_config_reloads_total", "SIGHUP reloads by result (success; failure: the config did not parse and the old one stays).", &["result"]);
    reloads.push(
        vec!["success".into()],
        Value::Counter(agent.reloads_ok as f64),
    );
    reloads.push(
        vec!["failure".into()],
        Value::Counter(agent.reloads_failed as f64),
    );
    let mut caps = gauge(
        "kestrel_agent_missing_capability",
        "1 for each capability the agent lacks.",
        &["capability"],
    );
    for n in &agent.missing {
        caps.push(vec![n.name.to_string()], Value::Gauge(1.0));
    }
    let mut dropped_caps = gauge(
        "kestrel_agent_capabilities_dropped",
        "1 once --drop-caps dropped every capability.",
        &[],
    );
    dropped_caps.push(
        vec![],
        Value::Gauge(if agent.caps_dropped { 1.0 } else { 0.0 }),
    );
    let mut stats = gauge(
        "kestrel_agent_bpf_stats_enabled",
        "1 while kernel.bpf_stats_enabled is on (per-program run time and count).",
        &[],
    );
    stats.push(
        vec![],
        Value::Gauge(if agent.stats.enabled { 1.0 } else { 0.0 }),
    );
    let mut ready = gauge("kestrel_agent_ready", "1 when /readyz answers 200.", &[]);
    ready.push(
        vec![],
        Value::Gauge(if agent.readiness().0 { 1.0 } else { 0.0 }),
    );
    vec![
        scripts,
        up,
        failed,
        programs,
        run_time,
        run_cnt,
        lost,
        full,
        dec,
        dropped,
        export,
        attempts,
        queued,
        logs_dropped,
        reloads,
        caps,
        dropped_caps,
        stats,
        ready,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_lines_are_read() {
        let text = "pos:\t0\nflags:\t02000002\nprog_type:\t5\nprog_jited:\t1\nprog_tag:\tabc\nmemlock:\t4096\nprog_id:\t42\nrun_time_ns:\t1500\nrun_cnt:\t3\n";
        assert_eq!(
            parse_fdinfo(text),
            ProgInfo {
                id: 42,
                run_time_ns: 1500,
                run_cnt: 3
            }
        );
    }
}
