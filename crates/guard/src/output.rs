//! Alerts: the output template filled in (`%field`, `<NA>` for fields without a value),
//! Falco's JSON alert and its text line, and the built-in "syscall event drop" alert.

use serde_json::{json, Map, Value};

use crate::compile::OutPiece;
use crate::eval::{extract, Ctx};
use crate::rules::{Action, Priority};

/// One alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Event time, ns since the epoch.
    pub ts_ns: u64,
    /// The rule's name.
    pub rule: String,
    /// Its priority.
    pub priority: Priority,
    /// The filled-in output.
    pub output: String,
    /// Each field of the output template with its value (null when it had none), in
    /// template order.
    pub output_fields: Vec<(String, Value)>,
    /// The host's name.
    pub hostname: String,
    /// Always `syscall` for rules (the drop alert says `internal`).
    pub source: String,
    /// The rule's tags.
    pub tags: Vec<String>,
    /// The rule's action (what the caller should do with `--enforce`).
    pub action: Action,
    /// The process the event came from (the target of `action: kill`).
    pub pid: u32,
    /// What was done, filled in by the caller (`"killed"`, `"kill failed: ESRCH"`); shown
    /// as `kestrel.action` in JSON when set.
    pub outcome: Option<String>,
}

impl Alert {
    /// Falco's JSON alert (keys in Falco's order, which is alphabetical).
    pub fn to_json(&self) -> Value {
        let mut fields = Map::new();
        for (k, v) in &self.output_fields {
            fields.insert(k.clone(), v.clone());
        }
        let mut v = json!({
            "hostname": self.hostname,
            "output": self.output,
            "output_fields": Value::Object(fields),
            "priority": self.priority.as_str(),
            "rule": self.rule,
            "source": self.source,
            "tags": self.tags,
            "time": rfc3339(self.ts_ns),
        });
        if let (Some(o), Some(obj)) = (&self.outcome, v.as_object_mut()) {
            obj.insert("kestrel.action".into(), Value::from(o.clone()));
        }
        v
    }

    /// Falco's text line: `TIME: Priority output` (ISO 8601 time, as Falco prints with
    /// time_format_iso_8601).
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}: {} {}",
            rfc3339(self.ts_ns),
            self.priority.as_str(),
            self.output
        );
        if let Some(o) = &self.outcome {
            s.push_str(&format!(" (kestrel: {o})"));
        }
        s
    }
}

/// Fill in an output template.
pub fn render(pieces: &[OutPiece], ctx: &Ctx) -> (String, Vec<(String, Value)>) {
    let mut out = String::new();
    let mut fields: Vec<(String, Value)> = Vec::new();
    for p in pieces {
        match p {
            OutPiece::Text(t) => out.push_str(t),
            OutPiece::Field(f) => {
                let v = extract(f, ctx);
                match &v {
                    Some(v) => out.push_str(&v.display()),
                    None => out.push_str("<NA>"),
                }
                if !fields.iter().any(|(k, _)| *k == f.name) {
                    fields.push((f.name.clone(), v.map_or(Value::Null, |v| v.json())));
                }
            }
            OutPiece::Missing(name) => {
                out.push_str("<NA>");
                if !fields.iter().any(|(k, _)| k == name) {
                    fields.push((name.clone(), Value::Null));
                }
            }
        }
    }
    (out.trim_end().to_string(), fields)
}

/// Lost-event counters over a window, as the capture side reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Events delivered in the window.
    pub delivered: u64,
    /// Events lost in the window (ring buffer full), summed over CPUs.
    pub lost: u64,
    /// Lost per CPU.
    pub lost_per_cpu: Vec<u64>,
    /// Window length in ns.
    pub window_ns: u64,
}

/// The built-in drop rule's name.
pub const DROP_RULE: &str = "kestrel internal: syscall event drop";

/// Falco's "syscall event drop" alert for a window with losses (`None` when nothing was lost).
pub fn drop_alert(stats: &DropStats, ts_ns: u64, hostname: &str) -> Option<Alert> {
    if stats.lost == 0 {
        return None;
    }
    let secs = stats.window_ns as f64 / 1e9;
    let output = format!(
        "kestrel internal: syscall event drop. {} system calls dropped in last {:.1} second(s) ({} delivered).",
        stats.lost, secs, stats.delivered
    );
    let per_cpu: Vec<Value> = stats.lost_per_cpu.iter().map(|n| Value::from(*n)).collect();
    Some(Alert {
        ts_ns,
        rule: DROP_RULE.into(),
        priority: Priority::Critical,
        output,
        output_fields: vec![
            ("n_drops".into(), Value::from(stats.lost)),
            ("n_evts".into(), Value::from(stats.delivered + stats.lost)),
            ("n_drops_per_cpu".into(), Value::Array(per_cpu)),
        ],
        hostname: hostname.into(),
        source: "internal".into(),
        tags: vec!["kestrel".into(), "drops".into()],
        action: Action::Alert,
        pid: 0,
        outcome: None,
    })
}

/// RFC 3339 UTC time with nanoseconds: `2026-12-06T20:39:14.123456789Z`.
pub fn rfc3339(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let nanos = ts_ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn drop_alert_only_with_losses() {
        assert!(drop_alert(&DropStats::default(), 0, "h").is_none());
        let a = drop_alert(
            &DropStats {
                delivered: 10,
                lost: 3,
                lost_per_cpu: vec![1, 2],
                window_ns: 1_000_000_000,
            },
            5,
            "h",
        )
        .expect("alert");
        assert_eq!(a.priority, Priority::Critical);
        let j = a.to_json();
        assert_eq!(j["output_fields"]["n_drops"], 3);
        assert_eq!(j["output_fields"]["n_evts"], 13);
        assert!(a.output.contains("3 system calls dropped"), "{}", a.output);
    }
}
