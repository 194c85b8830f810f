//! The agent's TOML config: parsed with serde, checked, and every mistake reported as
//! `FILE:LINE:COLUMN: message` (the toml crate gives byte spans; [`Spanned`] keeps them for
//! the checks made after parsing).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kestrel_export::Kind;
use serde::Deserialize;
use toml::Spanned;

/// Default address of `/metrics` (ebpf_exporter's port, on loopback).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9435";
/// Default per-metric cardinality cap.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 10_000;

/// A config mistake, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `FILE:LINE:COLUMN: message`.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The checked config. `[[tool]]` entries become scripts named `tool:NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub listen: SocketAddr,
    /// The scripts, in file order.
    pub scripts: Vec<ScriptConfig>,
    /// OTLP push, if configured.
    pub otlp: Option<OtlpConfig>,
}

/// One `[[script]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptConfig {
    /// Its name (unique): the `script` label of its self-metrics.
    pub name: String,
    /// Where the text came from, for diagnostics (the file, or `CONFIG[name]`).
    pub origin: String,
    /// The program text (a `file` is read when the config is loaded, so an edited script
    /// counts as a changed entry on reload).
    pub source: String,
    /// Its metrics.
    pub metrics: Vec<MetricConfig>,
}

/// One `[[script.metric]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricConfig {
    /// The map, `@name`.
    pub map: String,
    /// The metric name as exposed (`_total` is kept off internally and added back).
    pub name: String,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// One label name per map key component, in order.
    pub labels: Vec<String>,
    /// Decoders per label, in label order (empty: the key as printed).
    pub decoders: Vec<Vec<Decoder>>,
    /// Help text.
    pub help: String,
    /// Unit word (`seconds`, `bytes`, ...).
    pub unit: Option<String>,
    /// Factor applied to values and bucket bounds (e.g. 1e-9 for ns → s).
    pub scale: Option<f64>,
    /// Series cap of this metric.
    pub cardinality_limit: usize,
}

/// One label decoder.
#[derive(Debug, Clone)]
pub enum Decoder {
    /// Kernel address → symbol name (`/proc/kallsyms`).
    Ksym,
    /// Syscall number → name (x86-64 table).
    Syscall,
    /// errno number (either sign) → `ENOENT`.
    Errno,
    /// IPv4 address held in an integer (network byte order, as the kernel stores it).
    Inet,
    /// cgroup id → its path under the cgroup2 mount.
    Cgroup,
    /// Fixed value map; values not listed keep theirs, or become `default` when given.
    Static {
        /// Value → replacement.
        map: BTreeMap<String, String>,
        /// Replacement of unlisted values.
        default: Option<String>,
    },
    /// Drops label sets whose value does not match.
    Regexp(regex::Regex),
}

