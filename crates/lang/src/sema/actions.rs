//! Statement-level functions carried out by userspace (see [`crate::actions`]), plus the two
//! the kernel carries out itself (`signal`, `debugf`) and the `strftime()` expression.

use crate::ast::{self, ExprKind as A};
use crate::diag::{codes, Diagnostic};
use crate::ir::actions::{Action, ActionDecl, ActionKind};
use crate::ir::{self, Attach, StmtKind};
use crate::span::Span;
use crate::types::Type;

use super::{Checked, Checker, ProbeScope};

/// Signal names `signal()` accepts, with their numbers on Linux.
const SIGNALS: &[(&str, i64)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// The number of signal `name` (`"KILL"`, `"SIGKILL"`, case-sensitive as in bpftrace).
pub(crate) fn signal_number(name: &str) -> Option<i64> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().find(|(n, _)| *n == bare).map(|(_, v)| *v)
}

impl Checker<'_> {
    /// Check a userspace action call such as `print(@m)`; `None` when `name` is not one.
    pub(super) fn action(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Option<Checked<ir::StmtKind>> {
        let checked = match name.name.as_str() {
            "print" => self.print(args, span, scope),
            "clear" | "zero" => self.clear_or_zero(&name.name, args, span),
            "time" => self.time(args, span),
            "cat" | "system" => self.cat_or_system(&name.name, args, span, scope),
            "join" => self.join(args, span, scope),
            "signal" => self.signal(args, span, scope),
            "override" => self.override_call(span),
            "debugf" => self.debugf(args, span, scope),
            _ => return None,
        };
        Some(checked)
    }

    fn push_action(&mut self, kind: ActionKind, args: Vec<ir::Expr>) -> StmtKind {
        let id = self.actions.len();
        self.actions.push(ActionDecl {
            kind,
            args: args.iter().map(|a| a.ty).collect(),
        });
        StmtKind::Action(Action::Event { id, args })
    }

    /// `@name` written without keys, as the whole-map argument of print/clear/zero; `None`
    /// (after reporting) when it is not one.
    fn whole_map(&mut self, func: &str, arg: &ast::Expr) -> Checked<Option<usize>> {
        let A::Map(map) = &arg.kind else {
            return Err(self.error(
                Diagnostic::error(format!("{func}() expects a map such as @name"), arg.span)
                    .with_code(codes::BAD_ARGUMENTS)
                    .with_label("this is not a map"),
            ));
        };
        if !map.keys.is_empty() {
            return Err(self.error(
                Diagnostic::error(
                    format!("{func}() takes a whole map, not one element"),
                    map.span,
                )
                .with_code(codes::BAD_ARGUMENTS)
                .with_hint(format!("write {func}(@{})", map.name)),
            ));
        }
        match self.map_index.get(&map.name) {
            Some(&id) => Ok(Some(id)),
            None if self.learning => Ok(None),
            None => Err(self.error(
                Diagnostic::error(format!("undefined map '@{}'", map.name), map.span)
                    .with_code(codes::UNDEFINED_MAP)
                    .with_label("this map is never assigned"),
            )),
        }
    }

    fn print(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<StmtKind> {
        let Some(first) = args.first() else {
            return Err(self.error(Diagnostic::error(
                "print() takes a map (print(@m), print(@m, top), print(@m, top, div)) or a value",
                span,
            )
.with_code(codes::BAD_ARGUMENTS)));
        };
        // A whole map: `@m` where @m has keys, or a map without keys.
        let whole = matches!(&first.kind, A::Map(m) if m.keys.is_empty());
        if whole {
            if args.len() > 3 {
                return Err(self.error(
                    Diagnostic::error(
                        "print() takes a map and at most two numbers (top, div)",
                        span,
                    )
                    .with_code(codes::BAD_ARGUMENTS),
                ));
            }
            let mut nums = [0u64; 2];
            for (slot, a) in nums.iter_mut().zip(&args[1..]) {
                let v = self.const_int(a, scope)?;
                if v < 0 {
                    return Err(self.error(
                        Diagnostic::error("print()'s top and div must not be negative", a.span)
                            .with_code(codes::OUT_OF_RANGE),
                    ));
                }
                *slot = v as u64;
            }
            let Some(map) = self.whole_map("print", first)? else {
                return Ok(StmtKind::Return);
            };
            let [top, div] = nums;
            return Ok(self.push_action(ActionKind::PrintMap { map, top, div }, Vec::new()));
        }
        if args.len() != 1 {
            return Err(self.error(
                Diagnostic::error(
                    "print() of a value takes one argument; top and div apply to whole maps",
                    span,
                )
                .with_code(codes::BAD_ARGUMENTS),
            ));
        }
        let value = self.expr(first, scope)?;
        if value.ty == Type::Void {
            return Err(self.error(
                Diagnostic::error("this expression has no value to print", first.span)
                    .with_code(codes::NO_VALUE),
            ));
        }
        Ok(self.push_action(ActionKind::PrintValue, vec![value]))
    }

    fn clear_or_zero(&mut self, func: &str, args: &[ast::Expr], span: Span) -> Checked<StmtKind> {
        let [arg] = args else {
            return Err(self.error(
                Diagnostic::error(format!("{func}() takes one map, e.g. {func}(@m)"), span)
                    .with_code(codes::BAD_ARGUMENTS),
            ));
        };
        let Some(map) = self.whole_map(func, arg)? else {
            return Ok(StmtKind::Return);
        };
        let kind = if func == "clear" {
            ActionKind::ClearMap { map }
        } else {
            ActionKind::ZeroMap { map }
        };
        Ok(self.push_action(kind, Vec::new()))
    }

    fn time(&mut self, args: &[ast::Expr], span: Span) -> Checked<StmtKind> {
        let format = match args {
            [] => "%H:%M:%S\n".to_string(),
            [a] => match &a.kind {
                A::Str(s) => s.clone(),
                _ => {
                    return Err(self.error(
                        Diagnostic::error("time()'s format must be a string literal", a.span)
                            .with_code(codes::NOT_CONSTANT),
                    ))
                }
            },
            _ => {
                return Err(self.error(
                    Diagnostic::error(
                        "time() takes at most one argument, a strftime(3) format",
                        span,
                    )
                    .with_code(codes::BAD_ARGUMENTS),
                ))
            }
        };
        Ok(self.push_action(ActionKind::Time { format }, Vec::new()))
    }

    fn cat_or_system(
        &mut self,
        func: &str,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<StmtKind> {
        if func == "system" && !self.options.unsafe_allowed {
            return Err(self.unsafe_error("system", span));
        }
        let (format, lowered) = self.format_call(func, args, span, scope)?;
        let kind = if func == "cat" {
            ActionKind::Cat { format }
        } else {
            ActionKind::System { format }
        };
        Ok(self.push_action(kind, lowered))
    }

    fn unsafe_error(&mut self, func: &str, span: Span) -> super::Reported {
        self.error(
            Diagnostic::error(
                format!("{func}() is an unsafe function being used in safe mode"),
                span,
            )
            .with_code(codes::UNSAFE_FUNCTION)
            .with_hint("run kestrel with --unsafe to allow it"),
        )
    }

    fn join(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<StmtKind> {
        if args.is_empty() || args.len() > 2 {
            return Err(self.error(Diagnostic::error(
                "join() takes an array of strings (such as args->argv) and an optional separator",
                span,
            )
.with_code(codes::BAD_ARGUMENTS)));
        }
        let ptr = self.expr(&args[0], scope)?;
        let ptr = self.expect_int(ptr, "join()'s first argument")?;
        let sep = match args.get(1) {
            None => " ".to_string(),
            Some(a) => match &a.kind {
                A::Str(s) => s.clone(),
                _ => {
                    return Err(self.error(
                        Diagnostic::error("join()'s separator must be a string literal", a.span)
                            .with_code(codes::NOT_CONSTANT),
                    ))
                }
            },
        };
        // Each string keeps at most BPFTRACE_STRLEN bytes, as in bpftrace; capped so the
        // record stays small enough for the per-CPU scratch buffer.
        let str_len = self.options.str_len.min(128);
        let id = self.actions.len();
        self.actions.push(ActionDecl {
            kind: ActionKind::Join { sep, str_len },
            args: Vec::new(),
        });
        Ok(StmtKind::Action(Action::Join { id, ptr }))
    }

    fn signal(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<StmtKind> {
        if !self.options.unsafe_allowed {
            return Err(self.unsafe_error("signal", span));
        }
        if matches!(scope.attach, Attach::Begin | Attach::End) {
            let which = if scope.attach == Attach::Begin {
                "BEGIN"
            } else {
                "END"
            };
            return Err(self.error(
                Diagnostic::error(format!("signal() cannot be used in {which} probes"), span)
                    .with_code(codes::NOT_IN_THIS_PROBE)
                    .with_note("it signals the process that made the probe fire"),
            ));
        }
        let [arg] = args else {
            return Err(self.error(
                Diagnostic::error(
                    "signal() takes one signal, e.g. signal(\"KILL\") or signal(9)",
                    span,
                )
                .with_code(codes::BAD_ARGUMENTS),
            ));
        };
        let sig =
            match &arg.kind {
                A::Str(name) => match signal_number(name) {
                    Some(n) => ir::Expr {
                        kind: ir::ExprKind::Int(n),
                        ty: Type::I64,
                        span: arg.span,
                    },
                    None => return Err(self.error(
                        Diagnostic::error(format!("unknown signal '{name}'"), arg.span)
                            .with_code(codes::BAD_ARGUMENTS)
                            .with_hint(
                                "use a name such as \"KILL\", \"TERM\" or \"USR1\", or a number",
                            ),
                    )),
                },
                _ => {
                    let e = self.expr(arg, scope)?;
                    let e = self.expect_int(e, "signal()'s argument")?;
                    if let ir::ExprKind::Int(n) = e.kind {
                        if !(1..=64).contains(&n) {
                            return Err(self.error(
                                Diagnostic::error(
                                    format!("{n} is not a valid signal number (1 to 64)"),
                                    arg.span,
                                )
                                .with_code(codes::OUT_OF_RANGE),
                            ));
                        }
                    }
                    e
                }
            };
        Ok(StmtKind::Action(Action::Signal { sig }))
    }

    fn override_call(&mut self, span: Span) -> Checked<StmtKind> {
        if !self.options.unsafe_allowed {
            return Err(self.unsafe_error("override", span));
        }
        Err(self.error(
            Diagnostic::error("override() can only be used in kprobe probes", span)
.with_code(codes::NOT_IN_THIS_PROBE).with_note(
                "kprobes are not available on this kernel (CONFIG_KPROBES is off), so kestrel cannot override return values here",
            ),
        ))
    }

    fn debugf(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<StmtKind> {
        let (format, lowered) = self.format_call("debugf", args, span, scope)?;
        if lowered.len() > 3 {
            return Err(self.error(Diagnostic::error(
                "debugf() takes at most 3 arguments after the format (a limit of bpf_trace_printk)",
                span,
            )
.with_code(codes::BAD_ARGUMENTS)));
        }
        if let Some(a) = lowered.iter().find(|a| !a.ty.is_int()) {
            let at = a.span;
            return Err(self.error(
                Diagnostic::error(
                    "debugf() prints integers only (bpf_trace_printk cannot print kestrel strings)",
                    at,
                )
                .with_code(codes::BAD_ARGUMENTS),
            ));
        }
        self.warnings.push(
            Diagnostic::warning(
                "debugf() is not recommended for production use; its output goes to /sys/kernel/tracing/trace_pipe",
                span,
            )
            .with_code(codes::DEBUGF)
            .with_note("see bpf_trace_printk in bpf-helpers(7)"),
        );
        Ok(StmtKind::Action(Action::Debugf {
            format,
            args: lowered,
        }))
    }

    /// `len(@map)`: the number of elements of a map.
    pub(super) fn map_len(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let [arg] = args else {
            return Err(self.error(
                Diagnostic::error("len() takes one map, e.g. len(@m)", span)
                    .with_code(codes::BAD_ARGUMENTS),
            ));
        };
        if matches!(arg.kind, A::Builtin(ref b) if b == "ustack" || b == "kstack") {
            return Err(self.error(
                Diagnostic::error("len() of a stack is not supported by kestrel yet", arg.span)
                    .with_code(codes::NOT_SUPPORTED),
            ));
        }
        if scope.in_for_body {
            return Err(self.error(
                Diagnostic::error("len() cannot be used inside a for loop over a map", span)
                    .with_code(codes::NOT_IN_CALLBACK),
            ));
        }
        let zero = ir::Expr {
            kind: ir::ExprKind::Int(0),
            ty: Type::I64,
            span,
        };
        let Some(map) = self.whole_map("len", arg)? else {
            return Ok(zero);
        };
        Ok(ir::Expr {
            kind: ir::ExprKind::MapLen { map },
            ty: Type::I64,
            span,
        })
    }

    /// `strftime(fmt, nsecs)`: a timestamp userspace formats when it prints it.
    pub(super) fn strftime(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let [fmt, ns] = args else {
            return Err(self.error(
                Diagnostic::error(
                    "strftime() takes a format and a time in nanoseconds since boot (nsecs)",
                    span,
                )
                .with_code(codes::BAD_ARGUMENTS),
            ));
        };
        let A::Str(format) = &fmt.kind else {
            return Err(self.error(
                Diagnostic::error("strftime()'s format must be a string literal", fmt.span)
                    .with_code(codes::NOT_CONSTANT),
            ));
        };
        let value = self.expr(ns, scope)?;
        let value = self.expect_int(value, "strftime()'s time")?;
        let id = match self.strftimes.iter().position(|f| f == format) {
            Some(i) => i,
            None => {
                self.strftimes.push(format.clone());
                self.strftimes.len() - 1
            }
        };
        Ok(ir::Expr {
            kind: ir::ExprKind::Cast {
                expr: Box::new(value),
            },
            ty: Type::Timestamp { id: id as u32 },
            span,
        })
    }
}
