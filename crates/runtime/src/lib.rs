//! kestrel-runtime: turns a compiled [`ObjectSpec`](kestrel_obj::ObjectSpec) into running
//! eBPF and its output.
//!
//! It owns loading (specs made live through kestrel-sys: maps, callbacks linked, verifier
//! errors mapped to probes and instructions), attaching (tracepoints, timers, perf events,
//! uprobes, raw tracepoints; BEGIN/END run once with `BPF_PROG_TEST_RUN`),
//! the event ring buffer, reading maps, signals, and output formatting ([`output`]).
//! It knows nothing of syntax: spans and source text are the CLI's business.
//!
//! ```no_run
//! use kestrel_runtime::{Flow, LoadOptions, Session, StopFlag};
//! # fn run(obj: kestrel_obj::ObjectSpec) -> Result<(), kestrel_runtime::RuntimeError> {
//! let stop = StopFlag::install()?;
//! let mut out = std::io::stdout();
//! let mut s = Session::load(obj, &LoadOptions::default())?;
//! println!("Attaching {} probes...", s.attach()?);
//! if s.run_begin(&mut out)? == Flow::Continue {
//!     s.poll(&mut out, &stop)?;
//! }
//! s.run_end(&mut out)?;
//! s.print_maps(&mut out)?;
//! # Ok(()) }
//! ```
//!
//! It has no `unsafe`: every call on kernel objects goes through kestrel-sys.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod actions;
mod attach;
mod denial;
mod error;
mod events;
mod features;
mod loader;
mod maps;
mod perm;
mod session;
mod stop;
mod symbols;
pub mod verifier;

pub mod output;

pub use error::RuntimeError;
pub use features::fentry_available;
pub use loader::{LoadOptions, OutputFormat};
pub use perm::check_privileges;
pub use session::{ExitReason, Flow, ProgramStats, Session};
pub use stop::StopFlag;
