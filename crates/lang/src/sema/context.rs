//! Builtins whose meaning depends on the probe type (`arg0`, `retval`, `func`, `probe`,
//! `sarg0`, `usermode`) and the functions that read the context (`reg("ip")`,
//! `uaddr("sym")`).
//!
//! Where the values live: uprobes, kprobes and perf events get the x86-64 `struct pt_regs`
//! as their context (arguments in di si dx cx r8 r9, the return value in ax); raw
//! tracepoints and kfuncs get an array of u64 arguments.

use crate::ast;
use crate::diag::{codes, did_you_mean, Diagnostic};
use crate::ir::{self, Attach, ExprKind as K, UsdtArg};
use crate::probe_ctx::ContextValue;
use crate::span::Span;
use crate::types::Type;

use super::{Checked, Checker, ProbeScope};

/// Byte offsets of the x86-64 `struct pt_regs` registers, by the names `reg()` accepts.
const PT_REGS: &[(&str, u16)] = &[
    ("r15", 0),
    ("r14", 8),
    ("r13", 16),
    ("r12", 24),
    ("bp", 32),
    ("bx", 40),
    ("r11", 48),
    ("r10", 56),
    ("r9", 64),
    ("r8", 72),
    ("ax", 80),
    ("cx", 88),
    ("dx", 96),
    ("si", 104),
    ("di", 112),
    ("orig_ax", 120),
    ("ip", 128),
    ("cs", 136),
    ("flags", 144),
    ("sp", 152),
    ("ss", 160),
];

/// The System V x86-64 integer argument registers, in order: di si dx cx r8 r9.
const ARG_REGS: [u16; 6] = [112, 104, 96, 88, 72, 64];
const AX: u16 = 80;
const CS: u16 = 136;
const SP: u16 = 152;
/// Raw tracepoints and kfuncs: at most this many u64 arguments in the context.
const MAX_ARRAY_ARGS: u32 = 12;

/// How a probe's context is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `struct pt_regs` (uprobe, kprobe, perf event).
    Regs,
    /// An array of u64 arguments (raw tracepoint, kfunc).
    Array,
    /// No readable arguments (BEGIN, END, interval, tracepoint).
    None,
}

fn layout(a: &Attach) -> Layout {
    match a {
        Attach::Uprobe(_) | Attach::Perf(_) => Layout::Regs,
        Attach::Kernel(k) if k.provider.starts_with('k') && k.provider.ends_with("probe") => {
            Layout::Regs
        }
        Attach::Kernel(_) | Attach::RawTracepoint { .. } => Layout::Array,
        _ => Layout::None,
    }
}

/// True for probes that fire on a function's return.
fn on_return(a: &Attach) -> bool {
    match a {
        Attach::Uprobe(u) => u.ret,
        Attach::Kernel(k) => k.provider.starts_with("kret"),
        _ => false,
    }
}

fn word(offset: u16, span: Span) -> ir::Expr {
    ir::Expr {
        kind: K::Context(ContextValue::Word { offset }),
        ty: Type::U64,
        span,
    }
}

fn string(s: String, span: Span) -> ir::Expr {
    let len = s.len() as u32 + 1;
    ir::Expr {
        kind: K::Str(s),
        ty: Type::Str { len },
        span,
    }
}

