//! The shape every tool has: the [`Tool`] trait, its flags, examples and the parsed
//! [`Options`] a run is made from.

use std::collections::BTreeMap;

use crate::table::{Column, Row};

/// Why a tool cannot make its script or read its options.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolError {
    /// A flag's value has the wrong form.
    #[error("invalid value '{value}' for {flag}: {why}")]
    BadValue {
        /// The flag, as the user spells it (`-p`).
        flag: String,
        /// What was given.
        value: String,
        /// What was expected.
        why: &'static str,
    },
    /// No tool of that name.
    #[error("no tool named '{0}' (see `kestrel tools`)")]
    Unknown(String),
    /// A script template names a placeholder nobody filled (a bug in the tool).
    #[error("tool script has an unfilled placeholder '{0}'")]
    Placeholder(String),
}

/// A flag a tool accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    /// The key the value is stored under in [`Options`] (and the long flag, `--key`).
    pub key: &'static str,
    /// The short letter, if the tool's libbpf-tools namesake has one.
    pub short: Option<char>,
    /// The value's name in help (`PID`), or `None` for a switch.
    pub value: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

/// `-p PID`: only this process.
pub const PID: Flag = Flag {
    key: "pid",
    short: Some('p'),
    value: Some("PID"),
    help: "Trace this process ID only (filtered in the kernel)",
};
/// `--cgroup PATH`: only tasks in this cgroup v2.
pub const CGROUP: Flag = Flag {
    key: "cgroup",
    short: Some('c'),
    value: Some("PATH"),
    help:
        "Trace tasks in this cgroup v2 only, e.g. /sys/fs/cgroup/unified/x (filtered in the kernel)",
};
/// `-T`: a time column.
pub const TIMESTAMP: Flag = Flag {
    key: "timestamp",
    short: Some('T'),
    value: None,
    help: "Include a time column (HH:MM:SS, UTC)",
};
/// `-x`: failed calls only.
pub const FAILED: Flag = Flag {
    key: "failed",
    short: Some('x'),
    value: None,
    help: "Show failed calls only",
};
/// `-u UID`: only this user.
pub const UID: Flag = Flag {
    key: "uid",
    short: Some('u'),
    value: Some("UID"),
    help: "Trace this user ID only",
};

/// An example command line with what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Example {
    /// The command line, from `kestrel tool` on.
    pub command: &'static str,
    /// What it shows.
    pub does: &'static str,
}

/// The flags of one run: switch keys mapped to `""`, valued keys to their value, plus the
/// duration argument and output mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    values: BTreeMap<String, String>,
    /// Print JSON objects instead of columns.
    pub json: bool,
}

impl Options {
    /// Options from `(key, value)` pairs; switches carry an empty value.
    pub fn new<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
        json: bool,
    ) -> Options {
        Options {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            json,
        }
    }

    /// Whether flag `key` was given.
    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The value of flag `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value of flag `key` as an unsigned number, if given.
    pub fn num(&self, key: &str) -> Result<Option<u64>, ToolError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| ToolError::BadValue {
                    flag: format!("--{key}"),
                    value: v.to_string(),
                    why: "expected a non-negative whole number",
                })
            })
            .transpose()
    }
}

/// One built-in tool: a script made from flags, and the rendering of its output.
///
/// Scripts print one record per event with `printf`, fields separated by
/// [`crate::SEP`] (the ASCII unit separator, which cannot appear in paths, names or
/// arguments in practice); [`Render::record`] turns the fields into a [`Row`].
pub trait Tool: Sync {
    /// The command name (`execsnoop`).
    fn name(&self) -> &'static str;
    /// One line saying what it traces.
    fn about(&self) -> &'static str;
    /// Example command lines.
    fn examples(&self) -> &'static [Example];
    /// The flags it accepts (`--json` and `--script` are added for every tool).
    fn flags(&self) -> &'static [Flag];
    /// Whether it takes a trailing duration in seconds (stop after it).
    fn takes_duration(&self) -> bool {
        false
    }
    /// Bytes each `str()` holds (kestrel's default is 64; paths want more, but every string
    /// of a record must fit the 512-byte BPF stack together).
    fn str_len(&self) -> u32 {
        64
    }
    /// Seconds between periodic map reports (`-i`), if the flags ask for them.
    fn interval(&self, _opts: &Options) -> Result<Option<u64>, ToolError> {
        Ok(None)
    }
    /// The kestrel script for these flags.
    fn script(&self, opts: &Options) -> Result<String, ToolError>;
    /// The columns of its event rows (may be empty for tools that only print maps).
    fn columns(&self, opts: &Options) -> Vec<Column>;
    /// A fresh renderer for one run.
    fn renderer(&self, opts: &Options) -> Box<dyn Render>;
}

/// Turns a run's records (and, for summarising tools, its maps) into output.
pub trait Render {
    /// One record's fields → zero or more rows (a record may only update state).
    fn record(&mut self, fields: &[&str]) -> Vec<Row>;
    /// The script's maps, as kestrel's JSON output shapes them (`{"@name": data}`), read
    /// at an interval or at exit → text to print (JSON lines when `opts.json`).
    fn maps(&mut self, _maps: &serde_json::Map<String, serde_json::Value>) -> String {
        String::new()
    }
}

/// A renderer whose records map one-to-one onto rows, each field parsed by its column.
#[derive(Debug)]
pub struct Plain {
    columns: Vec<Column>,
}

impl Plain {
    /// Rows with these columns (as returned by [`Tool::columns`]).
    pub fn new(columns: Vec<Column>) -> Plain {
        Plain { columns }
    }
}

impl Render for Plain {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        vec![crate::table::parse_row(&self.columns, fields)]
    }
}
