//! oomkill: OOM kills with the triggering and the killed process, pages and load average,
//! worded like libbpf-tools' oomkill (which needs a kprobe; this uses oom:mark_victim).

use crate::script::fill;
use crate::table::{Column, Row, Value, TIME};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError};

/// The oomkill tool.
#[derive(Debug)]
pub struct Oomkill;

impl Tool for Oomkill {
    fn name(&self) -> &'static str {
        "oomkill"
    }
    fn about(&self) -> &'static str {
        "Trace OOM kills: who triggered it, who was killed, pages, load average"
    }
    fn examples(&self) -> &'static [Example] {
        &[Example {
            command: "kestrel tool oomkill",
            does: "every OOM kill until Ctrl-C",
        }]
    }
    fn flags(&self) -> &'static [Flag] {
        &[]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, _opts: &Options) -> Result<String, ToolError> {
        fill(include_str!("oomkill.bt"), &[])
    }
    fn columns(&self, opts: &Options) -> Vec<Column> {
        if opts.json {
            vec![
                TIME,
                Column::int("", "tpid", 0),
                Column::str("", "tcomm", 0),
                Column::int("", "pid", 0),
                Column::str("", "comm", 0),
                Column::int("", "pages", 0),
                Column::str("", "loadavg", 0),
            ]
        } else {
            vec![TIME, Column::str("", "message", 0)]
        }
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(OomRender { json: opts.json })
    }
}

struct OomRender {
    json: bool,
}

impl Render for OomRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [tpid, tcomm, pid, comm, pages] = fields else {
            return vec![];
        };
        // The first three fields of /proc/loadavg, as libbpf-tools prints them.
        let load = std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(5).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        if self.json {
            return vec![vec![
                Value::Int(tpid.parse().unwrap_or(0)),
                Value::Str((*tcomm).to_string()),
                Value::Int(pid.parse().unwrap_or(0)),
                Value::Str((*comm).to_string()),
                Value::Int(pages.parse().unwrap_or(0)),
                Value::Str(load),
            ]];
        }
        vec![vec![Value::Str(format!(
            "Triggered by PID {tpid} (\"{tcomm}\"), OOM kill of PID {pid} (\"{comm}\"), {pages} pages, loadavg: {load}"
        ))]]
    }
}
