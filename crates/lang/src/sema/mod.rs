//! Semantic analysis: resolves probes against the kernel, names to maps, variables and
//! builtins, checks types, and lowers the AST to the typed [`ir`](crate::ir).
//!
//! Analysis runs twice over the script: the first pass only learns every map's key and value
//! types (so a map may be read in a probe written before the one that assigns it); the
//! second pass reports errors and builds the IR.

mod actions;
mod btf_access;
mod context;
mod expr;
mod format;
mod lints;
mod probes;
mod probes_kernel;
mod probes_perf;
mod probes_usdt;
mod probes_user;
mod stacks;
mod stmt;

use crate::diag::codes;
use crate::diag::with_article;
use std::collections::{HashMap, HashSet};

use kestrel_kernel::{KernelFacts, TracepointFormat};

use crate::ast;
use crate::diag::Diagnostic;
use crate::ir::{self, Attach, MapDecl, MapValue};
use crate::span::Span;
use crate::types::Type;

pub use format::{parse_format, Conversion, FormatError};

/// The result of a successful analysis.
#[derive(Debug)]
pub struct Analysis {
    /// The typed program.
    pub program: ir::Program,
    /// Warnings found along the way.
    pub warnings: Vec<Diagnostic>,
}

/// Settings that change how a script is checked.
#[derive(Clone, Debug)]
pub struct Options {
    /// Positional parameters `$1`, `$2`, ... as given on the command line.
    pub positional: Vec<String>,
    /// Size of `str()` buffers and string values (bpftrace's BPFTRACE_STRLEN; default 64).
    pub str_len: u32,
    /// Allow functions that change the system (`system`, `signal`, `override`): `--unsafe`.
    pub unsafe_allowed: bool,
    /// `-p PID`: uprobes attach to this process only, libraries are found in its mappings,
    /// and every other probe (but BEGIN, END and interval) filters on it.
    pub pid: Option<u32>,
    /// Entries of every map without its own declared size (bpftrace's `max_map_keys`).
    pub max_map_keys: Option<u32>,
    /// Where `#include` looks and what `--include` adds.
    pub preproc: crate::preproc::Settings,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            positional: Vec::new(),
            str_len: 64,
            unsafe_allowed: false,
            pid: None,
            max_map_keys: None,
            preproc: crate::preproc::Settings::default(),
        }
    }
}

/// Check `program` against `kernel` and lower it to IR, with default [`Options`].
pub fn analyze(
    program: &ast::Program,
    kernel: &dyn KernelFacts,
) -> Result<Analysis, Vec<Diagnostic>> {
    analyze_with(program, kernel, &Options::default())
}

/// Check `program` against `kernel` with `options` and lower it to IR.
pub fn analyze_with(
    program: &ast::Program,
    kernel: &dyn KernelFacts,
    options: &Options,
) -> Result<Analysis, Vec<Diagnostic>> {
    if program.c_types.is_empty() {
        return analyze_here(program, kernel, options);
    }
    // The script's own C types join the kernel's BTF for this analysis.
    let empty;
    let base = match kernel.btf() {
        Ok(b) => b,
        Err(_) => {
            empty = kestrel_kernel::btf::Btf::empty();
            &empty
        }
    };
    let btf = crate::ctypes::extend(base, &program.c_types).map_err(|d| vec![d])?;
    let facts = crate::ctypes::WithScriptTypes { inner: kernel, btf };
    analyze_here(program, &facts, options)
}

fn analyze_here(
    program: &ast::Program,
    kernel: &dyn KernelFacts,
    options: &Options,
) -> Result<Analysis, Vec<Diagnostic>> {
    // Pass 1: learn map types; its diagnostics are discarded (pass 2 repeats them).
    let mut first = Checker::new(kernel, Vec::new(), true, options);
    first.program(program);
    let (maps, tuples) = learn_in_any_order(program, kernel, options, first);
    let (maps, tuples) = relearn_tuple_maps(program, kernel, options, maps, tuples);

    let mut second = Checker::new(kernel, maps, false, options);
    // Tuple ids learned in pass 1 are already in map types; keep them stable.
    second.tuples = tuples;
    let probes = second.program(program);
    for m in &mut second.maps {
        let declared = program.map_decls.iter().find(|d| d.map.name == m.name);
        m.max_entries = match declared.and_then(|d| d.size.as_ref()).map(|e| &e.kind) {
            Some(ast::ExprKind::Int(n)) => Some(u32::try_from(*n).unwrap_or(u32::MAX).max(1)),
            _ => options.max_map_keys,
        };
    }
    if second.errors.is_empty() {
        second.warnings.extend(lints::check(program));
        Ok(Analysis {
            program: ir::Program {
                probes,
                maps: second.maps,
                printfs: second.printfs,
                tuples: second.tuples,
                actions: second.actions,
                strftimes: second.strftimes,
            },
            warnings: second.warnings,
        })
    } else {
        Err(second.errors)
    }
}

