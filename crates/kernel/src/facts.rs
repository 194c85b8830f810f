//! The [`KernelFacts`] trait the compiler asks, and its live and fixture implementations.

use std::sync::Arc;

use crate::btf::Btf;
use crate::format::parse_format;
use crate::glob::glob_match;
use crate::{fixtures, listing, mount, KernelError, TracepointFormat, TracepointId};

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

    /// The kernel's BTF (vmlinux types), or [`KernelError::NoBtf`] when there is none.
    fn btf(&self) -> Result<&Btf, KernelError> {
        Err(KernelError::NoBtf(
            "this source of kernel facts has no BTF".to_string(),
        ))
    }

    /// The cgroup v2 id of the cgroup directory at `path` (its inode number), for
    /// `cgroupid("/sys/fs/cgroup/...")`.
    fn cgroup_id(&self, path: &str) -> Result<u64, KernelError> {
        Err(KernelError::Read {
            path: path.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "no cgroup filesystem in this source of kernel facts",
            ),
        })
    }

    /// The file a uprobe or usdt target names: a path, or a bare binary or library name
    /// (`libc`) searched in `-p PID`'s mappings, the linker cache, `PATH` and the library
    /// directories.
    fn user_binary(
        &self,
        target: &str,
        pid: Option<u32>,
    ) -> Result<std::path::PathBuf, KernelError> {
        crate::userbin::resolve_binary(target, pid)
    }

    /// The defined function symbols of the user-space ELF file at `path`, sorted by name.
    fn user_functions(
        &self,
        path: &std::path::Path,
    ) -> Result<Vec<crate::UserSymbol>, KernelError> {
        crate::userbin::function_symbols(path)
    }

    /// The defined function and data symbols of the user-space ELF file at `path`.
    fn user_symbols(&self, path: &std::path::Path) -> Result<Vec<crate::UserSymbol>, KernelError> {
        crate::userbin::all_symbols(path)
    }

    /// The USDT probes (`.note.stapsdt`) of the user-space ELF file at `path`.
    fn usdt_probes(
        &self,
        path: &std::path::Path,
    ) -> Result<Vec<crate::userbin::UsdtNote>, KernelError> {
        crate::userbin::usdt_notes(path)
    }

    /// The file offset of virtual address `vaddr` in the ELF file at `path`.
    fn user_file_offset(
        &self,
        path: &std::path::Path,
        vaddr: u64,
    ) -> Result<Option<u64>, KernelError> {
        crate::userbin::file_offset(path, vaddr)
    }

    /// The address of the kernel symbol `name` (`kaddr("...")`), `None` when there is no
    /// such symbol.
    fn kernel_symbol(&self, name: &str) -> Result<Option<u64>, KernelError> {
        let _ = name;
        Err(KernelError::Read {
            path: "/proc/kallsyms".to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "no kernel symbols in this source of kernel facts",
            ),
        })
    }
}

/// The address of `name` in `/proc/kallsyms` text (`ADDR TYPE NAME [module]` lines).
pub(crate) fn find_kallsyms(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut parts = l.split_ascii_whitespace();
        let addr = parts.next()?;
        let _kind = parts.next()?;
        (parts.next()? == name).then(|| u64::from_str_radix(addr, 16).ok())?
    })
}

/// The running kernel, read through tracefs (mounted on demand) and sysfs.
///
/// Holds no state: tracefs location and vmlinux BTF are cached process-wide.
#[derive(Debug, Default)]
pub struct LiveKernel {}

impl LiveKernel {
    /// The running kernel.
    pub fn new() -> Self {
        LiveKernel {}
    }
}

impl KernelFacts for LiveKernel {
    fn tracepoints(&self, pattern: &str) -> Result<Vec<TracepointId>, KernelError> {
        listing::list_tracepoints(&mount::tracefs_root()?, pattern)
    }

    fn tracepoint_format(&self, id: &TracepointId) -> Result<TracepointFormat, KernelError> {
        listing::read_format(&mount::tracefs_root()?, id)
    }

    fn btf(&self) -> Result<&Btf, KernelError> {
        Btf::vmlinux()
    }

