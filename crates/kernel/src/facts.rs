//! The [`KernelFacts`] trait the compiler asks, and its live and fixture implementations.

use crate::{KernelError, TracepointFormat, TracepointId};

/// Everything the compiler needs to know about the kernel it compiles for.
///
/// Implemented from the running system by [`LiveKernel`] and from fixtures by
/// [`FixtureKernel`], so the compiler does no I/O of its own.
pub trait KernelFacts {
    /// Tracepoints whose `category:name` matches `pattern` (shell glob: `*`, `?`, `[abc]`),
    /// sorted. A pattern without glob characters yields at most one id.
    fn tracepoints(&self, pattern: &str) -> Result<Vec<TracepointId>, KernelError>;

    /// The parsed `format` of one tracepoint, or [`KernelError::UnknownTracepoint`].
    fn tracepoint_format(&self, id: &TracepointId) -> Result<TracepointFormat, KernelError>;
}

/// The running kernel, read through tracefs (mounted on demand) and sysfs.
#[derive(Debug, Default)]
pub struct LiveKernel {}

/// Kernel facts from in-memory fixtures, for tests and `--dump` on machines without tracefs.
#[derive(Debug, Default, Clone)]
pub struct FixtureKernel {
    /// The tracepoints this fixture kernel has.
    pub formats: Vec<TracepointFormat>,
}
