//! tcptop: the busiest TCP connections per interval (KB received and sent per process and
//! address pair), like bcc's tcptop, on the sock_send_length/sock_recv_length tracepoints.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::script::{fill, filter};
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, PID};

/// The tcptop tool.
#[derive(Debug)]
pub struct Tcptop;

const INTERVAL: Flag = Flag {
    key: "interval",
    short: Some('i'),
    value: Some("SECS"),
    help: "Seconds between reports (default 1)",
};
const ROWS: Flag = Flag {
    key: "maxrows",
    short: Some('r'),
    value: Some("N"),
    help: "Print at most N rows per report (default 20)",
};

impl Tool for Tcptop {
    fn name(&self) -> &'static str {
        "tcptop"
    }
    fn about(&self) -> &'static str {
        "Top TCP connections by throughput, per process, every interval"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool tcptop",
                does: "a report every second until Ctrl-C",
            },
            Example {
                command: "kestrel tool tcptop -i 5 -p 181 60",
                does: "PID 181, every 5 s, for a minute",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, INTERVAL, ROWS]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn interval(&self, opts: &Options) -> Result<Option<u64>, ToolError> {
        Ok(Some(opts.num("interval")?.filter(|n| *n > 0).unwrap_or(1)))
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let c = "$sk->__sk_common";
        let words = |f: &str| -> Vec<String> {
            (0..4)
                .map(|i| format!("{c}.{f}.in6_u.u6_addr32[{i}]"))
                .collect()
        };
        let mut key = vec![
            "pid".to_string(),
            "comm".into(),
            format!("{c}.skc_family"),
            format!("{c}.skc_num"),
            format!("bswap({c}.skc_dport)"),
        ];
        key.extend(words("skc_v6_rcv_saddr"));
        key.extend(words("skc_v6_daddr"));
        key.push(format!("{c}.skc_rcv_saddr"));
        key.push(format!("{c}.skc_daddr"));
        fill(
            include_str!("tcptop.bt"),
            &[
                ("filter", filter(opts, &[])?),
                ("key", key.join(",\n      ")),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        Vec::new()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(TopRender {
            json: opts.json,
            rows: opts.num("maxrows").ok().flatten().unwrap_or(20) as usize,
            previous: HashMap::new(),
        })
    }
}

struct TopRender {
    json: bool,
    rows: usize,
    /// Byte totals (rx, tx) per connection key at the previous report.
    previous: HashMap<String, (u64, u64)>,
}

/// One connection of a map key: pid, comm, local `addr:port`, remote `addr:port`.
fn parse_key(key: &str) -> Option<(String, String, String, String)> {
    // comm may hold commas: the pid is first and 15 numbers... the last 13 are numbers.
    let (pid, rest) = key.split_once(',')?;
    let parts: Vec<&str> = rest.rsplitn(14, ',').collect();
    if parts.len() != 14 {
        return None;
    }
    let comm = parts[13];
    let n: Vec<u64> = parts[..13]
        .iter()
        .rev()
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    // n: family, lport, rport, l6[4], r6[4], l4, r4
    let words = |w: &[u64]| -> String {
        let mut b = [0u8; 16];
        for (i, v) in w.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&(*v as u32).to_le_bytes());
        }
        std::net::Ipv6Addr::from(b).to_string()
    };
    let (l, r) = if n[0] == 10 {
        (
            format!("[{}]", words(&n[3..7])),
            format!("[{}]", words(&n[7..11])),
        )
    } else {
        (
            crate::net::v4(n[11]).to_string(),
            crate::net::v4(n[12]).to_string(),
        )
    };
    Some((
        pid.to_string(),
        comm.to_string(),
        format!("{l}:{}", n[1]),
        format!("{r}:{}", n[2]),
    ))
}

impl Render for TopRender {
    fn record(&mut self, _fields: &[&str]) -> Vec<crate::Row> {
        Vec::new()
    }

    fn maps(&mut self, maps: &serde_json::Map<String, Json>) -> String {
        let mut totals: HashMap<String, (u64, u64)> = HashMap::new();
        for (name, rx) in [("@rx", true), ("@tx", false)] {
            if let Some(Json::Object(o)) = maps.get(name) {
                for (k, v) in o {
                    let e = totals.entry(k.clone()).or_default();
                    let bytes = v.as_u64().unwrap_or(0);
                    if rx {
                        e.0 = bytes;
                    } else {
                        e.1 = bytes;
                    }
                }
            }
        }
        let mut rows: Vec<(String, u64, u64)> = totals
            .iter()
            .map(|(k, (rx, tx))| {
                let (prx, ptx) = self.previous.get(k).copied().unwrap_or((0, 0));
                (k.clone(), rx.saturating_sub(prx), tx.saturating_sub(ptx))
            })
            .filter(|(_, rx, tx)| rx + tx > 0)
            .collect();
        self.previous = totals;
        rows.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
        rows.truncate(self.rows);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let time = crate::table::hms(now);
        let mut s = String::new();
        if !self.json {
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            let _ = writeln!(s, "{time} loadavg: {}\n", load.trim());
            let _ = writeln!(
                s,
                "{:<7} {:<12} {:<21} {:<21} {:>6} {:>6}",
                "PID", "COMM", "LADDR", "RADDR", "RX_KB", "TX_KB"
            );
        }
        for (key, rx, tx) in rows {
            let Some((pid, comm, l, r)) = parse_key(&key) else {
                continue;
            };
            if self.json {
                let _ = writeln!(
                    s,
                    "{}",
                    serde_json::json!({"time": time, "pid": pid.parse::<u64>().unwrap_or(0), "comm": comm,
                        "laddr": l, "raddr": r, "rx_kb": rx / 1024, "tx_kb": tx / 1024})
                );
            } else {
                let _ = writeln!(
                    s,
                    "{pid:<7} {comm:<12} {l:<21} {r:<21} {:>6} {:>6}",
                    rx / 1024,
                    tx / 1024
                );
            }
        }
        if !self.json {
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::parse_key;

    #[test]
    fn keys_with_commas_in_comm() {
        let k = "7,a,b,2,80,1234,0,0,4294901760,16777343,0,0,0,0,16777343,16777343";
        let (pid, comm, l, r) = parse_key(k).unwrap_or_default();
        assert_eq!((pid.as_str(), comm.as_str()), ("7", "a,b"));
        assert_eq!((l.as_str(), r.as_str()), ("127.0.0.1:80", "127.0.0.1:1234"));
        let k6 = "7,py,10,80,1234,0,0,0,16777216,0,0,0,16777216,0,0";
        let (_, _, l, _) = parse_key(k6).unwrap_or_default();
        assert_eq!(l, "[::1]:80");
    }
}
