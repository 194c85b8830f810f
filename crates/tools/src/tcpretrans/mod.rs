//! tcpretrans: TCP retransmits with both ends and the socket state, or with -c a count per
//! connection, like bcc's tcpretrans, on tcp:tcp_retransmit_skb.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::script::fill;
use crate::table::{Column, Row, Value, TIME};
use crate::tcp::{family_filter, ip_version, printf_both, state, IPV4, IPV6};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError};

/// The tcpretrans tool.
#[derive(Debug)]
pub struct Tcpretrans;

const COUNT: Flag = Flag {
    key: "count",
    short: Some('c'),
    value: None,
    help: "Count retransmits per connection and print the table at exit",
};

impl Tool for Tcpretrans {
    fn name(&self) -> &'static str {
        "tcpretrans"
    }
    fn about(&self) -> &'static str {
        "Trace TCP retransmits: addresses, ports and state; -c counts them per connection"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool tcpretrans",
                does: "every retransmit",
            },
            Example {
                command: "kestrel tool tcpretrans -c 30",
                does: "retransmits per connection over 30 s",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[COUNT, IPV4, IPV6]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let action = if opts.has("count") {
            "if (args->family == 2) {\n    @count4[ntop(args->saddr), args->sport, ntop(args->daddr), args->dport] = count();\n  } else {\n    @count6[ntop(args->saddr_v6), args->sport, ntop(args->daddr_v6), args->dport] = count();\n  }".to_string()
        } else {
            printf_both(
                "%d\\x1f%d\\x1f{addrs}\\x1f%d\\x1f%d\\x1f%d",
                "pid, args->family, ",
                ", args->sport, args->dport, args->state",
            )
            .replace('\n', "\n  ")
        };
        fill(
            include_str!("tcpretrans.bt"),
            &[("filter", family_filter(opts)), ("action", action)],
        )
    }
    fn columns(&self, opts: &Options) -> Vec<Column> {
        if opts.has("count") {
            return Vec::new();
        }
        vec![
            TIME,
            Column::int("PID", "pid", 7),
            Column::int("IP", "ip", 2),
            Column::str("LADDR:LPORT", "local", 26),
            Column::str("T>", "type", 2),
            Column::str("RADDR:RPORT", "remote", 26),
            Column::str("STATE", "state", 0),
        ]
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(RetransRender { json: opts.json })
    }
}

struct RetransRender {
    json: bool,
}

/// `addr:port`, with IPv6 addresses in brackets.
fn endpoint(addr: &str, port: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

impl Render for RetransRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [pid, family, saddr, daddr, sport, dport, st] = fields else {
            return vec![];
        };
        vec![vec![
            Value::Int(pid.parse().unwrap_or(0)),
            Value::Int(ip_version(family)),
            Value::Str(endpoint(saddr, sport)),
            Value::Str("R>".into()),
            Value::Str(endpoint(daddr, dport)),
            Value::Str(state(st.parse().unwrap_or(0))),
        ]]
    }

    fn maps(&mut self, maps: &serde_json::Map<String, Json>) -> String {
        let mut rows: Vec<(String, String, u64)> = Vec::new();
        for name in ["@count4", "@count6"] {
            if let Some(Json::Object(o)) = maps.get(name) {
                for (k, v) in o {
                    let p: Vec<&str> = k.splitn(4, ',').collect();
                    if let [s, sp, d, dp] = p[..] {
                        rows.push((endpoint(s, sp), endpoint(d, dp), v.as_u64().unwrap_or(0)));
                    }
                }
            }
        }
        if maps.get("@count4").is_none() && maps.get("@count6").is_none() {
            return String::new();
        }
        rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.cmp(b)));
        let mut s = String::new();
        if !self.json {
            let _ = writeln!(s, "{:<32} {:<32} RETRANSMITS", "LADDR:LPORT", "RADDR:RPORT");
        }
        for (l, r, n) in rows {
            if self.json {
                let _ = writeln!(
                    s,
                    "{}",
                    serde_json::json!({"local": l, "remote": r, "retransmits": n})
                );
            } else {
                let _ = writeln!(s, "{l:<32} {r:<32} {n}");
            }
        }
        s
    }
}
