//! Falco condition syntax: the syntax tree and its parser. Names are not resolved here
//! (macros, lists and fields are looked up by [`crate::compile`]); every node keeps the span
//! of its text in the rules file, so later errors point into the YAML.

use crate::source::Span;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=` (also `==`)
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in (a, b)`: equal to one of the values.
    In,
    /// `intersects (a, b)`: one of the field's values is in the list.
    Intersects,
    /// `contains s`
    Contains,
    /// `icontains s` (ASCII case-insensitive)
    IContains,
    /// `startswith s`
    StartsWith,
    /// `endswith s`
    EndsWith,
    /// `glob pattern` (`*`, `?`, `[...]`)
    Glob,
    /// `pmatch (/a, /b)`: the path is one of the paths or under one of them.
    PMatch,
    /// `exists`: the field has a value for this event.
    Exists,
}

impl Op {
    /// Every operator with its spelling.
    pub const ALL: [(&'static str, Op); 16] = [
        ("=", Op::Eq),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
        ("in", Op::In),
        ("intersects", Op::Intersects),
        ("contains", Op::Contains),
        ("icontains", Op::IContains),
        ("startswith", Op::StartsWith),
        ("endswith", Op::EndsWith),
        ("glob", Op::Glob),
        ("pmatch", Op::PMatch),
        ("exists", Op::Exists),
    ];

    /// The operator's spelling.
    pub fn as_str(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, o)| *o == self)
            .map_or("?", |(s, _)| s)
    }

    /// Operators whose right side is a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }

    /// Operators that need numbers.
    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    /// Operators that need strings.
    pub fn is_string_op(self) -> bool {
        matches!(
            self,
            Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith | Op::Glob | Op::PMatch
        )
    }
}

/// A field as written: `proc.aname[2]`, `evt.arg.flags`, `evt.arg[1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRef {
    /// The name without the bracket argument.
    pub name: String,
    /// The text inside `[...]`, if any.
    pub arg: Option<String>,
    /// Where it is written.
    pub span: Span,
}

/// A literal as written, with its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Lit {
    /// The text (quotes removed, escapes applied).
    pub text: String,
    /// True when it was quoted (a quoted word is never a list name).
    pub quoted: bool,
    /// Where it is written.
    pub span: Span,
}

/// The right side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Rhs {
    /// `exists` has none.
    None,
    /// One value.
    Value(Lit),
    /// `(a, b, list_name)`.
    List(Vec<Lit>),
}

/// A condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// One must hold.
    Or(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// A macro's name, replaced by its condition when compiled.
    Macro(String, Span),
    /// `field op rhs`.
    Cmp {
        /// The field.
        field: FieldRef,
        /// The operator.
        op: Op,
        /// Where the operator is written.
        op_span: Span,
        /// Its operand.
        rhs: Rhs,
    },
}

/// A syntax error in a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Stable code (G02xx).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// How to fix it.
    pub hint: Option<String>,
}

/// Maps a byte offset in the condition text to a span in the file.
pub trait Locate {
    /// The file position of condition byte `offset`.
    fn at(&self, offset: usize) -> Span;
    /// A span covering condition bytes `start..end`.
    fn range(&self, start: usize, end: usize) -> Span {
        let a = self.at(start);
        let b = self.at(end.max(start));
        if b.file == a.file && b.start >= a.start {
            Span::new(
                a.file,
                a.start,
                b.start.max(a.start + usize::from(end > start)),
            )
        } else {
            a
        }
    }
}

/// Deepest nesting of parentheses and `not` accepted (keeps hostile input off the stack).
const MAX_DEPTH: usize = 200;

/// Parse a whole condition.
pub fn parse(text: &str, loc: &dyn Locate) -> Result<Expr, ParseError> {
    let mut p = P {
        s: text,
        i: 0,
        loc,
        depth: 0,
    };
    p.ws();
    if p.i >= p.s.len() {
        return Err(p.err("G0201", "empty condition", p.i, p.i, None));
    }
    let e = p.or()?;
    p.ws();
    if p.i < p.s.len() {
        let (w, end) = p.peek_word();
        let msg = if p.s[p.i..].starts_with(')') {
            "unbalanced ')'".to_string()
        } else {
            format!("unexpected '{}' after a complete condition", w)
        };
        return Err(p.err(
            "G0202",
            msg,
            p.i,
            end.max(p.i + 1),
            Some("join conditions with 'and' or 'or'".into()),
        ));
    }
    Ok(e)
}

