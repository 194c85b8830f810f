//! kestrel-tools: the catalogue of built-in observability tools (execsnoop, opensnoop,
//! syscount, ...), each a script in kestrel's language plus the formatting of its output.
//!
//! It owns the [`Tool`] trait, the [`registry`], the scripts (`NAME/NAME.bt`, embedded with
//! `include_str!`) and the rendering of their records as libbpf-tools-style columns or JSON.
//! It knows nothing of compiling or loading: the CLI compiles [`Tool::script`] like any
//! other script, feeds each printed record line to [`Render::record`] (fields split at
//! [`SEP`]) and hands the maps, as JSON, to [`Render::maps`].
//!
//! ```
//! use kestrel_tools::{find, Options};
//!
//! let tool = find("execsnoop").expect("built in");
//! let script = tool.script(&Options::new([("failed", "")], false)).expect("valid flags");
//! assert!(script.contains("tracepoint:syscalls:sys_enter_execve"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod hist;
pub mod net;
pub mod script;
pub mod syscalls;
pub mod table;
pub mod tcp;
pub mod tool;

mod bashreadline;
mod bindsnoop;
mod biolatency;
mod biosnoop;
mod cpudist;
mod execsnoop;
mod exitsnoop;
mod gethostlatency;
mod killsnoop;
mod mountsnoop;
mod offcputime;
mod oomkill;
mod opensnoop;
mod profile;
mod runqlat;
mod runqlen;
mod syscount;
mod syslatency;
mod tcpaccept;
mod tcpconnect;
mod tcpconnlat;
mod tcplife;
mod tcpretrans;
mod tcprtt;
mod tcpstates;
mod tcptop;

pub use table::{Column, Row, Table, Value};
pub use tool::{Example, Flag, Options, Plain, Render, Tool, ToolError};

/// The field separator of tool records: the ASCII unit separator.
pub const SEP: char = '\x1f';

/// Every built-in tool, in the order `kestrel tools` lists them.
pub fn registry() -> &'static [&'static dyn Tool] {
    &[
        &execsnoop::Execsnoop,
        &exitsnoop::Exitsnoop,
        &opensnoop::Opensnoop,
        &killsnoop::Killsnoop,
        &killsnoop::Sigsnoop,
        &bindsnoop::Bindsnoop,
        &mountsnoop::Mountsnoop,
        &syscount::Syscount,
        &syslatency::Syslatency,
        &runqlat::Runqlat,
        &cpudist::Cpudist,
        &offcputime::Offcputime,
        &biolatency::Biolatency,
        &biosnoop::Biosnoop,
        &tcpconnect::Tcpconnect,
        &tcpaccept::Tcpaccept,
        &tcpconnlat::Tcpconnlat,
        &tcplife::Tcplife,
        &tcpstates::Tcpstates,
        &tcpretrans::Tcpretrans,
        &tcprtt::Tcprtt,
        &tcptop::Tcptop,
        &oomkill::Oomkill,
        &profile::Profile,
        &runqlen::Runqlen,
        &bashreadline::Bashreadline,
        &gethostlatency::Gethostlatency,
    ]
}

/// The tool called `name`.
pub fn find(name: &str) -> Result<&'static dyn Tool, ToolError> {
    registry()
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .ok_or_else(|| ToolError::Unknown(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tool's script fills all its placeholders with default and with all switches on,
    /// and every tool parses as kestrel source (checked by the CLI's tests).
    #[test]
    fn every_script_fills() {
        for tool in registry() {
            assert!(tool.script(&Options::default()).is_ok(), "{}", tool.name());
            let switches: Vec<(&str, &str)> = tool
                .flags()
                .iter()
                .filter(|f| f.value.is_none())
                .map(|f| (f.key, ""))
                .collect();
            assert!(
                tool.script(&Options::new(switches, false)).is_ok(),
                "{}",
                tool.name()
            );
            assert!(!tool.about().is_empty() && !tool.examples().is_empty());
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = registry().iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), registry().len());
    }
}
