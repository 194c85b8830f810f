//! The lexer: source text to tokens, one token at a time from any byte offset.
//!
//! The parser drives the lexer position by position rather than consuming a pre-built token
//! list, because bpftrace's syntax is context sensitive: at the top level a probe spec such as
//! `uprobe:/bin/bash:readline` or `t:syscalls:sys_enter_*` is raw text ([`probe_spec`]), while
//! inside predicates and blocks the same characters are operators ([`next_token`]).
//! Whitespace, `//` and `/* */` comments, the `#!` shebang and `#include` lines are trivia.
//!
//! ```
//! use kestrel_lang::lexer::{next_token, TokenKind};
//! let (tok, _) = next_token("  @x = 1;", 0);
//! assert_eq!(tok.kind, TokenKind::Map("x".into()));
//! ```

mod literal;

use crate::diag::codes;
use std::fmt;

use logos::Logos;

use crate::diag::Diagnostic;
use crate::span::Span;

/// What a token is; literal tokens carry their decoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A name: builtins (`pid`, `comm`), functions (`printf`), type names (`uint8`, `struct`).
    Ident(String),
    /// `$name` (the name without `$`).
    Var(String),
    /// `$1`, `$2`, ...
    Positional(u32),
    /// `$#`.
    PositionalCount,
    /// `@name` (without `@`); the anonymous map `@` has an empty name.
    Map(String),
    /// An integer literal's value.
    Int(u64),
    /// A string literal with escapes decoded.
    Str(String),
    /// A keyword.
    Keyword(Keyword),
    /// An operator or punctuation mark.
    Punct(Punct),
    /// The end of the source.
    Eof,
    /// Text that is not a token; the lexer's diagnostic says why.
    Error,
}

/// Reserved words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    /// `if`
    If,
    /// `else`
    Else,
    /// `while`
    While,
    /// `unroll`
    Unroll,
    /// `for`
    For,
    /// `break`
    Break,
    /// `continue`
    Continue,
    /// `return`
    Return,
    /// `sizeof`
    Sizeof,
    /// `offsetof`
    Offsetof,
}

impl Keyword {
    /// The keyword as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::If => "if",
            Keyword::Else => "else",
            Keyword::While => "while",
            Keyword::Unroll => "unroll",
            Keyword::For => "for",
            Keyword::Break => "break",
            Keyword::Continue => "continue",
            Keyword::Return => "return",
            Keyword::Sizeof => "sizeof",
            Keyword::Offsetof => "offsetof",
        }
    }
}

macro_rules! puncts {
    ($($name:ident => $text:literal,)*) => {
        /// Operators and punctuation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Punct {
            $(
                #[doc = concat!("`", $text, "`")]
                $name,
            )*
        }

        impl Punct {
            /// The operator as written.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Punct::$name => $text,)*
                }
            }
        }
    };
}

puncts! {
    Plus => "+", Minus => "-", Star => "*", Slash => "/", Percent => "%",
    Amp => "&", Pipe => "|", Caret => "^", Tilde => "~", Bang => "!",
    Shl => "<<", Shr => ">>", EqEq => "==", Ne => "!=", Lt => "<", Le => "<=", Gt => ">",
    Ge => ">=", AndAnd => "&&", OrOr => "||", Assign => "=", PlusEq => "+=", MinusEq => "-=",
    StarEq => "*=", SlashEq => "/=", PercentEq => "%=", AmpEq => "&=", PipeEq => "|=",
    CaretEq => "^=", ShlEq => "<<=", ShrEq => ">>=", PlusPlus => "++", MinusMinus => "--",
    Arrow => "->", Dot => ".", Question => "?", Colon => ":", Comma => ",", Semi => ";",
    LParen => "(", RParen => ")", LBracket => "[", RBracket => "]", LBrace => "{", RBrace => "}",
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Its source text.
    pub span: Span,
}