    fn kernel_symbol(&self, name: &str) -> Result<Option<u64>, KernelError> {
        let text =
            std::fs::read_to_string("/proc/kallsyms").map_err(|source| KernelError::Read {
                path: "/proc/kallsyms".to_string(),
                source,
            })?;
        Ok(find_kallsyms(&text, name))
    }

    fn cgroup_id(&self, path: &str) -> Result<u64, KernelError> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)
            .map(|m| m.ino())
            .map_err(|source| KernelError::Read {
                path: path.to_string(),
                source,
            })
    }
}

/// Kernel facts from in-memory fixtures, for tests and `--dump` on machines without tracefs.
///
/// Build one with [`FixtureKernel::new`], [`FixtureKernel::standard`] or a struct literal
/// ending in `..Default::default()`.
#[derive(Debug, Default, Clone)]
pub struct FixtureKernel {
    /// The tracepoints this fixture kernel has.
    pub formats: Vec<TracepointFormat>,
    /// Further tracepoints that exist (they are listed) but whose formats are not known;
    /// asking for their format gives [`KernelError::NotInFixture`].
    pub listed_only: Vec<TracepointId>,
    /// BTF to answer [`KernelFacts::btf`] with, if any.
    pub btf: Option<Arc<Btf>>,
}

impl FixtureKernel {
    /// A fixture kernel with exactly these tracepoints.
    pub fn new(formats: Vec<TracepointFormat>) -> Self {
        FixtureKernel {
            formats,
            ..Default::default()
        }
    }

    /// Parses `format` file text for `category:name` (the `name:` line must agree).
    pub fn from_format_text(
        category: &str,
        name: &str,
        text: &str,
    ) -> Result<TracepointFormat, KernelError> {
        let id = TracepointId::new(category, name);
        let label = format!("<fixture {id}>");
        parse_format(&id, text, &label)
    }

    /// Formats captured from a Linux 6.18 x86_64 machine: the common syscalls, sched,
    /// block, sock, tcp, skb, signal, task and raw_syscalls tracepoints (see
    /// `crates/kernel/fixtures/`), plus the full list of its 2,300 tracepoint names.
    pub fn standard() -> Self {
        let formats: Vec<TracepointFormat> = fixtures::FORMATS
            .iter()
            // The fixture texts are checked by this crate's tests, so none is dropped.
            .filter_map(|(c, n, text)| Self::from_format_text(c, n, text).ok())
            .collect();
        let listed_only = fixtures::TRACEPOINT_LIST
            .lines()
            .filter_map(TracepointId::parse)
            .filter(|id| !formats.iter().any(|f| &f.id == id))
            .collect();
        FixtureKernel {
            formats,
            listed_only,
            btf: None,
        }
    }

    /// Adds one tracepoint (builder style).
    pub fn with_format(mut self, format: TracepointFormat) -> Self {
        self.formats.push(format);
        self
    }

    /// Attaches BTF (builder style), e.g. a hand-built blob in a test.
    pub fn with_btf(mut self, btf: Arc<Btf>) -> Self {
        self.btf = Some(btf);
        self
    }
}

impl KernelFacts for FixtureKernel {
    fn tracepoints(&self, pattern: &str) -> Result<Vec<TracepointId>, KernelError> {
        let mut out: Vec<TracepointId> = self
            .formats
            .iter()
            .map(|f| &f.id)
            .chain(&self.listed_only)
            .filter(|id| glob_match(pattern, &id.to_string()))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn tracepoint_format(&self, id: &TracepointId) -> Result<TracepointFormat, KernelError> {
        if let Some(f) = self.formats.iter().find(|f| &f.id == id) {
            return Ok(f.clone());
        }
        if self.listed_only.contains(id) {
            return Err(KernelError::NotInFixture {
                category: id.category.clone(),
                name: id.name.clone(),
            });
        }
        Err(KernelError::UnknownTracepoint {
            category: id.category.clone(),
            name: id.name.clone(),
        })
    }

    fn btf(&self) -> Result<&Btf, KernelError> {
        self.btf
            .as_deref()
            .ok_or_else(|| KernelError::NoBtf("the fixture kernel has no BTF".to_string()))
    }
}
