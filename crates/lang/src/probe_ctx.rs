//! Values read from a probe's context: arguments, return values, registers, the probe's own
//! name. Which ones a probe offers depends on its type (see `sema::context`).

/// A value read from the probe context.
#[derive(Clone, Debug, PartialEq)]
pub enum ContextValue {}