/// A map value's description with an article when it names a type ("an int64"), as is for
/// tuples and aggregations ("(int64, string)", "count()").
fn value_words(described: &str) -> String {
    if described.ends_with(')') {
        described.to_string()
    } else {
        with_article(described)
    }
}

/// A map read before the probe that assigns it has no type yet in pass 1, so whatever is
/// built from that read (`@n[1] = @m[2]`) gets a guessed type. Learn again with pass 1's
/// types as hints for such reads, until nothing changes; assignments still decide every type.
/// Map order (the print order at exit) is kept.
fn learn_in_any_order(
    program: &ast::Program,
    kernel: &dyn KernelFacts,
    options: &Options,
    first: Checker<'_>,
) -> (Vec<MapDecl>, Vec<Vec<Type>>) {
    let (mut maps, mut tuples) = (first.maps, first.tuples);
    if !first.guessed {
        return (maps, tuples);
    }
    // Each round fixes one more link of a chain of maps read before their assignment.
    for _ in 0..4 {
        let mut again = Checker::new(kernel, Vec::new(), true, options);
        again.tuples = tuples.clone();
        again.hints = maps.clone();
        again.program(program);
        let mut relearned: Vec<MapDecl> = maps
            .iter()
            .filter_map(|m| again.maps.iter().find(|n| n.name == m.name).cloned())
            .collect();
        for m in &again.maps {
            if !relearned.iter().any(|n| n.name == m.name) {
                relearned.push(m.clone());
            }
        }
        tuples = again.tuples;
        let stable = relearned == maps;
        maps = relearned;
        if stable {
            break;
        }
    }
    (maps, tuples)
}

/// A tuple stored in a map during pass 1 may have been built from a map read before that
/// map's type was final (it widens later in the pass), giving a narrower shape than pass 2
/// will build from the final types: a bogus "type mismatch". Relearn the maps that hold or
/// are keyed by tuples with every other map's final type known, until nothing changes.
/// Map order (which is the print order at exit) is kept.
fn relearn_tuple_maps(
    program: &ast::Program,
    kernel: &dyn KernelFacts,
    options: &Options,
    mut maps: Vec<MapDecl>,
    mut tuples: Vec<Vec<Type>>,
) -> (Vec<MapDecl>, Vec<Vec<Type>>) {
    let has_tuple = |m: &MapDecl| {
        matches!(m.value, MapValue::Scalar(Type::Tuple { .. }))
            || m.keys.iter().any(|k| matches!(k, Type::Tuple { .. }))
    };
    for _ in 0..3 {
        if !maps.iter().any(has_tuple) {
            break;
        }
        let kept = maps.iter().filter(|m| !has_tuple(m)).cloned().collect();
        let mut again = Checker::new(kernel, kept, true, options);
        again.tuples = tuples.clone();
        again.program(program);
        let relearned: Vec<MapDecl> = maps
            .iter()
            .map(|m| {
                let fresh = again.maps.iter().find(|n| n.name == m.name);
                fresh.cloned().unwrap_or_else(|| m.clone())
            })
            .collect();
        tuples = again.tuples;
        let stable = relearned == maps;
        maps = relearned;
        if stable {
            break;
        }
    }
    (maps, tuples)
}

