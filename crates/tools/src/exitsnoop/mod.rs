//! exitsnoop: process exits with age and exit code or signal, like libbpf-tools' exitsnoop
//! (sched:sched_process_exit; the exit code and start time come from the task via BTF).

use crate::script::{fill, filter};
use crate::table::{Column, Row, Value};
use crate::tool::{
    Example, Flag, Options, Render, Tool, ToolError, CGROUP, FAILED, PID, TIMESTAMP,
};

/// The exitsnoop tool.
#[derive(Debug)]
pub struct Exitsnoop;

const THREADS: Flag = Flag {
    key: "threaded",
    short: Some('t'),
    value: None,
    help: "Trace every thread's exit, not only whole processes'",
};

impl Tool for Exitsnoop {
    fn name(&self) -> &'static str {
        "exitsnoop"
    }
    fn about(&self) -> &'static str {
        "Trace process exits: command, PID, parent, age, exit code or signal"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool exitsnoop",
                does: "trace every process exit",
            },
            Example {
                command: "kestrel tool exitsnoop -x",
                does: "only exits with a non-zero code or a signal",
            },
            Example {
                command: "kestrel tool exitsnoop -t -p 181",
                does: "every thread of PID 181",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, FAILED, THREADS, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let threads = if opts.has("threaded") {
            ""
        } else {
            " && pid == tid"
        };
        let failed = if opts.has("failed") {
            " && curtask->exit_code != 0"
        } else {
            ""
        };
        fill(
            include_str!("exitsnoop.bt"),
            &[
                ("filter", filter(opts, &[])?),
                ("threads", threads.to_string()),
                ("failed", failed.to_string()),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            Column::str("PCOMM", "comm", 16),
            Column::int("PID", "pid", 7),
            Column::int("PPID", "ppid", 7),
            Column::int("TID", "tid", 7),
            Column::str("AGE(s)", "age", 7),
            Column::str("EXIT_CODE", "exit", 0),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(ExitRender)
    }
}

struct ExitRender;

impl Render for ExitRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [pid, ppid, tid, age, code, comm] = fields else {
            return vec![];
        };
        let int = |s: &str| {
            s.parse::<i64>()
                .map(Value::Int)
                .unwrap_or_else(|_| Value::Str(s.to_string()))
        };
        let age_ns = age.parse::<u64>().unwrap_or(0);
        let code = code.parse::<i64>().unwrap_or(0);
        vec![vec![
            Value::Str((*comm).to_string()),
            int(pid),
            int(ppid),
            int(tid),
            Value::Float(age_ns as f64 / 1e9, 2),
            Value::Str(describe(code)),
        ]]
    }
}

/// libbpf-tools' wording: `0`, `code N`, `signal N (NAME)` or `..., core dumped`.
pub fn describe(exit_code: i64) -> String {
    let sig = exit_code & 0x7f;
    let code = (exit_code >> 8) & 0xff;
    if sig != 0 {
        let core = if exit_code & 0x80 != 0 {
            ", core dumped"
        } else {
            ""
        };
        format!("signal {sig} ({}){core}", signal_name(sig))
    } else if code != 0 {
        format!("code {code}")
    } else {
        "0".to_string()
    }
}

/// The name of signal `n` on Linux x86_64 (`SIGKILL`), or `SIG<n>`.
pub fn signal_name(n: i64) -> String {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(n)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("SIG{n}"), |s| (*s).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_like_libbpf_tools() {
        assert_eq!(describe(0), "0");
        assert_eq!(describe(3 << 8), "code 3");
        assert_eq!(describe(9), "signal 9 (SIGKILL)");
        assert_eq!(describe(0x80 | 11), "signal 11 (SIGSEGV), core dumped");
    }
}
