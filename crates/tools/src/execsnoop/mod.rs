//! execsnoop: every exec() with its arguments and return code, like libbpf-tools' execsnoop.
//!
//! Arguments are read at entry one record each (a single record would need every string in
//! one stack frame); the renderer joins them when the return record for the thread arrives.

use std::collections::HashMap;

use crate::script::{fill, filter};
use crate::table::{parse_row, Column, Row, Value};
use crate::tool::{
    Example, Flag, Options, Render, Tool, ToolError, CGROUP, FAILED, PID, TIMESTAMP, UID,
};

/// The execsnoop tool.
#[derive(Debug)]
pub struct Execsnoop;

const MAX_ARGS: Flag = Flag {
    key: "max-args",
    short: None,
    value: Some("N"),
    help: "Read at most N arguments (default 20, at most 32)",
};
const PRINT_UID: Flag = Flag {
    key: "print-uid",
    short: Some('U'),
    value: None,
    help: "Include a UID column",
};

impl Tool for Execsnoop {
    fn name(&self) -> &'static str {
        "execsnoop"
    }
    fn about(&self) -> &'static str {
        "Trace new processes (exec() calls): command, PID, parent, return code, arguments"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool execsnoop",
                does: "trace all exec() calls",
            },
            Example {
                command: "kestrel tool execsnoop -x",
                does: "only failed exec() calls",
            },
            Example {
                command: "kestrel tool execsnoop -u 1000 -T",
                does: "only UID 1000, with a time column",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, UID, FAILED, TIMESTAMP, PRINT_UID, MAX_ARGS]
    }
    fn str_len(&self) -> u32 {
        128
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let max = opts.num("max-args")?.unwrap_or(20).clamp(1, 32);
        // One nested test per argument: argv ends at the first NULL, and nothing after it
        // may be read.
        let mut args = String::new();
        for i in 1..max {
            let pad = "  ".repeat(usize::try_from(i).unwrap_or(1));
            args.push_str(&format!(
                "{pad}if ($argv[{i}] != 0) {{\n{pad}  printf(\"A\\x1f%d\\x1f%s\\n\", tid, str($argv[{i}]));\n"
            ));
        }
        for i in (1..max).rev() {
            args.push_str(&format!(
                "{}}}\n",
                "  ".repeat(usize::try_from(i).unwrap_or(1))
            ));
        }
        let failed = if opts.has("failed") {
            " && args->ret < 0"
        } else {
            ""
        };
        fill(
            include_str!("execsnoop.bt"),
            &[
                ("filter", filter(opts, &[])?),
                ("failed", failed.to_string()),
                ("args", args.trim_end().to_string()),
            ],
        )
    }
    fn columns(&self, opts: &Options) -> Vec<Column> {
        let mut c = Vec::new();
        if opts.has("print-uid") {
            c.push(Column::int("UID", "uid", 6));
        }
        c.extend([
            Column::str("PCOMM", "comm", 16),
            Column::int("PID", "pid", 6),
            Column::int("PPID", "ppid", 6),
            Column::int("RET", "ret", 3).right(),
            Column::str("ARGS", "args", 0),
        ]);
        c
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(ExecRender {
            uid: opts.has("print-uid"),
            columns: self.columns(opts),
            pending: HashMap::new(),
        })
    }
}

/// An exec() seen at entry, waiting for its return.
#[derive(Debug, Default)]
struct Pending {
    ppid: String,
    uid: String,
    args: Vec<String>,
}

struct ExecRender {
    uid: bool,
    columns: Vec<Column>,
    pending: HashMap<String, Pending>,
}

/// Pending entries are dropped past this many threads (a return can be filtered out by -x).
const MAX_PENDING: usize = 4096;

impl Render for ExecRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        match fields {
            ["E", tid, ppid, uid, arg0] => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.clear();
                }
                self.pending.insert(
                    (*tid).to_string(),
                    Pending {
                        ppid: (*ppid).to_string(),
                        uid: (*uid).to_string(),
                        args: vec![(*arg0).to_string()],
                    },
                );
                vec![]
            }
            ["A", tid, arg] => {
                if let Some(p) = self.pending.get_mut(*tid) {
                    p.args.push((*arg).to_string());
                }
                vec![]
            }
            ["R", tid, ret, comm] => {
                let Some(p) = self.pending.remove(*tid) else {
                    return vec![];
                };
                let args = p.args.join(" ");
                let mut f: Vec<&str> = Vec::new();
                if self.uid {
                    f.push(&p.uid);
                }
                f.extend([*comm, *tid, p.ppid.as_str(), *ret, args.as_str()]);
                let mut row = parse_row(&self.columns, &f);
                // The args column is text even when it looks like a number.
                if let Some(last) = row.last_mut() {
                    *last = Value::Str(args.clone());
                }
                vec![row]
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_arguments_at_return() {
        let opts = Options::default();
        let mut r = Execsnoop.renderer(&opts);
        assert!(r.record(&["E", "7", "1", "0", "/bin/ls"]).is_empty());
        assert!(r.record(&["A", "7", "-l"]).is_empty());
        assert!(r.record(&["A", "8", "stray"]).is_empty());
        let rows = r.record(&["R", "7", "0", "ls"]);
        assert_eq!(
            rows,
            vec![vec![
                Value::Str("ls".into()),
                Value::Int(7),
                Value::Int(1),
                Value::Int(0),
                Value::Str("/bin/ls -l".into())
            ]]
        );
        assert!(r.record(&["R", "7", "0", "ls"]).is_empty());
    }

    #[test]
    fn script_nests_argument_reads() {
        let s = Execsnoop
            .script(&Options::new([("max-args", "3"), ("failed", "")], false))
            .unwrap_or_default();
        assert!(s.contains("if ($argv[2] != 0)"));
        assert!(!s.contains("$argv[3]"));
        assert!(s.contains("/ 1 && args->ret < 0 /"));
    }
}
