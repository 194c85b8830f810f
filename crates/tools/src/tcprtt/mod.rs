//! tcprtt: histograms of TCP smoothed RTT from tcp:tcp_probe, like libbpf-tools' tcprtt
//! (which needs fentry): by local (-b) or remote (-B) address, IPv4 and IPv6.

use crate::hist::HistRender;
use crate::script::fill;
use crate::syslatency::{interval, INTERVAL, MILLI};
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, TIMESTAMP};

/// The tcprtt tool.
#[derive(Debug)]
pub struct Tcprtt;

const LPORT: Flag = Flag {
    key: "lport",
    short: Some('p'),
    value: Some("PORT"),
    help: "Local port to trace only",
};
const RPORT: Flag = Flag {
    key: "rport",
    short: Some('P'),
    value: Some("PORT"),
    help: "Remote port to trace only",
};
const BY_LADDR: Flag = Flag {
    key: "byladdr",
    short: Some('b'),
    value: None,
    help: "A histogram per local address",
};
const BY_RADDR: Flag = Flag {
    key: "byraddr",
    short: Some('B'),
    value: None,
    help: "A histogram per remote address",
};

/// A little-endian integer of `n` bytes of `args->FIELD` from byte `at`.
fn bytes(field: &str, at: usize, n: usize) -> String {
    (0..n)
        .map(|i| format!("((uint64)args->{field}[{}] << {})", at + i, 8 * i))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `family,word0,word1` → `addr = 127.0.0.1`.
fn addr_label(key: &str) -> String {
    let p: Vec<u64> = key.split(',').map(|s| s.parse().unwrap_or(0)).collect();
    match p[..] {
        [fam, a, b] => format!("addr = {}", crate::net::addr(fam, a, (a, b))),
        _ => format!("addr = {key}"),
    }
}

impl Tool for Tcprtt {
    fn name(&self) -> &'static str {
        "tcprtt"
    }
    fn about(&self) -> &'static str {
        "Histogram of TCP smoothed round-trip time, optionally per local or remote address"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool tcprtt 10",
                does: "all TCP sockets, 10 seconds",
            },
            Example {
                command: "kestrel tool tcprtt -B -P 443 -m",
                does: "per remote address, port 443, ms",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[LPORT, RPORT, BY_LADDR, BY_RADDR, MILLI, INTERVAL, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn interval(&self, opts: &Options) -> Result<Option<u64>, ToolError> {
        interval(opts)
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let milli = opts.has("milliseconds");
        let mut filter = vec!["(args->family == 2 || args->family == 10)".to_string()];
        if let Some(p) = opts.num("lport")? {
            filter.push(format!("args->sport == {p}"));
        }
        if let Some(p) = opts.num("rport")? {
            filter.push(format!("args->dport == {p}"));
        }
        // saddr/daddr hold a struct sockaddr_in (address at byte 4) or sockaddr_in6 (at 8).
        let field = if opts.has("byladdr") {
            Some("saddr")
        } else if opts.has("byraddr") {
            Some("daddr")
        } else {
            None
        };
        let key = field.map_or(String::new(), |f| {
            format!(
                "[args->family, args->family == 2 ? {} : {}, args->family == 2 ? 0 : {}]",
                bytes(f, 4, 4),
                bytes(f, 8, 8),
                bytes(f, 16, 8)
            )
        });
        fill(
            include_str!("tcprtt.bt"),
            &[
                ("filter", filter.join(" && ")),
                ("key", key),
                ("div", if milli { "1000" } else { "1" }.to_string()),
                ("unit", crate::hist::unit_name(opts).to_string()),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        Vec::new()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        let unit = crate::hist::unit_name(opts);
        Box::new(HistRender::new("@dist", unit, "addr", addr_label, opts))
    }
}
