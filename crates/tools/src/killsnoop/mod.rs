//! killsnoop and sigsnoop: signals sent, with sender, signal, target and result, in
//! libbpf-tools' sigsnoop columns. killsnoop watches kill() calls (entry/exit paired per
//! thread in the kernel); sigsnoop watches every generated signal (signal:signal_generate).

use crate::exitsnoop::signal_name;
use crate::script::{fill, filter};
use crate::table::{Column, Row, Value, TIME};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, FAILED, PID};

/// The killsnoop tool (kill() system calls).
#[derive(Debug)]
pub struct Killsnoop;

/// The sigsnoop tool (all generated signals).
#[derive(Debug)]
pub struct Sigsnoop;

const SIGNAL: Flag = Flag {
    key: "signal",
    short: Some('s'),
    value: Some("SIG"),
    help: "Show this signal number only",
};
const NAMES: Flag = Flag {
    key: "name",
    short: Some('n'),
    value: None,
    help: "Show signal names (SIGKILL) instead of numbers",
};

fn columns() -> Vec<Column> {
    vec![
        TIME,
        Column::int("PID", "pid", 7),
        Column::str("COMM", "comm", 16),
        Column::str("SIG", "sig", 4),
        Column::int("TPID", "tpid", 8),
        Column::int("RESULT", "result", 0),
    ]
}

fn script(template: &str, opts: &Options, failed: &str) -> Result<String, ToolError> {
    let signal = match opts.num("signal")? {
        Some(s) => format!(" && args->sig == {s}"),
        None => String::new(),
    };
    let failed = if opts.has("failed") { failed } else { "" };
    fill(
        template,
        &[
            ("filter", filter(opts, &[])?),
            ("signal", signal),
            ("failed", failed.to_string()),
        ],
    )
}

impl Tool for Killsnoop {
    fn name(&self) -> &'static str {
        "killsnoop"
    }
    fn about(&self) -> &'static str {
        "Trace kill() calls: sender, signal, target PID and result"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool killsnoop",
                does: "trace every kill()",
            },
            Example {
                command: "kestrel tool killsnoop -x -n",
                does: "failed kill() calls, with signal names",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, FAILED, SIGNAL, NAMES]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        script(include_str!("killsnoop.bt"), opts, " && args->ret < 0")
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        columns()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(SigRender {
            names: opts.has("name"),
        })
    }
}

impl Tool for Sigsnoop {
    fn name(&self) -> &'static str {
        "sigsnoop"
    }
    fn about(&self) -> &'static str {
        "Trace signals generated system-wide: sender, signal, target PID and result"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool sigsnoop",
                does: "trace every signal",
            },
            Example {
                command: "kestrel tool sigsnoop -s 9 -n",
                does: "SIGKILLs only, by name",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, FAILED, SIGNAL, NAMES]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        script(
            include_str!("../sigsnoop/sigsnoop.bt"),
            opts,
            " && args->errno != 0",
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        columns()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(SigRender {
            names: opts.has("name"),
        })
    }
}

struct SigRender {
    names: bool,
}

impl Render for SigRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [pid, comm, sig, tpid, ret] = fields else {
            return vec![];
        };
        let int = |s: &str| Value::Int(s.parse().unwrap_or(0));
        let sig = if self.names {
            Value::Str(signal_name(sig.parse().unwrap_or(0)))
        } else {
            Value::Str((*sig).to_string())
        };
        vec![vec![
            int(pid),
            Value::Str((*comm).to_string()),
            sig,
            int(tpid),
            int(ret),
        ]]
    }
}
