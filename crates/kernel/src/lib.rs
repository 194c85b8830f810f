//! Facts about the running kernel: tracefs (mounting, listing, event formats), vmlinux BTF,
//! and feature probes.
//!
//! The compiler never touches the system directly: it asks the [`KernelFacts`] trait.
//! [`LiveKernel`] answers from the running machine; [`FixtureKernel`] answers from text
//! fixtures so compiler tests run anywhere, without root.
//!
//! This crate knows nothing of the language or of instructions.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod facts;
pub mod tracefs;

pub use facts::{FixtureKernel, KernelFacts, LiveKernel};
pub use tracefs::{TracepointField, TracepointFormat, TracepointId};

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
}
