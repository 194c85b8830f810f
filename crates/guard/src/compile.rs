//! From parsed conditions to checked ones: macros and lists expanded (cycles found), fields
//! looked up in the field table with their arguments, literals typed against the field
//! (numbers for numeric fields, addresses for IP fields) and operators checked against the
//! field's type; exceptions become `and not (...)`; output templates are split into text and
//! fields.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::cond::{self, Expr, FieldRef, Lit, Op, Rhs};
use crate::diag::{did_you_mean, Diagnostic};
use crate::fields::{self, ArgMode, FieldDef, FieldType};
use crate::rules::{ExValue, ExceptionDef, ListDef, MacroDef, RuleFiles, Text};
use crate::source::Span;

/// A field's bracket argument, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldArg {
    /// None.
    None,
    /// `[N]`.
    Index(usize),
    /// `evt.arg.NAME` / `evt.arg[NAME]`.
    Name(String),
}

/// A field bound to its table row.
#[derive(Clone, Debug)]
pub struct BoundField {
    /// The table row.
    pub def: &'static FieldDef,
    /// Its argument.
    pub arg: FieldArg,
    /// As written (`proc.aname[2]`), for output_fields.
    pub name: String,
}

/// A typed literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// For string fields.
    Str(String),
    /// For numeric fields.
    Num(i64),
    /// For boolean fields.
    Bool(bool),
    /// An address.
    Ip(IpAddr),
    /// A network `addr/prefix`.
    Net(IpAddr, u8),
    /// For `evt.arg.*`: the text, and its number when it is one.
    Dyn(String, Option<i64>),
}

/// One comparison.
#[derive(Clone, Debug)]
pub struct Check {
    /// The field.
    pub field: BoundField,
    /// The operator.
    pub op: Op,
    /// Values (one for scalar operators, any number for list operators, none for exists).
    pub values: Vec<Literal>,
    /// Where it is written.
    pub span: Span,
}

/// A checked condition.
#[derive(Clone, Debug)]
pub enum CExpr {
    /// All hold.
    And(Vec<CExpr>),
    /// One holds.
    Or(Vec<CExpr>),
    /// Negation.
    Not(Box<CExpr>),
    /// A comparison.
    Check(Box<Check>),
}

/// A piece of an output template.
#[derive(Clone, Debug)]
pub enum OutPiece {
    /// Literal text.
    Text(String),
    /// `%field`.
    Field(BoundField),
    /// A Falco field kestrel does not compute (shown as `<NA>`).
    Missing(String),
}

/// What compiling one condition found that kestrel cannot evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// The field.
    pub field: String,
    /// Why.
    pub reason: String,
    /// Where.
    pub span: Span,
}

/// Compiles conditions of one set of rules files.
pub struct Compiler<'a> {
    files: &'a RuleFiles,
    macros: HashMap<&'a str, &'a MacroDef>,
    lists: HashMap<&'a str, &'a ListDef>,
    parsed: HashMap<String, Option<Expr>>,
    /// Errors found so far (deduplicated).
    pub diags: Vec<Diagnostic>,
    seen: HashSet<(&'static str, Span)>,
    /// Unsupported fields found by the current compilation.
    pub unsupported: Vec<Unsupported>,
    used_macros: HashSet<String>,
}

/// Longest chain of macros within macros.
const MAX_MACRO_DEPTH: usize = 64;

