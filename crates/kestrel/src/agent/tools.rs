//! `[[tool]]` entries: built-in tools that have a metrics form, run as scripts with a fixed
//! mapping of their maps to metrics (OpenTelemetry-style names, seconds).

use kestrel_export::Kind;

use super::config::{Decoder, MetricConfig, ScriptConfig};

/// One metric a tool's map becomes.
struct Preset {
    map: &'static str,
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [&'static str],
    decoders: &'static [&'static [Decoder]],
    unit: Option<&'static str>,
    scale: Option<f64>,
}

/// The tools with a metrics form and what their maps become.
fn presets(tool: &str) -> Option<Vec<Preset>> {
    const NONE: &[&[Decoder]] = &[];
    const SYSCALL: &[&[Decoder]] = &[&[Decoder::Syscall]];
    let hist = |map, name, help| Preset {
        map,
        name,
        kind: Kind::Histogram,
        help,
        labels: &[],
        decoders: NONE,
        unit: Some("seconds"),
        // The tools' default histograms are in microseconds.
        scale: Some(1e-6),
    };
    Some(match tool {
        "biolatency" => vec![hist(
            "@dist",
            "kestrel_block_io_duration_seconds",
            "Block I/O latency, issue to completion (biolatency).",
        )],
        "runqlat" => vec![hist(
            "@dist",
            "kestrel_runqueue_latency_seconds",
            "Time runnable threads waited on a run queue (runqlat).",
        )],
        "tcprtt" => vec![hist(
            "@dist",
            "kestrel_tcp_srtt_seconds",
            "Smoothed TCP round-trip time at each tcp_probe (tcprtt).",
        )],
        "syscount" => vec![
            Preset {
                map: "@count",
                name: "kestrel_syscalls_total",
                kind: Kind::Counter,
                help: "System calls by name (syscount).",
                labels: &["syscall"],
                decoders: SYSCALL,
                unit: None,
                scale: None,
            },
            Preset {
                map: "@lat",
                name: "kestrel_syscall_duration_seconds_total",
                kind: Kind::Counter,
                help: "Time spent in system calls by name (syscount -L).",
                labels: &["syscall"],
                decoders: SYSCALL,
                unit: Some("seconds"),
                scale: Some(1e-9),
            },
        ],
        _ => return None,
    })
}

/// The tools `[[tool]]` accepts.
pub const METRIC_TOOLS: &[&str] = &["biolatency", "runqlat", "syscount", "tcprtt"];

/// The script entry for tool `name` (entry name `tool:NAME`), or why there is none.
pub fn script_for(name: &str, cardinality_limit: usize) -> Result<ScriptConfig, String> {
    let presets = presets(name).ok_or_else(|| {
        format!(
            "tool {name:?} has no metrics form; tools that do: {}",
            METRIC_TOOLS.join(", ")
        )
    })?;
    let tool = kestrel_tools::find(name).map_err(|e| e.to_string())?;
    let options = kestrel_tools::Options::new(std::iter::empty::<(String, String)>(), false);
    let source = tool.script(&options).map_err(|e| e.to_string())?;
    let metrics = presets
        .into_iter()
        .map(|p| MetricConfig {
            map: p.map.to_string(),
            name: p.name.to_string(),
            kind: p.kind,
            labels: p.labels.iter().map(|s| s.to_string()).collect(),
            decoders: (0..p.labels.len())
                .map(|i| p.decoders.get(i).map(|d| d.to_vec()).unwrap_or_default())
                .collect(),
            help: p.help.to_string(),
            unit: p.unit.map(str::to_string),
            scale: p.scale,
            cardinality_limit,
        })
        .collect();
    Ok(ScriptConfig {
        name: format!("tool:{name}"),
        origin: format!("tool {name}"),
        source,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_tool_has_a_script_and_metrics() {
        for t in METRIC_TOOLS {
            let s = script_for(t, 100).expect("a tool script");
            assert!(!s.source.is_empty() && !s.metrics.is_empty(), "{t}");
            assert!(!s.source.contains("{{"), "{t}: unfilled template");
        }
        assert!(script_for("execsnoop", 100).is_err());
    }
}