struct P<'a> {
    s: &'a str,
    i: usize,
    loc: &'a dyn Locate,
    depth: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

impl<'a> P<'a> {
    fn err(
        &self,
        code: &'static str,
        msg: impl Into<String>,
        a: usize,
        b: usize,
        hint: Option<String>,
    ) -> ParseError {
        ParseError {
            code,
            message: msg.into(),
            span: self.loc.range(a, b.min(self.s.len()).max(a)),
            hint,
        }
    }

    fn ch(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    fn ws(&mut self) {
        while let Some(c) = self.ch() {
            if c.is_whitespace() {
                self.i += c.len_utf8();
            } else {
                break;
            }
        }
    }

    /// The next run of non-space characters (for messages), and where it ends.
    fn peek_word(&self) -> (&'a str, usize) {
        let rest = &self.s[self.i..];
        let n = rest
            .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .unwrap_or(rest.len())
            .max(rest.chars().next().map_or(0, char::len_utf8));
        (&rest[..n], self.i + n)
    }

    /// `kw` as a whole word at the cursor.
    fn keyword(&mut self, kw: &str) -> bool {
        let rest = &self.s[self.i..];
        if let Some(tail) = rest.strip_prefix(kw) {
            let after = tail.chars().next();
            if after.is_none_or(|c| !is_ident(c) && c != '[') {
                self.i += kw.len();
                return true;
            }
        }
        false
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and()?];
        loop {
            self.ws();
            if self.keyword("or") {
                items.push(self.and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.not()?];
        loop {
            self.ws();
            if self.keyword("and") {
                items.push(self.not()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                "G0203",
                format!("condition nested deeper than {MAX_DEPTH} levels"),
                self.i,
                self.i + 1,
                None,
            ));
        }
        Ok(())
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        if self.keyword("not") {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        let start = self.i;
        match self.ch() {
            None => Err(self.err(
                "G0204",
                "condition ends where an operand was expected",
                start.saturating_sub(1),
                start,
                Some(
                    "a condition such as 'proc.name = bash', a macro name or '(...)' must follow"
                        .into(),
                ),
            )),
            Some('(') => {
                self.enter()?;
                self.i += 1;
                let e = self.or()?;
                self.ws();
                if self.ch() != Some(')') {
                    return Err(self.err(
                        "G0205",
                        "'(' is never closed",
                        start,
                        start + 1,
                        Some("add the missing ')'".into()),
                    ));
                }
                self.i += 1;
                self.depth -= 1;
                Ok(e)
            }
            Some(c) if is_ident_start(c) => {
                let name_end = self.s[self.i..]
                    .find(|c: char| !is_ident(c))
                    .map_or(self.s.len(), |n| self.i + n);
                let name = &self.s[self.i..name_end];
                if matches!(name, "and" | "or") {
                    return Err(self.err(
                        "G0204",
                        format!("'{name}' where an operand was expected"),
                        start,
                        name_end,
                        None,
                    ));
                }
                self.i = name_end;
                let mut arg = None;
                if self.ch() == Some('[') {
                    let close = self.s[self.i..].find(']').map(|n| self.i + n);
                    let Some(close) = close else {
                        return Err(self.err(
                            "G0206",
                            "'[' of a field argument is never closed",
                            self.i,
                            self.i + 1,
                            None,
                        ));
                    };
                    arg = Some(self.s[self.i + 1..close].trim().to_string());
                    self.i = close + 1;
                }
                let field_end = self.i;
                if !name.contains('.') && arg.is_none() {
                    return Ok(Expr::Macro(
                        name.to_string(),
                        self.loc.range(start, name_end),
                    ));
                }
                let field = FieldRef {
                    name: name.to_string(),
                    arg,
                    span: self.loc.range(start, field_end),
                };
                self.comparison(field)
            }
            Some(_) => {
                let (w, end) = self.peek_word();
                Err(self.err(
                    "G0204",
                    format!("unexpected '{w}' where a field, a macro or '(' was expected"),
                    start,
                    end,
                    None,
                ))
            }
        }
    }

    fn comparison(&mut self, field: FieldRef) -> Result<Expr, ParseError> {
        self.ws();
        let op_start = self.i;
        let rest = &self.s[self.i..];
        let sym = ["==", "!=", "<=", ">=", "=", "<", ">"]
            .into_iter()
            .find(|s| rest.starts_with(s));
        let op = if let Some(sym) = sym {
            self.i += sym.len();
            Op::ALL.iter().find(|(s, _)| *s == sym).map(|(_, o)| *o)
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let word = &rest[..end];
            if word.is_empty() || matches!(word, "and" | "or") {
                return Err(self.err(
                    "G0207",
                    format!("field '{}' is not compared with anything", field.name),
                    op_start.saturating_sub(1),
                    op_start,
                    Some(
                        "add an operator and a value, e.g. '= value', 'in (a, b)' or 'exists'"
                            .into(),
                    ),
                ));
            }
            match Op::ALL.iter().find(|(s, _)| *s == word) {
                Some((_, o)) => {
                    self.i += end;
                    Some(*o)
                }
                None => {
                    let names: Vec<&str> = Op::ALL.iter().map(|(s, _)| *s).collect();
                    let hint = match crate::diag::did_you_mean(word, names.iter().copied()) {
                        Some(s) => format!("did you mean '{s}'?"),
                        None => format!("operators: {}", names.join(" ")),
                    };
                    return Err(self.err(
                        "G0208",
                        format!("unknown operator '{word}'"),
                        op_start,
                        op_start + end,
                        Some(hint),
                    ));
                }
            }
        };
        let Some(op) = op else {
            return Err(self.err("G0208", "unknown operator", op_start, op_start + 1, None));
        };
        let op_span = self.loc.range(op_start, self.i);
        let rhs = if op == Op::Exists {
            Rhs::None
        } else if op.takes_list() {
            self.list(op)?
        } else {
            Rhs::Value(self.value(op)?)
        };
        Ok(Expr::Cmp {
            field,
            op,
            op_span,
            rhs,
        })
    }

    fn list(&mut self, op: Op) -> Result<Rhs, ParseError> {
        self.ws();
        let start = self.i;
        if self.ch() != Some('(') {
            // `in list_name` without parentheses: accepted as a list reference.
            if self.ch().is_some_and(is_ident_start) {
                let v = self.value(op)?;
                return Ok(Rhs::List(vec![v]));
            }
            return Err(self.err(
                "G0209",
                format!("'{}' needs a list such as (a, b)", op.as_str()),
                start,
                start + 1,
                None,
            ));
        }
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            match self.ch() {
                Some(')') => {
                    self.i += 1;
                    return Ok(Rhs::List(items));
                }
                None => {
                    return Err(self.err(
                        "G0205",
                        "list '(' is never closed",
                        start,
                        start + 1,
                        Some("add the missing ')'".into()),
                    ))
                }
                _ => {}
            }
            items.push(self.item()?);
            self.ws();
            match self.ch() {
                Some(',') => self.i += 1,
                Some(')') => {}
                _ => {
                    let (w, end) = self.peek_word();
                    return Err(self.err(
                        "G0210",
                        format!("expected ',' or ')' in a list, found '{w}'"),
                        self.i,
                        end,
                        None,
                    ));
                }
            }
        }
    }

    /// One list item: quoted, or bare up to ',', ')' or a space.
    fn item(&mut self) -> Result<Lit, ParseError> {
        if matches!(self.ch(), Some('"' | '\'')) {
            return self.quoted();
        }
        let start = self.i;
        let end = self.s[self.i..]
            .find(|c: char| c == ',' || c == ')' || c == '(' || c.is_whitespace())
            .map_or(self.s.len(), |n| self.i + n);
        if end == start {
            return Err(self.err("G0211", "empty list item", start, start + 1, None));
        }
        self.i = end;
        Ok(Lit {
            text: self.s[start..end].to_string(),
            quoted: false,
            span: self.loc.range(start, end),
        })
    }

    fn value(&mut self, op: Op) -> Result<Lit, ParseError> {
        self.ws();
        if matches!(self.ch(), Some('"' | '\'')) {
            return self.quoted();
        }
        let start = self.i;
        let end = self.s[self.i..]
            .find(|c: char| c == ')' || c == '(' || c == ',' || c.is_whitespace())
            .map_or(self.s.len(), |n| self.i + n);
        if end == start {
            return Err(self.err(
                "G0211",
                format!("'{}' needs a value", op.as_str()),
                start.saturating_sub(1),
                start,
                None,
            ));
        }
        self.i = end;
        Ok(Lit {
            text: self.s[start..end].to_string(),
            quoted: false,
            span: self.loc.range(start, end),
        })
    }

    fn quoted(&mut self) -> Result<Lit, ParseError> {
        let start = self.i;
        let q = self.ch().unwrap_or('"');
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.ch() else {
                return Err(self.err(
                    "G0212",
                    "string is never closed",
                    start,
                    start + 1,
                    Some(format!("add the closing {q}")),
                ));
            };
            self.i += c.len_utf8();
            if c == q {
                break;
            }
            if c == '\\' {
                if let Some(n) = self.ch() {
                    self.i += n.len_utf8();
                    out.push(match n {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                    continue;
                }
            }
            out.push(c);
        }
        Ok(Lit {
            text: out,
            quoted: true,
            span: self.loc.range(start, self.i),
        })
    }
}

/// A [`Locate`] for text that is not in any file (tests, the CLI's one-liners): offsets map
/// to themselves in file 0.
pub struct Identity;

impl Locate for Identity {
    fn at(&self, offset: usize) -> Span {
        Span::new(0, offset, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Expr, ParseError> {
        parse(s, &Identity)
    }

    #[test]
    fn precedence_and_shapes() {
        let e = p("a or b and not c").expect("parses");
        let Expr::Or(items) = e else { panic!("or") };
        assert!(matches!(items[0], Expr::Macro(ref n, _) if n == "a"));
        let Expr::And(ref inner) = items[1] else {
            panic!("and")
        };
        assert!(matches!(inner[1], Expr::Not(_)));
        let e = p("evt.dir=< and proc.aname[2] in (a, \"b c\", 'd') and fd.name exists")
            .expect("parses");
        let Expr::And(items) = e else { panic!() };
        let Expr::Cmp { field, op, rhs, .. } = &items[0] else {
            panic!()
        };
        assert_eq!((field.name.as_str(), *op), ("evt.dir", Op::Eq));
        assert_eq!(
            rhs,
            &Rhs::Value(Lit {
                text: "<".into(),
                quoted: false,
                span: Span::new(0, 8, 9)
            })
        );
        let Expr::Cmp {
            field,
            rhs: Rhs::List(l),
            ..
        } = &items[1]
        else {
            panic!()
        };
        assert_eq!(field.arg.as_deref(), Some("2"));
        assert_eq!(
            l.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["a", "b c", "d"]
        );
        assert!(matches!(
            items[2],
            Expr::Cmp {
                op: Op::Exists,
                rhs: Rhs::None,
                ..
            }
        ));
    }

    #[test]
    fn errors_are_located() {
        let e = p("proc.name = a and (b or c").expect_err("open paren");
        assert_eq!((e.code, e.span.start), ("G0205", 18));
        let e = p("proc.name equals a").expect_err("op");
        assert_eq!((e.code, e.span.start, e.span.end), ("G0208", 10, 16));
        let e = p("proc.name").expect_err("no op");
        assert_eq!(e.code, "G0207");
        let e = p("proc.name = a b").expect_err("junk");
        assert_eq!((e.code, e.span.start), ("G0202", 14));
        let e = p("proc.name in (a b)").expect_err("comma");
        assert_eq!(e.code, "G0210");
        let e = p("proc.name = 'x").expect_err("quote");
        assert_eq!(e.code, "G0212");
        let deep = "(".repeat(500) + "a" + &")".repeat(500);
        assert_eq!(p(&deep).expect_err("deep").code, "G0203");
        assert_eq!(p("").expect_err("empty").code, "G0201");
        assert_eq!(p("a and").expect_err("dangling").code, "G0204");
    }
}
