//! tcpconnect: active TCP connections with process, addresses (IPv4 and IPv6) and port, or
//! with -c a count per (source, destination, port) — on sock:inet_sock_set_state rather than
//! the kprobes libbpf-tools needs.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::script::{fill, filter};
use crate::table::{Column, Row, Value};
use crate::tcp::{family_filter, ip_version, printf_both, IPV4, IPV6};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, PID, TIMESTAMP, UID};

/// The tcpconnect tool.
#[derive(Debug)]
pub struct Tcpconnect;

const COUNT: Flag = Flag {
    key: "count",
    short: Some('c'),
    value: None,
    help: "Count connections per (source, destination, port) and print the table at exit",
};
const PORT: Flag = Flag {
    key: "port",
    short: Some('P'),
    value: Some("PORT"),
    help: "Destination port to trace only",
};
const PRINT_UID: Flag = Flag {
    key: "print-uid",
    short: Some('U'),
    value: None,
    help: "Include a UID column",
};
const CGROUP_LONG: Flag = Flag {
    short: None,
    ..CGROUP
};

impl Tool for Tcpconnect {
    fn name(&self) -> &'static str {
        "tcpconnect"
    }
    fn about(&self) -> &'static str {
        "Trace active TCP connections (connect()): process, addresses, port; -c counts them"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool tcpconnect",
                does: "every outgoing TCP connection",
            },
            Example {
                command: "kestrel tool tcpconnect -P 443 -U",
                does: "to port 443, with UIDs",
            },
            Example {
                command: "kestrel tool tcpconnect -c 10",
                does: "connection counts per address pair and port, 10 s",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[
            PID,
            CGROUP_LONG,
            UID,
            COUNT,
            PORT,
            IPV4,
            IPV6,
            PRINT_UID,
            TIMESTAMP,
        ]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let mut extra = vec![family_filter(opts)];
        if let Some(p) = opts.num("port")? {
            extra.push(format!("args->dport == {p}"));
        }
        let action = if opts.has("count") {
            "if (args->family == 2) {\n    @count4[ntop(args->saddr), ntop(args->daddr), args->dport] = count();\n  } else {\n    @count6[ntop(args->saddr_v6), ntop(args->daddr_v6), args->dport] = count();\n  }".to_string()
        } else {
            printf_both(
                "%d\\x1f%d\\x1f%s\\x1f%d\\x1f{addrs}\\x1f%d",
                "uid, pid, comm, args->family, ",
                ", args->dport",
            )
        };
        fill(
            include_str!("tcpconnect.bt"),
            &[("filter", filter(opts, &extra)?), ("action", action)],
        )
    }
    fn columns(&self, opts: &Options) -> Vec<Column> {
        if opts.has("count") {
            return Vec::new();
        }
        let mut c = Vec::new();
        if opts.has("print-uid") {
            c.push(Column::int("UID", "uid", 6));
        }
        c.extend([
            Column::int("PID", "pid", 6),
            Column::str("COMM", "comm", 12),
            Column::int("IP", "ip", 2),
            Column::str("SADDR", "saddr", 16),
            Column::str("DADDR", "daddr", 16),
            Column::int("DPORT", "dport", 4),
        ]);
        c
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(ConnectRender {
            uid: opts.has("print-uid"),
            json: opts.json,
        })
    }
}

struct ConnectRender {
    uid: bool,
    json: bool,
}

impl Render for ConnectRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [uid, pid, comm, family, saddr, daddr, dport] = fields else {
            return vec![];
        };
        let mut row = Vec::new();
        if self.uid {
            row.push(Value::Int(uid.parse().unwrap_or(0)));
        }
        row.extend([
            Value::Int(pid.parse().unwrap_or(0)),
            Value::Str((*comm).to_string()),
            Value::Int(ip_version(family)),
            Value::Str((*saddr).to_string()),
            Value::Str((*daddr).to_string()),
            Value::Int(dport.parse().unwrap_or(0)),
        ]);
        vec![row]
    }

    fn maps(&mut self, maps: &serde_json::Map<String, Json>) -> String {
        let mut rows: Vec<(String, String, String, u64)> = Vec::new();
        for name in ["@count4", "@count6"] {
            if let Some(Json::Object(o)) = maps.get(name) {
                for (k, v) in o {
                    let mut parts = k.splitn(3, ',');
                    let (Some(s), Some(d), Some(p)) = (parts.next(), parts.next(), parts.next())
                    else {
                        continue;
                    };
                    rows.push((s.into(), d.into(), p.into(), v.as_u64().unwrap_or(0)));
                }
            }
        }
        if rows.is_empty() && maps.get("@count4").is_none() && maps.get("@count6").is_none() {
            return String::new();
        }
        rows.sort_by(|a, b| b.3.cmp(&a.3).then(a.cmp(b)));
        let mut s = String::new();
        if !self.json {
            let _ = writeln!(s, "{:<25} {:<25} {:<8} CONNECTS", "LADDR", "RADDR", "RPORT");
        }
        for (saddr, daddr, port, n) in rows {
            if self.json {
                let _ = writeln!(
                    s,
                    "{}",
                    serde_json::json!({"laddr": saddr, "raddr": daddr, "rport": port.parse::<u64>().unwrap_or(0), "connects": n})
                );
            } else {
                let _ = writeln!(s, "{saddr:<25} {daddr:<25} {port:<8} {n}");
            }
        }
        s
    }
}
