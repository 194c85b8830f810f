//! runqlat: run-queue (scheduler) latency as a histogram, like libbpf-tools' runqlat, from
//! the sched tracepoints alone.
//!
//! Tracepoint arguments carry thread IDs, not process IDs, so `-p PID` selects the thread
//! whose ID is PID (a process's main thread) and `-P` keys by thread.

use crate::hist::HistRender;
use crate::script::fill;
use crate::syslatency::{interval, pid_label, INTERVAL, MILLI, PER_PROCESS};
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, PID, TIMESTAMP};

/// The runqlat tool.
#[derive(Debug)]
pub struct Runqlat;

impl Tool for Runqlat {
    fn name(&self) -> &'static str {
        "runqlat"
    }
    fn about(&self) -> &'static str {
        "Histogram of run-queue latency: how long runnable threads wait for a CPU"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool runqlat 5",
                does: "one histogram after 5 seconds",
            },
            Example {
                command: "kestrel tool runqlat -m -i 1",
                does: "in milliseconds, every second",
            },
            Example {
                command: "kestrel tool runqlat -P",
                does: "a histogram per thread",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, MILLI, PER_PROCESS, INTERVAL, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn interval(&self, opts: &Options) -> Result<Option<u64>, ToolError> {
        interval(opts)
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let milli = opts.has("milliseconds");
        let (wfilter, pfilter) = match opts.num("pid")? {
            Some(p) => (
                format!("args->pid == {p}"),
                format!("args->prev_pid == {p}"),
            ),
            None => ("1".to_string(), "1".to_string()),
        };
        fill(
            include_str!("runqlat.bt"),
            &[
                ("wfilter", wfilter),
                ("pfilter", pfilter),
                (
                    "key",
                    if opts.has("pids") {
                        "[args->next_pid, args->next_comm]"
                    } else {
                        ""
                    }
                    .to_string(),
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
        Box::new(HistRender::new("@dist", unit, "thread", pid_label, opts))
    }
}
