//! Statement-level functions carried out by userspace (see [`crate::actions`]).

use crate::ast;
use crate::ir;
use crate::span::Span;

use super::{Checked, Checker, ProbeScope};

impl Checker<'_> {
    /// Check a userspace action call such as `print(@m)`; `None` when `name` is not one.
    pub(super) fn action(
        &mut self,
        _name: &ast::Ident,
        _args: &[ast::Expr],
        _span: Span,
        _scope: &mut ProbeScope,
    ) -> Option<Checked<ir::StmtKind>> {
        None
    }
}