impl fmt::Display for TokenKind {
    /// How error messages name a token: `identifier foo`, `';'`, `end of input`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Ident(n) => write!(f, "'identifier {n}'"),
            TokenKind::Var(n) => write!(f, "'variable ${n}'"),
            TokenKind::Positional(n) => write!(f, "'positional parameter ${n}'"),
            TokenKind::PositionalCount => write!(f, "'$#'"),
            TokenKind::Map(n) => write!(f, "'map @{n}'"),
            TokenKind::Int(v) => write!(f, "'integer {v}'"),
            TokenKind::Str(_) => write!(f, "a string literal"),
            TokenKind::Keyword(k) => write!(f, "keyword '{}'", k.as_str()),
            TokenKind::Punct(p) => write!(f, "'{}'", p.as_str()),
            TokenKind::Eof => write!(f, "end of input"),
            TokenKind::Error => write!(f, "an invalid token"),
        }
    }
}

/// The token shapes logos recognises; values are decoded afterwards.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
enum Raw {
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r"\$[A-Za-z_][A-Za-z0-9_]*")]
    Var,
    #[regex(r"\$[0-9]+")]
    Positional,
    #[token("$#")]
    PositionalCount,
    #[regex(r"@[A-Za-z_][A-Za-z0-9_]*")]
    Map,
    #[token("@")]
    AnonMap,
    // Deliberately loose so that `12abc` is one bad literal, not `12` then `abc`.
    #[regex(r"[0-9][0-9A-Za-z_]*")]
    Int,
    #[token("\"")]
    Quote,
    #[token("if", |_| Keyword::If)]
    #[token("else", |_| Keyword::Else)]
    #[token("while", |_| Keyword::While)]
    #[token("unroll", |_| Keyword::Unroll)]
    #[token("for", |_| Keyword::For)]
    #[token("break", |_| Keyword::Break)]
    #[token("continue", |_| Keyword::Continue)]
    #[token("return", |_| Keyword::Return)]
    #[token("sizeof", |_| Keyword::Sizeof)]
    #[token("offsetof", |_| Keyword::Offsetof)]
    Keyword(Keyword),
    #[token("+", |_| Punct::Plus)]
    #[token("-", |_| Punct::Minus)]
    #[token("*", |_| Punct::Star)]
    #[token("/", |_| Punct::Slash)]
    #[token("%", |_| Punct::Percent)]
    #[token("&", |_| Punct::Amp)]
    #[token("|", |_| Punct::Pipe)]
    #[token("^", |_| Punct::Caret)]
    #[token("~", |_| Punct::Tilde)]
    #[token("!", |_| Punct::Bang)]
    #[token("<<", |_| Punct::Shl)]
    #[token(">>", |_| Punct::Shr)]
    #[token("==", |_| Punct::EqEq)]
    #[token("!=", |_| Punct::Ne)]
    #[token("<", |_| Punct::Lt)]
    #[token("<=", |_| Punct::Le)]
    #[token(">", |_| Punct::Gt)]
    #[token(">=", |_| Punct::Ge)]
    #[token("&&", |_| Punct::AndAnd)]
    #[token("||", |_| Punct::OrOr)]
    #[token("=", |_| Punct::Assign)]
    #[token("+=", |_| Punct::PlusEq)]
    #[token("-=", |_| Punct::MinusEq)]
    #[token("*=", |_| Punct::StarEq)]
    #[token("/=", |_| Punct::SlashEq)]
    #[token("%=", |_| Punct::PercentEq)]
    #[token("&=", |_| Punct::AmpEq)]
    #[token("|=", |_| Punct::PipeEq)]
    #[token("^=", |_| Punct::CaretEq)]
    #[token("<<=", |_| Punct::ShlEq)]
    #[token(">>=", |_| Punct::ShrEq)]
    #[token("++", |_| Punct::PlusPlus)]
    #[token("--", |_| Punct::MinusMinus)]
    #[token("->", |_| Punct::Arrow)]
    #[token(".", |_| Punct::Dot)]
    #[token("?", |_| Punct::Question)]
    #[token(":", |_| Punct::Colon)]
    #[token(",", |_| Punct::Comma)]
    #[token(";", |_| Punct::Semi)]
    #[token("(", |_| Punct::LParen)]
    #[token(")", |_| Punct::RParen)]
    #[token("[", |_| Punct::LBracket)]
    #[token("]", |_| Punct::RBracket)]
    #[token("{", |_| Punct::LBrace)]
    #[token("}", |_| Punct::RBrace)]
    Punct(Punct),
}

