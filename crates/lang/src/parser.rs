//! The parser: a hand-written recursive-descent parser with Pratt expressions, producing the
//! [`ast`](crate::ast) with exact spans, or diagnostics that say what was expected and found.
//!
//! It drives the [`lexer`](crate::lexer) by byte offset so that probe specs (raw text at the
//! top level) and `/predicate/` delimiters can be read in context.
//!
//! ```
//! let prog = kestrel_lang::parse("BEGIN { printf(\"hello\\n\"); exit(); }").unwrap();
//! assert_eq!(prog.probes[0].specs[0].raw, "BEGIN");
//! ```

mod ctype;
mod expr;
mod sexpr;
mod stmt;
#[cfg(test)]
mod tests;
mod top;

use crate::ast::{Block, Probe, ProbeSpec, Program};
use crate::diag::codes;
use crate::diag::Diagnostic;
use crate::lexer::{self, Punct, Token, TokenKind};
use crate::span::Span;

pub use sexpr::to_sexpr;

/// Stop reporting after this many errors: later ones are mostly echoes of the first.
const MAX_ERRORS: usize = 20;

/// Parse a whole script.
///
/// Returns the program, or every syntax error found (at least one), in source order.
pub fn parse(source: &str) -> Result<Program, Vec<Diagnostic>> {
    parse_with(source, &crate::preproc::Settings::default())
}

/// [`parse`] with preprocessor settings (include directories, `--include` headers).
pub fn parse_with(
    source: &str,
    settings: &crate::preproc::Settings,
) -> Result<Program, Vec<Diagnostic>> {
    if u32::try_from(source.len()).is_err() {
        let d = Diagnostic::error("script is too large (over 4 GiB)", Span::new(0, 0))
            .with_code(codes::SCRIPT_TOO_LARGE);
        return Err(vec![d]);
    }
    let pre = crate::preproc::preprocess(source, settings)?;
    let mut p = Parser::new(&pre.text);
    p.defines = pre.defines;
    p.original = source;
    let mut program = p.program();
    if p.diags.is_empty() {
        crate::macros::expand(&mut program)?;
        crate::desugar::desugar(&mut program);
        Ok(program)
    } else {
        p.diags.sort_by_key(|d| d.primary.span.start);
        Err(p.diags)
    }
}

/// Marker that a diagnostic has already been recorded; the caller should recover.
#[derive(Debug)]
pub(crate) struct Reported;

/// Result of a parsing step.
pub(crate) type PResult<T> = Result<T, Reported>;

