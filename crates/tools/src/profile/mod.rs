//! profile: a CPU profiler — user and kernel stacks sampled at -F Hz on all CPUs, printed as
//! stacks with counts, or folded (`-f`, the flame-graph input), like libbpf-tools' profile.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::offcputime::fold;
use crate::script::{fill, filter};
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, PID};

/// The profile tool.
#[derive(Debug)]
pub struct Profile;

const FREQ: Flag = Flag {
    key: "frequency",
    short: Some('F'),
    value: Some("HZ"),
    help: "Samples per second per CPU (default 49)",
};
const USER: Flag = Flag {
    key: "user-stacks-only",
    short: Some('U'),
    value: None,
    help: "User stacks only (programs need frame pointers for full stacks)",
};
const KERNEL: Flag = Flag {
    key: "kernel-stacks-only",
    short: Some('K'),
    value: None,
    help: "Kernel stacks only",
};
const SVG: Flag = Flag {
    key: "svg",
    short: None,
    value: Some("FILE"),
    help: "Also write a flame graph of the samples to FILE (SVG, drawn by inferno)",
};
const FOLDED: Flag = Flag {
    key: "folded",
    short: Some('f'),
    value: None,
    help: "Folded output, one `comm;frame;...;frame count` line per stack (for flame graphs)",
};

impl Tool for Profile {
    fn name(&self) -> &'static str {
        "profile"
    }
    fn about(&self) -> &'static str {
        "Sample on-CPU stacks at a fixed rate on all CPUs (a CPU profiler; folded for flame graphs)"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool profile 10",
                does: "10 seconds at 49 Hz, user and kernel stacks",
            },
            Example {
                command: "kestrel tool profile -F 99 -p 181 -f 30",
                does: "PID 181 at 99 Hz, folded",
            },
            Example {
                command: "kestrel tool profile -K -f 5 > out.folded",
                does: "kernel stacks for flamegraph.pl/inferno",
            },
            Example {
                command: "kestrel tool profile --svg cpu.svg 10",
                does: "a flame graph of 10 seconds",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, FREQ, USER, KERNEL, FOLDED, SVG]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let hz = opts.num("frequency")?.unwrap_or(49);
        if !(1..=10_000).contains(&hz) {
            return Err(ToolError::BadValue {
                flag: "--frequency".into(),
                value: hz.to_string(),
                why: "expected 1 to 10000 samples per second",
            });
        }
        let stacks = match (opts.has("user-stacks-only"), opts.has("kernel-stacks-only")) {
            (true, false) => ", ustack",
            (false, true) => ", kstack",
            _ => ", ustack, kstack",
        };
        fill(
            include_str!("profile.bt"),
            &[
                ("hz", hz.to_string()),
                ("filter", filter(opts, &[])?),
                ("stacks", stacks.to_string()),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        Vec::new()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(ProfileRender {
            folded: opts.has("folded"),
            json: opts.json,
            svg: opts.get("svg").map(std::path::PathBuf::from),
        })
    }
}

struct ProfileRender {
    folded: bool,
    json: bool,
    svg: Option<std::path::PathBuf>,
}

/// Draws `folded` (`stack count` lines) as a flame graph into `path`; a line saying what
/// happened, for the output.
pub fn write_svg(path: &std::path::Path, title: &str, folded: &[String]) -> String {
    let file = match std::fs::File::create(path) {
        Ok(f) => f,
        Err(e) => return format!("error: cannot create {}: {e}\n", path.display()),
    };
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "samples".to_string();
    let writer = std::io::BufWriter::new(file);
    match inferno::flamegraph::from_lines(&mut options, folded.iter().map(String::as_str), writer) {
        Ok(()) => format!(
            "wrote a flame graph of {} stacks to {}\n",
            folded.len(),
            path.display()
        ),
        Err(e) => format!("error: flame graph {}: {e}\n", path.display()),
    }
}

impl Render for ProfileRender {
    fn record(&mut self, _fields: &[&str]) -> Vec<crate::Row> {
        Vec::new()
    }

    fn maps(&mut self, maps: &serde_json::Map<String, Json>) -> String {
        let Some(Json::Object(samples)) = maps.get("@samples") else {
            return String::new();
        };
        let mut rows: Vec<(&String, u64)> = samples
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_u64()?)))
            .collect();
        rows.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
        let mut s = String::new();
        let note = self.svg.as_ref().map(|path| {
            let folded: Vec<String> = rows
                .iter()
                .map(|(k, n)| format!("{} {n}", fold(k)))
                .collect();
            write_svg(path, "kestrel profile", &folded)
        });
        for (key, n) in rows {
            if self.json {
                let _ = writeln!(
                    s,
                    "{}",
                    serde_json::json!({"stack": fold(key), "samples": n})
                );
            } else if self.folded {
                let _ = writeln!(s, "{} {n}", fold(key));
            } else {
                // Leaf first, user stack below the kernel's, then the command and the count,
                // as libbpf-tools prints it.
                let mut parts = key.split(",\n");
                let comm = parts.next().unwrap_or("");
                let stacks: Vec<&str> = parts.collect();
                for (i, stack) in stacks.iter().rev().enumerate() {
                    if i > 0 {
                        s.push_str("    --\n");
                    }
                    for frame in stack.lines().map(str::trim).filter(|f| !f.is_empty()) {
                        let _ = writeln!(s, "    {frame}");
                    }
                }
                let _ = writeln!(s, "    -                {comm}\n        {n}\n");
            }
        }
        // Folded and JSON output stay machine-readable: only an error note joins them.
        if let Some(note) = note.filter(|n| n.starts_with("error") || (!self.json && !self.folded))
        {
            s.push_str(&note);
        }
        s
    }
}
