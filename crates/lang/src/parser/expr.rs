//! Expressions: Pratt parsing for binary operators, recursive descent for the rest.

use super::{PResult, Parser};
use crate::ast::{BinOp, Expr, ExprKind, Ident, MapRef, TypeName, UnOp};
use crate::diag::codes;
use crate::diag::Diagnostic;
use crate::lexer::{Keyword, Punct, Token, TokenKind};
use crate::span::Span;

/// Names that make `(name)` a cast and `sizeof(name)` a type size.
const TYPE_NAMES: &[&str] = &[
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "int", "uint",
    "char", "bool", "void",
];

/// Keywords introducing a tagged C type.
const TAGS: &[&str] = &["struct", "union", "enum"];

/// Operator and binding power (higher binds tighter), loosest `||` = 1 to tightest `* / %` = 10.
fn binary_op(kind: &TokenKind) -> Option<(BinOp, u8)> {
    let TokenKind::Punct(p) = kind else {
        return None;
    };
    Some(match p {
        Punct::OrOr => (BinOp::LogOr, 1),
        Punct::AndAnd => (BinOp::LogAnd, 2),
        Punct::Pipe => (BinOp::BitOr, 3),
        Punct::Caret => (BinOp::BitXor, 4),
        Punct::Amp => (BinOp::BitAnd, 5),
        Punct::EqEq => (BinOp::Eq, 6),
        Punct::Ne => (BinOp::Ne, 6),
        Punct::Lt => (BinOp::Lt, 7),
        Punct::Le => (BinOp::Le, 7),
        Punct::Gt => (BinOp::Gt, 7),
        Punct::Ge => (BinOp::Ge, 7),
        Punct::Shl => (BinOp::Shl, 8),
        Punct::Shr => (BinOp::Shr, 8),
        Punct::Plus => (BinOp::Add, 9),
        Punct::Minus => (BinOp::Sub, 9),
        Punct::Star => (BinOp::Mul, 10),
        Punct::Slash => (BinOp::Div, 10),
        Punct::Percent => (BinOp::Mod, 10),
        _ => return None,
    })
}