/// A problem found while skipping trivia, and where lexing can go on.
#[derive(Clone, Debug, PartialEq)]
pub struct TriviaError {
    /// What is wrong (an unterminated comment, an unsupported directive).
    pub diagnostic: Box<Diagnostic>,
    /// Offset just past the offending text.
    pub resume: usize,
}

/// Skip whitespace, comments and preprocessor lines from `pos`.
///
/// Returns the offset of the next significant character. A problem in the trivia (an
/// unterminated `/*`, a `#define`) is returned as a diagnostic together with the offset
/// where lexing can resume.
pub fn skip_trivia(src: &str, mut pos: usize) -> Result<usize, TriviaError> {
    let bytes = src.as_bytes();
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let rest = &bytes[pos.min(bytes.len())..];
        if rest.starts_with(b"//") {
            pos = line_end(src, pos);
        } else if rest.starts_with(b"/*") {
            match src[pos + 2..].find("*/") {
                Some(i) => pos = pos + 2 + i + 2,
                None => {
                    let d =
                        Diagnostic::error("unterminated block comment", Span::new(pos, pos + 2))
                            .with_code(codes::UNTERMINATED_COMMENT)
                            .with_label("this comment is never closed")
                            .with_hint("close it with '*/'");
                    return Err(TriviaError {
                        diagnostic: Box::new(d),
                        resume: src.len(),
                    });
                }
            }
        } else if rest.starts_with(b"#") && at_line_start(src, pos) {
            let end = line_end(src, pos);
            let line = src[pos..end].trim_end();
            let directive = line[1..].trim_start();
            if line.starts_with("#!") || directive.starts_with("include") {
                pos = end;
            } else {
                let word: String = directive
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                let d = if word == "define" {
                    Diagnostic::error(
                        "'#define' is not supported yet",
                        Span::new(pos, pos + line.len()),
                    )
                    .with_code(codes::PREPROCESSOR)
                    .with_hint("use a scratch variable or a positional parameter instead")
                } else {
                    Diagnostic::error(
                        format!("unknown preprocessor directive '#{word}'"),
                        Span::new(pos, pos + line.len()),
                    )
                    .with_code(codes::PREPROCESSOR)
                    .with_note("only '#include' lines are accepted (and ignored)")
                };
                return Err(TriviaError {
                    diagnostic: Box::new(d),
                    resume: end,
                });
            }
        } else {
            return Ok(pos.min(src.len()));
        }
    }
}

fn line_end(src: &str, pos: usize) -> usize {
    src[pos..].find('\n').map_or(src.len(), |i| pos + i)
}

fn at_line_start(src: &str, pos: usize) -> bool {
    src[..pos]
        .rsplit('\n')
        .next()
        .is_some_and(|before| before.trim().is_empty())
}

