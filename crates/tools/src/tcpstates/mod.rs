//! tcpstates: TCP state changes with addresses, ports and milliseconds in the old state,
//! like libbpf-tools' tcpstates.

use crate::script::{fill, filter};
use crate::table::{Column, Row, Value};
use crate::tcp::{family_filter, ip_version, printf_both, state, IPV4, IPV6};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, PID, TIMESTAMP};

/// The tcpstates tool.
#[derive(Debug)]
pub struct Tcpstates;

const SPORT: Flag = Flag {
    key: "sport",
    short: Some('s'),
    value: Some("PORT"),
    help: "Local port to trace only",
};
const DPORT: Flag = Flag {
    key: "dport",
    short: Some('d'),
    value: Some("PORT"),
    help: "Remote port to trace only",
};

impl Tool for Tcpstates {
    fn name(&self) -> &'static str {
        "tcpstates"
    }
    fn about(&self) -> &'static str {
        "Trace TCP state changes: socket, process, addresses, old and new state, time in state"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool tcpstates",
                does: "every TCP state change",
            },
            Example {
                command: "kestrel tool tcpstates -d 443 -6",
                does: "IPv6 connections to port 443",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, SPORT, DPORT, IPV4, IPV6, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let mut extra = vec![family_filter(opts)];
        if let Some(p) = opts.num("sport")? {
            extra.push(format!("args->sport == {p}"));
        }
        if let Some(p) = opts.num("dport")? {
            extra.push(format!("args->dport == {p}"));
        }
        let print = printf_both(
            "%lx\\x1f%d\\x1f%s\\x1f%d\\x1f{addrs}\\x1f%d\\x1f%d\\x1f%d\\x1f%d\\x1f%lu",
            "args->skaddr, pid, comm, args->family, ",
            ", args->sport, args->dport, args->oldstate, args->newstate, $delta",
        );
        fill(
            include_str!("tcpstates.bt"),
            &[
                ("filter", filter(opts, &extra)?),
                ("print", print.replace('\n', "\n  ")),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            Column::str("SKADDR", "skaddr", 16),
            Column::int("PID", "pid", 7),
            Column::str("COMM", "comm", 16),
            Column::int("IP", "ip", 2),
            Column::str("LADDR", "laddr", 26),
            Column::int("LPORT", "lport", 5),
            Column::str("RADDR", "raddr", 26),
            Column::int("RPORT", "rport", 5),
            Column::str("OLDSTATE", "oldstate", 11),
            Column::str("NEWSTATE", "newstate", 11),
            Column::str("MS", "ms", 0),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(StatesRender)
    }
}

struct StatesRender;

impl Render for StatesRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [sk, pid, comm, family, saddr, daddr, sport, dport, old, new, delta] = fields else {
            return vec![];
        };
        let n = |s: &str| s.parse::<i64>().unwrap_or(0);
        vec![vec![
            Value::Str((*sk).to_string()),
            Value::Int(n(pid)),
            Value::Str((*comm).to_string()),
            Value::Int(ip_version(family)),
            Value::Str((*saddr).to_string()),
            Value::Int(n(sport)),
            Value::Str((*daddr).to_string()),
            Value::Int(n(dport)),
            Value::Str(state(n(old))),
            Value::Str(state(n(new))),
            Value::Float(n(delta) as f64 / 1e6, 3),
        ]]
    }
}
