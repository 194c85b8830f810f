//! A fuzzer for kestrel's compiler that runs on stable Rust (cargo-fuzz needs nightly).
//!
//! Targets ([`targets::Target`]): the lexer+parser, semantic analysis, the isa decoder,
//! the whole pipeline from script to instructions, the L7 parsers ([`l7`]) and Falco-format
//! rules files ([`guard`]). Inputs are seeds from the conformance
//! suite and saved regressions ([`seeds`]), their mutations ([`mutate`]) and scripts built
//! from the grammar ([`generate`]). The properties: no panic, no hang (a per-input time
//! budget), coded diagnostics with in-bounds spans, and generated code that passes
//! [`kestrel_codegen::check`].
//!
//! ```text
//! cargo run -p kestrel-fuzz -- --seconds 60            # every target, 60 s each
//! cargo run -p kestrel-fuzz -- --target compile --seed 7 --runs 5000
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod generate;
pub mod guard;
pub mod l7;
pub mod mutate;
pub mod rng;
pub mod runner;
pub mod seeds;
pub mod targets;
