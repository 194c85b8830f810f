//! Stacks and symbols: `kstack`, `ustack` (with optional mode and depth), `ksym(addr)`,
//! `usym(addr)`, `kaddr("symbol")` and `uaddr("symbol")`.

use crate::ast::{self, ExprKind as A};
use crate::diag::codes;
use crate::diag::Diagnostic;
use crate::ir::{self, ExprKind as K};
use crate::span::Span;
use crate::types::{StackMode, Type};

use super::{Checked, Checker, ProbeScope};

/// Frames kept when a script gives no depth (the kernel's default `perf_event_max_stack`).
pub(crate) const DEFAULT_STACK_DEPTH: u8 = 127;

impl Checker<'_> {
    /// `kstack` / `ustack` written without parentheses; `None` for other names.
    pub(super) fn stack_builtin(
        &mut self,
        name: &str,
        span: Span,
        scope: &ProbeScope,
    ) -> Option<Checked<ir::Expr>> {
        let user = match name {
            "kstack" => false,
            "ustack" => true,
            _ => return None,
        };
        Some(self.stack(user, StackMode::Bpftrace, DEFAULT_STACK_DEPTH, span, scope))
    }

    /// The stack and symbol functions; `None` when `name` is none of them.
    pub(super) fn stack_call(
        &mut self,
        name: &str,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Option<Checked<ir::Expr>> {
        Some(match name {
            "kstack" | "ustack" => self.stack_with_args(name == "ustack", args, span, scope),
            "ksym" | "usym" => self.symbol_of(name == "usym", args, span, scope),
            "kaddr" => self.kaddr(args, span),
            "uaddr" => self.uaddr_call(args, span, scope),
            _ => return None,
        })
    }

    fn stack_with_args(
        &mut self,
        user: bool,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let fname = if user { "ustack" } else { "kstack" };
        let usage = || {
            format!("{fname}() takes an optional mode (bpftrace, perf, raw) then an optional depth, e.g. {fname}(perf, 8)")
        };
        if args.len() > 2 {
            return Err(
                self.error(Diagnostic::error(usage(), span).with_code(codes::BAD_ARGUMENTS))
            );
        }
        let mut mode = StackMode::Bpftrace;
        let mut depth = DEFAULT_STACK_DEPTH;
        let mut rest = args;
        if let Some(first) = args.first() {
            let mode_name = match &first.kind {
                A::Builtin(n) => Some(n.as_str()),
                _ => None,
            };
            if let Some(n) = mode_name {
                mode = match n {
                    "bpftrace" => StackMode::Bpftrace,
                    "perf" => StackMode::Perf,
                    "raw" => StackMode::Raw,
                    other => {
                        return Err(self.error(
                            Diagnostic::error(format!("unknown stack mode '{other}'"), first.span)
                                .with_code(codes::BAD_ARGUMENTS)
                                .with_hint("the modes are bpftrace, perf and raw"),
                        ))
                    }
                };
                rest = &args[1..];
            }
        }
        if let Some(d) = rest.first() {
            let n = self.const_int(d, scope)?;
            depth = match u8::try_from(n) {
                Ok(v) if (1..=DEFAULT_STACK_DEPTH).contains(&v) => v,
                _ => {
                    return Err(self.error(
                        Diagnostic::error(
                            format!("a stack depth must be between 1 and {DEFAULT_STACK_DEPTH}"),
                            d.span,
                        )
                        .with_code(codes::OUT_OF_RANGE)
                        .with_hint("the kernel keeps at most perf_event_max_stack (127) frames"),
                    ))
                }
            };
        }
        self.stack(user, mode, depth, span, scope)
    }

    fn stack(
        &mut self,
        user: bool,
        mode: StackMode,
        depth: u8,
        span: Span,
        scope: &ProbeScope,
    ) -> Checked<ir::Expr> {
        if scope.in_for_body {
            return Err(self.error(
                Diagnostic::error(
                    format!(
                        "{} cannot be used inside a for loop over a map",
                        if user { "ustack" } else { "kstack" }
                    ),
                    span,
                )
                .with_code(codes::NOT_IN_CALLBACK)
                .with_hint("take the stack before the loop: $s = kstack; (or use it as a map key)"),
            ));
        }
        let ty = if user {
            Type::UStack { depth, mode }
        } else {
            Type::KStack { depth, mode }
        };
        Ok(ir::Expr {
            kind: K::Stack,
            ty,
            span,
        })
    }

    fn symbol_of(
        &mut self,
        user: bool,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let fname = if user { "usym" } else { "ksym" };
        let [arg] = args else {
            return Err(self.error(
                Diagnostic::error(format!("{fname}() takes one address"), span)
                    .with_code(codes::BAD_ARGUMENTS),
            ));
        };
        let addr = self.expr(arg, scope)?;
        let addr = Box::new(self.expect_int(addr, &format!("the argument of {fname}()"))?);
        let (kind, ty) = if user {
            (K::Usym { addr }, Type::Usym)
        } else {
            (K::Ksym { addr }, Type::Ksym)
        };
        Ok(ir::Expr { kind, ty, span })
    }

    fn kaddr(&mut self, args: &[ast::Expr], span: Span) -> Checked<ir::Expr> {
        let [ast::Expr {
            kind: A::Str(name),
            span: name_span,
            ..
        }] = args
        else {
            return Err(self.error(
                Diagnostic::error(
                    "kaddr() takes one symbol name as a string literal, e.g. kaddr(\"jiffies\")",
                    span,
                )
                .with_code(codes::NOT_CONSTANT),
            ));
        };
        match self.kernel.kernel_symbol(name) {
            Ok(Some(addr)) => Ok(ir::Expr {
                kind: K::Int(addr as i64),
                ty: Type::U64,
                span,
            }),
            Ok(None) => Err(self.error(
                Diagnostic::error(format!("unknown kernel symbol '{name}'"), *name_span)
                    .with_code(codes::UNKNOWN_SYMBOL)
                    .with_hint("kernel symbols are listed in /proc/kallsyms"),
            )),
            Err(e) => Err(self.error(
                Diagnostic::error(format!("kaddr(): {e}"), *name_span)
                    .with_code(codes::KERNEL_INFO),
            )),
        }
    }
}
