//! gethostlatency: latency of host name lookups through libc, like libbpf-tools'
//! gethostlatency (uprobes on getaddrinfo/gethostbyname/gethostbyname2).

use crate::script::{fill, filter, quote};
use crate::table::{Column, Row, Value, TIME};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, PID};

/// The gethostlatency tool.
#[derive(Debug)]
pub struct Gethostlatency;

const LIBC: Flag = Flag {
    key: "libc",
    short: Some('l'),
    value: Some("PATH"),
    help: "The C library to trace (default: the system's libc.so.6)",
};

/// Where Debian, Fedora and others keep libc.
const LIBC_PATHS: [&str; 4] = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
];

impl Tool for Gethostlatency {
    fn name(&self) -> &'static str {
        "gethostlatency"
    }
    fn about(&self) -> &'static str {
        "Trace host name lookups (getaddrinfo, gethostbyname) with their latency"
    }
    fn examples(&self) -> &'static [Example] {
        &[Example {
            command: "kestrel tool gethostlatency",
            does: "every lookup through libc",
        }]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, LIBC]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let libc = match opts.get("libc") {
            Some(p) => p.to_string(),
            None => LIBC_PATHS
                .iter()
                .find(|p| std::path::Path::new(p).exists())
                .map_or(LIBC_PATHS[0], |p| *p)
                .to_string(),
        };
        quote(&libc, "--libc")?;
        if libc.contains(char::is_whitespace) || libc.contains(':') {
            return Err(ToolError::BadValue {
                flag: "--libc".into(),
                value: libc,
                why: "expected a path without spaces or colons",
            });
        }
        fill(
            include_str!("gethostlatency.bt"),
            &[("libc", libc), ("filter", filter(opts, &[])?)],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            TIME,
            Column::int("PID", "pid", 7),
            Column::str("COMM", "comm", 16),
            Column::str("LATms", "lat_ms", 10),
            Column::str("HOST", "host", 0),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(HostRender)
    }
}

struct HostRender;

impl Render for HostRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [pid, comm, lat, host] = fields else {
            return vec![];
        };
        vec![vec![
            Value::Int(pid.parse().unwrap_or(0)),
            Value::Str((*comm).to_string()),
            Value::Float(lat.parse::<u64>().unwrap_or(0) as f64 / 1e6, 3),
            Value::Str((*host).to_string()),
        ]]
    }
}
