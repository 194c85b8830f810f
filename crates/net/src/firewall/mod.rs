//! `kestrel firewall`: an XDP (or tcx) firewall that drops, counts and rate-limits at the
//! driver, updated live through maps.
//!
//! Flow: a TOML rules file ([`rules`]) → one match fragment per rule
//! ([`crate::filter::compile_match`], the pcap-filter compiler) → one
//! program ([`program`]) → loaded, attached and pinned under
//! `/sys/fs/bpf/kestrel/firewall/<iface>/` ([`live`]). Allow/block lists are LPM tries edited
//! in place; `reload` swaps the program with `BPF_LINK_UPDATE` after it verified.
//!
//! ```no_run
//! use kestrel_net::firewall::{compile, up, Mode};
//! # fn main() -> Result<(), kestrel_net::firewall::FirewallError> {
//! let src = "[[rule]]\nmatch = \"udp port 53\"\naction = \"drop\"\n";
//! let fw = compile("rules.toml", src, Mode::Native)?;
//! up("eth0", &fw, Mode::Native)?;
//! # Ok(()) }
//! ```

/// The label builder, now in kestrel-isa (re-exported for the program generators here).
pub use kestrel_isa::builder as asm;
pub mod cidr;
pub mod live;
pub mod program;
pub mod rules;
pub mod xdpgen;

pub use cidr::Cidr;
pub use live::{
    compile, down, edit_list, interfaces, pin_dir, reload, status, test_run, up, Compiled,
    Counters, FirewallError, ListOp, Mode, RuleStatus, Status, PIN_ROOT,
};
pub use rules::{parse_rules, Action, RuleSet, RulesError};