impl<'a> Compiler<'a> {
    /// A compiler for `files`.
    pub fn new(files: &'a RuleFiles) -> Compiler<'a> {
        Compiler {
            files,
            macros: files.macros.iter().map(|m| (m.name.as_str(), m)).collect(),
            lists: files.lists.iter().map(|l| (l.name.as_str(), l)).collect(),
            parsed: HashMap::new(),
            diags: Vec::new(),
            seen: HashSet::new(),
            unsupported: Vec::new(),
            used_macros: HashSet::new(),
        }
    }

    fn push(&mut self, d: Diagnostic, code: &'static str, span: Span) {
        if self.seen.insert((code, span)) {
            self.diags.push(d);
        }
    }

    fn error(
        &mut self,
        code: &'static str,
        msg: impl Into<String>,
        span: Span,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::error(code, msg, span, &self.files.sources);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.push(d, code, span);
    }

    /// Parse a condition text; errors reported.
    fn parse(&mut self, text: &Text) -> Option<Expr> {
        let loc = text.locator(&self.files.sources);
        match cond::parse(&text.text, &loc) {
            Ok(e) => Some(e),
            Err(e) => {
                self.error(e.code, e.message, e.span, e.hint);
                None
            }
        }
    }

    /// Compile a rule's condition with its exceptions. `None` after errors (in
    /// [`Compiler::diags`]); unsupported fields land in [`Compiler::unsupported`].
    pub fn rule(&mut self, condition: &Text, exceptions: &[ExceptionDef]) -> Option<CExpr> {
        let errors_before = self.error_count();
        let e = self.parse(condition)?;
        let c = self.expr(&e, &mut Vec::new());
        let mut ex = Vec::new();
        for x in exceptions {
            if let Some(e) = self.exception(x) {
                ex.push(e);
            }
        }
        if self.error_count() > errors_before {
            return None;
        }
        // A condition with unsupported fields has no tree; the caller reports the rule as
        // not evaluable from `unsupported`.
        let c = match c {
            Some(c) => c,
            None if !self.unsupported.is_empty() => CExpr::And(Vec::new()),
            None => return None,
        };
        Some(if ex.is_empty() {
            c
        } else {
            CExpr::And(vec![c, CExpr::Not(Box::new(CExpr::Or(ex)))])
        })
    }

    /// Compile a macro on its own (to report its errors even when unused).
    pub fn check_macro(&mut self, m: &MacroDef) {
        if let Some(e) = self.macro_expr(&m.name) {
            let mut stack = vec![m.name.clone()];
            let _ = self.expr(&e, &mut stack);
        }
    }

    /// Macros referenced by any compiled condition.
    pub fn used_macros(&self) -> &HashSet<String> {
        &self.used_macros
    }

    fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    fn macro_expr(&mut self, name: &str) -> Option<Expr> {
        if let Some(p) = self.parsed.get(name) {
            return p.clone();
        }
        let m = *self.macros.get(name)?;
        let p = self.parse(&m.condition);
        self.parsed.insert(name.to_string(), p.clone());
        p
    }

    fn expr(&mut self, e: &Expr, stack: &mut Vec<String>) -> Option<CExpr> {
        match e {
            Expr::And(items) | Expr::Or(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for i in items {
                    match self.expr(i, stack) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Some(if matches!(e, Expr::And(_)) {
                    CExpr::And(out)
                } else {
                    CExpr::Or(out)
                })
            }
            Expr::Not(inner) => Some(CExpr::Not(Box::new(self.expr(inner, stack)?))),
            Expr::Macro(name, span) => {
                if stack.iter().any(|s| s == name) {
                    let chain = stack
                        .iter()
                        .chain(std::iter::once(name))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" -> ");
                    self.error(
                        "G0302",
                        format!("macro '{name}' refers to itself: {chain}"),
                        *span,
                        Some("break the cycle".into()),
                    );
                    return None;
                }
                if stack.len() >= MAX_MACRO_DEPTH {
                    self.error(
                        "G0302",
                        format!("macros nested deeper than {MAX_MACRO_DEPTH}"),
                        *span,
                        None,
                    );
                    return None;
                }
                if !self.macros.contains_key(name.as_str()) {
                    let hint = if self.lists.contains_key(name.as_str()) {
                        Some(format!("'{name}' is a list; use it as 'field in ({name})'"))
                    } else {
                        let names: Vec<&str> = self.macros.keys().copied().collect();
                        did_you_mean(name, names).map(|s| format!("did you mean '{s}'?"))
                    };
                    self.error("G0303", format!("undefined macro '{name}'"), *span, hint);
                    return None;
                }
                self.used_macros.insert(name.clone());
                let body = self.macro_expr(name)?;
                stack.push(name.clone());
                let r = self.expr(&body, stack);
                stack.pop();
                r
            }
            Expr::Cmp {
                field,
                op,
                op_span,
                rhs,
            } => {
                let lits: Vec<Lit> = match rhs {
                    Rhs::None => Vec::new(),
                    Rhs::Value(v) => vec![v.clone()],
                    Rhs::List(items) => self.expand_list(items, &mut Vec::new())?,
                };
                self.check(field, *op, *op_span, &lits, matches!(rhs, Rhs::Value(_)))
            }
        }
    }

    /// List items with list names replaced by their items (recursively).
    fn expand_list(&mut self, items: &[Lit], stack: &mut Vec<String>) -> Option<Vec<Lit>> {
        let mut out = Vec::new();
        for it in items {
            let named = (!it.quoted)
                .then(|| self.lists.get(it.text.as_str()).copied())
                .flatten();
            match named {
                Some(l) => {
                    if stack.contains(&l.name) {
                        self.error(
                            "G0302",
                            format!("list '{}' contains itself", l.name),
                            it.span,
                            None,
                        );
                        return None;
                    }
                    stack.push(l.name.clone());
                    let inner = self.expand_list(&l.items, stack);
                    stack.pop();
                    out.extend(inner?);
                }
                None => out.push(it.clone()),
            }
        }
        Some(out)
    }

    /// Resolve a field reference; `None` after an error or an unsupported field.
    pub fn bind(&mut self, f: &FieldRef) -> Option<BoundField> {
        let Some(def) = fields::lookup(&f.name) else {
            if let Some(reason) = fields::unsupported_reason(&f.name) {
                self.unsupported.push(Unsupported {
                    field: f.name.clone(),
                    reason: reason.to_string(),
                    span: f.span,
                });
                return None;
            }
            let hint = did_you_mean(&f.name, fields::FIELDS.iter().map(|d| d.name))
                .map(|s| format!("did you mean '{s}'?"));
            self.error(
                "G0301",
                format!("unknown field '{}'", f.name),
                f.span,
                hint.or(Some("`kestrel guard fields` lists the fields".into())),
            );
            return None;
        };
        let written = match &f.arg {
            Some(a) => format!("{}[{a}]", f.name),
            None => f.name.clone(),
        };
        let arg = match (def.arg, &f.arg) {
            (ArgMode::None, None) => FieldArg::None,
            (ArgMode::None, Some(_)) => {
                self.error(
                    "G0305",
                    format!("field '{}' takes no argument", f.name),
                    f.span,
                    None,
                );
                return None;
            }
            (ArgMode::OptIndex, None) => FieldArg::None,
            (ArgMode::OptIndex, Some(a)) => match a.parse::<usize>() {
                Ok(n) => FieldArg::Index(n),
                Err(_) => {
                    self.error(
                        "G0305",
                        format!("the argument of '{}' must be a number, not '{a}'", f.name),
                        f.span,
                        None,
                    );
                    return None;
                }
            },
            (ArgMode::Arg, arg) => {
                let named = f
                    .name
                    .strip_prefix("evt.arg.")
                    .or_else(|| f.name.strip_prefix("evt.rawarg."))
                    .map(str::to_string);
                match (named, arg) {
                    (Some(n), None) if !n.is_empty() => FieldArg::Name(n),
                    (None, Some(a)) => match a.parse::<usize>() {
                        Ok(n) => FieldArg::Index(n),
                        Err(_) => FieldArg::Name(a.clone()),
                    },
                    _ => {
                        self.error(
                            "G0305",
                            format!(
                                "{} needs an argument: {}.NAME or {}[N]",
                                def.name, def.name, def.name
                            ),
                            f.span,
                            None,
                        );
                        return None;
                    }
                }
            }
        };
        Some(BoundField {
            def,
            arg,
            name: written,
        })
    }

    fn check(
        &mut self,
        f: &FieldRef,
        op: Op,
        op_span: Span,
        lits: &[Lit],
        single: bool,
    ) -> Option<CExpr> {
        let field = self.bind(f)?;
        let ty = field.def.ty;
        let bad_op = match ty {
            FieldType::Str => op.is_ordering(),
            FieldType::Num | FieldType::Bool | FieldType::Ip => {
                op.is_string_op() || (ty != FieldType::Num && op.is_ordering())
            }
            FieldType::Dyn => false,
        };
        if bad_op {
            let need = if op.is_ordering() {
                "a number"
            } else {
                "a string"
            };
            self.error(
                "G0304",
                format!(
                    "operator '{}' needs {need}, but '{}' is {}",
                    op.as_str(),
                    field.name,
                    ty.name()
                ),
                op_span,
                None,
            );
            return None;
        }
        let mut values = Vec::new();
        for l in lits {
            values.push(self.literal(&field, op, l)?);
        }
        let _ = single;
        let span = f.span;
        Some(CExpr::Check(Box::new(Check {
            field,
            op,
            values,
            span,
        })))
    }

    fn literal(&mut self, field: &BoundField, op: Op, l: &Lit) -> Option<Literal> {
        let t = l.text.as_str();
        let ty = if op.is_string_op() && field.def.ty == FieldType::Dyn {
            FieldType::Str
        } else {
            field.def.ty
        };
        let v = match ty {
            FieldType::Str => Literal::Str(t.to_string()),
            FieldType::Dyn => Literal::Dyn(t.to_string(), parse_num(t)),
            FieldType::Num => match parse_num(t) {
                Some(n) => Literal::Num(n),
                None => {
                    self.error(
                        "G0306",
                        format!("'{t}' is not a number, but '{}' is numeric", field.name),
                        l.span,
                        None,
                    );
                    return None;
                }
            },
            FieldType::Bool => match t.to_ascii_lowercase().as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                _ => {
                    self.error(
                        "G0306",
                        format!(
                            "'{t}' is not true or false, but '{}' is a boolean",
                            field.name
                        ),
                        l.span,
                        None,
                    );
                    return None;
                }
            },
            FieldType::Ip => match parse_ip(t) {
                Some(v) => v,
                None => {
                    self.error(
                        "G0306",
                        format!(
                            "'{t}' is not an IP address or network, but '{}' is an address",
                            field.name
                        ),
                        l.span,
                        None,
                    );
                    return None;
                }
            },
        };
        Some(v)
    }

