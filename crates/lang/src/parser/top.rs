//! Top-level items besides probes: `config = { ... }`, `let @map = hash(N);` and
//! `macro name(...) { ... }`, as current bpftrace has them.

use super::{PResult, Parser};
use crate::ast::{
    ConfigItem, ConfigValue, Ident, Macro, MacroParam, MapDeclItem, Program, StmtKind,
};
use crate::diag::codes;
use crate::diag::Diagnostic;
use crate::lexer::{Punct, TokenKind};

impl Parser<'_> {
    /// If the cursor is at a top-level item other than a probe, parse it into `program` and
    /// return true.
    pub(super) fn top_item(&mut self, program: &mut Program) -> PResult<bool> {
        let tok = self.peek().clone();
        let TokenKind::Ident(word) = &tok.kind else {
            return Ok(false);
        };
        let next = self.peek2().kind;
        match (word.as_str(), next) {
            ("config", TokenKind::Punct(Punct::Assign)) => {
                self.bump();
                self.bump();
                self.config_block(program)?;
                Ok(true)
            }
            ("let", TokenKind::Map(_)) => {
                self.bump();
                let decl = self.map_decl(tok.span)?;
                program.map_decls.push(decl);
                Ok(true)
            }
            ("struct" | "union" | "enum", TokenKind::Ident(_)) => {
                match self.c_type_def(tok.span)? {
                    Some(def) => {
                        // Enumerators are constants the script can name.
                        let mut next = 0i64;
                        for (id, v) in &def.enumerators {
                            let v = v.unwrap_or(next);
                            next = v.wrapping_add(1);
                            self.defines
                                .insert(id.name.clone(), crate::preproc::Define::Number(v));
                        }
                        program.c_types.push(def);
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            ("macro", TokenKind::Ident(_)) => {
                self.bump();
                let m = self.macro_def(tok.span)?;
                program.macros.push(m);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// `{ key = value; ... }` after `config =`.
    fn config_block(&mut self, program: &mut Program) -> PResult<()> {
        self.expect(Punct::LBrace, "'{' after 'config ='")?;
        loop {
            if self.eat(Punct::RBrace).is_some() {
                break;
            }
            if self.eat(Punct::Semi).is_some() {
                continue;
            }
            let key_tok = self.peek().clone();
            let TokenKind::Ident(key) = key_tok.kind else {
                return Err(self.unexpected("a config option name or '}'"));
            };
            self.bump();
            self.expect(Punct::Assign, "'=' after the config option's name")?;
            let v = self.bump();
            let value = match v.kind {
                TokenKind::Int(n) => ConfigValue::Int(n),
                TokenKind::Str(s) => ConfigValue::Str(s),
                TokenKind::Ident(w) => ConfigValue::Word(w),
                _ => {
                    let d = Diagnostic::error(
                        "expected a number, a string or a word as the option's value",
                        v.span,
                    )
                    .with_code(codes::SYNTAX);
                    return Err(self.report(d));
                }
            };
            program.config.push(ConfigItem {
                key: Ident {
                    name: key,
                    span: key_tok.span,
                },
                value,
                span: key_tok.span.to(v.span),
            });
        }
        self.eat(Punct::Semi);
        Ok(())
    }

    /// `@name = kind(N);` after `let`.
    fn map_decl(&mut self, start: crate::span::Span) -> PResult<MapDeclItem> {
        let map_tok = self.bump();
        let TokenKind::Map(name) = map_tok.kind else {
            return Err(self.unexpected("a '@map' after 'let'"));
        };
        self.expect(Punct::Assign, "'=' in 'let @map = hash(N)'")?;
        let kind_tok = self.peek().clone();
        let TokenKind::Ident(kind) = kind_tok.kind else {
            return Err(self.unexpected("a map kind such as 'hash(N)'"));
        };
        self.bump();
        self.expect(Punct::LParen, "'(' after the map kind")?;
        let size = if self.is_punct(Punct::RParen) {
            None
        } else {
            Some(self.expr()?)
        };
        let close = self.expect(Punct::RParen, "')' after the map's size")?;
        self.eat(Punct::Semi);
        Ok(MapDeclItem {
            map: Ident {
                name,
                span: map_tok.span,
            },
            kind: Ident {
                name: kind,
                span: kind_tok.span,
            },
            size,
            span: start.to(close.span),
        })
    }

    /// `name(params) { body }` after `macro`.
    fn macro_def(&mut self, start: crate::span::Span) -> PResult<Macro> {
        let name_tok = self.bump();
        let TokenKind::Ident(name) = name_tok.kind else {
            return Err(self.unexpected("the macro's name"));
        };
        let open = self.expect(Punct::LParen, "'(' after the macro's name")?;
        let mut params = Vec::new();
        loop {
            if self.eat(Punct::RParen).is_some() {
                break;
            }
            let t = self.bump();
            let ident = |name: String| Ident { name, span: t.span };
            params.push(match t.kind {
                TokenKind::Ident(n) => MacroParam::Expr(ident(n)),
                TokenKind::Var(n) => MacroParam::Var(ident(n)),
                TokenKind::Map(n) => MacroParam::Map(ident(n)),
                _ => {
                    let d = Diagnostic::error(
                        "a macro parameter is a name, a '$variable' or a '@map'",
                        t.span,
                    )
                    .with_code(codes::SYNTAX)
                    .with_secondary(open.span, "parameters start here");
                    return Err(self.report(d));
                }
            });
            if self.eat(Punct::Comma).is_none() && !self.is_punct(Punct::RParen) {
                return Err(self.unexpected("',' or ')' in the macro's parameters"));
            }
        }
        let block = self.block("'{' to start the macro's body")?;
        let mut body = block.stmts;
        // The last expression statement is the value when no ';' follows it.
        let mut value = None;
        if let Some(last) = body.last() {
            if let StmtKind::Expr(e) = &last.kind {
                let tail = self
                    .src
                    .get(e.span.end as usize..block.span.end as usize)
                    .unwrap_or(";");
                if !tail.contains(';') {
                    value = Some(e.clone());
                }
            }
        }
        if value.is_some() {
            body.pop();
        }
        Ok(Macro {
            name: Ident {
                name,
                span: name_tok.span,
            },
            params,
            body,
            value,
            inline_block: false,
            span: start.to(block.span),
        })
    }
}