fn is_type_start(kind: &TokenKind) -> bool {
    matches!(kind, TokenKind::Ident(n) if TYPE_NAMES.contains(&n.as_str()) || TAGS.contains(&n.as_str()))
}

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl Parser<'_> {
    /// A full expression (the loosest level: `?:`).
    pub(super) fn expr(&mut self) -> PResult<Expr> {
        let cond = self.binary(1)?;
        if self.eat(Punct::Question).is_none() {
            return Ok(cond);
        }
        let then = self.expr()?;
        self.expect(Punct::Colon, "':' in 'cond ? a : b'")?;
        let otherwise = self.expr()?;
        let span = cond.span.to(otherwise.span);
        Ok(Expr {
            kind: ExprKind::Ternary {
                cond: boxed(cond),
                then: boxed(then),
                otherwise: boxed(otherwise),
            },
            span,
        })
    }

    fn binary(&mut self, min_power: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let closes_predicate =
                self.in_predicate && self.nesting == 0 && self.is_punct(Punct::Slash);
            if closes_predicate {
                return Ok(lhs);
            }
            let Some((op, power)) = binary_op(self.peek_kind()) else {
                return Ok(lhs);
            };
            if power < min_power {
                return Ok(lhs);
            }
            self.bump();
            let rhs = self.binary(power + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: boxed(lhs),
                    rhs: boxed(rhs),
                },
                span,
            };
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        let tok = self.peek().clone();
        let op = match tok.kind {
            TokenKind::Punct(Punct::Minus) => Some(UnOp::Neg),
            TokenKind::Punct(Punct::Bang) => Some(UnOp::Not),
            TokenKind::Punct(Punct::Tilde) => Some(UnOp::BitNot),
            TokenKind::Punct(Punct::Star) => Some(UnOp::Deref),
            TokenKind::Punct(Punct::Amp) => Some(UnOp::AddrOf),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let operand = self.unary()?;
            let span = tok.span.to(operand.span);
            return Ok(Expr {
                kind: ExprKind::Unary {
                    op,
                    expr: boxed(operand),
                },
                span,
            });
        }
        if let TokenKind::Punct(p @ (Punct::PlusPlus | Punct::MinusMinus)) = tok.kind {
            self.bump();
            let target = self.unary()?;
            return self.inc_dec(target, tok, p == Punct::PlusPlus, true);
        }
        if tok.kind == TokenKind::Punct(Punct::LParen) && is_type_start(&self.peek2().kind) {
            self.bump();
            self.nesting += 1;
            let ty = self.type_name();
            self.nesting = self.nesting.saturating_sub(1);
            let ty = ty?;
            if self.eat(Punct::RParen).is_none() {
                return Err(self
                    .unexpected_with("')' to end the cast", Some((tok.span, "cast starts here"))));
            }
            let operand = self.unary()?;
            let span = tok.span.to(operand.span);
            return Ok(Expr {
                kind: ExprKind::Cast {
                    ty,
                    expr: boxed(operand),
                },
                span,
            });
        }
        self.postfix()
    }

    /// Build `++x` / `x++` after checking that `x` can be changed.
    fn inc_dec(&mut self, target: Expr, op: Token, increment: bool, prefix: bool) -> PResult<Expr> {
        if !matches!(target.kind, ExprKind::Var(_) | ExprKind::Map(_)) {
            let sym = if increment { "++" } else { "--" };
            let d = Diagnostic::error(
                format!("'{sym}' needs a '$variable' or '@map' element"),
                target.span,
            )
            .with_code(codes::INVALID_ASSIGN_TARGET)
            .with_secondary(op.span, "applied here");
            return Err(self.report(d));
        }
        let span = target.span.to(op.span);
        Ok(Expr {
            kind: ExprKind::IncDec {
                target: boxed(target),
                increment,
                prefix,
            },
            span,
        })
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        loop {
            let tok = self.peek().clone();
            e = match tok.kind {
                TokenKind::Punct(Punct::LBracket) => {
                    self.bump();
                    self.nesting += 1;
                    let index = self.expr();
                    self.nesting = self.nesting.saturating_sub(1);
                    let index = index?;
                    let Some(close) = self.eat(Punct::RBracket) else {
                        return Err(self.unexpected_with("']'", Some((tok.span, "to close this"))));
                    };
                    let span = e.span.to(close.span);
                    Expr {
                        kind: ExprKind::Index {
                            expr: boxed(e),
                            index: boxed(index),
                        },
                        span,
                    }
                }
                TokenKind::Punct(p @ (Punct::Dot | Punct::Arrow)) => {
                    self.bump();
                    let field = self.field_name(p == Punct::Dot)?;
                    let span = e.span.to(field.span);
                    Expr {
                        kind: ExprKind::Field {
                            expr: boxed(e),
                            field,
                            arrow: p == Punct::Arrow,
                        },
                        span,
                    }
                }
                TokenKind::Punct(p @ (Punct::PlusPlus | Punct::MinusMinus)) => {
                    self.bump();
                    self.inc_dec(e, tok, p == Punct::PlusPlus, false)?
                }
                _ => return Ok(e),
            };
        }
    }

    /// The member after `.` or `->`; after `.` a number selects a tuple element.
    fn field_name(&mut self, allow_number: bool) -> PResult<Ident> {
        let tok = self.peek().clone();
        let name = match &tok.kind {
            TokenKind::Ident(n) => n.clone(),
            TokenKind::Keyword(k) => k.as_str().to_string(),
            TokenKind::Int(_) if allow_number => self.text(tok.span).to_string(),
            _ => return Err(self.unexpected("a field name")),
        };
        self.bump();
        Ok(Ident {
            name,
            span: tok.span,
        })
    }

    fn primary(&mut self) -> PResult<Expr> {
        let tok = self.peek().clone();
        let leaf = |kind| {
            Ok(Expr {
                kind,
                span: tok.span,
            })
        };
        match tok.kind {
            TokenKind::Int(v) => {
                self.bump();
                leaf(ExprKind::Int(v))
            }
            TokenKind::Str(ref s) => {
                self.bump();
                leaf(ExprKind::Str(s.clone()))
            }
            TokenKind::Var(ref n) => {
                self.bump();
                leaf(ExprKind::Var(n.clone()))
            }
            TokenKind::Positional(n) => {
                self.bump();
                leaf(ExprKind::Positional(n))
            }
            TokenKind::PositionalCount => {
                self.bump();
                leaf(ExprKind::PositionalCount)
            }
            TokenKind::Ident(ref name) => {
                self.bump();
                if self.is_punct(Punct::LParen) {
                    let (args, close) = self.list(Punct::RParen, "argument")?;
                    let name = Ident {
                        name: name.clone(),
                        span: tok.span,
                    };
                    return Ok(Expr {
                        kind: ExprKind::Call { name, args },
                        span: tok.span.to(close),
                    });
                }
                if let Some(e) = self.define_use(name, tok.span) {
                    return e;
                }
                leaf(ExprKind::Builtin(name.clone()))
            }
            TokenKind::Map(ref name) => {
                self.bump();
                let mut map = MapRef {
                    name: name.clone(),
                    keys: Vec::new(),
                    span: tok.span,
                };
                if self.is_punct(Punct::LBracket) {
                    let (keys, close) = self.list(Punct::RBracket, "key")?;
                    if keys.is_empty() {
                        let d = Diagnostic::error(
                            "a map key list cannot be empty",
                            Span::new(tok.span.end as usize, close.end as usize),
                        )
                        .with_code(codes::SYNTAX)
                        .with_hint(format!("write '@{name}' for a map without keys"));
                        return Err(self.report(d));
                    }
                    map.keys = keys;
                    map.span = tok.span.to(close);
                }
                Ok(Expr {
                    span: map.span,
                    kind: ExprKind::Map(map),
                })
            }
            TokenKind::Keyword(Keyword::Sizeof) => self.sizeof(),
            TokenKind::Keyword(Keyword::Offsetof) => self.offsetof(),
            TokenKind::Punct(Punct::LParen) => self.paren_or_tuple(),
            // In `/pred/ {`, a `{` right in the predicate is the probe body, not a value.
            TokenKind::Punct(Punct::LBrace) if !(self.in_predicate && self.nesting == 0) => {
                self.block_expr()
            }
            _ => Err(self.unexpected("an expression")),
        }
    }

    /// A `#define`d name used in an expression: its body, parsed where it is written.
    fn define_use(&mut self, name: &str, at: Span) -> Option<PResult<Expr>> {
        let def = self.defines.get(name)?.clone();
        match def {
            crate::preproc::Define::Number(n) => Some(Ok(Expr {
                kind: ExprKind::Int(n as u64),
                span: at,
            })),
            crate::preproc::Define::Other => None,
            crate::preproc::Define::InScript(body) => {
                if self.define_depth >= 32 {
                    let d = Diagnostic::error(format!("'#define {name}' expands into itself"), at)
                        .with_code(codes::PREPROCESSOR);
                    return Some(Err(self.report(d)));
                }
                // A parser over the original text with only the body left in place, so its
                // spans point into the '#define' line.
                let only_body: String = self
                    .original
                    .char_indices()
                    .map(|(i, c)| {
                        if (body.start as usize..body.end as usize).contains(&i) || c == '\n' {
                            c.to_string()
                        } else {
                            " ".repeat(c.len_utf8())
                        }
                    })
                    .collect();
                let mut sub = super::Parser::new(&only_body);
                sub.defines = self.defines.clone();
                sub.original = self.original;
                sub.define_depth = self.define_depth + 1;
                sub.seek(body.start as usize);
                let parsed = sub.expr();
                let trailing = !matches!(sub.peek_kind(), TokenKind::Eof);
                let diags = std::mem::take(&mut sub.diags);
                let has_errors = !diags.is_empty();
                for d in diags {
                    self.report(d);
                }
                Some(match parsed {
                    Ok(e) if !trailing && !has_errors => Ok(e),
                    Ok(_) => {
                        let d = Diagnostic::error(
                            format!("the body of '#define {name}' is not one expression"),
                            body,
                        )
                        .with_code(codes::PREPROCESSOR)
                        .with_secondary(at, "used here");
                        Err(self.report(d))
                    }
                    Err(r) => Err(r),
                })
            }
        }
    }

    /// `{ stmts; value }` in an expression: recorded as a parameterless macro that the
    /// expander inlines (statements before the enclosing statement, the value in place).
    fn block_expr(&mut self) -> PResult<Expr> {
        let saved_pred = self.in_predicate;
        self.in_predicate = false;
        let block = self.block("'{'");
        self.in_predicate = saved_pred;
        let block = block?;
        let mut body = block.stmts;
        let mut value = None;
        if let Some(crate::ast::Stmt {
            kind: crate::ast::StmtKind::Expr(e),
            ..
        }) = body.last()
        {
            let tail = self
                .src
                .get(e.span.end as usize..block.span.end as usize)
                .unwrap_or(";");
            if !tail.contains(';') {
                value = Some(e.clone());
            }
        }
        if value.is_some() {
            body.pop();
        }
        let name = format!("__block_{}", block.span.start);
        self.block_exprs.push(crate::ast::Macro {
            name: Ident {
                name: name.clone(),
                span: block.span,
            },
            params: Vec::new(),
            body,
            value,
            inline_block: true,
            span: block.span,
        });
        Ok(Expr {
            kind: ExprKind::Call {
                name: Ident {
                    name,
                    span: block.span,
                },
                args: Vec::new(),
            },
            span: block.span,
        })
    }

    /// `(expr)` (its span widened to the parentheses) or `(a, b, ...)`.
    fn paren_or_tuple(&mut self) -> PResult<Expr> {
        let open = self.bump();
        self.nesting += 1;
        let result = self.paren_items(open.span);
        self.nesting = self.nesting.saturating_sub(1);
        let (mut items, close) = result?;
        let span = open.span.to(close);
        if items.len() == 1 {
            let mut inner = items.remove(0);
            inner.span = span;
            return Ok(inner);
        }
        Ok(Expr {
            kind: ExprKind::Tuple(items),
            span,
        })
    }

    fn paren_items(&mut self, open: Span) -> PResult<(Vec<Expr>, Span)> {
        let mut items = vec![self.expr()?];
        loop {
            if let Some(close) = self.eat(Punct::RParen) {
                return Ok((items, close.span));
            }
            if self.eat(Punct::Comma).is_none() {
                let what = if items.len() == 1 {
                    "')'"
                } else {
                    "',' or ')' in the tuple"
                };
                return Err(self.unexpected_with(what, Some((open, "to close this"))));
            }
            items.push(self.expr()?);
        }
    }

    /// `( a, b, ... )` or `[ a, b, ... ]` starting at the next token; returns the items and
    /// the closing delimiter's span.
    fn list(&mut self, close: Punct, item: &str) -> PResult<(Vec<Expr>, Span)> {
        let open = self.bump();
        self.nesting += 1;
        let result = self.list_items(open.span, close, item);
        self.nesting = self.nesting.saturating_sub(1);
        result
    }

    fn list_items(&mut self, open: Span, close: Punct, item: &str) -> PResult<(Vec<Expr>, Span)> {
        let mut items = Vec::new();
        if let Some(end) = self.eat(close) {
            return Ok((items, end.span));
        }
        loop {
            items.push(self.expr()?);
            if let Some(end) = self.eat(close) {
                return Ok((items, end.span));
            }
            if self.eat(Punct::Comma).is_none() {
                let what = format!("',' or '{}' after {item}", close.as_str());
                return Err(self.unexpected_with(&what, Some((open, "to close this"))));
            }
        }
    }

    /// `sizeof(type)` or `sizeof(expr)`.
    fn sizeof(&mut self) -> PResult<Expr> {
        let kw = self.bump();
        let open = self.expect(Punct::LParen, "'(' after 'sizeof'")?;
        self.nesting += 1;
        let tuple_type = self.is_punct(Punct::LParen) && is_type_start(&self.peek2().kind);
        let operand = if tuple_type {
            self.tuple_type().map(Ok)
        } else if is_type_start(self.peek_kind()) {
            self.type_name().map(Ok)
        } else {
            self.expr().map(Err)
        };
        self.nesting = self.nesting.saturating_sub(1);
        let operand = operand?;
        let Some(close) = self.eat(Punct::RParen) else {
            return Err(self.unexpected_with("')'", Some((open.span, "to close this"))));
        };
        let span = kw.span.to(close.span);
        let kind = match operand {
            Ok(ty) => ExprKind::SizeofType(ty),
            Err(e) => ExprKind::Call {
                name: Ident {
                    name: "sizeof".into(),
                    span: kw.span,
                },
                args: vec![e],
            },
        };
        Ok(Expr { kind, span })
    }

    /// `(type, type, ...)` in `sizeof`: a tuple type, kept as its text `(int8,int16)`.
    fn tuple_type(&mut self) -> PResult<TypeName> {
        let open = self.bump();
        let mut parts = Vec::new();
        loop {
            let t = if self.is_punct(Punct::LParen) {
                self.tuple_type()?
            } else {
                self.type_name()?
            };
            parts.push(format!(
                "{}{}",
                t.base,
                "*".repeat(t.pointer_depth as usize)
            ));
            if self.eat(Punct::Comma).is_none() {
                break;
            }
        }
        let close = self.expect(Punct::RParen, "')' to end the tuple type")?;
        Ok(TypeName {
            base: format!("({})", parts.join(",")),
            pointer_depth: 0,
            span: open.span.to(close.span),
        })
    }

    /// `offsetof(struct T, member)`, `offsetof(struct T, a.b)`.
    fn offsetof(&mut self) -> PResult<Expr> {
        let kw = self.bump();
        let open = self.expect(Punct::LParen, "'(' after 'offsetof'")?;
        let ty = self.type_name()?;
        self.expect(Punct::Comma, "',' after the type in offsetof")?;
        let mut fields = Vec::new();
        loop {
            let tok = self.peek().clone();
            let TokenKind::Ident(name) = &tok.kind else {
                return Err(self.unexpected("a member name"));
            };
            self.bump();
            fields.push(Ident {
                name: name.clone(),
                span: tok.span,
            });
            if self.eat(Punct::Dot).is_none() {
                break;
            }
        }
        let Some(close) = self.eat(Punct::RParen) else {
            return Err(self.unexpected_with("')'", Some((open.span, "to close this"))));
        };
        Ok(Expr {
            kind: ExprKind::Offsetof { ty, fields },
            span: kw.span.to(close.span),
        })
    }

    /// `uint8`, `struct task_struct *`, `int8 **`, ...
    pub(super) fn type_name(&mut self) -> PResult<TypeName> {
        let first = self.peek().clone();
        let TokenKind::Ident(name) = &first.kind else {
            return Err(self.unexpected("a type name"));
        };
        self.bump();
        let mut span = first.span;
        let mut base = name.clone();
        if TAGS.contains(&name.as_str()) {
            let tag = self.peek().clone();
            let TokenKind::Ident(tag_name) = &tag.kind else {
                return Err(self.unexpected(&format!("a name after '{name}'")));
            };
            self.bump();
            base = format!("{name} {tag_name}");
            span = span.to(tag.span);
        }
        let mut pointer_depth = 0;
        while let Some(star) = self.eat(Punct::Star) {
            pointer_depth += 1;
            span = span.to(star.span);
        }
        Ok(TypeName {
            base,
            pointer_depth,
            span,
        })
    }
}