    fn exception(&mut self, x: &ExceptionDef) -> Option<CExpr> {
        if x.values.is_empty() {
            return None;
        }
        let mut ors = Vec::new();
        for tuple in &x.values {
            let mut ands = Vec::new();
            for (i, v) in tuple.iter().enumerate() {
                let (Some(f), Some(c)) = (x.fields.get(i), x.comps.get(i)) else {
                    self.error(
                        "G0113",
                        format!("exception '{}' has more values than fields", x.name),
                        x.span,
                        None,
                    );
                    return None;
                };
                let Some(op) = Op::ALL.iter().find(|(s, _)| *s == c.text).map(|(_, o)| *o) else {
                    self.error(
                        "G0208",
                        format!("unknown operator '{}' in exception '{}'", c.text, x.name),
                        c.span,
                        None,
                    );
                    return None;
                };
                let fref = field_ref(&f.text, f.span);
                let lits = match v {
                    ExValue::One(l) if op.takes_list() => {
                        self.expand_list(std::slice::from_ref(l), &mut Vec::new())?
                    }
                    ExValue::One(l) => vec![l.clone()],
                    ExValue::Many(items) => self.expand_list(items, &mut Vec::new())?,
                };
                if !op.takes_list() && op != Op::Exists && lits.len() != 1 {
                    self.error(
                        "G0113",
                        format!(
                            "'{}' takes one value, but a list was given in exception '{}'",
                            op.as_str(),
                            x.name
                        ),
                        c.span,
                        None,
                    );
                    return None;
                }
                ands.push(self.check(&fref, op, c.span, &lits, !op.takes_list())?);
            }
            ors.push(CExpr::And(ands));
        }
        Some(CExpr::Or(ors))
    }

