//! Facts about the running kernel: tracefs (mounting, listing, event formats), vmlinux BTF,
//! and feature probes.
//!
//! The compiler never touches the system directly: it asks the [`KernelFacts`] trait.
//! [`LiveKernel`] answers from the running machine; [`FixtureKernel`] answers from text
//! fixtures so compiler tests run anywhere, without root.
//!
//! This crate knows nothing of the language or of instructions.
//!
//! ```
//! use kestrel_kernel::{FixtureKernel, KernelFacts, TracepointId};
//! let kernel = FixtureKernel::standard();
//! let fmt = kernel.tracepoint_format(&TracepointId::new("syscalls", "sys_enter_openat"))?;
//! assert!(fmt.field("filename").is_some_and(|f| f.is_char_string()));
//! # Ok::<(), kestrel_kernel::KernelError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod btf;
mod facts;
pub mod features;
mod fixtures;
mod format;
pub mod glob;
mod listing;
mod mount;
mod mountinfo;
pub mod tracefs;
pub mod userbin;

pub use facts::{FixtureKernel, KernelFacts, LiveKernel};
pub use format::parse_format;
pub use mount::{
    ensure_bpffs, ensure_tracefs, tracefs_root, Mounted, BPFFS_PATH, DEBUGFS_TRACING_PATH,
    TRACEFS_PATH,
};
pub use tracefs::{TracepointField, TracepointFormat, TracepointId};
pub use userbin::{UsdtNote, UserSymbol};

/// Errors from reading kernel facts. Each names the path or object involved.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The tracepoint does not exist on this kernel.
    #[error("unknown tracepoint '{category}:{name}'")]
    UnknownTracepoint {
        /// Tracepoint category (subsystem), e.g. `syscalls`.
        category: String,
        /// Tracepoint name, e.g. `sys_enter_openat`.
        name: String,
    },
    /// A file under tracefs/sysfs could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file that failed.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A filesystem (tracefs, bpffs) could not be mounted.
    #[error("cannot mount {fs} at {path}: {source}")]
    Mount {
        /// Filesystem type.
        fs: String,
        /// Mount point.
        path: String,
        /// errno from mount(2).
        source: std::io::Error,
    },
    /// A tracepoint `format` file did not parse.
    #[error("malformed format file {path}: {reason}")]
    BadFormat {
        /// The format file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The BTF blob is malformed or uses an unsupported version.
    #[error("malformed BTF: {0}")]
    BadBtf(String),
    /// No BTF is available (the reason says why).
    #[error("no kernel BTF: {0}")]
    NoBtf(String),
    /// The tracepoint exists on the captured kernel, but the fixture has no format for it.
    #[error("the fixture kernel lists '{category}:{name}' but has no format for it")]
    NotInFixture {
        /// Tracepoint category.
        category: String,
        /// Tracepoint name.
        name: String,
    },
}
