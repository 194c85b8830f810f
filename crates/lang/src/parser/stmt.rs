//! Statements and blocks.

use super::{PResult, Parser, Reported};
use crate::ast::{AssignOp, Block, Expr, ExprKind, Ident, MapRef, Stmt, StmtKind};
use crate::diag::codes;
use crate::diag::Diagnostic;
use crate::lexer::{Keyword, Punct, TokenKind};
use crate::span::Span;

impl Parser<'_> {
    /// Statements up to and including the `}` closing the block opened at `open`.
    pub(super) fn block_body(&mut self, open: Span) -> PResult<Block> {
        let mut stmts = Vec::new();
        loop {
            match self.peek_kind() {
                TokenKind::Punct(Punct::Semi) => {
                    self.bump();
                }
                TokenKind::Punct(Punct::RBrace) => {
                    let close = self.bump();
                    return Ok(Block {
                        stmts,
                        span: open.to(close.span),
                    });
                }
                TokenKind::Eof => {
                    return Err(self.eof_error("expected '}' to close the block opened here"));
                }
                _ => match self.stmt() {
                    Ok(stmt) => {
                        let ends_in_block = ends_in_block(&stmt.kind);
                        stmts.push(stmt);
                        if let Err(Reported) = self.separator(ends_in_block) {
                            self.recover_stmt();
                        }
                    }
                    Err(Reported) => self.recover_stmt(),
                },
            }
            if self.too_many_errors() {
                return Err(Reported);
            }
        }
    }

    /// After a statement: `;`, or the block's `}` (left for the caller), or nothing at all
    /// after a statement that ends in `}`.
    fn separator(&mut self, ends_in_block: bool) -> PResult<()> {
        if self.eat(Punct::Semi).is_some() || ends_in_block {
            return Ok(());
        }
        match self.peek_kind() {
            TokenKind::Punct(Punct::RBrace) | TokenKind::Eof => Ok(()),
            _ => {
                let r = self.unexpected("';' or '}' after statement");
                if let Some(d) = self.diags.last_mut() {
                    if d.title.starts_with("expected ';' or '}'") && d.hint.is_none() {
                        d.hint = Some("statements are separated by ';'".to_string());
                    }
                }
                Err(r)
            }
        }
    }

    /// Skip to the end of the broken statement: past the next `;`, or up to the `}` that
    /// closes the enclosing block, whichever comes first outside nested braces.
    fn recover_stmt(&mut self) {
        self.nesting = 0;
        self.in_predicate = false;
        let mut depth = 0u32;
        loop {
            match self.peek_kind() {
                TokenKind::Eof => return,
                TokenKind::Punct(Punct::Semi) if depth == 0 => {
                    self.bump();
                    return;
                }
                TokenKind::Punct(Punct::RBrace) if depth == 0 => return,
                TokenKind::Punct(Punct::LBrace) => depth += 1,
                TokenKind::Punct(Punct::RBrace) => depth -= 1,
                _ => {}
            }
            self.bump();
        }
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        let tok = self.peek().clone();
        let simple = |kind| {
            Ok(Stmt {
                kind,
                span: tok.span,
            })
        };
        match tok.kind {
            TokenKind::Keyword(Keyword::If) => self.if_stmt(),
            TokenKind::Keyword(Keyword::While) => {
                self.bump();
                let cond = self.paren_expr("while")?;
                let body = self.block("'{' to start the loop body")?;
                Ok(Stmt {
                    span: tok.span.to(body.span),
                    kind: StmtKind::While { cond, body },
                })
            }
            TokenKind::Keyword(Keyword::Unroll) => {
                self.bump();
                let count = self.paren_expr("unroll")?;
                let body = self.block("'{' to start the unrolled body")?;
                Ok(Stmt {
                    span: tok.span.to(body.span),
                    kind: StmtKind::Unroll { count, body },
                })
            }
            TokenKind::Keyword(Keyword::For) => self.for_stmt(),
            TokenKind::Keyword(Keyword::Break) => {
                self.bump();
                simple(StmtKind::Break)
            }
            TokenKind::Keyword(Keyword::Continue) => {
                self.bump();
                simple(StmtKind::Continue)
            }
            TokenKind::Keyword(Keyword::Return) => {
                self.bump();
                simple(StmtKind::Return)
            }
            TokenKind::Keyword(Keyword::Else) => {
                let d = Diagnostic::error("'else' without a matching 'if'", tok.span)
                    .with_code(codes::SYNTAX)
                    .with_label("no 'if' block ends right before this");
                Err(self.report(d))
            }
            TokenKind::Punct(Punct::LBrace) => {
                let block = self.block("'{'")?;
                Ok(Stmt {
                    span: block.span,
                    kind: StmtKind::Block(block),
                })
            }
            TokenKind::Ident(ref w)
                if w == "let" && matches!(self.peek2().kind, TokenKind::Var(_)) =>
            {
                self.let_stmt()
            }
            _ => self.expr_or_assign(),
        }
    }

    /// `let $x = value`, `let $x: type = value`, `let $x;`: a declaration is an assignment
    /// when it has a value and nothing otherwise (kestrel types a variable by what is
    /// assigned to it).
    fn let_stmt(&mut self) -> PResult<Stmt> {
        let kw = self.bump();
        let var_tok = self.bump();
        let TokenKind::Var(name) = var_tok.kind else {
            return Err(self.unexpected("a '$variable' after 'let'"));
        };
        let var = Ident {
            name,
            span: var_tok.span,
        };
        let mut ty = None;
        if self.eat(Punct::Colon).is_some() {
            if matches!(self.peek_kind(), TokenKind::Ident(w) if w == "typeof") {
                // `typeof(expr)`: the type follows from the first assignment anyway.
                self.bump();
                let mut depth = 0;
                loop {
                    match self.bump().kind {
                        TokenKind::Punct(Punct::LParen) => depth += 1,
                        TokenKind::Punct(Punct::RParen) => {
                            depth -= 1;
                            if depth <= 0 {
                                break;
                            }
                        }
                        TokenKind::Eof => return Err(self.unexpected("')'")),
                        _ => {}
                    }
                }
            } else {
                ty = Some(self.type_name()?);
            }
        }
        if self.eat(Punct::Assign).is_none() {
            let span = kw.span.to(var.span);
            // A typed declaration starts the variable at zero of its type, as bpftrace does.
            let kind = match ty {
                Some(t) => StmtKind::AssignVar {
                    var: var.clone(),
                    op: AssignOp::Assign,
                    value: Expr {
                        span: t.span,
                        kind: ExprKind::Cast {
                            ty: t,
                            expr: Box::new(Expr {
                                kind: ExprKind::Int(0),
                                span: var.span,
                            }),
                        },
                    },
                },
                _ => StmtKind::Block(Block {
                    stmts: Vec::new(),
                    span,
                }),
            };
            return Ok(Stmt { kind, span });
        }
        let value = self.expr()?;
        let value = match ty {
            Some(t) => Expr {
                span: value.span,
                kind: ExprKind::Cast {
                    ty: t,
                    expr: Box::new(value),
                },
            },
            _ => value,
        };
        Ok(Stmt {
            span: kw.span.to(value.span),
            kind: StmtKind::AssignVar {
                var,
                op: AssignOp::Assign,
                value,
            },
        })
    }

    /// `if (cond) { ... } else if (cond) { ... } else { ... }`.
    fn if_stmt(&mut self) -> PResult<Stmt> {
        let kw = self.bump();
        let cond = self.paren_expr("if")?;
        let then = self.block_after("the 'if' condition")?;
        let mut span = kw.span.to(then.span);
        let mut otherwise = None;
        if let Some(else_kw) = self.eat_keyword(Keyword::Else) {
            let block = if *self.peek_kind() == TokenKind::Keyword(Keyword::If) {
                let nested = self.if_stmt()?;
                Block {
                    span: nested.span,
                    stmts: vec![nested],
                }
            } else {
                self.block_after("'else'")?
            };
            span = span.to(else_kw.span).to(block.span);
            otherwise = Some(block);
        }
        Ok(Stmt {
            kind: StmtKind::If {
                cond,
                then,
                otherwise,
            },
            span,
        })
    }

    /// A block that bpftrace requires braces for, with a hint saying so.
    fn block_after(&mut self, after: &str) -> PResult<Block> {
        let result = self.block(&format!("'{{' after {after}"));
        if result.is_err() {
            if let Some(d) = self.diags.last_mut() {
                if d.title.starts_with("expected '{' after") && d.hint.is_none() {
                    d.hint =
                        Some("braces are required: 'if (cond) { ... } else { ... }'".to_string());
                }
            }
        }
        result
    }

    /// `for ($var : @map) { ... }`.
    fn for_stmt(&mut self) -> PResult<Stmt> {
        let kw = self.bump();
        let open = self.expect(Punct::LParen, "'(' after 'for'")?;
        let var_tok = self.peek().clone();
        let TokenKind::Var(name) = var_tok.kind else {
            return Err(self.unexpected("a '$variable' in 'for ($var : @map)'"));
        };
        self.bump();
        let var = Ident {
            name,
            span: var_tok.span,
        };
        self.expect(Punct::Colon, "':' in 'for ($var : @map)'")?;
        if !matches!(self.peek_kind(), TokenKind::Map(_)) {
            return self.for_range(kw.span, open.span, var);
        }
        let map_tok = self.peek().clone();
        let TokenKind::Map(name) = map_tok.kind else {
            return Err(self.unexpected("a '@map' in 'for ($var : @map)'"));
        };
        self.bump();
        let map = MapRef {
            name,
            keys: Vec::new(),
            span: map_tok.span,
        };
        if self.eat(Punct::RParen).is_none() {
            return Err(
                self.unexpected_with("')' to close 'for (...)'", Some((open.span, "opened here")))
            );
        }
        let body = self.block("'{' to start the loop body")?;
        Ok(Stmt {
            span: kw.span.to(body.span),
            kind: StmtKind::For { var, map, body },
        })
    }

    /// `for ($i : start..end) { body }` after the `:`: `$i` runs from `start` up to `end`
    /// (excluded). Written as a loop the rest of kestrel knows:
    /// `{ $end = end; $i = start - 1; while ($i + 1 < $end) { $i = $i + 1; body } }`, so
    /// that `continue` still advances `$i`.
    fn for_range(&mut self, kw: Span, open: Span, var: Ident) -> PResult<Stmt> {
        // The `..` at this nesting level splits the range; the start is parsed with the
        // text from `..` on hidden, since `0..5` would otherwise read as a member access.
        let bytes = self.src.as_bytes();
        let mut depth = 0i32;
        let mut at = self.pos;
        let dots = loop {
            match bytes.get(at) {
                None => return Err(self.unexpected("'..' in 'for ($i : start..end)'")),
                Some(b'(' | b'[') => depth += 1,
                Some(b')' | b']') if depth == 0 => {
                    return Err(self.unexpected("'..' in 'for ($i : start..end)'"))
                }
                Some(b')' | b']') => depth -= 1,
                Some(b'.') if depth == 0 && bytes.get(at + 1) == Some(&b'.') => break at,
                _ => {}
            }
            at += 1;
        };
        let hidden: String = self.src[..dots].to_string() + &" ".repeat(self.src.len() - dots);
        let mut sub = super::Parser::new(&hidden);
        sub.defines = self.defines.clone();
        sub.original = self.original;
        sub.seek(self.pos);
        let start = sub.expr();
        let diags = std::mem::take(&mut sub.diags);
        for d in diags {
            self.report(d);
        }
        let start = start?;
        self.seek(dots + 2);
        let end = self.expr()?;
        if self.eat(Punct::RParen).is_none() {
            return Err(
                self.unexpected_with("')' to close 'for (...)'", Some((open, "opened here")))
            );
        }
        let body = self.block("'{' to start the loop body")?;
        let span = kw.to(body.span);
        let v = |name: &str, span: Span| Expr {
            kind: ExprKind::Var(name.to_string()),
            span,
        };
        let int = |n: u64, span: Span| Expr {
            kind: ExprKind::Int(n),
            span,
        };
        let bin = |op, l: Expr, r: Expr| Expr {
            span: l.span.to(r.span),
            kind: ExprKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
        };
        let assign = |name: &str, value: Expr| Stmt {
            span: value.span,
            kind: StmtKind::AssignVar {
                var: Ident {
                    name: name.to_string(),
                    span: var.span,
                },
                op: AssignOp::Assign,
                value,
            },
        };
        use crate::ast::BinOp;
        let end_var = format!("__for_end_{}", kw.start);
        let i = var.name.clone();
        let mut stmts = vec![assign(
            &i,
            bin(BinOp::Add, v(&i, var.span), int(1, var.span)),
        )];
        stmts.extend(body.stmts);
        let lp = Stmt {
            span,
            kind: StmtKind::While {
                cond: bin(
                    BinOp::Lt,
                    bin(BinOp::Add, v(&i, var.span), int(1, var.span)),
                    v(&end_var, end.span),
                ),
                body: Block {
                    stmts,
                    span: body.span,
                },
            },
        };
        let start_span = start.span;
        Ok(Stmt {
            span,
            kind: StmtKind::Block(Block {
                stmts: vec![
                    assign(&end_var, end),
                    assign(&i, bin(BinOp::Sub, start, int(1, start_span))),
                    lp,
                ],
                span,
            }),
        })
    }

    /// `( expr )` after `if`, `while` or `unroll`.
    fn paren_expr(&mut self, keyword: &str) -> PResult<Expr> {
        let open = self.expect(Punct::LParen, &format!("'(' after '{keyword}'"))?;
        self.nesting += 1;
        let expr = self.expr();
        self.nesting = self.nesting.saturating_sub(1);
        let expr = expr?;
        if self.eat(Punct::RParen).is_none() {
            return Err(self.unexpected_with("')'", Some((open.span, "to close this"))));
        }
        Ok(expr)
    }

    /// An expression statement, or an assignment to a `$variable` or `@map` element.
    fn expr_or_assign(&mut self) -> PResult<Stmt> {
        let lhs = self.expr()?;
        let Some(op) = assign_op(self.peek_kind()) else {
            return Ok(Stmt {
                span: lhs.span,
                kind: StmtKind::Expr(lhs),
            });
        };
        let op_tok = self.bump();
        let value = self.expr()?;
        let span = lhs.span.to(value.span);
        let kind = match lhs.kind {
            ExprKind::Map(map) => StmtKind::AssignMap { map, op, value },
            ExprKind::Var(name) => StmtKind::AssignVar {
                var: Ident {
                    name,
                    span: lhs.span,
                },
                op,
                value,
            },
            _ => {
                let d = Diagnostic::error(
                    format!(
                        "cannot assign to this expression with '{}'",
                        self.text(op_tok.span)
                    ),
                    lhs.span,
                )
                .with_code(codes::INVALID_ASSIGN_TARGET)
                .with_label("not a '$variable' or '@map' element")
                .with_note(
                    "only scratch variables ($x) and map elements (@m[key]) can be assigned",
                );
                return Err(self.report(d));
            }
        };
        Ok(Stmt { kind, span })
    }

    fn eat_keyword(&mut self, k: Keyword) -> Option<crate::lexer::Token> {
        if *self.peek_kind() == TokenKind::Keyword(k) {
            Some(self.bump())
        } else {
            None
        }
    }
}

/// Statements ending in `}` need no `;` after them.
fn ends_in_block(kind: &StmtKind) -> bool {
    matches!(
        kind,
        StmtKind::If { .. }
            | StmtKind::While { .. }
            | StmtKind::Unroll { .. }
            | StmtKind::For { .. }
            | StmtKind::Block(_)
    )
}

fn assign_op(kind: &TokenKind) -> Option<AssignOp> {
    let TokenKind::Punct(p) = kind else {
        return None;
    };
    Some(match p {
        Punct::Assign => AssignOp::Assign,
        Punct::PlusEq => AssignOp::Add,
        Punct::MinusEq => AssignOp::Sub,
        Punct::StarEq => AssignOp::Mul,
        Punct::SlashEq => AssignOp::Div,
        Punct::PercentEq => AssignOp::Mod,
        Punct::AmpEq => AssignOp::BitAnd,
        Punct::PipeEq => AssignOp::BitOr,
        Punct::CaretEq => AssignOp::BitXor,
        Punct::ShlEq => AssignOp::Shl,
        Punct::ShrEq => AssignOp::Shr,
        _ => return None,
    })
}
