//! C `struct`, `union` and `enum` definitions at the top level of a script, the subset of
//! C declarations bpftrace scripts and tools use (no clang): members with base types,
//! pointers, arrays, bit-fields and comma-separated declarators.

use super::{PResult, Parser};
use crate::ast::{CMember, CTag, CTypeDef, Ident};
use crate::diag::codes;
use crate::diag::Diagnostic;
use crate::lexer::{Punct, TokenKind};
use crate::span::Span;

/// Words that combine into one C base type (`unsigned long long int`).
const TYPE_WORDS: &[&str] = &[
    "unsigned", "signed", "int", "char", "short", "long", "float", "double", "_Bool",
];

/// Qualifiers that change nothing kestrel reads.
const QUALIFIERS: &[&str] = &["const", "volatile", "restrict", "__restrict", "static"];

impl Parser<'_> {
    /// At `struct NAME {`, `union NAME {` or `enum NAME {`: parse the definition. Leaves the
    /// cursor alone and returns `None` otherwise (a probe may follow).
    pub(super) fn c_type_def(&mut self, start: Span) -> PResult<Option<CTypeDef>> {
        let saved = self.pos;
        let tag_tok = self.bump();
        let tag = match &tag_tok.kind {
            TokenKind::Ident(w) if w == "struct" => CTag::Struct,
            TokenKind::Ident(w) if w == "union" => CTag::Union,
            TokenKind::Ident(w) if w == "enum" => CTag::Enum,
            _ => {
                self.seek(saved);
                return Ok(None);
            }
        };
        let name_tok = self.bump();
        let TokenKind::Ident(name) = name_tok.kind else {
            self.seek(saved);
            return Ok(None);
        };
        if !self.is_punct(Punct::LBrace) {
            self.seek(saved);
            return Ok(None);
        }
        self.bump();
        let name = Ident {
            name,
            span: name_tok.span,
        };
        let mut def = CTypeDef {
            tag,
            name,
            members: Vec::new(),
            enumerators: Vec::new(),
            span: start,
        };
        if tag == CTag::Enum {
            self.enum_body(&mut def)?;
        } else {
            self.record_body(&mut def)?;
        }
        let end = self
            .eat(Punct::Semi)
            .map_or(self.pos, |t| t.span.end as usize);
        def.span = Span::new(start.start as usize, end);
        Ok(Some(def))
    }

    fn enum_body(&mut self, def: &mut CTypeDef) -> PResult<()> {
        loop {
            if self.eat(Punct::RBrace).is_some() {
                return Ok(());
            }
            let t = self.bump();
            let TokenKind::Ident(n) = t.kind else {
                return Err(self.unexpected_at(t.span, "an enumerator name or '}'"));
            };
            let mut value = None;
            if self.eat(Punct::Assign).is_some() {
                let neg = self.eat(Punct::Minus).is_some();
                let v = self.bump();
                let TokenKind::Int(n) = v.kind else {
                    return Err(self.unexpected_at(v.span, "an integer value"));
                };
                let n = n as i64;
                value = Some(if neg { -n } else { n });
            }
            def.enumerators.push((
                Ident {
                    name: n,
                    span: t.span,
                },
                value,
            ));
            if self.eat(Punct::Comma).is_none() && !self.is_punct(Punct::RBrace) {
                return Err(self.unexpected("',' or '}' in the enum"));
            }
        }
    }

    fn record_body(&mut self, def: &mut CTypeDef) -> PResult<()> {
        loop {
            if self.eat(Punct::RBrace).is_some() {
                return Ok(());
            }
            if self.eat(Punct::Semi).is_some() {
                continue;
            }
            let base = self.c_base_type()?;
            loop {
                let mut pointer = 0;
                while self.eat(Punct::Star).is_some() {
                    pointer += 1;
                }
                let t = self.bump();
                let TokenKind::Ident(n) = t.kind else {
                    return Err(self.unexpected_at(t.span, "a member name"));
                };
                let mut dims = Vec::new();
                while self.eat(Punct::LBracket).is_some() {
                    let d = self.bump();
                    let TokenKind::Int(v) = d.kind else {
                        return Err(self.unexpected_at(d.span, "an array size"));
                    };
                    dims.push(u32::try_from(v).unwrap_or(u32::MAX));
                    self.expect(Punct::RBracket, "']'")?;
                }
                let mut bits = None;
                if self.eat(Punct::Colon).is_some() {
                    let b = self.bump();
                    let TokenKind::Int(v) = b.kind else {
                        return Err(self.unexpected_at(b.span, "a bit-field width"));
                    };
                    bits = Some(u32::try_from(v).unwrap_or(u32::MAX));
                }
                def.members.push(CMember {
                    base: base.clone(),
                    pointer,
                    name: Ident {
                        name: n,
                        span: t.span,
                    },
                    dims,
                    bits,
                });
                if self.eat(Punct::Comma).is_none() {
                    break;
                }
            }
            if self.eat(Punct::Semi).is_none() && !self.is_punct(Punct::RBrace) {
                return Err(self.unexpected("';' after the member"));
            }
        }
    }

    /// `unsigned long`, `struct Bar`, `uint8_t`, qualifiers skipped.
    fn c_base_type(&mut self) -> PResult<String> {
        let mut words: Vec<String> = Vec::new();
        loop {
            let t = self.peek().clone();
            match t.kind {
                TokenKind::Ident(ref w) if QUALIFIERS.contains(&w.as_str()) => {
                    self.bump();
                }
                TokenKind::Ident(ref w)
                    if words.is_empty() && matches!(w.as_str(), "struct" | "union" | "enum") =>
                {
                    self.bump();
                    let n = self.bump();
                    let TokenKind::Ident(name) = n.kind else {
                        let d = Diagnostic::error(
                            format!("anonymous '{w}' members are not supported"),
                            n.span,
                        )
                        .with_code(codes::UNSUPPORTED_SYNTAX)
                        .with_hint("give the nested type a name and define it first");
                        return Err(self.report(d));
                    };
                    return Ok(format!("{w} {name}"));
                }
                TokenKind::Ident(ref w)
                    if words.is_empty()
                        || (TYPE_WORDS.contains(&w.as_str())
                            && words.iter().all(|x| TYPE_WORDS.contains(&x.as_str()))) =>
                {
                    self.bump();
                    words.push(w.clone());
                }
                _ if !words.is_empty() => return Ok(words.join(" ")),
                _ => return Err(self.unexpected("a member type")),
            }
        }
    }

    fn unexpected_at(&mut self, span: Span, what: &str) -> super::Reported {
        let d = Diagnostic::error(format!("expected {what}"), span).with_code(codes::SYNTAX);
        self.report(d)
    }
}