/// Cursor over the source plus everything reported so far.
pub(crate) struct Parser<'s> {
    src: &'s str,
    /// Where lexing continues: the end of the last consumed token.
    pos: usize,
    /// The token at `pos`, once lexed.
    peeked: Option<Token>,
    diags: Vec<Diagnostic>,
    /// Only one "unexpected end of input" is worth reporting.
    eof_reported: bool,
    /// Inside `/.../`: a `/` at nesting 0 closes the predicate instead of dividing.
    in_predicate: bool,
    /// Depth of open `(` and `[`.
    nesting: u32,
    /// `{` of the blocks being parsed, innermost last.
    open_blocks: Vec<Span>,
    /// `#define`d names.
    defines: std::collections::HashMap<String, crate::preproc::Define>,
    /// The script before preprocessing (where `#define` bodies are).
    original: &'s str,
    /// How many `#define` bodies are being parsed inside each other.
    define_depth: u32,
    /// Block expressions seen so far, as parameterless macros to expand.
    block_exprs: Vec<crate::ast::Macro>,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Parser<'s> {
        Parser {
            src,
            pos: 0,
            peeked: None,
            diags: Vec::new(),
            eof_reported: false,
            in_predicate: false,
            nesting: 0,
            open_blocks: Vec::new(),
            defines: std::collections::HashMap::new(),
            original: src,
            define_depth: 0,
            block_exprs: Vec::new(),
        }
    }

    // ---- cursor -------------------------------------------------------------------------

    /// The next token (lexed once, cached). A lexical error is recorded when first seen.
    fn peek(&mut self) -> &Token {
        if self.peeked.is_none() {
            let (tok, diag) = lexer::next_token(self.src, self.pos);
            if let Some(d) = diag {
                // Text swallowed by an unterminated string or comment usually includes the
                // closing braces, so a later "unexpected end of input" would only be an echo.
                if d.title.starts_with("unterminated") {
                    self.eof_reported = true;
                }
                self.report(d);
            }
            self.peeked = Some(tok);
        }
        match &self.peeked {
            Some(t) => t,
            None => unreachable_token(),
        }
    }

    fn peek_kind(&mut self) -> &TokenKind {
        &self.peek().kind
    }

    /// The token after the next one (lexical errors there are reported when it is reached).
    fn peek2(&mut self) -> Token {
        let end = self.peek().span.end as usize;
        lexer::next_token(self.src, end).0
    }

    fn is_punct(&mut self, p: Punct) -> bool {
        *self.peek_kind() == TokenKind::Punct(p)
    }

    /// Consume and return the next token.
    fn bump(&mut self) -> Token {
        let tok = self.peek().clone();
        self.peeked = None;
        if tok.kind != TokenKind::Eof {
            self.pos = (tok.span.end as usize)
                .max(self.pos + 1)
                .min(self.src.len());
        }
        tok
    }

    /// Consume `p` if it is next.
    fn eat(&mut self, p: Punct) -> Option<Token> {
        if self.is_punct(p) {
            Some(self.bump())
        } else {
            None
        }
    }

    /// Consume `p` or report `expected {what}, found ...`.
    fn expect(&mut self, p: Punct, what: &str) -> PResult<Token> {
        match self.eat(p) {
            Some(t) => Ok(t),
            None => Err(self.unexpected(what)),
        }
    }

    /// Move the cursor to `pos` (after reading raw text such as a probe spec).
    fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.src.len());
        self.peeked = None;
    }

    fn text(&self, span: Span) -> &'s str {
        self.src
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    // ---- errors -------------------------------------------------------------------------

    fn report(&mut self, d: Diagnostic) -> Reported {
        let dup = self
            .diags
            .iter()
            .any(|o| o.primary.span == d.primary.span && o.title == d.title);
        if !dup && self.diags.len() < MAX_ERRORS {
            self.diags.push(d);
        }
        Reported
    }

    /// Report that the next token is not what was `expected`.
    fn unexpected(&mut self, expected: &str) -> Reported {
        self.unexpected_with(expected, None)
    }

    /// [`Parser::unexpected`] with a secondary label, e.g. at the matching opening delimiter.
    fn unexpected_with(&mut self, expected: &str, secondary: Option<(Span, &str)>) -> Reported {
        let tok = self.peek().clone();
        match tok.kind {
            // The lexer has said what is wrong with it.
            TokenKind::Error => Reported,
            TokenKind::Eof => self.eof_error(&format!("expected {expected}")),
            found => {
                let mut d =
                    Diagnostic::error(format!("expected {expected}, found {found}"), tok.span)
                        .with_code(codes::SYNTAX);
                if let Some((span, message)) = secondary {
                    d = d.with_secondary(span, message);
                }
                // `/pid = 1/`, `if (x = 1)`: an assignment where a condition ends.
                if found == TokenKind::Punct(Punct::Assign) {
                    d = d.with_hint("to compare, write '=='");
                }
                self.report(d)
            }
        }
    }

    /// Where "end of input" is shown: just after the last non-blank character.
    fn eof_span(&self) -> Span {
        let end = self.src.trim_end().len();
        Span::new(end, end)
    }

    fn eof_error(&mut self, what: &str) -> Reported {
        if self.eof_reported {
            return Reported;
        }
        self.eof_reported = true;
        let mut d = Diagnostic::error(format!("unexpected end of input: {what}"), self.eof_span())
            .with_code(codes::UNEXPECTED_EOF);
        if let Some(open) = self.open_blocks.last() {
            d = d.with_secondary(*open, "unclosed block");
        }
        self.report(d)
    }

    fn too_many_errors(&self) -> bool {
        self.diags.len() >= MAX_ERRORS
    }

    // ---- top level ----------------------------------------------------------------------

    fn program(&mut self) -> Program {
        let mut program = Program::default();
        let mut probes = Vec::new();
        loop {
            match lexer::skip_trivia(self.src, self.pos) {
                Ok(pos) => self.seek(pos),
                Err(e) => {
                    self.report(*e.diagnostic);
                    self.seek(e.resume);
                    continue;
                }
            }
            if self.pos >= self.src.len() || self.too_many_errors() {
                break;
            }
            let before = self.pos;
            match self.top_item(&mut program) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(Reported) => {
                    self.recover_top();
                    continue;
                }
            }
            match self.probe() {
                Ok(probe) => probes.push(probe),
                Err(Reported) => self.recover_top(),
            }
            if self.pos == before {
                // Never loop on the same input.
                self.bump();
            }
        }
        program.probes = probes;
        program.macros.append(&mut self.block_exprs);
        program.span = Span::new(0, self.src.len());
        program
    }

    /// Skip to just past the end of the current probe's body, or to what looks like the
    /// next probe: a name at the start of a line outside braces.
    fn recover_top(&mut self) {
        self.nesting = 0;
        self.in_predicate = false;
        self.open_blocks.clear();
        let mut depth = 0i32;
        let start = self.pos;
        loop {
            let tok = self.peek().clone();
            match tok.kind {
                TokenKind::Eof => return,
                TokenKind::Ident(_)
                    if depth == 0
                        && tok.span.start as usize > start
                        && self.starts_line(tok.span) =>
                {
                    return
                }
                TokenKind::Punct(Punct::LBrace) => depth += 1,
                TokenKind::Punct(Punct::RBrace) => {
                    depth -= 1;
                    if depth <= 0 {
                        self.bump();
                        self.eat(Punct::Semi);
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn starts_line(&self, span: Span) -> bool {
        let before = self.src.get(..span.start as usize).unwrap_or("");
        before
            .rsplit('\n')
            .next()
            .is_some_and(|l| l.trim().is_empty())
    }

    /// `spec, spec /pred/ { body }`.
    fn probe(&mut self) -> PResult<Probe> {
        let mut specs = vec![self.probe_spec()?];
        let predicate = loop {
            match self.peek_kind() {
                TokenKind::Punct(Punct::Comma) => {
                    self.bump();
                    let pos = match lexer::skip_trivia(self.src, self.pos) {
                        Ok(pos) => pos,
                        Err(e) => return Err(self.report(*e.diagnostic)),
                    };
                    self.seek(pos);
                    specs.push(self.probe_spec()?);
                }
                TokenKind::Punct(Punct::Slash) => break Some(self.predicate()?),
                TokenKind::Punct(Punct::LBrace) => break None,
                _ => {
                    let last = specs.last().map_or("", |s| s.raw.as_str()).to_string();
                    return Err(self.unexpected(&format!("',', '/' or '{{' after probe '{last}'")));
                }
            }
        };
        let body = self.block("'{' to start the probe's body")?;
        let span = specs[0].span.to(body.span);
        Ok(Probe {
            specs,
            predicate,
            body,
            span,
        })
    }

    /// A probe spec as raw text at the (trivia-free) cursor.
    fn probe_spec(&mut self) -> PResult<ProbeSpec> {
        let Some(span) = lexer::probe_spec(self.src, self.pos) else {
            return Err(self
                .unexpected("a probe such as 'BEGIN' or 'tracepoint:syscalls:sys_enter_openat'"));
        };
        let raw = self.text(span).to_string();
        if matches!(raw.as_str(), "struct" | "union" | "enum" | "typedef") {
            let d = Diagnostic::error(
                format!("C type definitions ('{raw} ...') are not supported"),
                span,
            )
            .with_code(codes::UNSUPPORTED_SYNTAX)
            .with_hint("kestrel reads kernel types from BTF; cast pointers with '(struct name *)'");
            return Err(self.report(d));
        }
        self.seek(span.end as usize);
        let parts = raw.split(':').map(str::to_string).collect();
        Ok(ProbeSpec { raw, parts, span })
    }

    /// `/ expr /`: the first `/` outside parentheses and brackets closes it.
    fn predicate(&mut self) -> PResult<crate::ast::Expr> {
        let open = self.bump();
        self.in_predicate = true;
        self.nesting = 0;
        let result = self.expr();
        self.in_predicate = false;
        let cond = result?;
        if self.eat(Punct::Slash).is_none() {
            return Err(self.unexpected_with(
                "'/' to close the predicate",
                Some((open.span, "predicate starts here")),
            ));
        }
        Ok(cond)
    }

    /// `{ stmts }`; `what` names the `{` in the error when it is missing.
    fn block(&mut self, what: &str) -> PResult<Block> {
        let open = self.expect(Punct::LBrace, what)?;
        self.open_blocks.push(open.span);
        let result = self.block_body(open.span);
        self.open_blocks.pop();
        result
    }
}

/// `peek` always fills the cache first; this keeps that invariant panic-free.
fn unreachable_token() -> &'static Token {
    static EOF: Token = Token {
        kind: TokenKind::Eof,
        span: Span { start: 0, end: 0 },
    };
    &EOF
}
