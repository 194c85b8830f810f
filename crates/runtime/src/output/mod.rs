//! Turning kernel data into text and JSON exactly as bpftrace prints it.
//!
//! Everything here is pure: functions take bytes read from ring-buffer records and maps and
//! return `String`s; nothing touches the kernel or a file.
//!
//! - [`format`]: `printf` format strings (parsing, compile-time checks, one conversion at a
//!   time). Self-contained, so the compiler can reuse it.
//! - [`printf`]: a ring-buffer record plus its [`PrintfSpec`] → the printed text.
//! - [`text`] / [`json`]: maps → bpftrace's text (`@m[a, 1]: 3`, histograms with bars) and
//!   `-f json` lines.
//!
//! The reference is current bpftrace (0.2x, its `types_format.cpp`, `output/text.cpp` and
//! `output/json.cpp`); where bpftrace 0.17 (the apt version) differs, the tests say so.
//!
//! ```
//! use kestrel_obj::{UserMapLayout, ValueKind};
//! use kestrel_runtime::output::{render_map_text, RawEntry};
//!
//! let layout = UserMapLayout { display: "@x".into(), keys: vec![], value: ValueKind::Count };
//! let entries = [RawEntry { key: vec![0; 4], values: vec![3u64.to_le_bytes().to_vec()] }];
//! assert_eq!(render_map_text(&layout, &entries), "@x: 3\n");
//! ```
//!
//! [`PrintfSpec`]: kestrel_obj::PrintfSpec

mod bytes;
pub(crate) mod decode;
pub mod format;
mod hist;
pub mod json;
pub mod printf;
pub mod symbols;
pub mod text;
pub mod timefmt;
pub mod values;

#[cfg(test)]
mod tests;

pub use format::{validate_format, ArgClass, Conversion, FormatError};
pub use json::{printf_json, render_all_maps_json, render_map_json, render_map_json_top};
pub use printf::{format_printf, PrintfFormatter};
pub use text::{render_all_maps_text, render_map_text, render_map_text_top};

/// One map entry as read from the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawEntry {
    /// The key bytes.
    pub key: Vec<u8>,
    /// One value per possible CPU for per-CPU maps, else exactly one.
    pub values: Vec<Vec<u8>>,
}

/// Why an event could not be turned into text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutputError {
    /// The format string does not fit the recorded arguments (a compiler bug if it happens
    /// at run time).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The record ends before an argument does.
    #[error(
        "printf record too short: argument {arg} needs bytes {start}..{end}, record has {len}"
    )]
    ShortRecord {
        /// Zero-based argument index.
        arg: usize,
        /// First byte of the argument.
        start: usize,
        /// One past its last byte.
        end: usize,
        /// Record length.
        len: usize,
    },
}