    /// Split an output template into text and fields; unknown fields are errors.
    pub fn output(&mut self, t: &Text) -> Vec<OutPiece> {
        let s = &t.text;
        let loc = t.locator(&self.files.sources);
        let mut out = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        let b = s.as_bytes();
        while i < b.len() {
            if b[i] == b'%'
                && b.get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'(')
            {
                let paren = b[i + 1] == b'(';
                let start = i + 1 + usize::from(paren);
                let mut j = start;
                while j < b.len()
                    && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'.' | b'_' | b'-'))
                {
                    j += 1;
                }
                while j > start && matches!(b[j - 1], b'.' | b'-') {
                    j -= 1;
                }
                let name = &s[start..j];
                let mut end = j;
                let mut arg = None;
                if b.get(j) == Some(&b'[') {
                    if let Some(close) = s[j..].find(']') {
                        arg = Some(s[j + 1..j + close].to_string());
                        end = j + close + 1;
                    }
                }
                if paren && b.get(end) == Some(&b')') {
                    end += 1;
                }
                if !name.contains('.') {
                    text.push_str(&s[i..end]);
                    i = end;
                    continue;
                }
                if !text.is_empty() {
                    out.push(OutPiece::Text(std::mem::take(&mut text)));
                }
                let span = cond::Locate::range(&loc, i, end);
                let fref = FieldRef {
                    name: name.to_string(),
                    arg,
                    span,
                };
                let before = self.unsupported.len();
                match self.bind(&fref) {
                    Some(bf) => out.push(OutPiece::Field(bf)),
                    None => {
                        if self.unsupported.len() > before {
                            let reason = self.unsupported[before].reason.clone();
                            self.unsupported.truncate(before);
                            let d = Diagnostic::warning(
                                "G0403",
                                format!("'{name}' is shown as <NA>: {reason}"),
                                span,
                                &self.files.sources,
                            );
                            self.push(d, "G0403", span);
                            out.push(OutPiece::Missing(name.to_string()));
                        }
                    }
                }
                i = end;
            } else {
                let ch = s[i..].chars().next().unwrap_or(' ');
                text.push(ch);
                i += ch.len_utf8();
            }
        }
        if !text.is_empty() {
            out.push(OutPiece::Text(text));
        }
        out
    }
}

/// `proc.aname[2]` → name and argument.
fn field_ref(s: &str, span: Span) -> FieldRef {
    match s.find('[') {
        Some(i) if s.ends_with(']') => FieldRef {
            name: s[..i].to_string(),
            arg: Some(s[i + 1..s.len() - 1].to_string()),
            span,
        },
        _ => FieldRef {
            name: s.to_string(),
            arg: None,
            span,
        },
    }
}

/// Decimal or 0x-hex, with an optional sign.
pub fn parse_num(t: &str) -> Option<i64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => body.parse::<i64>().ok()?,
    };
    Some(if neg { v.checked_neg()? } else { v })
}

fn parse_ip(t: &str) -> Option<Literal> {
    match t.split_once('/') {
        Some((a, p)) => {
            let ip: IpAddr = a.parse().ok()?;
            let p: u8 = p.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (p <= max).then_some(Literal::Net(ip, p))
        }
        None => t.parse().ok().map(Literal::Ip),
    }
}
