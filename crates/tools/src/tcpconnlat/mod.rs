//! tcpconnlat: TCP connect latency (SYN sent to established) per connection, like
//! libbpf-tools' tcpconnlat, on sock:inet_sock_set_state.

use crate::script::{fill, filter};
use crate::table::{Column, Row, Value};
use crate::tcp::{family_filter, ip_version, printf_both, IPV4, IPV6};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, PID, TIMESTAMP};

/// The tcpconnlat tool.
#[derive(Debug)]
pub struct Tcpconnlat;

const MIN: Flag = Flag {
    key: "min-ms",
    short: Some('m'),
    value: Some("MS"),
    help: "Show connections slower than MS milliseconds only",
};
const LPORT: Flag = Flag {
    key: "lport",
    short: Some('L'),
    value: None,
    help: "Include the local port (LPORT)",
};

impl Tool for Tcpconnlat {
    fn name(&self) -> &'static str {
        "tcpconnlat"
    }
    fn about(&self) -> &'static str {
        "Trace TCP connect latency: process, addresses, port, milliseconds to establish"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool tcpconnlat",
                does: "every active connection's latency",
            },
            Example {
                command: "kestrel tool tcpconnlat -m 10 -L",
                does: "slower than 10 ms, with local ports",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, MIN, LPORT, IPV4, IPV6, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let min_ns = opts.num("min-ms")?.unwrap_or(0).saturating_mul(1_000_000);
        let print = printf_both(
            "%d\\x1f%s\\x1f%d\\x1f{addrs}\\x1f%d\\x1f%d\\x1f%lu",
            "@pid[args->skaddr], @comm[args->skaddr], args->family, ",
            ", args->sport, args->dport, nsecs - @start[args->skaddr]",
        );
        fill(
            include_str!("tcpconnlat.bt"),
            &[
                ("filter", filter(opts, &[family_filter(opts)])?),
                ("min_ns", min_ns.to_string()),
                ("print", print.replace('\n', "\n  ")),
            ],
        )
    }
    fn columns(&self, opts: &Options) -> Vec<Column> {
        let mut c = vec![
            Column::int("PID", "pid", 6),
            Column::str("COMM", "comm", 12),
            Column::int("IP", "ip", 2),
            Column::str("SADDR", "saddr", 16),
        ];
        if opts.has("lport") {
            c.push(Column::int("LPORT", "lport", 6));
        }
        c.extend([
            Column::str("DADDR", "daddr", 16),
            Column::int("DPORT", "dport", 5),
            Column::str("LAT(ms)", "lat_ms", 0),
        ]);
        c
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(ConnlatRender {
            lport: opts.has("lport"),
        })
    }
}

struct ConnlatRender {
    lport: bool,
}

impl Render for ConnlatRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [pid, comm, family, saddr, daddr, sport, dport, lat] = fields else {
            return vec![];
        };
        let mut row = vec![
            Value::Int(pid.parse().unwrap_or(0)),
            Value::Str((*comm).to_string()),
            Value::Int(ip_version(family)),
            Value::Str((*saddr).to_string()),
        ];
        if self.lport {
            row.push(Value::Int(sport.parse().unwrap_or(0)));
        }
        row.extend([
            Value::Str((*daddr).to_string()),
            Value::Int(dport.parse().unwrap_or(0)),
            Value::Float(lat.parse::<u64>().unwrap_or(0) as f64 / 1e6, 2),
        ]);
        vec![row]
    }
}
