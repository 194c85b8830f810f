//! What the TCP tools share: state names, the `-4`/`-6` family flags and the address
//! fragments of scripts built on `sock:inet_sock_set_state` (whose `saddr`/`daddr` are
//! IPv4 and `saddr_v6`/`daddr_v6` IPv6 arrays, printed with `ntop`).

use crate::tool::{Flag, Options};

/// `-4`: IPv4 only.
pub const IPV4: Flag = Flag {
    key: "ipv4",
    short: Some('4'),
    value: None,
    help: "IPv4 only",
};
/// `-6`: IPv6 only.
pub const IPV6: Flag = Flag {
    key: "ipv6",
    short: Some('6'),
    value: None,
    help: "IPv6 only",
};

/// The name of TCP state `n` as the kernel's `tcp_states.h` spells it.
pub fn state(n: i64) -> String {
    const NAMES: [&str; 13] = [
        "UNKNOWN",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
        "NEW_SYN_RECV",
    ];
    usize::try_from(n)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| n.to_string(), |s| (*s).to_string())
}

/// The predicate for `-4`/`-6` on a tracepoint with a `family` field, `1` without them.
pub fn family_filter(opts: &Options) -> String {
    match (opts.has("ipv4"), opts.has("ipv6")) {
        (true, false) => "args->family == 2".into(),
        (false, true) => "args->family == 10".into(),
        _ => "1".into(),
    }
}

/// A `printf` for `sock:inet_sock_set_state` (and tcp tracepoints with the same address
/// fields) in both families: `{addrs}` in `format` stands for `%s`/`%s` conversions of the
/// source and destination address, `args_before`/`args_after` surround them.
pub fn printf_both(format: &str, before: &str, after: &str) -> String {
    let fmt = format.replace("{addrs}", "%s\\x1f%s");
    let call = |s: &str, d: &str| {
        format!("printf(\"{fmt}\\n\", {before}ntop(args->{s}), ntop(args->{d}){after});")
    };
    format!(
        "if (args->family == 2) {{\n    {}\n  }} else {{\n    {}\n  }}",
        call("saddr", "daddr"),
        call("saddr_v6", "daddr_v6")
    )
}

/// The IP version column value (4 or 6) of an address family number.
pub fn ip_version(family: &str) -> i64 {
    if family == "10" {
        6
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_printf() {
        assert_eq!(state(1), "ESTABLISHED");
        assert_eq!(state(10), "LISTEN");
        assert_eq!(state(99), "99");
        let p = printf_both("%d\\x1f{addrs}", "pid, ", ", args->dport");
        assert!(p.contains("printf(\"%d\\x1f%s\\x1f%s\\n\", pid, ntop(args->saddr), ntop(args->daddr), args->dport);"), "{p}");
        assert!(p.contains("ntop(args->saddr_v6)"));
    }
}