impl PartialEq for Decoder {
    fn eq(&self, other: &Decoder) -> bool {
        match (self, other) {
            (Decoder::Regexp(a), Decoder::Regexp(b)) => a.as_str() == b.as_str(),
            (
                Decoder::Static {
                    map: a,
                    default: da,
                },
                Decoder::Static {
                    map: b,
                    default: db,
                },
            ) => a == b && da == db,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Decoder {
    /// The decoder's name in self-metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Decoder::Ksym => "ksym",
            Decoder::Syscall => "syscall",
            Decoder::Errno => "errno",
            Decoder::Inet => "inet",
            Decoder::Cgroup => "cgroup",
            Decoder::Static { .. } => "static",
            Decoder::Regexp(_) => "regexp",
        }
    }
}

/// `[otlp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// Base URL (`http://collector:4318`).
    pub endpoint: String,
    /// Push period.
    pub interval: Duration,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Also push script output lines (printf) as log records.
    pub logs: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    cardinality_limit: Option<Spanned<i64>>,
    #[serde(default)]
    script: Vec<RawScript>,
    #[serde(default)]
    tool: Vec<RawTool>,
    otlp: Option<RawOtlp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    name: Spanned<String>,
    cardinality_limit: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    name: Spanned<String>,
    program: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    #[serde(default)]
    metric: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    map: Spanned<String>,
    name: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    labels: Vec<Spanned<String>>,
    #[serde(default)]
    decoders: BTreeMap<Spanned<String>, Vec<Spanned<RawDecoder>>>,
    help: Option<String>,
    unit: Option<Spanned<String>>,
    scale: Option<f64>,
    cardinality_limit: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDecoder {
    Name(String),
    Table(RawDecoderTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecoderTable {
    #[serde(rename = "static")]
    static_map: Option<BTreeMap<String, String>>,
    default: Option<String>,
    regexp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOtlp {
    endpoint: Spanned<String>,
    interval: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    logs: Option<bool>,
}

/// Line and column (1-based, in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

struct Locator<'a> {
    path: &'a str,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, span: std::ops::Range<usize>, message: impl std::fmt::Display) -> ConfigError {
        let (line, col) = line_col(self.text, span.start);
        ConfigError {
            message: format!("{}:{line}:{col}: {message}", self.path),
        }
    }
}

/// Reads and checks the config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        message: format!("{shown}: cannot read the config: {e}"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&shown, &text, &base)
}

/// Parses and checks config `text` (named `path` in errors; `file =` is relative to `base`).
pub fn parse(path: &str, text: &str, base: &Path) -> Result<Config, ConfigError> {
    let loc = Locator { path, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) => loc.at(span, msg),
            None => ConfigError {
                message: format!("{path}: {msg}"),
            },
        }
    })?;
    let listen = match &raw.listen {
        Some(l) => l.get_ref().parse::<SocketAddr>().map_err(|e| {
            loc.at(
                l.span(),
                format!("listen = {:?}: not an address:port ({e})", l.get_ref()),
            )
        })?,
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|e| loc.at(0..0, format!("default listen address: {e}")))?,
    };
    let default_cap = match &raw.cardinality_limit {
        Some(c) => positive(&loc, c)?,
        None => DEFAULT_CARDINALITY_LIMIT,
    };
    let mut names = HashSet::new();
    let mut metric_names = HashSet::new();
    let mut scripts = Vec::new();
    for s in &raw.script {
        let name = s.name.get_ref().clone();
        if name.is_empty() || !names.insert(name.clone()) {
            return Err(loc.at(
                s.name.span(),
                format!("script name {name:?} is empty or used twice"),
            ));
        }
        let (origin, source) = match (&s.program, &s.file) {
            (Some(p), None) => (format!("{path}[{name}]"), p.get_ref().clone()),
            (None, Some(f)) => {
                let file: PathBuf = base.join(f.get_ref());
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    loc.at(f.span(), format!("cannot read {}: {e}", file.display()))
                })?;
                (file.display().to_string(), text)
            }
            _ => {
                return Err(loc.at(
                    s.name.span(),
                    format!("script {name:?} needs exactly one of `program` (inline) or `file`"),
                ))
            }
        };
        let mut metrics = Vec::new();
        for m in &s.metric {
            let metric = check_metric(&loc, m, default_cap)?;
            if !metric_names.insert(metric.name.clone()) {
                return Err(loc.at(
                    m.name.span(),
                    format!("metric {} is defined twice", metric.name),
                ));
            }
            metrics.push(metric);
        }
        scripts.push(ScriptConfig {
            name,
            origin,
            source,
            metrics,
        });
    }
    for t in &raw.tool {
        let cap = match &t.cardinality_limit {
            Some(c) => positive(&loc, c)?,
            None => default_cap,
        };
        let script = super::tools::script_for(t.name.get_ref(), cap)
            .map_err(|e| loc.at(t.name.span(), e))?;
        if !names.insert(script.name.clone()) {
            return Err(loc.at(
                t.name.span(),
                format!("tool {:?} is listed twice", t.name.get_ref()),
            ));
        }
        for m in &script.metrics {
            if !metric_names.insert(m.name.clone()) {
                return Err(loc.at(t.name.span(), format!("metric {} is defined twice", m.name)));
            }
        }
        scripts.push(script);
    }
    let otlp = match &raw.otlp {
        None => None,
        Some(o) => {
            let endpoint = o.endpoint.get_ref().trim_end_matches('/').to_string();
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(loc.at(
                    o.endpoint.span(),
                    "otlp.endpoint must be an http:// or https:// URL (OTLP/HTTP, e.g. http://127.0.0.1:4318)",
                ));
            }
            let interval = match &o.interval {
                Some(i) => parse_duration(i.get_ref()).ok_or_else(|| {
                    loc.at(
                        i.span(),
                        format!("otlp.interval {:?}: write a duration such as \"10s\", \"500ms\" or \"1m\"", i.get_ref()),
                    )
                })?,
                None => Duration::from_secs(10),
            };
            Some(OtlpConfig {
                endpoint,
                interval,
                headers: o.headers.clone().into_iter().collect(),
                logs: o.logs.unwrap_or(true),
            })
        }
    };
    Ok(Config {
        listen,
        scripts,
        otlp,
    })
}

