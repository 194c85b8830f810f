//! Live firewall tests: each test builds its own network namespace and veth pair, attaches the
//! firewall to the host-side veth, sends pings from inside the namespace and checks verdicts
//! and counters. A guard removes the firewall, veth and namespace even when a test fails.
//!
//! Needs root, `ip` and `ping`; skipped with a reason otherwise, unless CI=true or
//! KESTREL_REQUIRE_KERNEL=1.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use kestrel_net::firewall::{self, Cidr, ListOp, Mode};

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("KESTREL_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// Returns false (after saying why) if the test cannot run here.
fn can_run(test: &str) -> bool {
    let root = nix_is_root();
    let tools = ["ip", "ping"]
        .iter()
        .all(|t| Command::new(t).arg("-V").output().is_ok());
    if root && tools {
        return true;
    }
    let why = if root {
        "needs ip and ping"
    } else {
        "needs root"
    };
    assert!(
        !required(),
        "{test}: {why} (required by CI/KESTREL_REQUIRE_KERNEL)"
    );
    eprintln!("skipping {test}: {why}");
    false
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn sh(args: &[&str]) -> std::process::Output {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(o) => o,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn must(args: &[&str]) {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A namespace `ns` holding veth `peer` (addresses `.2` and `.3`), linked to `host` (`.1`) in
/// the root namespace. Dropping it removes the firewall, the veth and the namespace.
struct Lab {
    ns: String,
    host: String,
    net: u8,
}

impl Lab {
    fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = std::process::id() % 10_000;
        let lab = Lab {
            ns: format!("kfwt{id}_{n}"),
            host: format!("kfw{id}h{n}"),
            net: 200 + (id % 40) as u8 + n as u8,
        };
        let peer = format!("kfw{id}p{n}");
        must(&["ip", "netns", "add", &lab.ns]);
        must(&[
            "ip", "link", "add", &lab.host, "type", "veth", "peer", "name", &peer, "netns", &lab.ns,
        ]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("10.{}.0.1/24", lab.net),
            "dev",
            &lab.host,
        ]);
        must(&["ip", "link", "set", &lab.host, "up"]);
        for a in [2, 3] {
            must(&[
                "ip",
                "-n",
                &lab.ns,
                "addr",
                "add",
                &format!("10.{}.0.{a}/24", lab.net),
                "dev",
                &peer,
            ]);
        }
        must(&["ip", "-n", &lab.ns, "link", "set", &peer, "up"]);
        must(&["ip", "-n", &lab.ns, "link", "set", "lo", "up"]);
        lab
    }

    fn addr(&self, last: u8) -> String {
        format!("10.{}.0.{last}", self.net)
    }

    /// Pings the host side from `.from` `count` times every `interval` seconds; returns the
    /// number of replies.
    fn ping(&self, from: u8, count: u32, interval: &str) -> u32 {
        self.ping_timed(from, count, interval).0
    }

    /// Pings as [`Lab::ping`] does; also returns ping's own span from the first request to
    /// the last one (its summary's `time NNNms`), which unlike wall time leaves out ping's
    /// start-up and the wait for the last reply — what matters on a loaded machine.
    fn ping_timed(&self, from: u8, count: u32, interval: &str) -> (u32, f64) {
        let o = sh(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            "ping",
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            interval,
            "-W",
            "1",
            "-I",
            &self.addr(from),
            &self.addr(1),
        ]);
        let out = String::from_utf8_lossy(&o.stdout);
        let summary = out.lines().find(|l| l.contains(" transmitted, "));
        let replies = summary
            .and_then(|l| {
                let (_, rest) = l.split_once(" transmitted, ")?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0);
        let span_ms: f64 = summary
            .and_then(|l| l.rsplit_once("time ")?.1.strip_suffix("ms")?.parse().ok())
            .unwrap_or(0.0);
        (replies, span_ms / 1000.0)
    }

    fn up(&self, rules: &str) {
        self.up_mode(rules, Mode::Native);
    }

    fn up_mode(&self, rules: &str, mode: Mode) {
        let c = match firewall::compile("test.toml", rules, mode) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        if let Err(e) = firewall::up(&self.host, &c, mode) {
            panic!("up ({mode:?}): {e}");
        }
    }

    fn status(&self) -> firewall::Status {
        match firewall::status(Some(&self.host)) {
            Ok(mut v) if !v.is_empty() => v.remove(0),
            Ok(_) => panic!("no status"),
            Err(e) => panic!("status: {e}"),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = firewall::down(&self.host);
        let _ = sh(&["ip", "link", "del", &self.host]);
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

fn cidr(s: &str) -> Cidr {
    match Cidr::parse(s) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn blocked_cidr_loses_its_pings_while_others_pass() {
    if !can_run("blocked_cidr_loses_its_pings_while_others_pass") {
        return;
    }
    let lab = Lab::new();
    lab.up(&format!("block = [\"{}/32\"]\n", lab.addr(3)));
    assert_eq!(lab.ping(2, 5, "0.05"), 5, "unblocked source must pass");
    assert_eq!(lab.ping(3, 5, "0.05"), 0, "blocked source must be dropped");
    let st = lab.status();
    assert_eq!(st.blocked.packets, 5);
    assert_eq!(st.blocked.dropped, 5);
}

#[test]
fn live_block_and_allow_apply_without_reload() {
    if !can_run("live_block_and_allow_apply_without_reload") {
        return;
    }
    let lab = Lab::new();
    lab.up("[[rule]]\nmatch = \"udp port 9\"\naction = \"drop\"\n");
    assert_eq!(lab.ping(2, 3, "0.05"), 3);
    let net = cidr(&format!("10.{}.0.0/24", lab.net));
    if let Err(e) = firewall::edit_list(Some(&lab.host), ListOp::Block, &net) {
        panic!("{e}");
    }
    assert_eq!(lab.ping(2, 3, "0.05"), 0, "live block must drop at once");
    // The allow list wins over the block list.
    let one = cidr(&format!("{}/32", lab.addr(2)));
    if let Err(e) = firewall::edit_list(Some(&lab.host), ListOp::Allow, &one) {
        panic!("{e}");
    }
    assert_eq!(
        lab.ping(2, 3, "0.05"),
        3,
        "allowed host passes a blocked net"
    );
    assert_eq!(lab.ping(3, 3, "0.05"), 0, "others in the net stay blocked");
    if let Err(e) = firewall::edit_list(Some(&lab.host), ListOp::Unblock, &net) {
        panic!("{e}");
    }
    assert_eq!(lab.ping(3, 3, "0.05"), 3, "unblock restores traffic");
    let st = lab.status();
    assert_eq!(st.allowed.packets, 3);
    assert_eq!(st.allow_list, vec![one.to_string()]);
}

#[test]
fn counters_are_exact_for_a_counted_burst() {
    if !can_run("counters_are_exact_for_a_counted_burst") {
        return;
    }
    let lab = Lab::new();
    lab.up("[[rule]]\nname = \"icmp\"\nmatch = \"icmp\"\naction = \"pass\"\n");
    assert_eq!(lab.ping(2, 50, "0.01"), 50);
    let st = lab.status();
    let icmp = &st.rules[0].counters;
    assert_eq!(icmp.packets, 50, "{st:?}");
    // 14 Ethernet + 20 IPv4 + 8 ICMP + 56 payload.
    assert_eq!(icmp.bytes, 50 * 98, "{st:?}");
    assert_eq!(icmp.dropped, 0);
}

#[test]
fn rate_limit_holds_a_flood_to_its_rate() {
    if !can_run("rate_limit_holds_a_flood_to_its_rate") {
        return;
    }
    let lab = Lab::new();
    let (pps, burst) = (100u64, 20u64);
    lab.up(&format!(
        "[[rule]]\nmatch = \"icmp\"\naction = \"rate-limit\"\nper = \"src/24\"\npps = {pps}\nburst = {burst}\n"
    ));
    let sent = 1500u32;
    let (replies, secs) = lab.ping_timed(2, sent, "0.001");
    assert!(secs > 0.0, "ping printed its time span");
    let st = lab.status();
    let c = &st.rules[0].counters;
    assert_eq!(
        c.packets,
        u64::from(sent),
        "every request is counted: {st:?}"
    );
    let passed = c.packets - c.rate_limited;
    assert_eq!(
        passed,
        u64::from(replies),
        "passed requests are the ones answered"
    );
    // The bucket allows its burst plus pps for the span from the first request to the last.
    let allowed = burst as f64 + pps as f64 * secs;
    let ratio = passed as f64 / allowed;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "passed {passed} of {sent} in {secs:.2}s; the bucket allows {allowed:.0} (ratio {ratio:.3})"
    );
}

#[test]
fn reload_swaps_rules_and_bad_files_change_nothing() {
    if !can_run("reload_swaps_rules_and_bad_files_change_nothing") {
        return;
    }
    let lab = Lab::new();
    lab.up("[[rule]]\nmatch = \"icmp\"\naction = \"pass\"\n");
    assert_eq!(lab.ping(2, 2, "0.05"), 2);
    for bad in [
        "[[rule]]\nmatch = \"icmp\"\naction = \"drop\"\nspeed = 1\n",
        "block = [\"10.0.0.0/33\"]\n",
        "[[rule]]\nmatch = \"icmp\"\naction = \"rate-limit\"\npps = 0\n",
        "[[rule]]\nmatch = \"frobnicate\"\naction = \"drop\"\n",
    ] {
        assert!(
            firewall::compile("bad.toml", bad, Mode::Native).is_err(),
            "{bad}"
        );
    }
    assert_eq!(lab.ping(2, 2, "0.05"), 2, "old rules still in force");
    let c = match firewall::compile(
        "new.toml",
        "[[rule]]\nmatch = \"icmp\"\naction = \"drop\"\n",
        Mode::Native,
    ) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    if let Err(e) = firewall::reload(&lab.host, &c) {
        panic!("reload: {e}");
    }
    assert_eq!(lab.ping(2, 2, "0.05"), 0, "new rules in force");
    let st = lab.status();
    assert_eq!(st.rules_file, "new.toml");
    assert_eq!(st.rules[0].counters.dropped, 2);
}

#[test]
fn down_removes_every_trace() {
    if !can_run("down_removes_every_trace") {
        return;
    }
    let lab = Lab::new();
    lab.up("[[rule]]\nmatch = \"icmp\"\naction = \"drop\"\n");
    assert_eq!(lab.ping(2, 2, "0.05"), 0);
    assert!(firewall::pin_dir(&lab.host).exists());
    match firewall::down(&lab.host) {
        Ok(true) => {}
        other => panic!("down: {other:?}"),
    }
    assert!(!firewall::pin_dir(&lab.host).exists(), "pins remain");
    let link = String::from_utf8_lossy(&sh(&["ip", "link", "show", &lab.host]).stdout).into_owned();
    assert!(!link.contains("xdp"), "XDP still attached: {link}");
    assert_eq!(lab.ping(2, 2, "0.05"), 2, "traffic restored");
    assert!(matches!(firewall::down(&lab.host), Ok(false)));
}

/// Generic XDP and tcx modes give the same verdicts and counters as native mode, with a rule
/// whose match is a full pcap-filter expression.
#[test]
fn generic_and_tc_modes_filter_and_count() {
    if !can_run("generic_and_tc_modes_filter_and_count") {
        return;
    }
    for mode in [Mode::Generic, Mode::Tc] {
        let lab = Lab::new();
        let rules = format!(
            "[[rule]]\nname = \"no-pings-from-3\"\nmatch = \"icmp[icmptype] = icmp-echo and src host {} and not vlan\"\naction = \"drop\"\n",
            lab.addr(3)
        );
        lab.up_mode(&rules, mode);
        assert_eq!(lab.ping(2, 4, "0.05"), 4, "{mode:?}: .2 must pass");
        assert_eq!(lab.ping(3, 4, "0.05"), 0, "{mode:?}: .3 must be dropped");
        let st = lab.status();
        let rule = &st.rules[0];
        assert_eq!(rule.counters.packets, 4, "{mode:?}: {st:?}");
        assert_eq!(rule.counters.dropped, 4, "{mode:?}: {st:?}");
    }
}

/// The README's example rules compile for every mode (no kernel needed).
#[test]
fn example_rules_compile_in_every_mode() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/firewall.toml");
    let src = std::fs::read_to_string(path).expect("read examples/firewall.toml");
    for mode in [Mode::Native, Mode::Generic, Mode::Tc] {
        if let Err(e) = firewall::compile("examples/firewall.toml", &src, mode) {
            panic!("{mode:?}: {e}");
        }
    }
}
