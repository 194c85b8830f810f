//! syscount: the busiest system calls (or processes) by count, optionally with total
//! latency, like libbpf-tools' syscount. Prints a table at exit and, with -i, every interval
//! (the change since the previous report).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::script::{fill, filter};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, FAILED, PID};

/// The syscount tool.
#[derive(Debug)]
pub struct Syscount;

const LATENCY: Flag = Flag {
    key: "latency",
    short: Some('L'),
    value: None,
    help: "Also show the total time spent in each (microseconds)",
};
const PROCESS: Flag = Flag {
    key: "process",
    short: Some('P'),
    value: None,
    help: "Count by process instead of by system call",
};
const INTERVAL: Flag = Flag {
    key: "interval",
    short: Some('i'),
    value: Some("SECS"),
    help: "Print a table every SECS seconds (the counts of that interval)",
};
const TOP: Flag = Flag {
    key: "top",
    short: Some('T'),
    value: Some("N"),
    help: "Show the top N rows (default 10)",
};
const ERRNO: Flag = Flag {
    key: "errno",
    short: Some('e'),
    value: Some("ERRNO"),
    help: "Count only calls failing with this error number (e.g. 2 for ENOENT)",
};

impl Tool for Syscount {
    fn name(&self) -> &'static str {
        "syscount"
    }
    fn about(&self) -> &'static str {
        "Count system calls by name or by process, optionally with their total latency"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool syscount 5",
                does: "top 10 system calls over 5 seconds",
            },
            Example {
                command: "kestrel tool syscount -L -P",
                does: "top processes with time spent in system calls",
            },
            Example {
                command: "kestrel tool syscount -x -i 1",
                does: "failed calls, a table every second",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, FAILED, ERRNO, LATENCY, PROCESS, INTERVAL, TOP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn interval(&self, opts: &Options) -> Result<Option<u64>, ToolError> {
        Ok(opts.num("interval")?.filter(|n| *n > 0))
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let mut failed = String::new();
        if opts.has("failed") {
            failed.push_str(" && args->ret < 0");
        }
        if let Some(e) = opts.num("errno")? {
            failed.push_str(&format!(" && args->ret == -{e}"));
        }
        let by_process = opts.has("process");
        fill(
            include_str!("syscount.bt"),
            &[
                ("filter", filter(opts, &[])?),
                ("failed", failed),
                (
                    "key",
                    if by_process { "pid" } else { "args->id" }.to_string(),
                ),
                (
                    "comm",
                    if by_process {
                        "  @comm[pid] = comm;"
                    } else {
                        ""
                    }
                    .to_string(),
                ),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<crate::Column> {
        Vec::new()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(CountRender {
            latency: opts.has("latency"),
            by_process: opts.has("process"),
            top: opts.num("top").ok().flatten().unwrap_or(10).max(1) as usize,
            json: opts.json,
            interval: opts.num("interval").ok().flatten().is_some(),
            previous: HashMap::new(),
        })
    }
}

struct CountRender {
    latency: bool,
    by_process: bool,
    top: usize,
    json: bool,
    interval: bool,
    /// Totals at the previous report, so each interval shows its own counts.
    previous: HashMap<String, (u64, u64)>,
}

fn entries(maps: &serde_json::Map<String, Json>, name: &str) -> HashMap<String, u64> {
    maps.get(name)
        .and_then(Json::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

impl Render for CountRender {
    fn record(&mut self, _fields: &[&str]) -> Vec<crate::Row> {
        Vec::new()
    }

    fn maps(&mut self, maps: &serde_json::Map<String, Json>) -> String {
        let counts = entries(maps, "@count");
        let lats = entries(maps, "@lat");
        let comms: HashMap<String, String> = maps
            .get("@comm")
            .and_then(Json::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let mut rows: Vec<(String, u64, u64)> = counts
            .iter()
            .map(|(k, c)| {
                let l = lats.get(k).copied().unwrap_or(0);
                let (pc, pl) = self.previous.get(k).copied().unwrap_or((0, 0));
                (k.clone(), c.saturating_sub(pc), l.saturating_sub(pl))
            })
            .filter(|(_, c, _)| *c > 0)
            .collect();
        self.previous = counts
            .iter()
            .map(|(k, c)| (k.clone(), (*c, lats.get(k).copied().unwrap_or(0))))
            .collect();
        if self.latency {
            rows.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)));
        } else {
            rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        rows.truncate(self.top);
        let mut s = String::new();
        if !self.json {
            if self.interval {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let _ = writeln!(s, "[{}]", crate::table::hms(now));
            }
            if self.by_process {
                let _ = write!(s, "{:<6} {:<15} {:>8}", "PID", "COMM", "COUNT");
            } else {
                let _ = write!(s, "{:<22} {:>8}", "SYSCALL", "COUNT");
            }
            if self.latency {
                let _ = write!(s, " {:>16}", "TIME (us)");
            }
            s.push('\n');
        }
        for (key, count, lat) in rows {
            let us = lat as f64 / 1000.0;
            if self.json {
                let mut obj = serde_json::Map::new();
                if self.by_process {
                    obj.insert("pid".into(), Json::from(key.parse::<u64>().unwrap_or(0)));
                    obj.insert(
                        "comm".into(),
                        Json::from(comms.get(&key).cloned().unwrap_or_default()),
                    );
                } else {
                    obj.insert("syscall".into(), Json::from(syscall_label(&key)));
                }
                obj.insert("count".into(), Json::from(count));
                if self.latency {
                    obj.insert("time_us".into(), Json::from((us * 1000.0).round() / 1000.0));
                }
                let _ = writeln!(s, "{}", Json::Object(obj));
                continue;
            }
            if self.by_process {
                let comm = comms.get(&key).map_or("", String::as_str);
                let _ = write!(s, "{key:<6} {comm:<15} {count:>8}");
            } else {
                let _ = write!(s, "{:<22} {count:>8}", syscall_label(&key));
            }
            if self.latency {
                let _ = write!(s, " {us:>16.3}");
            }
            s.push('\n');
        }
        if !self.json {
            s.push('\n');
        }
        s
    }
}

/// The name of the system call numbered `key`, or `[N]` for one not in the table.
fn syscall_label(key: &str) -> String {
    key.parse::<u64>()
        .ok()
        .and_then(crate::syscalls::name)
        .map_or_else(|| format!("[{key}]"), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_by_name_then_interval_deltas() {
        let mut r = Syscount.renderer(&Options::new([("interval", "1")], false));
        let maps: serde_json::Map<String, Json> =
            serde_json::from_str(r#"{"@count": {"0": 5, "1": 9}, "@lat": {"0": 10, "1": 20}}"#)
                .unwrap_or_default();
        let t = r.maps(&maps);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "SYSCALL                   COUNT");
        assert_eq!(lines[2], "write                         9");
        assert_eq!(lines[3], "read                          5");
        let maps: serde_json::Map<String, Json> =
            serde_json::from_str(r#"{"@count": {"0": 7, "1": 9}}"#).unwrap_or_default();
        let t = r.maps(&maps);
        assert!(t.contains("read                          2"), "{t}");
        assert!(!t.contains("write"));
    }
}
