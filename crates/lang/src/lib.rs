//! The kestrel language front end: lexer, parser, AST, diagnostics, semantic analysis and the
//! typed IR handed to codegen.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Actions (print, clear, time, system, ...) are part of the IR; the old path still works.
pub use ir::actions;
pub mod ast;
pub mod config;
pub mod ctypes;
pub mod desugar;
pub mod diag;
pub mod ir;
pub mod lexer;
pub mod macros;
pub mod parser;
pub mod perf_events;
pub mod preproc;
pub mod probe_ctx;
pub mod sema;
pub mod span;
pub mod types;

pub use diag::Diagnostic;
pub use parser::{parse, parse_with};
pub use sema::{analyze, analyze_with, Analysis, Options};
pub use span::Span;
pub use types::{StackMode, Type};
