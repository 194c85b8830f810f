//! bindsnoop: bind() calls (IPv4 and IPv6) with protocol, port, address and result, like
//! libbpf-tools' bindsnoop but on the syscall tracepoints (no kprobes needed).

use std::collections::HashMap;

use crate::script::{fill, filter};
use crate::table::{Column, Row, Value};
use crate::tool::{
    Example, Flag, Options, Render, Tool, ToolError, CGROUP, FAILED, PID, TIMESTAMP,
};

/// The bindsnoop tool.
#[derive(Debug)]
pub struct Bindsnoop;

const PORT: Flag = Flag {
    key: "ports",
    short: Some('P'),
    value: Some("PORT"),
    help: "Show binds to this port only",
};

impl Tool for Bindsnoop {
    fn name(&self) -> &'static str {
        "bindsnoop"
    }
    fn about(&self) -> &'static str {
        "Trace bind() calls: PID, command, result, protocol, port, address (IPv4 and IPv6)"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool bindsnoop",
                does: "trace every bind()",
            },
            Example {
                command: "kestrel tool bindsnoop -P 8080 -x",
                does: "failed binds to port 8080",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, FAILED, PORT, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let failed = if opts.has("failed") {
            " && args->ret < 0"
        } else {
            ""
        };
        let mut extra = Vec::new();
        if let Some(p) = opts.num("ports")? {
            extra.push(format!(
                "bswap(*(uint16 *)((uint64)args->umyaddr + 2)) == {p}"
            ));
        }
        fill(
            include_str!("bindsnoop.bt"),
            &[
                ("filter", filter(opts, &extra)?),
                ("failed", failed.to_string()),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            Column::int("PID", "pid", 7),
            Column::str("COMM", "comm", 16),
            Column::int("RET", "ret", 3).right(),
            Column::str("PROTO", "proto", 5),
            Column::int("PORT", "port", 5).right(),
            Column::str("ADDR", "addr", 0),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(BindRender::default())
    }
}

#[derive(Default)]
struct BindRender {
    pending: HashMap<String, Row>,
}

impl Render for BindRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let n = |s: &str| s.parse::<u64>().unwrap_or(0);
        match fields {
            ["E", tid, pid, comm, family, port, proto, a4, a60, a61] => {
                if self.pending.len() >= 4096 {
                    self.pending.clear();
                }
                let row = vec![
                    Value::Int(pid.parse().unwrap_or(0)),
                    Value::Str((*comm).to_string()),
                    Value::Int(0),
                    Value::Str(crate::net::proto(n(proto))),
                    Value::Int(port.parse().unwrap_or(0)),
                    Value::Str(crate::net::addr(n(family), n(a4), (n(a60), n(a61)))),
                ];
                self.pending.insert((*tid).to_string(), row);
                vec![]
            }
            ["R", tid, ret] => match self.pending.remove(*tid) {
                Some(mut row) => {
                    if let Some(cell) = row.get_mut(2) {
                        *cell = Value::Int(ret.parse().unwrap_or(0));
                    }
                    vec![row]
                }
                None => vec![],
            },
            _ => vec![],
        }
    }
}