/// The numeric suffix of `name` after `prefix` (`arg12` → 12).
fn numbered(name: &str, prefix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Checker<'_> {
    /// Check a probe-dependent builtin; `None` when `name` is not one.
    pub(super) fn context_builtin(
        &mut self,
        name: &str,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Option<Checked<ir::Expr>> {
        let attach = &scope.attach;
        let here = || format!("this probe is {}", attach.describe());
        let unavailable = |what: &str, where_: &str| {
            Diagnostic::error(format!("{what} is not available in this probe"), span)
                .with_code(codes::CONTEXT_UNAVAILABLE)
                .with_note(here())
                .with_hint(format!("{what} exists in {where_}"))
        };
        let result = if let Some(n) = numbered(name, "arg") {
            match layout(attach) {
                _ if on_return(attach) => Err(unavailable(
                    name,
                    "entry probes (uprobe, kprobe, kfunc); read retval on return",
                )),
                _ if matches!(attach, Attach::Uprobe(u) if u.provider == "usdt") => {
                    usdt_arg(attach, n, name, span)
                }
                Layout::Regs if matches!(attach, Attach::Perf(_)) => Err(unavailable(
                    name,
                    "uprobe, kprobe, usdt, kfunc and raw tracepoint probes",
                )),
                Layout::Regs => match ARG_REGS.get(n as usize) {
                    Some(&off) => Ok(word(off, span)),
                    None => Err(Diagnostic::error(
                        format!("{name}: only arg0..arg5 are passed in registers"),
                        span,
                    )
.with_code(codes::OUT_OF_RANGE)
                    .with_hint(format!(
                        "read stack arguments with sarg0, sarg1, ... ({name} is sarg{})",
                        n - 6
                    ))),
                },
                Layout::Array if n < MAX_ARRAY_ARGS => Ok(word((n * 8) as u16, span)),
                Layout::Array => Err(Diagnostic::error(
                    format!("{name}: at most {MAX_ARRAY_ARGS} arguments can be read"),
                    span,
                )
.with_code(codes::OUT_OF_RANGE)),
                Layout::None => Err(unavailable(
                    name,
                    "uprobe, kprobe, usdt, kfunc and raw tracepoint probes (tracepoints use args->FIELD)",
                )),
            }
        } else if let Some(n) = numbered(name, "sarg") {
            match attach {
                Attach::Uprobe(u) if !u.ret && u.provider != "usdt" => Ok(ir::Expr {
                    kind: K::Context(ContextValue::UserMem {
                        base: SP,
                        // The return address is at sp; stack arguments follow it.
                        disp: 8 * (n as i32 + 1),
                        size: 8,
                        signed: false,
                    }),
                    ty: Type::U64,
                    span,
                }),
                _ => Err(unavailable(name, "uprobe probes")),
            }
        } else {
            match name {
                "retval" => match attach {
                    _ if on_return(attach) && layout(attach) == Layout::Regs => Ok(word(AX, span)),
                    Attach::Kernel(_) if on_return(attach) => Err(Diagnostic::error(
                        "retval of kretfunc probes is not supported by kestrel yet",
                        span,
                    )
                    .with_code(codes::NOT_SUPPORTED)),
                    _ => Err(unavailable(
                        "retval",
                        "return probes (uretprobe, kretprobe)",
                    )),
                },
                "func" => match attach {
                    Attach::Uprobe(u) if u.provider != "usdt" => Ok(string(u.func.clone(), span)),
                    Attach::Kernel(k) => Ok(string(k.func.clone(), span)),
                    _ => Err(unavailable(
                        "func",
                        "uprobe, uretprobe, kprobe, kretprobe, kfunc and kretfunc probes",
                    )),
                },
                "probe" => Ok(string(probe_name(attach), span)),
                "usermode" => match layout(attach) {
                    Layout::Regs => Ok(usermode(span)),
                    _ => Err(unavailable(
                        "usermode",
                        "probes with registers (uprobe, kprobe, profile, software, hardware)",
                    )),
                },
                _ => return None,
            }
        };
        Some(result.map_err(|d| self.error(d)))
    }

    /// The single string-literal argument of a call like `reg("ip")`: the argument and its
    /// text, or `usage` (wrong count, E-BAD_ARGUMENTS) / `not_literal` (NOT_CONSTANT) as errors.
    fn one_string_literal<'e>(
        &mut self,
        args: &'e [ast::Expr],
        span: Span,
        usage: &str,
        not_literal: &str,
    ) -> Checked<(&'e ast::Expr, &'e str)> {
        let [arg] = args else {
            return Err(self.error(Diagnostic::error(usage, span).with_code(codes::BAD_ARGUMENTS)));
        };
        let ast::ExprKind::Str(name) = &arg.kind else {
            return Err(
                self.error(Diagnostic::error(not_literal, arg.span).with_code(codes::NOT_CONSTANT))
            );
        };
        Ok((arg, name))
    }

    /// `reg("ip")`, `reg("sp")`, ...: a register of the probed code (probes with `pt_regs`).
    pub(super) fn reg_call(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let (arg, name) = self.one_string_literal(
            args,
            span,
            "reg() takes one register name, e.g. reg(\"ip\")",
            "reg() needs a string literal naming the register",
        )?;
        if layout(&scope.attach) != Layout::Regs {
            return Err(self.error(
                Diagnostic::error("reg() is not available in this probe", span)
                    .with_code(codes::CONTEXT_UNAVAILABLE)
                    .with_note(format!("this probe is {}", scope.attach.describe()))
                    .with_hint(
                        "registers exist in uprobe, kprobe, profile, software and hardware probes",
                    ),
            ));
        }
        if scope.in_for_body {
            return Err(self.error(
                Diagnostic::error("reg() cannot be read inside a for loop over a map", span)
                    .with_code(codes::CONTEXT_UNAVAILABLE),
            ));
        }
        let Some(&(_, offset)) = PT_REGS.iter().find(|(n, _)| *n == name) else {
            let mut d = Diagnostic::error(format!("unknown register '{name}'"), arg.span)
                .with_code(codes::BAD_ARGUMENTS);
            d = match did_you_mean(name, PT_REGS.iter().map(|(n, _)| *n)) {
                Some(s) => d.with_hint(format!("did you mean \"{s}\"?")),
                None => d.with_note(format!(
                    "registers: {}",
                    PT_REGS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            return Err(self.error(d));
        };
        Ok(word(offset, span))
    }

    /// `uaddr("sym")`: the address of a symbol of the uprobe's own binary (a constant).
    pub(super) fn uaddr_call(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let (arg, name) = self.one_string_literal(
            args,
            span,
            "uaddr() takes one symbol name",
            "uaddr() needs a string literal naming the symbol",
        )?;
        let Attach::Uprobe(u) = &scope.attach else {
            return Err(self.error(
                Diagnostic::error("uaddr() is available in uprobe and usdt probes", span)
                    .with_code(codes::CONTEXT_UNAVAILABLE)
                    .with_note(format!("this probe is {}", scope.attach.describe())),
            ));
        };
        let path = std::path::Path::new(&u.path);
        let found = self
            .kernel
            .user_symbols(path)
            .ok()
            .and_then(|syms| syms.into_iter().find(|s| s.name == name));
        match found {
            Some(s) => Ok(ir::Expr {
                kind: K::Int(s.address as i64),
                ty: Type::U64,
                span,
            }),
            None => Err(self.error(
                Diagnostic::error(format!("{} has no symbol '{name}'", u.path), arg.span)
                    .with_code(codes::UNKNOWN_USER_SYMBOL),
            )),
        }
    }
}

/// `argN` of a usdt probe, from the note's argument specs.
fn usdt_arg(attach: &Attach, n: u32, name: &str, span: Span) -> Result<ir::Expr, Diagnostic> {
    let Attach::Uprobe(u) = attach else {
        return Err(
            Diagnostic::error("not a usdt probe", span).with_code(codes::CONTEXT_UNAVAILABLE)
        );
    };
    let Some(arg) = u.usdt_args.get(n as usize) else {
        return Err(Diagnostic::error(
            format!(
                "{name}: usdt probe {} has {} arguments",
                u.func,
                u.usdt_args.len()
            ),
            span,
        )
        .with_code(codes::OUT_OF_RANGE));
    };
    let int_type = |size: u8, signed: bool| Type::Int { size, signed };
    Ok(match arg {
        UsdtArg::Const(v) => ir::Expr {
            kind: K::Int(*v),
            ty: Type::I64,
            span,
        },
        UsdtArg::Reg {
            offset,
            size,
            signed,
        } => {
            let w = word(*offset, span);
            if *size == 8 {
                ir::Expr {
                    ty: int_type(8, *signed),
                    ..w
                }
            } else {
                ir::Expr {
                    kind: K::Cast { expr: Box::new(w) },
                    ty: int_type(*size, *signed),
                    span,
                }
            }
        }
        UsdtArg::Mem {
            base,
            disp,
            size,
            signed,
        } => ir::Expr {
            kind: K::Context(ContextValue::UserMem {
                base: *base,
                disp: *disp,
                size: *size,
                signed: *signed,
            }),
            ty: int_type(*size, *signed),
            span,
        },
        UsdtArg::Unsupported(spec) => {
            return Err(Diagnostic::error(
                format!("{name}: kestrel cannot read usdt argument '{spec}'"),
                span,
            )
            .with_code(codes::NOT_SUPPORTED))
        }
    })
}

/// `(cs & 3) == 3`: the probe interrupted user-space code.
fn usermode(span: Span) -> ir::Expr {
    let int = |v| ir::Expr {
        kind: K::Int(v),
        ty: Type::I64,
        span,
    };
    let masked = ir::Expr {
        kind: K::Binary {
            op: ir::BinOp::BitAnd,
            lhs: Box::new(word(CS, span)),
            rhs: Box::new(int(3)),
        },
        ty: Type::U64,
        span,
    };
    ir::Expr {
        kind: K::Binary {
            op: ir::BinOp::Eq,
            lhs: Box::new(masked),
            rhs: Box::new(int(3)),
        },
        ty: Type::U64,
        span,
    }
}

/// The probe's full name as bpftrace's `probe` builtin gives it.
pub(crate) fn probe_name(a: &Attach) -> String {
    match a {
        Attach::Interval { period_ns } if period_ns % 1_000_000_000 == 0 => {
            format!("interval:s:{}", period_ns / 1_000_000_000)
        }
        Attach::Interval { period_ns } if period_ns % 1_000_000 == 0 => {
            format!("interval:ms:{}", period_ns / 1_000_000)
        }
        Attach::Interval { period_ns } if period_ns % 1_000 == 0 => {
            format!("interval:us:{}", period_ns / 1_000)
        }
        other => other.describe(),
    }
}