/// Lex the token at or after `pos` (trivia is skipped first).
///
/// Returns the token and, for [`TokenKind::Error`], the diagnostic explaining it. The next
/// token starts at or after `token.span.end`; an error token's span covers the bad text.
pub fn next_token(src: &str, pos: usize) -> (Token, Option<Diagnostic>) {
    let pos = match skip_trivia(src, pos.min(src.len())) {
        Ok(p) => p,
        Err(TriviaError { diagnostic, resume }) => {
            let start = diagnostic.primary.span.start as usize;
            let span = Span::new(start, resume.max(diagnostic.primary.span.end as usize));
            return (
                Token {
                    kind: TokenKind::Error,
                    span,
                },
                Some(*diagnostic),
            );
        }
    };
    if pos >= src.len() {
        return (
            Token {
                kind: TokenKind::Eof,
                span: Span::new(src.len(), src.len()),
            },
            None,
        );
    }
    let mut lex = Raw::lexer(&src[pos..]);
    let raw = lex.next();
    let range = lex.span();
    let (start, end) = (pos + range.start, pos + range.end);
    let text = &src[start..end];
    let tok = |kind| {
        (
            Token {
                kind,
                span: Span::new(start, end),
            },
            None,
        )
    };
    let err = |d: Diagnostic, end: usize| {
        (
            Token {
                kind: TokenKind::Error,
                span: Span::new(start, end),
            },
            Some(d),
        )
    };
    match raw {
        None => (
            Token {
                kind: TokenKind::Eof,
                span: Span::new(src.len(), src.len()),
            },
            None,
        ),
        Some(Err(())) => {
            let ch = src[start..].chars().next().unwrap_or('?');
            let end = start + ch.len_utf8();
            let d = Diagnostic::error(format!("unknown character {ch:?}"), Span::new(start, end))
                .with_code(codes::UNKNOWN_CHARACTER)
                .with_label("not part of the language");
            err(d, end)
        }
        Some(Ok(raw)) => match raw {
            Raw::Ident => tok(TokenKind::Ident(text.to_string())),
            Raw::Var => tok(TokenKind::Var(text[1..].to_string())),
            Raw::Positional => match text[1..].parse::<u32>() {
                Ok(n) => tok(TokenKind::Positional(n)),
                Err(_) => err(
                    Diagnostic::error(
                        format!("positional parameter '{text}' is too large"),
                        Span::new(start, end),
                    )
                    .with_code(codes::INVALID_NUMBER),
                    end,
                ),
            },
            Raw::PositionalCount => tok(TokenKind::PositionalCount),
            Raw::Map => tok(TokenKind::Map(text[1..].to_string())),
            Raw::AnonMap => tok(TokenKind::Map(String::new())),
            Raw::Int => lex_int(src, start, end),
            Raw::Quote => lex_string(src, start),
            Raw::Keyword(k) => tok(TokenKind::Keyword(k)),
            Raw::Punct(p) => tok(TokenKind::Punct(p)),
        },
    }
}

fn lex_int(src: &str, start: usize, end: usize) -> (Token, Option<Diagnostic>) {
    let text = &src[start..end];
    let after_dot = src[..start].ends_with('.');
    let rest = &src[end..];
    // `1.5` is a float unless it is tuple indexing like `$t.0.1`.
    if !after_dot && rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
        let frac = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(rest.len(), |i| i + 1);
        let end = end + frac;
        let d = Diagnostic::error(
            "floating-point numbers are not supported",
            Span::new(start, end),
        )
        .with_code(codes::INVALID_NUMBER)
        .with_note("eBPF programs compute with integers only");
        return (
            Token {
                kind: TokenKind::Error,
                span: Span::new(start, end),
            },
            Some(d),
        );
    }
    match literal::parse_int(text) {
        Ok(v) => (
            Token {
                kind: TokenKind::Int(v),
                span: Span::new(start, end),
            },
            None,
        ),
        Err(why) => {
            let d = Diagnostic::error(
                format!("invalid integer literal '{text}'"),
                Span::new(start, end),
            )
            .with_code(codes::INVALID_NUMBER)
            .with_label(why);
            (
                Token {
                    kind: TokenKind::Error,
                    span: Span::new(start, end),
                },
                Some(d),
            )
        }
    }
}

fn lex_string(src: &str, start: usize) -> (Token, Option<Diagnostic>) {
    match literal::scan_string(src, start) {
        literal::StrScan::Ok(value, end) => (
            Token {
                kind: TokenKind::Str(value),
                span: Span::new(start, end),
            },
            None,
        ),
        literal::StrScan::Unterminated(end) => {
            let d = Diagnostic::error(
                "unterminated string literal",
                Span::new(start, end.max(start + 1)),
            )
            .with_code(codes::UNTERMINATED_STRING)
            .with_label("this string has no closing '\"'")
            .with_hint("strings end on the line they start; write '\\n' for a newline");
            (
                Token {
                    kind: TokenKind::Error,
                    span: Span::new(start, end),
                },
                Some(d),
            )
        }
        literal::StrScan::BadEscape(s, e, msg) => {
            let d = Diagnostic::error(msg, Span::new(s, e))
                .with_code(codes::INVALID_ESCAPE)
                .with_label("invalid escape")
                .with_note("escapes are \\n \\t \\r \\\\ \\\" \\' \\xNN and octal \\NNN");
            let end = match literal::scan_string(src, start) {
                literal::StrScan::Ok(_, end) | literal::StrScan::Unterminated(end) => end,
                literal::StrScan::BadEscape(..) => e,
            };
            (
                Token {
                    kind: TokenKind::Error,
                    span: Span::new(start, end.max(e)),
                },
                Some(d),
            )
        }
    }
}

