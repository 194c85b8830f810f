//! cpudist: on-CPU time per scheduling (or off-CPU time with -O) as a histogram, like
//! libbpf-tools' cpudist, from sched:sched_switch. `-p` and `-P` work on thread IDs, as in
//! runqlat.

use crate::hist::HistRender;
use crate::script::fill;
use crate::syslatency::{interval, pid_label, INTERVAL, MILLI, PER_PROCESS};
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, PID, TIMESTAMP};

/// The cpudist tool.
#[derive(Debug)]
pub struct Cpudist;

const OFFCPU: Flag = Flag {
    key: "offcpu",
    short: Some('O'),
    value: None,
    help: "Measure off-CPU time (between leaving and coming back) instead",
};

impl Tool for Cpudist {
    fn name(&self) -> &'static str {
        "cpudist"
    }
    fn about(&self) -> &'static str {
        "Histogram of on-CPU time per scheduling (off-CPU time with -O)"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool cpudist 5",
                does: "on-CPU time slices over 5 seconds",
            },
            Example {
                command: "kestrel tool cpudist -O -m -p 181",
                does: "off-CPU time of thread 181, in ms",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, OFFCPU, MILLI, PER_PROCESS, INTERVAL, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn interval(&self, opts: &Options) -> Result<Option<u64>, ToolError> {
        interval(opts)
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let milli = opts.has("milliseconds");
        let div = if milli { "1000000" } else { "1000" };
        let (pfilter, nfilter) = match opts.num("pid")? {
            Some(p) => (
                format!("args->prev_pid == {p}"),
                format!("args->next_pid == {p}"),
            ),
            None => (
                "args->prev_pid != 0".to_string(),
                "args->next_pid != 0".to_string(),
            ),
        };
        // On-CPU: start when a thread arrives, record when it leaves; off-CPU: the reverse.
        let (start_at, end_at, key) = if opts.has("offcpu") {
            ("prev", "next", "[args->next_pid, args->next_comm]")
        } else {
            ("next", "prev", "[args->prev_pid, args->prev_comm]")
        };
        let key = if opts.has("pids") { key } else { "" };
        let record = format!(
            "if (has_key(@start[args->{end_at}_pid])) {{ @dist{key} = hist((nsecs - @start[args->{end_at}_pid]) / {div}); delete(@start[args->{end_at}_pid]); }}"
        );
        let start = format!("@start[args->{start_at}_pid] = nsecs;");
        let (leave, arrive) = if opts.has("offcpu") {
            (start, record)
        } else {
            (record, start)
        };
        fill(
            include_str!("cpudist.bt"),
            &[
                ("pfilter", pfilter),
                ("nfilter", nfilter),
                ("leave", leave),
                ("arrive", arrive),
                (
                    "what",
                    if opts.has("offcpu") {
                        "off-CPU"
                    } else {
                        "on-CPU"
                    }
                    .to_string(),
                ),
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
