//! runqlen: run-queue length sampled on every CPU, like libbpf-tools' runqlen (the CFS
//! queue of the sampled task, through BTF).

use crate::hist::HistRender;
use crate::script::fill;
use crate::syslatency::{interval, INTERVAL};
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, TIMESTAMP};

/// The runqlen tool.
#[derive(Debug)]
pub struct Runqlen;

const PER_CPU: Flag = Flag {
    key: "cpus",
    short: Some('C'),
    value: None,
    help: "A histogram per CPU",
};
const FREQ: Flag = Flag {
    key: "frequency",
    short: Some('f'),
    value: Some("HZ"),
    help: "Samples per second per CPU (default 99)",
};

fn cpu_label(key: &str) -> String {
    format!("cpu = {key}")
}

impl Tool for Runqlen {
    fn name(&self) -> &'static str {
        "runqlen"
    }
    fn about(&self) -> &'static str {
        "Histogram of CPU run-queue length, sampled on every CPU"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool runqlen 5",
                does: "5 seconds, all CPUs together",
            },
            Example {
                command: "kestrel tool runqlen -C -i 1",
                does: "per CPU, every second",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PER_CPU, FREQ, INTERVAL, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn interval(&self, opts: &Options) -> Result<Option<u64>, ToolError> {
        interval(opts)
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let hz = opts.num("frequency")?.unwrap_or(99).clamp(1, 10_000);
        fill(
            include_str!("runqlen.bt"),
            &[
                ("hz", hz.to_string()),
                (
                    "key",
                    if opts.has("cpus") { "[cpu]" } else { "" }.to_string(),
                ),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        Vec::new()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(HistRender::new("@dist", "runqlen", "cpu", cpu_label, opts))
    }
}
