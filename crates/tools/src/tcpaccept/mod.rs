//! tcpaccept: accepted TCP connections with process and both ends (IPv4 and IPv6), from
//! the accept()/accept4() exits and the socket behind the returned fd.

use crate::script::{fill, filter};
use crate::table::{Column, Row, Value};
use crate::tcp::{IPV4, IPV6};
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, CGROUP, PID, TIMESTAMP};

/// The tcpaccept tool.
#[derive(Debug)]
pub struct Tcpaccept;

const PORT: Flag = Flag {
    key: "port",
    short: Some('P'),
    value: Some("PORT"),
    help: "Local port to trace only",
};

impl Tool for Tcpaccept {
    fn name(&self) -> &'static str {
        "tcpaccept"
    }
    fn about(&self) -> &'static str {
        "Trace accepted TCP connections: process, remote and local address and port"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool tcpaccept",
                does: "every accepted TCP connection",
            },
            Example {
                command: "kestrel tool tcpaccept -P 80 -T",
                does: "on local port 80, with times",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, PORT, IPV4, IPV6, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let sk = "$sk->__sk_common";
        let extra = ["args->ret >= 0".to_string()];
        let mut inner = Vec::new();
        if let Some(p) = opts.num("port")? {
            inner.push(format!("{sk}.skc_num == {p}"));
        }
        match (opts.has("ipv4"), opts.has("ipv6")) {
            (true, false) => inner.push(format!("{sk}.skc_family == 2")),
            (false, true) => inner.push(format!("{sk}.skc_family == 10")),
            _ => inner.push(format!("({sk}.skc_family == 2 || {sk}.skc_family == 10)")),
        }
        // Only TCP sockets: SOCK_STREAM of the inet families.
        inner.push("$sk->sk_protocol == 6".into());
        let words = |field: &str| -> String {
            (0..4)
                .map(|i| format!("{sk}.{field}.in6_u.u6_addr32[{i}]"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let body = format!(
            "  $slot = (uint64)curtask->files->fdt->fd + (uint64)args->ret * 8;\n  \
             $sk = ((struct socket *)((struct file *)*(uint64 *)$slot)->private_data)->sk;\n  \
             if ({cond}) {{\n    \
             printf(\"%d\\x1f%s\\x1f%d\\x1f%d\\x1f%d\\x1f%u\\x1f%u\\x1f%u\\x1f%u\\x1f%u\\x1f%u\\x1f%u\\x1f%u\\x1f%u\\x1f%u\\n\",\n           \
             pid, comm, {sk}.skc_family, {sk}.skc_num, bswap({sk}.skc_dport), {sk}.skc_rcv_saddr, {sk}.skc_daddr,\n           \
             {}, {});\n  }}",
            words("skc_v6_daddr"),
            words("skc_v6_rcv_saddr"),
            cond = inner.join(" && ")
        );
        let pred = filter(opts, &extra)?;
        let probes = format!(
            "tracepoint:syscalls:sys_exit_accept4, tracepoint:syscalls:sys_exit_accept / {pred} / {{\n{body}\n}}"
        );
        fill(include_str!("tcpaccept.bt"), &[("probes", probes)])
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            Column::int("PID", "pid", 7),
            Column::str("COMM", "comm", 12),
            Column::int("IP", "ip", 2),
            Column::str("RADDR", "raddr", 16),
            Column::int("RPORT", "rport", 5),
            Column::str("LADDR", "laddr", 16),
            Column::int("LPORT", "lport", 0),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(AcceptRender)
    }
}

struct AcceptRender;

/// An IPv6 address from four 32-bit words as the kernel stores them.
fn v6_words(w: &[&str]) -> String {
    let mut b = [0u8; 16];
    for (i, word) in w.iter().take(4).enumerate() {
        let v = word.parse::<u32>().unwrap_or(0).to_le_bytes();
        b[i * 4..i * 4 + 4].copy_from_slice(&v);
    }
    std::net::Ipv6Addr::from(b).to_string()
}

impl Render for AcceptRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        if fields.len() != 15 {
            return vec![];
        }
        let n = |s: &str| s.parse::<u64>().unwrap_or(0);
        let (family, v6) = (n(fields[2]), n(fields[2]) == 10);
        let (raddr, laddr) = if v6 {
            (v6_words(&fields[7..11]), v6_words(&fields[11..15]))
        } else {
            (
                crate::net::v4(n(fields[6])).to_string(),
                crate::net::v4(n(fields[5])).to_string(),
            )
        };
        vec![vec![
            Value::Int(fields[0].parse().unwrap_or(0)),
            Value::Str(fields[1].to_string()),
            Value::Int(if family == 10 { 6 } else { 4 }),
            Value::Str(raddr),
            Value::Int(fields[4].parse().unwrap_or(0)),
            Value::Str(laddr),
            Value::Int(fields[3].parse().unwrap_or(0)),
        ]]
    }
}

#[cfg(test)]
mod tests {
    use super::v6_words;

    #[test]
    fn loopback_v6() {
        assert_eq!(v6_words(&["0", "0", "0", "16777216"]), "::1");
    }
}
