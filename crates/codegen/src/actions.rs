//! Code for userspace actions ([`Action`]): an event record asking userspace to act.

use kestrel_lang::actions::Action;

use crate::probe::ProbeCompiler;
use crate::CodegenError;

impl ProbeCompiler<'_> {
    /// Emit the event for one action call.
    pub fn action(&mut self, a: &Action) -> Result<(), CodegenError> {
        match *a {}
    }
}