/// Read a probe spec at `pos` (which must be at a significant character, see [`skip_trivia`]).
///
/// A spec is raw text such as `tracepoint:syscalls:sys_enter_*` or `uprobe:/bin/bash:readline`.
/// It ends at whitespace, `,`, `{`, `}`, `;`, `(`, `)`, `"`, or a `/` that is not part of a path:
/// a `/` belongs to the spec only when it starts a `:`-separated segment or the current segment
/// is a path (starts with `/` or `.`). Returns `None` when no spec starts here.
pub fn probe_spec(src: &str, pos: usize) -> Option<Span> {
    let first = src.get(pos..)?.chars().next()?;
    if !(first.is_ascii_alphanumeric() || first == '_' || first == '*') {
        return None;
    }
    let mut segment_start = pos;
    let mut end = pos;
    for (i, c) in src[pos..].char_indices() {
        let at = pos + i;
        let stop = c.is_whitespace() || matches!(c, ',' | '{' | '}' | ';' | '(' | ')' | '"');
        if stop {
            break;
        }
        if c == '/' {
            // `uprobe:testprogs/prog:f` (a relative path without `./`): a `/` right after
            // a user-space probe's binary segment, followed by more path, is part of it.
            let provider = &src[pos..at.min(src.len())];
            let user = ["uprobe:", "uretprobe:", "usdt:", "u:", "ur:", "U:"]
                .iter()
                .any(|p| provider.starts_with(p));
            let next = src[at + 1..].chars().next();
            let relative = user
                && provider.matches(':').count() == 1
                && next.is_some_and(|n| n.is_ascii_alphanumeric() || matches!(n, '_' | '.' | '-'));
            let in_path =
                at == segment_start || src[segment_start..].starts_with(['/', '.']) || relative;
            if !in_path {
                break;
            }
        }
        if c == ':' {
            segment_start = at + 1;
        }
        end = at + c.len_utf8();
    }
    Some(Span::new(pos, end))
}

/// Lex the whole source in expression mode (no probe specs): every token up to the end, and
/// every lexical diagnostic. Meant for tests and tools; the parser lexes on demand.
pub fn tokenize(src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut tokens = Vec::new();
    let mut diags = Vec::new();
    let mut pos = 0;
    loop {
        let (tok, diag) = next_token(src, pos);
        diags.extend(diag);
        if tok.kind == TokenKind::Eof {
            return (tokens, diags);
        }
        pos = (tok.span.end as usize).max(pos + 1);
        tokens.push(tok);
    }
}

#[cfg(test)]
mod tests {
    use super::{next_token, probe_spec, skip_trivia, tokenize, Keyword, Punct, TokenKind};