/// State shared by all probes during one pass.
pub(crate) struct Checker<'k> {
    kernel: &'k dyn KernelFacts,
    maps: Vec<MapDecl>,
    map_index: HashMap<String, usize>,
    printfs: Vec<ir::PrintfDecl>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Element types of each tuple shape seen so far.
    tuples: Vec<Vec<Type>>,
    /// True in the first pass, where unknown map types are not errors yet.
    learning: bool,
    /// Command-line settings.
    options: &'k Options,
    /// Actions userspace carries out, indexed by id.
    actions: Vec<crate::ir::actions::ActionDecl>,
    /// `strftime()` formats.
    strftimes: Vec<String>,
    /// Span and byte size of the last BTF array that decayed to a pointer, so `ntop()` can
    /// tell a `u32[4]` IPv6 address from a plain pointer.
    last_array: Option<(Span, u32)>,
    /// Map types from an earlier learning pass, for maps read before the probe that assigns
    /// them (bpftrace types maps over the whole script, so probe order must not matter).
    hints: Vec<MapDecl>,
    /// Maps declared from `hints` by a read; their first assignment replaces the hint.
    hinted: HashSet<usize>,
    /// Set when a learning pass read a map whose type it did not know yet.
    guessed: bool,
}

/// State of the probe being checked.
pub(crate) struct ProbeScope {
    attach: Attach,
    format: Option<TracepointFormat>,
    vars: Vec<ir::VarDecl>,
    var_index: HashMap<String, usize>,
    /// Where each variable was first assigned (for "first assigned here" in type errors).
    var_first: HashMap<String, Span>,
    /// Copies the enclosing `unroll`s make of the statement being checked (1 outside any).
    unroll_factor: u64,
    /// How many `while`/`for` loops enclose the statement being checked.
    loop_depth: u32,
    /// True inside the body of a `for ($kv : @map)`, which runs as a callback where the
    /// probe's context is out of reach.
    in_for_body: bool,
}

/// Marker for "an error was recorded; skip this subtree".
#[derive(Debug)]
pub(crate) struct Reported;

type Checked<T> = Result<T, Reported>;

