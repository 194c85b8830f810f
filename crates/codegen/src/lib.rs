//! Code generation: typed IR → eBPF instructions, map specs and format tables ([`ObjectSpec`]),
//! and the ELF relocatable writer that turns an object into bytes loaders understand.
//!
//! Codegen does no I/O and makes no syscalls; the runtime loads what it produces.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod elf;
pub mod object;

pub use object::*;
