//! Reading probe-context values ([`ContextValue`]) in generated code.

use kestrel_isa::Reg;
use kestrel_lang::probe_ctx::ContextValue;

use crate::probe::{Dest, ProbeCompiler};
use crate::CodegenError;

impl ProbeCompiler<'_> {
    /// Evaluate an integer context value into a fresh pool register.
    pub fn context_int(&mut self, c: &ContextValue) -> Result<Reg, CodegenError> {
        match *c {}
    }

    /// Write a string context value into `d`.
    pub fn context_string(&mut self, c: &ContextValue, _d: Dest) -> Result<(), CodegenError> {
        match *c {}
    }
}