impl<'k> Checker<'k> {
    fn new(
        kernel: &'k dyn KernelFacts,
        maps: Vec<MapDecl>,
        learning: bool,
        options: &'k Options,
    ) -> Checker<'k> {
        let map_index = maps
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        let maps = maps
            .into_iter()
            .map(|m| MapDecl {
                read_in_kernel: false,
                ..m
            })
            .collect();
        Checker {
            kernel,
            maps,
            map_index,
            printfs: Vec::new(),
            tuples: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            learning,
            options,
            actions: Vec::new(),
            strftimes: Vec::new(),
            last_array: None,
            hints: Vec::new(),
            hinted: HashSet::new(),
            guessed: false,
        }
    }

    fn error(&mut self, d: Diagnostic) -> Reported {
        // An unknown name is reported at its first use; later uses are echoes of it.
        let name_error = matches!(
            d.code,
            Some(c) if [
                codes::UNDEFINED_VARIABLE,
                codes::UNDEFINED_MAP,
                codes::UNKNOWN_FUNCTION,
                codes::UNKNOWN_IDENTIFIER,
                codes::UNKNOWN_TRACEPOINT_FIELD,
            ]
            .contains(&c)
        );
        let echo = name_error
            && self
                .errors
                .iter()
                .any(|e| e.code == d.code && e.title == d.title);
        if !echo {
            self.errors.push(d);
        }
        Reported
    }

    fn program(&mut self, program: &ast::Program) -> Vec<ir::Probe> {
        let mut begin = Vec::new();
        let mut middle = Vec::new();
        let mut end = Vec::new();
        if program.probes.is_empty() {
            self.error(
                Diagnostic::error("the script has no probes", program.span)
                    .with_code(codes::NO_PROBES)
                    .with_hint("a probe looks like: BEGIN { printf(\"hello\\n\"); exit(); }"),
            );
        }
        // Wildcards that match nothing: only an error when nothing else attaches either.
        let mut glob_misses = Vec::new();
        let mut attached = 0usize;
        for probe in &program.probes {
            for spec in &probe.specs {
                let spec = &self.substitute_positional(spec);
                let resolved = match probes::resolve(spec, self.kernel, self.options.pid) {
                    Ok(r) => r,
                    Err(d) if d.code == Some(codes::GLOB_MATCHES_NOTHING) => {
                        glob_misses.push(d);
                        continue;
                    }
                    Err(d) => {
                        self.error(d);
                        continue;
                    }
                };
                attached += resolved.len();
                for r in resolved {
                    let errors_before = self.errors.len();
                    let checked = self.probe(probe, spec.span, r.attach, r.format);
                    let failed = self.errors.len() > errors_before;
                    if let Ok(p) = checked {
                        match p.attach {
                            Attach::Begin => begin.push(p),
                            Attach::End => end.push(p),
                            _ => middle.push(p),
                        }
                    }
                    // A body that fails for one tracepoint of a glob fails the same way for
                    // the others; one report is enough.
                    if failed {
                        break;
                    }
                }
            }
        }
        for d in glob_misses {
            if attached > 0 {
                self.warnings.push(Diagnostic {
                    severity: crate::diag::Severity::Warning,
                    ..d.with_code(codes::GLOB_MATCHES_NOTHING_WARN)
                        .with_note("the other probes still attach")
                });
            } else {
                self.error(d);
            }
        }
        begin.extend(middle);
        begin.extend(end);
        begin
    }

    /// `interval:s:$1` → `interval:s:5`: positional parameters may appear in probe specs.
    fn substitute_positional(&self, spec: &ast::ProbeSpec) -> ast::ProbeSpec {
        let mut out = spec.clone();
        for part in &mut out.parts {
            if let Some(n) = part.strip_prefix('$').and_then(|d| d.parse::<usize>().ok()) {
                *part = n
                    .checked_sub(1)
                    .and_then(|i| self.options.positional.get(i))
                    .cloned()
                    .unwrap_or_default();
            }
        }
        out.raw = out.parts.join(":");
        out
    }

    fn probe(
        &mut self,
        probe: &ast::Probe,
        span: Span,
        attach: Attach,
        format: Option<TracepointFormat>,
    ) -> Checked<ir::Probe> {
        let mut scope = ProbeScope {
            attach,
            format,
            vars: Vec::new(),
            var_index: HashMap::new(),
            var_first: HashMap::new(),
            unroll_factor: 1,
            loop_depth: 0,
            in_for_body: false,
        };
        let predicate = match &probe.predicate {
            Some(p) => {
                let e = self.expr(p, &mut scope)?;
                Some(self.expect_int(e, "a predicate")?)
            }
            None => None,
        };
        let predicate = self.pid_filter(&scope.attach, predicate, span);
        let body = self.block(&probe.body.stmts, &mut scope);
        Ok(ir::Probe {
            attach: scope.attach,
            span,
            predicate,
            body,
            vars: scope.vars,
        })
    }

    /// With `-p PID`, `pid == PID && predicate` for probes the kernel does not already scope
    /// to the process (everything but BEGIN, END, interval and pid-scoped uprobes).
    fn pid_filter(
        &self,
        attach: &Attach,
        predicate: Option<ir::Expr>,
        span: Span,
    ) -> Option<ir::Expr> {
        let Some(pid) = self.options.pid else {
            return predicate;
        };
        let scoped = match attach {
            Attach::Begin | Attach::End | Attach::Interval { .. } => true,
            Attach::Uprobe(u) => u.pid.is_some(),
            _ => false,
        };
        if scoped {
            return predicate;
        }
        let expr = |kind, ty| ir::Expr { kind, ty, span };
        let test = expr(
            ir::ExprKind::Binary {
                op: ir::BinOp::Eq,
                lhs: Box::new(expr(ir::ExprKind::Builtin(ir::Builtin::Pid), Type::U32)),
                rhs: Box::new(expr(ir::ExprKind::Int(i64::from(pid)), Type::I64)),
            },
            Type::I64,
        );
        Some(match predicate {
            None => test,
            Some(p) => expr(
                ir::ExprKind::Binary {
                    op: ir::BinOp::LogAnd,
                    lhs: Box::new(test),
                    rhs: Box::new(p),
                },
                Type::I64,
            ),
        })
    }

    /// Find or create `@name` with the given key types and value kind, reporting conflicts.
    fn declare_map(
        &mut self,
        map: &ast::MapRef,
        keys: &[Type],
        value: MapValue,
        at: Span,
    ) -> Checked<usize> {
        if let Some(&id) = self.map_index.get(&map.name) {
            if self.hinted.remove(&id) {
                // Declared from a hint by an earlier read: the first assignment decides.
                self.maps[id] = MapDecl {
                    name: map.name.clone(),
                    keys: keys.to_vec(),
                    value,
                    read_in_kernel: self.maps[id].read_in_kernel,
                    max_entries: None,
                    span: map.span,
                };
                return Ok(id);
            }
            let decl = self.maps[id].clone();
            if decl.keys.len() != keys.len()
                || decl.keys.iter().zip(keys).any(|(a, b)| !a.compatible(*b))
            {
                return Err(self.error(
                    Diagnostic::error(
                        format!("@{} is used with different keys", map.name),
                        map.span,
                    )
                    .with_code(codes::MAP_KEY_MISMATCH)
                    .with_label(format!("keys here are ({})", describe_types(keys)))
                    .with_secondary(
                        decl.span,
                        format!("first used with keys ({})", describe_types(&decl.keys)),
                    ),
                ));
            }
            let same = match (decl.value, value) {
                (MapValue::Scalar(a), MapValue::Scalar(b)) => a.compatible(b),
                (a, b) => a == b,
            };
            if !same {
                let (now, first) = (self.describe_value(value), self.describe_value(decl.value));
                let mut d = Diagnostic::error(format!("type mismatch for @{}", map.name), at)
                    .with_code(codes::TYPE_MISMATCH)
                    .with_label(format!("this stores {}", value_words(&now)))
                    .with_secondary(
                        decl.span,
                        format!("@{} was first given {} here", map.name, value_words(&first)),
                    );
                if now.starts_with('(') && first.starts_with('(') {
                    d = d.with_note(
                        "a map's tuples must have the same element types everywhere; cast an \
                         element to match, e.g. (int64)$x",
                    );
                }
                return Err(self.error(d));
            }
            // Strings keep the largest buffer any assignment needs.
            let id_keys: Vec<Type> = decl
                .keys
                .iter()
                .zip(keys)
                .map(|(a, b)| widen(*a, *b))
                .collect();
            self.maps[id].keys = id_keys;
            if let (MapValue::Scalar(a), MapValue::Scalar(b)) = (decl.value, value) {
                self.maps[id].value = MapValue::Scalar(widen(a, b));
            }
            Ok(id)
        } else {
            let id = self.maps.len();
            self.maps.push(MapDecl {
                name: map.name.clone(),
                keys: keys.to_vec(),
                value,
                read_in_kernel: false,
                max_entries: None,
                span: map.span,
            });
            self.map_index.insert(map.name.clone(), id);
            Ok(id)
        }
    }

    /// In a learning pass, declare `name` from the earlier pass's hint when this pass has not
    /// seen it assigned yet; None when there is no hint (the caller guesses).
    fn map_from_hint(&mut self, name: &str) -> Option<usize> {
        if let Some(&id) = self.map_index.get(name) {
            return Some(id);
        }
        if !self.learning {
            return None;
        }
        let Some(decl) = self.hints.iter().find(|m| m.name == name).cloned() else {
            self.guessed = true;
            return None;
        };
        let id = self.maps.len();
        self.maps.push(decl);
        self.map_index.insert(name.to_string(), id);
        self.hinted.insert(id);
        Some(id)
    }

    /// A map value kind for diagnostics, with a tuple's element types spelled out.
    fn describe_value(&self, value: MapValue) -> String {
        match value {
            MapValue::Scalar(Type::Tuple { id, .. }) => match self.tuples.get(id as usize) {
                Some(types) => format!("({})", describe_types(types)),
                None => value.describe(),
            },
            other => other.describe(),
        }
    }

    fn expect_int(&mut self, e: ir::Expr, what: &str) -> Checked<ir::Expr> {
        if e.ty.is_int() {
            Ok(e)
        } else {
            Err(self.error(
                Diagnostic::error(format!("{what} must be an integer, found {}", e.ty), e.span)
                    .with_code(codes::TYPE_MISMATCH)
                    .with_label(format!("this is {}", with_article(e.ty))),
            ))
        }
    }
}

/// The wider of two compatible types (longer string buffer, wider integer).
fn widen(a: Type, b: Type) -> Type {
    match (a, b) {
        (Type::Str { len: x }, Type::Str { len: y }) => Type::Str { len: x.max(y) },
        (Type::Int { size: x, signed: s }, Type::Int { size: y, .. }) => Type::Int {
            size: x.max(y),
            signed: s,
        },
        _ => a,
    }
}

fn describe_types(types: &[Type]) -> String {
    types
        .iter()
        .map(|t| t.describe())
        .collect::<Vec<_>>()
        .join(", ")
}
