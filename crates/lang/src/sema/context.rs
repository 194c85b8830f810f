//! Builtins whose meaning depends on the probe type (`arg0`, `retval`, `func`, ...).

use crate::ir;
use crate::span::Span;

use super::{Checked, Checker, ProbeScope};

impl Checker<'_> {
    /// Check a probe-dependent builtin; `None` when `name` is not one.
    pub(super) fn context_builtin(
        &mut self,
        _name: &str,
        _span: Span,
        _scope: &mut ProbeScope,
    ) -> Option<Checked<ir::Expr>> {
        None
    }
}