fn positive(loc: &Locator<'_>, v: &Spanned<i64>) -> Result<usize, ConfigError> {
    usize::try_from(*v.get_ref())
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| loc.at(v.span(), "cardinality_limit must be a positive number"))
}

/// `10s`, `500ms`, `1m`, `2h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((t, ""), |i| t.split_at(i));
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs > 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
}

fn valid_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'));
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn check_metric(
    loc: &Locator<'_>,
    m: &RawMetric,
    default_cap: usize,
) -> Result<MetricConfig, ConfigError> {
    let map = m.map.get_ref();
    if !map.starts_with('@') {
        return Err(loc.at(
            m.map.span(),
            format!("map {map:?}: write the map as in the script, e.g. \"@opens\""),
        ));
    }
    let name = m.name.get_ref();
    if !valid_name(name, true) {
        return Err(loc.at(
            m.name.span(),
            format!("metric name {name:?} is not a Prometheus name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
        ));
    }
    let kind = match m.kind.get_ref().as_str() {
        "counter" => Kind::Counter,
        "gauge" => Kind::Gauge,
        "histogram" => Kind::Histogram,
        other => {
            return Err(loc.at(
                m.kind.span(),
                format!("kind {other:?}: expected \"counter\", \"gauge\" or \"histogram\""),
            ))
        }
    };
    let mut labels = Vec::new();
    for l in &m.labels {
        let l_name = l.get_ref();
        if !valid_name(l_name, false) || l_name.starts_with("__") || l_name == "le" {
            return Err(loc.at(
                l.span(),
                format!("label name {l_name:?} is not a usable Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not __reserved, not le)"),
            ));
        }
        if labels.contains(l_name) {
            return Err(loc.at(l.span(), format!("label {l_name:?} is listed twice")));
        }
        labels.push(l_name.clone());
    }
    let mut decoders = vec![Vec::new(); labels.len()];
    for (label, list) in &m.decoders {
        let Some(i) = labels.iter().position(|l| l == label.get_ref()) else {
            return Err(loc.at(
                label.span(),
                format!(
                    "decoders for {:?}, which is not one of the labels {:?}",
                    label.get_ref(),
                    labels
                ),
            ));
        };
        for d in list {
            decoders[i].push(check_decoder(loc, d)?);
        }
    }
    let cardinality_limit = match &m.cardinality_limit {
        Some(c) => positive(loc, c)?,
        None => default_cap,
    };
    Ok(MetricConfig {
        map: map.clone(),
        name: name.clone(),
        kind,
        labels,
        decoders,
        help: m
            .help
            .clone()
            .unwrap_or_else(|| format!("kestrel map {map}")),
        unit: m.unit.as_ref().map(|u| u.get_ref().clone()),
        scale: m.scale,
        cardinality_limit,
    })
}

fn check_decoder(loc: &Locator<'_>, d: &Spanned<RawDecoder>) -> Result<Decoder, ConfigError> {
    Ok(match d.get_ref() {
        RawDecoder::Name(n) => match n.as_str() {
            "ksym" => Decoder::Ksym,
            "syscall" => Decoder::Syscall,
            "errno" => Decoder::Errno,
            "inet" => Decoder::Inet,
            "cgroup" => Decoder::Cgroup,
            other => {
                return Err(loc.at(
                    d.span(),
                    format!("unknown decoder {other:?}: expected ksym, syscall, errno, inet, cgroup, {{ static = {{...}} }} or {{ regexp = \"...\" }}"),
                ))
            }
        },
        RawDecoder::Table(t) => match (&t.static_map, &t.regexp) {
            (Some(map), None) => Decoder::Static {
                map: map.clone(),
                default: t.default.clone(),
            },
            (None, Some(re)) if t.default.is_none() => {
                Decoder::Regexp(regex::Regex::new(re).map_err(|e| {
                    let e = e.to_string();
                    let why = e.lines().last().unwrap_or("").trim_start_matches("error: ");
                    loc.at(d.span(), format!("regexp {re:?} does not compile: {why}"))
                })?)
            }
            _ => {
                return Err(loc.at(
                    d.span(),
                    "a decoder table holds either `static` (with an optional `default`) or `regexp`",
                ))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"listen = "127.0.0.1:19435"

[[script]]
name = "opens"
program = 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }'

[[script.metric]]
map = "@opens"
name = "kestrel_opens_total"
kind = "counter"
labels = ["comm"]
"#;

    fn err(text: &str) -> String {
        match parse("agent.toml", text, Path::new(".")) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn the_issue_example_parses() {
        let c = parse("agent.toml", EXAMPLE, Path::new(".")).expect("parses");
        assert_eq!(c.listen.to_string(), "127.0.0.1:19435");
        assert_eq!(c.scripts.len(), 1);
        let m = &c.scripts[0].metrics[0];
        assert_eq!(
            (m.map.as_str(), m.kind, m.labels.len()),
            ("@opens", Kind::Counter, 1)
        );
        assert_eq!(m.cardinality_limit, DEFAULT_CARDINALITY_LIMIT);
        assert!(c.otlp.is_none());
    }

    #[test]
    fn mistakes_are_located() {
        assert_eq!(
            err(&EXAMPLE.replace("\"counter\"", "\"countr\"")),
            "agent.toml:10:8: kind \"countr\": expected \"counter\", \"gauge\" or \"histogram\""
        );
        let e = err(&EXAMPLE.replace("labels = [\"comm\"]", "labels = [\"comm\"]\nlabelz = 1"));
        assert!(
            e.starts_with("agent.toml:12:1: unknown field `labelz`"),
            "{e}"
        );
        let e = err("listen = \n");
        assert!(e.starts_with("agent.toml:1:"), "{e}");
        let e = err(&format!(
            "{EXAMPLE}decoders = {{ comm = [{{ regexp = \"(\" }}] }}\n"
        ));
        assert_eq!(
            e,
            "agent.toml:12:22: regexp \"(\" does not compile: unclosed group"
        );
        let e = err("[[script]]\nname = \"a\"\n");
        assert_eq!(
            e,
            "agent.toml:2:8: script \"a\" needs exactly one of `program` (inline) or `file`"
        );
        let e = err("[otlp]\nendpoint = \"http://x:4318\"\ninterval = \"soon\"\n");
        assert!(e.starts_with("agent.toml:3:12: otlp.interval"), "{e}");
    }

    #[test]
    fn tools_become_scripts() {
        let c = parse(
            "agent.toml",
            "[[tool]]\nname = \"syscount\"\n",
            Path::new("."),
        )
        .expect("parses");
        assert_eq!(c.scripts[0].name, "tool:syscount");
        assert_eq!(c.scripts[0].metrics[0].name, "kestrel_syscalls_total");
        assert!(err("[[tool]]\nname = \"execsnoop\"\n")
            .starts_with("agent.toml:2:8: tool \"execsnoop\" has no metrics form"));
    }

    #[test]
    fn decoders_and_durations() {
        let text = format!(
            "{EXAMPLE}decoders = {{ comm = [\"ksym\", {{ static = {{ a = \"b\" }}, default = \"other\" }}, {{ regexp = \"^k\" }}] }}\n[otlp]\nendpoint = \"http://127.0.0.1:4318/\"\ninterval = \"500ms\"\n"
        );
        let c = parse("agent.toml", &text, Path::new(".")).expect("parses");
        let d = &c.scripts[0].metrics[0].decoders[0];
        assert_eq!(d.len(), 3);
        assert_eq!(d[0], Decoder::Ksym);
        assert!(matches!(d[2], Decoder::Regexp(_)));
        let o = c.otlp.expect("otlp");
        assert_eq!(o.endpoint, "http://127.0.0.1:4318");
        assert_eq!(o.interval, Duration::from_millis(500));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("0s"), None);
    }
}