    fn kinds(src: &str) -> Vec<TokenKind> {
        let (toks, diags) = tokenize(src);
        assert!(diags.is_empty(), "{diags:?}");
        toks.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn names_and_sigils() {
        use TokenKind::*;
        assert_eq!(
            kinds("pid $x $1 $# @m @ if iffy sizeof"),
            vec![
                Ident("pid".into()),
                Var("x".into()),
                Positional(1),
                PositionalCount,
                Map("m".into()),
                Map(String::new()),
                Keyword(super::Keyword::If),
                Ident("iffy".into()),
                Keyword(super::Keyword::Sizeof),
            ]
        );
    }

    #[test]
    fn all_operators() {
        let ops =
            "+ - * / % & | ^ ~ ! << >> == != < <= > >= && || = += -= *= /= %= &= |= ^= <<= >>= \
                   ++ -- -> . ? : , ; ( ) [ ] { }";
        let got: Vec<String> = kinds(ops)
            .into_iter()
            .map(|k| match k {
                TokenKind::Punct(p) => p.as_str().to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        let want: Vec<&str> = ops.split_whitespace().collect();
        assert_eq!(got, want);
        assert_eq!(
            kinds("a->b<<=c"),
            vec![
                TokenKind::Ident("a".into()),
                TokenKind::Punct(Punct::Arrow),
                TokenKind::Ident("b".into()),
                TokenKind::Punct(Punct::ShlEq),
                TokenKind::Ident("c".into()),
            ]
        );
    }

    #[test]
    fn literals_and_trivia() {
        let src = "#!/usr/bin/env bpftrace\n#include <linux/sched.h>\n// c\n/* multi\nline */ 0x10 \"a\\tb\" 1e3 $t.0.1";
        assert_eq!(
            kinds(src),
            vec![
                TokenKind::Int(16),
                TokenKind::Str("a\tb".into()),
                TokenKind::Int(1000),
                TokenKind::Var("t".into()),
                TokenKind::Punct(Punct::Dot),
                TokenKind::Int(0),
                TokenKind::Punct(Punct::Dot),
                TokenKind::Int(1),
            ]
        );
        assert_eq!(
            kinds("else while unroll for break continue return offsetof").len(),
            8
        );
        assert_eq!(kinds("return")[0], TokenKind::Keyword(Keyword::Return));
    }

    #[test]
    fn lexical_errors() {
        let cases = [
            ("\"abc", "unterminated string literal"),
            ("/* abc", "unterminated block comment"),
            ("#define X 1\n", "'#define' is not supported yet"),
            ("x # y", "unknown character '#'"),
            ("`", "unknown character '`'"),
            ("1.5", "floating-point numbers are not supported"),
            ("09", "invalid integer literal '09'"),
            ("\"\\q\"", "unknown escape sequence '\\q'"),
        ];
        for (src, title) in cases {
            let (_, diags) = tokenize(src);
            assert_eq!(
                diags.first().map(|d| d.title.as_str()),
                Some(title),
                "{src}"
            );
        }
        assert_eq!(skip_trivia("  /* x */ a", 0), Ok(10));
        let (tok, _) = next_token("é", 0);
        assert_eq!((tok.kind, tok.span.end), (TokenKind::Error, 2));
    }

    #[test]
    fn probe_specs() {
        fn spec(s: &str) -> Option<&str> {
            probe_spec(s, 0).map(|sp| &s[sp.start as usize..sp.end as usize])
        }
        assert_eq!(spec("BEGIN {"), Some("BEGIN"));
        assert_eq!(spec("BEGIN{"), Some("BEGIN"));
        assert_eq!(
            spec("t:syscalls:sys_enter_*,"),
            Some("t:syscalls:sys_enter_*")
        );
        assert_eq!(
            spec("tracepoint:syscalls:sys_enter_openat/comm == \"cat\"/ {"),
            Some("tracepoint:syscalls:sys_enter_openat")
        );
        assert_eq!(
            spec("uprobe:/bin/bash:readline/pid/"),
            Some("uprobe:/bin/bash:readline")
        );
        assert_eq!(
            spec("uretprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc {"),
            Some("uretprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc")
        );
        assert_eq!(spec("uprobe:./a.out:main"), Some("uprobe:./a.out:main"));
        assert_eq!(
            spec("kprobe:do_sys_open+0x10 {"),
            Some("kprobe:do_sys_open+0x10")
        );
        assert_eq!(
            spec("hardware:cache-misses:1000000"),
            Some("hardware:cache-misses:1000000")
        );
        assert_eq!(
            spec("usdt:/path:provider:probe"),
            Some("usdt:/path:provider:probe")
        );
        assert_eq!(spec("/x/"), None);
        assert_eq!(spec("{"), None);
    }
}
