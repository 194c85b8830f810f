//! biosnoop: one line per block I/O, like libbpf-tools' biosnoop (issue to completion).

use crate::biolatency::{disk_filter, disk_name, ONE_DISK};
use crate::script::fill;
use crate::table::{Column, Row, Value};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError};

/// The biosnoop tool.
#[derive(Debug)]
pub struct Biosnoop;

impl Tool for Biosnoop {
    fn name(&self) -> &'static str {
        "biosnoop"
    }
    fn about(&self) -> &'static str {
        "Trace block I/O: process, disk, read/write, sector, bytes and latency"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool biosnoop",
                does: "every block I/O",
            },
            Example {
                command: "kestrel tool biosnoop -d sda 10",
                does: "disk sda for 10 seconds",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[ONE_DISK]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        fill(
            include_str!("biosnoop.bt"),
            &[("filter", disk_filter(opts)?)],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            Column::str("TIME(s)", "time_s", 11),
            Column::str("COMM", "comm", 14),
            Column::int("PID", "pid", 7),
            Column::str("DISK", "disk", 7),
            Column::str("T", "type", 1),
            Column::int("SECTOR", "sector", 10),
            Column::int("BYTES", "bytes", 7),
            Column::str("LAT(ms)", "lat_ms", 7).right(),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(BioRender { first: None })
    }
}

struct BioRender {
    first: Option<u64>,
}

impl Render for BioRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [ts, comm, pid, dev, rwbs, sector, bytes, lat] = fields else {
            return vec![];
        };
        let n = |s: &str| s.parse::<u64>().unwrap_or(0);
        let first = *self.first.get_or_insert(n(ts));
        let kind = if rwbs.contains('W') {
            "W"
        } else if rwbs.contains('R') {
            "R"
        } else {
            rwbs
        };
        vec![vec![
            Value::Float(n(ts).saturating_sub(first) as f64 / 1e9, 6),
            Value::Str((*comm).to_string()),
            Value::Int(pid.parse().unwrap_or(0)),
            Value::Str(disk_name(n(dev))),
            Value::Str(kind.to_string()),
            Value::Int(sector.parse().unwrap_or(0)),
            Value::Int(bytes.parse().unwrap_or(0)),
            Value::Float(n(lat) as f64 / 1e6, 3),
        ]]
    }
}
