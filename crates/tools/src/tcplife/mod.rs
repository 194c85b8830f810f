//! tcplife: one line per closed TCP session — process, both ends, kilobytes sent and
//! received, duration — like libbpf-tools' tcplife, on sock:inet_sock_set_state.

use crate::script::fill;
use crate::table::{Column, Row, Value};
use crate::tcp::{printf_both, IPV4, IPV6};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, PID, TIMESTAMP};

/// The tcplife tool.
#[derive(Debug)]
pub struct Tcplife;

const LPORT: Flag = Flag {
    key: "localport",
    short: Some('L'),
    value: Some("PORT"),
    help: "Sessions with this local port only",
};
const DPORT: Flag = Flag {
    key: "remoteport",
    short: Some('D'),
    value: Some("PORT"),
    help: "Sessions with this remote port only",
};

impl Tool for Tcplife {
    fn name(&self) -> &'static str {
        "tcplife"
    }
    fn about(&self) -> &'static str {
        "Trace TCP sessions at close: process, addresses, ports, KB sent and received, duration"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool tcplife",
                does: "every TCP session as it closes",
            },
            Example {
                command: "kestrel tool tcplife -L 80 -T",
                does: "sessions on local port 80, with times",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, LPORT, DPORT, IPV4, IPV6, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let mut parts = Vec::new();
        if let Some(p) = opts.num("pid")? {
            parts.push(format!("$pid == {p}"));
        }
        if let Some(p) = opts.num("localport")? {
            parts.push(format!("args->sport == {p}"));
        }
        if let Some(p) = opts.num("remoteport")? {
            parts.push(format!("args->dport == {p}"));
        }
        match (opts.has("ipv4"), opts.has("ipv6")) {
            (true, false) => parts.push("args->family == 2".into()),
            (false, true) => parts.push("args->family == 10".into()),
            _ => {}
        }
        let filter = if parts.is_empty() {
            "1".to_string()
        } else {
            parts.join(" && ")
        };
        let fmt = "%d\\x1f%s\\x1f%d\\x1f{addrs}\\x1f%d\\x1f%d\\x1f%lu\\x1f%lu\\x1f%lu";
        let after = ", args->sport, args->dport, $tp->bytes_acked, $tp->bytes_received, nsecs - @birth[args->skaddr]";
        let indent = |s: String| s.replace('\n', "\n        ");
        fill(
            include_str!("tcplife.bt"),
            &[
                ("filter", filter),
                (
                    "print_saved",
                    indent(printf_both(
                        fmt,
                        "$pid, @comm[args->skaddr], args->family, ",
                        after,
                    )),
                ),
                (
                    "print_current",
                    indent(printf_both(fmt, "$pid, comm, args->family, ", after)),
                ),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            Column::int("PID", "pid", 7),
            Column::str("COMM", "comm", 16),
            Column::str("LADDR", "laddr", 15),
            Column::int("LPORT", "lport", 5),
            Column::str("RADDR", "raddr", 15),
            Column::int("RPORT", "rport", 5),
            Column::int("TX_KB", "tx_kb", 6),
            Column::int("RX_KB", "rx_kb", 6),
            Column::str("MS", "ms", 0),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(LifeRender)
    }
}

struct LifeRender;

impl Render for LifeRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [pid, comm, _family, saddr, daddr, sport, dport, tx, rx, dur] = fields else {
            return vec![];
        };
        let n = |s: &str| s.parse::<i64>().unwrap_or(0);
        vec![vec![
            Value::Int(n(pid)),
            Value::Str((*comm).to_string()),
            Value::Str((*saddr).to_string()),
            Value::Int(n(sport)),
            Value::Str((*daddr).to_string()),
            Value::Int(n(dport)),
            Value::Int(n(tx) / 1024),
            Value::Int(n(rx) / 1024),
            Value::Float(n(dur) as f64 / 1e6, 2),
        ]]
    }
}
