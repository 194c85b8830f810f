//! syslatency: the latency histogram of one system call (default `openat`), log2 buckets in
//! microseconds (or milliseconds with -m), for everything or per process (-P).

use crate::hist::HistRender;
use crate::script::{fill, filter};
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, PID, TIMESTAMP};

/// The syslatency tool.
#[derive(Debug)]
pub struct Syslatency;

/// `-m`: milliseconds.
pub const MILLI: Flag = Flag {
    key: "milliseconds",
    short: Some('m'),
    value: None,
    help: "Histogram in milliseconds (default: microseconds)",
};
/// `-P`: a histogram per process.
pub const PER_PROCESS: Flag = Flag {
    key: "pids",
    short: Some('P'),
    value: None,
    help: "A histogram per process",
};
/// `-i SECS`: a report every SECS seconds.
pub const INTERVAL: Flag = Flag {
    key: "interval",
    short: Some('i'),
    value: Some("SECS"),
    help: "Print the histogram every SECS seconds (the counts of that interval)",
};
const SYSCALL: Flag = Flag {
    key: "syscall",
    short: Some('s'),
    value: Some("NAME"),
    help: "The system call to time (default openat), e.g. read, write, fsync",
};

/// `pid = 12 bash` from a `12,bash` key.
pub fn pid_label(key: &str) -> String {
    match key.split_once(',') {
        Some((pid, comm)) => format!("pid = {pid} {comm}"),
        None => format!("pid = {key}"),
    }
}

/// The interval of `-i`, if given and not zero.
pub fn interval(opts: &Options) -> Result<Option<u64>, ToolError> {
    Ok(opts.num("interval")?.filter(|n| *n > 0))
}

impl Tool for Syslatency {
    fn name(&self) -> &'static str {
        "syslatency"
    }
    fn about(&self) -> &'static str {
        "Histogram of one system call's latency (default openat), optionally per process"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool syslatency",
                does: "openat() latency in microseconds until Ctrl-C",
            },
            Example {
                command: "kestrel tool syslatency -s fsync -m 10",
                does: "fsync() in milliseconds, for 10 seconds",
            },
            Example {
                command: "kestrel tool syslatency -s read -P -i 1",
                does: "read() per process, every second",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[
            SYSCALL,
            PID,
            CGROUP,
            MILLI,
            PER_PROCESS,
            INTERVAL,
            TIMESTAMP,
        ]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn interval(&self, opts: &Options) -> Result<Option<u64>, ToolError> {
        interval(opts)
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let syscall = opts.get("syscall").unwrap_or("openat");
        if syscall.is_empty()
            || !syscall
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(ToolError::BadValue {
                flag: "--syscall".into(),
                value: syscall.into(),
                why: "expected a system call name such as openat",
            });
        }
        let milli = opts.has("milliseconds");
        fill(
            include_str!("syslatency.bt"),
            &[
                ("syscall", syscall.to_string()),
                ("filter", filter(opts, &[])?),
                (
                    "key",
                    if opts.has("pids") { "[pid, comm]" } else { "" }.to_string(),
                ),
                ("div", if milli { "1000000" } else { "1000" }.to_string()),
                ("unit", crate::hist::unit_name(opts).to_string()),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        Vec::new()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        let unit = crate::hist::unit_name(opts);
        Box::new(HistRender::new("@dist", unit, "process", pid_label, opts))
    }
}
