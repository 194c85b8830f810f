//! Falco's rules-file format: `rule`, `macro` and `list` items with `append` and `override`
//! (Falco 0.36+ semantics), exceptions, priorities, and kestrel's `action` key. Files are
//! loaded in order; a later file appends to or overrides items of an earlier one. Conditions
//! stay text here (with a map back to the YAML) and are compiled by [`crate::compile`].

use std::collections::HashMap;

use crate::cond::{Lit, Locate};
use crate::diag::{did_you_mean, Diagnostic};
use crate::source::{FileId, SourceMap, Span};
use crate::yaml::{self, Node, Style, Value};

/// Falco's priorities, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// EMERGENCY
    Emergency,
    /// ALERT
    Alert,
    /// CRITICAL
    Critical,
    /// ERROR
    Error,
    /// WARNING
    Warning,
    /// NOTICE
    Notice,
    /// INFORMATIONAL (also INFO)
    Informational,
    /// DEBUG
    Debug,
}

impl Priority {
    /// Every priority.
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Parse Falco's names, case-insensitively (`INFO` is `INFORMATIONAL`).
    pub fn parse(s: &str) -> Option<Priority> {
        let up = s.trim().to_ascii_uppercase();
        if up == "INFO" {
            return Some(Priority::Informational);
        }
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().to_ascii_uppercase() == up)
    }

    /// The spelling in Falco's alerts: `Warning`, `Critical`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }
}

/// What to do when a rule matches (kestrel's `action:` key; Falco only alerts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Action {
    /// Alert only.
    #[default]
    Alert,
    /// SIGKILL the process (with `--enforce`).
    Kill,
    /// Refuse the operation with EPERM where a hook can (connect/sendmsg; with `--enforce`).
    Deny,
}

impl Action {
    /// `alert`, `kill` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Kill => "kill",
            Action::Deny => "deny",
        }
    }
}

/// Text built from one or more YAML scalars (appends join with a space), mapping offsets in
/// the text back to the files.
#[derive(Clone, Debug, Default)]
pub struct Text {
    /// The joined text.
    pub text: String,
    pieces: Vec<(usize, FileId, Node)>,
}

impl Text {
    fn from_node(file: FileId, node: &Node) -> Text {
        let mut t = Text::default();
        t.push(file, node);
        t
    }

    fn push(&mut self, file: FileId, node: &Node) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.pieces.push((self.text.len(), file, node.clone()));
        self.text.push_str(node.as_str().unwrap_or(""));
    }

    /// A [`Locate`] for this text.
    pub fn locator<'a>(&'a self, sources: &'a SourceMap) -> TextLoc<'a> {
        TextLoc {
            text: self,
            sources,
        }
    }

    /// Where the text starts.
    pub fn span(&self) -> Span {
        self.pieces
            .first()
            .map(|(_, _, n)| n.span)
            .unwrap_or_default()
    }
}

/// Maps offsets in a [`Text`] to file spans.
pub struct TextLoc<'a> {
    text: &'a Text,
    sources: &'a SourceMap,
}

impl Locate for TextLoc<'_> {
    fn at(&self, offset: usize) -> Span {
        let idx = self
            .text
            .pieces
            .partition_point(|(s, _, _)| *s <= offset)
            .saturating_sub(1);
        let Some((start, file, node)) = self.text.pieces.get(idx) else {
            return Span::default();
        };
        let Some(f) = self.sources.file(*file) else {
            return node.span;
        };
        let off = node.offset_in_file(f, offset.saturating_sub(*start));
        Span::new(*file, off, off)
    }
}

/// One value of an exception tuple: a single value or a list (for `in`, `pmatch`,
/// `intersects`; a bare word may name a list).
#[derive(Clone, Debug, PartialEq)]
pub enum ExValue {
    /// A scalar.
    One(Lit),
    /// A list.
    Many(Vec<Lit>),
}

/// A rule's exception: events matching any of its value tuples are not alerted on.
#[derive(Clone, Debug, PartialEq)]
pub struct ExceptionDef {
    /// Its name (appends refer to it).
    pub name: String,
    /// Where it is defined.
    pub span: Span,
    /// The fields (one, when `single`).
    pub fields: Vec<Lit>,
    /// `fields` was a single name rather than a list: values are then plain values.
    pub single: bool,
    /// One operator per field.
    pub comps: Vec<Lit>,
    /// Value tuples, one value per field.
    pub values: Vec<Vec<ExValue>>,
}

/// A rule.
#[derive(Clone, Debug)]
pub struct RuleDef {
    /// Its name.
    pub name: String,
    /// Where it is defined.
    pub span: Span,
    /// Its condition.
    pub condition: Text,
    /// Its output template.
    pub output: Text,
    /// Priority.
    pub priority: Priority,
    /// Description.
    pub desc: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Enabled.
    pub enabled: bool,
    /// Exceptions.
    pub exceptions: Vec<ExceptionDef>,
    /// `source:` (default syscall).
    pub source: String,
    /// kestrel's `action:`.
    pub action: Action,
}

/// A macro.
#[derive(Clone, Debug)]
pub struct MacroDef {
    /// Its name.
    pub name: String,
    /// Where it is defined.
    pub span: Span,
    /// Its condition.
    pub condition: Text,
}

/// A list.
#[derive(Clone, Debug)]
pub struct ListDef {
    /// Its name.
    pub name: String,
    /// Where it is defined.
    pub span: Span,
    /// Its items (a bare item naming another list is expanded when used).
    pub items: Vec<Lit>,
}

/// Everything loaded from the rules files, before compilation.
#[derive(Clone, Debug, Default)]
pub struct RuleFiles {
    /// The files' text.
    pub sources: SourceMap,
    /// Rules in definition order.
    pub rules: Vec<RuleDef>,
    /// Macros.
    pub macros: Vec<MacroDef>,
    /// Lists.
    pub lists: Vec<ListDef>,
    /// Errors and warnings.
    pub diags: Vec<Diagnostic>,
    /// `required_engine_version` values seen.
    pub engine_versions: Vec<String>,
}

const RULE_KEYS: &[&str] = &[
    "rule",
    "condition",
    "output",
    "priority",
    "desc",
    "tags",
    "enabled",
    "exceptions",
    "append",
    "override",
    "source",
    "action",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
];
const RULE_APPEND: &[&str] = &["condition", "output", "desc", "tags", "exceptions"];
const RULE_REPLACE: &[&str] = &[
    "condition",
    "output",
    "desc",
    "priority",
    "tags",
    "exceptions",
    "enabled",
    "action",
    "source",
];

impl RuleFiles {
    /// Empty.
    pub fn new() -> RuleFiles {
        RuleFiles::default()
    }

    /// True when an error was reported.
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// Load one more file (later files append to and override earlier ones).
    pub fn add(&mut self, name: &str, text: &str) {
        let id = self.sources.add(name, text);
        let Some(file) = self.sources.file(id) else {
            return;
        };
        let docs = match yaml::parse(file, id) {
            Ok(d) => d,
            Err(e) => {
                let d = Diagnostic::error(
                    "G0101",
                    format!("YAML syntax error: {}", e.message),
                    Span::new(id, e.offset, e.offset),
                    &self.sources,
                );
                self.diags.push(d);
                return;
            }
        };
        for doc in docs {
            match &doc.value {
                Value::Null => {}
                Value::Seq(items) => {
                    for item in items {
                        self.item(id, item);
                    }
                }
                _ => {
                    let d = self
                        .err(
                            "G0102",
                            format!(
                                "a rules file is a list of items, but this is {}",
                                doc.kind()
                            ),
                            doc.span,
                        )
                        .with_hint("start each item with '- rule:', '- macro:' or '- list:'");
                    self.diags.push(d);
                }
            }
        }
    }

    fn err(&self, code: &'static str, msg: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic::error(code, msg, span, &self.sources)
    }

    fn item(&mut self, file: FileId, item: &Node) {
        let Value::Map(pairs) = &item.value else {
            let d = self
                .err(
                    "G0102",
                    format!("an item must be a mapping, but this is {}", item.kind()),
                    item.span,
                )
                .with_hint("start each item with '- rule:', '- macro:' or '- list:'");
            self.diags.push(d);
            return;
        };
        let mut keys: Vec<(&str, &Node, &Node)> = Vec::new();
        for (k, v) in pairs {
            let Some(name) = k.as_str() else {
                self.diags
                    .push(self.err("G0103", "keys must be plain names", k.span));
                return;
            };
            if keys.iter().any(|(n, _, _)| *n == name) {
                self.diags.push(self.err(
                    "G0103",
                    format!("key '{name}' appears twice in this item"),
                    k.span,
                ));
                return;
            }
            keys.push((name, k, v));
        }
        let get = |n: &str| {
            keys.iter()
                .find(|(k, _, _)| *k == n)
                .map(|(_, k, v)| (*k, *v))
        };
        if get("required_engine_version").is_some() {
            if let Some(v) = get("required_engine_version").and_then(|(_, v)| v.as_str()) {
                self.engine_versions.push(v.to_string());
            }
            return;
        }
        if get("required_plugin_versions").is_some() {
            return;
        }
        let kind = ["rule", "macro", "list"]
            .into_iter()
            .find(|k| get(k).is_some());
        let Some(kind) = kind else {
            let first = keys
                .first()
                .map(|(n, k, _)| (*n, k.span))
                .unwrap_or(("", item.span));
            let mut d = self.err(
                "G0104",
                format!(
                    "'{}' is not an item kind: expected rule, macro or list",
                    first.0
                ),
                first.1,
            );
            if let Some(s) = did_you_mean(first.0, ["rule", "macro", "list"]) {
                d = d.with_hint(format!("did you mean '{s}'?"));
            }
            self.diags.push(d);
            return;
        };
        let Some((kn, name_node)) = get(kind) else {
            return;
        };
        let Some(name) = name_node.as_str().map(str::to_string) else {
            self.diags.push(self.err(
                "G0105",
                format!("the {kind}'s name must be a string"),
                name_node.span.max_or(kn.span),
            ));
            return;
        };
        let allowed: &[&str] = match kind {
            "rule" => RULE_KEYS,
            "macro" => &["macro", "condition", "append", "override", "source"],
            _ => &["list", "items", "append", "override", "source"],
        };
        for (k, kn, _) in &keys {
            if !allowed.contains(k) {
                let mut d = self.err(
                    "G0106",
                    format!("unknown key '{k}' in {kind} '{name}'"),
                    kn.span,
                );
                if let Some(s) = did_you_mean(k, allowed.iter().copied()) {
                    d = d.with_hint(format!("did you mean '{s}'?"));
                }
                self.diags.push(d);
                return;
            }
        }
        let append = match get("append") {
            Some((_, v)) => match self.boolean(v) {
                Some(b) => b,
                None => return,
            },
            None => false,
        };
        // override: {key: append|replace}
        let mut overrides: Vec<(String, bool, Span)> = Vec::new();
        if let Some((ok, ov)) = get("override") {
            if append {
                self.diags.push(self.err(
                    "G0107",
                    "'append' and 'override' cannot be used together",
                    ok.span,
                ));
                return;
            }
            let Value::Map(ps) = &ov.value else {
                self.diags.push(self.err(
                    "G0107",
                    "'override' must map keys to append or replace",
                    ov.span,
                ));
                return;
            };
            for (k, v) in ps {
                let key = k.as_str().unwrap_or("").to_string();
                let how = v.as_str().unwrap_or("");
                let is_append = match how {
                    "append" => true,
                    "replace" => false,
                    _ => {
                        self.diags.push(self.err(
                            "G0107",
                            format!(
                                "override of '{key}' must be 'append' or 'replace', not '{how}'"
                            ),
                            v.span,
                        ));
                        return;
                    }
                };
                let ok_keys: &[&str] = match (kind, is_append) {
                    ("rule", true) => RULE_APPEND,
                    ("rule", false) => RULE_REPLACE,
                    ("macro", _) => &["condition"],
                    _ => &["items"],
                };
                if !ok_keys.contains(&key.as_str()) {
                    self.diags.push(
                        self.err(
                            "G0107",
                            format!("'{key}' cannot be overridden with {how} in a {kind}"),
                            k.span,
                        )
                        .with_hint(format!("{how} applies to: {}", ok_keys.join(", "))),
                    );
                    return;
                }
                if get(&key).is_none() {
                    self.diags.push(self.err(
                        "G0107",
                        format!("override names '{key}' but the item has no '{key}' key"),
                        k.span,
                    ));
                    return;
                }
                overrides.push((key, is_append, k.span));
            }
            for (k, kn, _) in &keys {
                if *k != kind && *k != "override" && !overrides.iter().any(|(o, _, _)| o == k) {
                    self.diags.push(
                        self.err(
                            "G0107",
                            format!("key '{k}' is not named in 'override'"),
                            kn.span,
                        )
                        .with_hint(format!("add '{k}: replace' or '{k}: append' to override")),
                    );
                    return;
                }
            }
        }
        let span = name_node.span;
        match kind {
            "list" => self.list(
                file,
                &name,
                span,
                append,
                &overrides,
                get("items").map(|(_, v)| v),
            ),
            "macro" => self.macro_(
                file,
                &name,
                span,
                append,
                &overrides,
                get("condition").map(|(_, v)| v),
            ),
            _ => self.rule(file, &name, span, append, &overrides, &keys),
        }
    }

    fn boolean(&mut self, v: &Node) -> Option<bool> {
        match v.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "yes" | "on") => Some(true),
            Some("false" | "no" | "off") => Some(false),
            _ => {
                self.diags
                    .push(self.err("G0108", "expected true or false", v.span));
                None
            }
        }
    }

    fn lits(&mut self, v: &Node, what: &str) -> Option<Vec<Lit>> {
        match &v.value {
            Value::Null => Some(Vec::new()),
            Value::Seq(items) => {
                let mut out = Vec::new();
                for i in items {
                    match i.as_str() {
                        Some(s) => out.push(lit(s, i)),
                        None => {
                            self.diags.push(self.err(
                                "G0108",
                                format!("{what} must be strings, but this is {}", i.kind()),
                                i.span,
                            ));
                            return None;
                        }
                    }
                }
                Some(out)
            }
            _ => {
                self.diags.push(self.err(
                    "G0108",
                    format!("{what} must be a list, but this is {}", v.kind()),
                    v.span,
                ));
                None
            }
        }
    }

    fn list(
        &mut self,
        _file: FileId,
        name: &str,
        span: Span,
        append: bool,
        ov: &[(String, bool, Span)],
        items: Option<&Node>,
    ) {
        let Some(items_node) = items else {
            self.diags
                .push(self.err("G0109", format!("list '{name}' has no 'items'"), span));
            return;
        };
        let Some(items) = self.lits(items_node, "list items") else {
            return;
        };
        let existing = self.lists.iter().position(|l| l.name == name);
        let mode_append = append || ov.iter().any(|(k, a, _)| k == "items" && *a);
        let mode_replace = ov.iter().any(|(k, a, _)| k == "items" && !*a);
        if mode_append || mode_replace {
            let Some(i) = existing else {
                self.diags.push(self.err("G0110", format!("list '{name}' is appended to or overridden, but no earlier list has that name"), span));
                return;
            };
            if mode_append {
                self.lists[i].items.extend(items);
            } else {
                self.lists[i].items = items;
            }
            return;
        }
        let def = ListDef {
            name: name.to_string(),
            span,
            items,
        };
        match existing {
            Some(i) => self.lists[i] = def,
            None => self.lists.push(def),
        }
    }

    fn macro_(
        &mut self,
        file: FileId,
        name: &str,
        span: Span,
        append: bool,
        ov: &[(String, bool, Span)],
        cond: Option<&Node>,
    ) {
        let Some(c) = cond else {
            self.diags
                .push(self.err("G0109", format!("macro '{name}' has no 'condition'"), span));
            return;
        };
        if c.as_str().is_none() {
            self.diags.push(self.err(
                "G0108",
                format!("a condition must be a string, but this is {}", c.kind()),
                c.span,
            ));
            return;
        }
        let existing = self.macros.iter().position(|m| m.name == name);
        let mode_append = append || ov.iter().any(|(k, a, _)| k == "condition" && *a);
        let mode_replace = ov.iter().any(|(k, a, _)| k == "condition" && !*a);
        if mode_append || mode_replace {
            let Some(i) = existing else {
                self.diags.push(self.err("G0110", format!("macro '{name}' is appended to or overridden, but no earlier macro has that name"), span));
                return;
            };
            if mode_append {
                self.macros[i].condition.push(file, c);
            } else {
                self.macros[i].condition = Text::from_node(file, c);
            }
            return;
        }
        let def = MacroDef {
            name: name.to_string(),
            span,
            condition: Text::from_node(file, c),
        };
        match existing {
            Some(i) => self.macros[i] = def,
            None => self.macros.push(def),
        }
    }

    fn rule(
        &mut self,
        file: FileId,
        name: &str,
        span: Span,
        append: bool,
        ov: &[(String, bool, Span)],
        keys: &[(&str, &Node, &Node)],
    ) {
        let get = |n: &str| keys.iter().find(|(k, _, _)| *k == n).map(|(_, _, v)| *v);
        let existing = self.rules.iter().position(|r| r.name == name);
        let only_enabled = keys
            .iter()
            .all(|(k, _, _)| matches!(*k, "rule" | "enabled"))
            && get("enabled").is_some();
        if append || !ov.is_empty() || (only_enabled && existing.is_some()) {
            let Some(i) = existing else {
                let what = if append {
                    "has 'append: true'"
                } else if ov.is_empty() {
                    "only sets 'enabled'"
                } else {
                    "has 'override'"
                };
                self.diags.push(
                    self.err(
                        "G0110",
                        format!("rule '{name}' {what}, but no earlier rule has that name"),
                        span,
                    )
                    .with_hint("define the rule first (files are loaded in the order given)"),
                );
                return;
            };
            let modes: Vec<(String, bool)> = if append {
                keys.iter()
                    .map(|(k, _, _)| k.to_string())
                    .filter(|k| !matches!(k.as_str(), "rule" | "append"))
                    .map(|k| (k, true))
                    .collect()
            } else if ov.is_empty() {
                vec![("enabled".to_string(), false)]
            } else {
                ov.iter().map(|(k, a, _)| (k.clone(), *a)).collect()
            };
            for (key, is_append) in modes {
                let Some(v) = get(&key) else { continue };
                if is_append && !RULE_APPEND.contains(&key.as_str()) {
                    self.diags.push(
                        self.err(
                            "G0107",
                            format!("'{key}' cannot be appended to a rule"),
                            v.span,
                        )
                        .with_hint(format!("append applies to: {}", RULE_APPEND.join(", "))),
                    );
                    return;
                }
                if !self.apply_rule_key(i, file, &key, v, is_append) {
                    return;
                }
            }
            return;
        }
        for req in ["condition", "output", "priority", "desc"] {
            if get(req).is_none() {
                self.diags.push(
                    self.err("G0109", format!("rule '{name}' has no '{req}'"), span)
                        .with_hint("a new rule needs condition, output, priority and desc"),
                );
                return;
            }
        }
        let blank = RuleDef {
            name: name.to_string(),
            span,
            condition: Text::default(),
            output: Text::default(),
            priority: Priority::Debug,
            desc: String::new(),
            tags: Vec::new(),
            enabled: true,
            exceptions: Vec::new(),
            source: "syscall".into(),
            action: Action::Alert,
        };
        let i = match existing {
            Some(i) => {
                self.rules[i] = blank;
                i
            }
            None => {
                self.rules.push(blank);
                self.rules.len() - 1
            }
        };
        for (k, _, v) in keys {
            if matches!(
                *k,
                "rule"
                    | "append"
                    | "override"
                    | "warn_evttypes"
                    | "skip-if-unknown-filter"
                    | "capture"
                    | "capture_duration"
            ) {
                continue;
            }
            if !self.apply_rule_key(i, file, k, v, false) {
                self.rules.remove(i);
                return;
            }
        }
    }

    /// Set or append one key of rule `i`; false after reporting an error.
    fn apply_rule_key(
        &mut self,
        i: usize,
        file: FileId,
        key: &str,
        v: &Node,
        append: bool,
    ) -> bool {
        let scalar = |s: &mut Self| -> Option<String> {
            match v.as_str() {
                Some(t) => Some(t.to_string()),
                None => {
                    s.diags.push(s.err(
                        "G0108",
                        format!("'{key}' must be a string, but this is {}", v.kind()),
                        v.span,
                    ));
                    None
                }
            }
        };
        match key {
            "condition" | "output" => {
                if scalar(self).is_none() {
                    return false;
                }
                let r = &mut self.rules[i];
                let t = if key == "condition" {
                    &mut r.condition
                } else {
                    &mut r.output
                };
                if append {
                    t.push(file, v);
                } else {
                    *t = Text::from_node(file, v);
                }
            }
            "desc" => {
                let Some(s) = scalar(self) else { return false };
                let r = &mut self.rules[i];
                if append {
                    r.desc.push(' ');
                    r.desc.push_str(&s);
                } else {
                    r.desc = s;
                }
            }
            "priority" => {
                let Some(s) = scalar(self) else { return false };
                let Some(p) = Priority::parse(&s) else {
                    self.diags.push(
                        self.err("G0111", format!("unknown priority '{s}'"), v.span)
                            .with_hint("priorities: EMERGENCY ALERT CRITICAL ERROR WARNING NOTICE INFORMATIONAL DEBUG"),
                    );
                    return false;
                };
                self.rules[i].priority = p;
            }
            "tags" => {
                let Some(tags) = self.lits(v, "tags") else {
                    return false;
                };
                let tags = tags.into_iter().map(|l| l.text);
                let r = &mut self.rules[i];
                if !append {
                    r.tags.clear();
                }
                r.tags.extend(tags);
            }
            "enabled" => {
                let Some(b) = self.boolean(v) else {
                    return false;
                };
                self.rules[i].enabled = b;
            }
            "source" => {
                let Some(s) = scalar(self) else { return false };
                self.rules[i].source = s;
            }
            "action" => {
                let Some(s) = scalar(self) else { return false };
                self.rules[i].action = match s.as_str() {
                    "alert" => Action::Alert,
                    "kill" => Action::Kill,
                    "deny" => Action::Deny,
                    _ => {
                        self.diags.push(
                            self.err("G0112", format!("unknown action '{s}'"), v.span)
                                .with_hint("actions: alert, kill, deny"),
                        );
                        return false;
                    }
                };
            }
            "exceptions" => {
                let Some(list) = self.exceptions(v) else {
                    return false;
                };
                if !append {
                    self.rules[i].exceptions = list;
                    return true;
                }
                for ex in list {
                    let rule = &self.rules[i];
                    if let Some(j) = rule.exceptions.iter().position(|e| e.name == ex.name) {
                        let have = &rule.exceptions[j];
                        if !ex.fields.is_empty()
                            && ex
                                .fields
                                .iter()
                                .map(|f| &f.text)
                                .ne(have.fields.iter().map(|f| &f.text))
                        {
                            let d = self.err("G0113", format!("appended exception '{}' names different fields than the original", ex.name), ex.span);
                            self.diags.push(d);
                            return false;
                        }
                        let single = have.single;
                        let values: Vec<Vec<ExValue>> = ex
                            .values
                            .into_iter()
                            .map(|t| {
                                if single && t.len() != 1 {
                                    let lits = t.into_iter().flat_map(|v| match v {
                                        ExValue::One(l) => vec![l],
                                        ExValue::Many(ls) => ls,
                                    });
                                    vec![ExValue::Many(lits.collect())]
                                } else {
                                    t
                                }
                            })
                            .collect();
                        if values.iter().any(|t| t.len() != have.fields.len()) {
                            let d = self.err("G0113", format!("values of exception '{}' must have {} element(s), one per field", ex.name, have.fields.len()), ex.span);
                            self.diags.push(d);
                            return false;
                        }
                        self.rules[i].exceptions[j].values.extend(values);
                    } else if ex.fields.is_empty() {
                        let d = self.err(
                            "G0113",
                            format!("exception '{}' is new here, so it needs 'fields'", ex.name),
                            ex.span,
                        );
                        self.diags.push(d);
                        return false;
                    } else {
                        self.rules[i].exceptions.push(ex);
                    }
                }
            }
            _ => {}
        }
        true
    }

    fn exceptions(&mut self, v: &Node) -> Option<Vec<ExceptionDef>> {
        let Value::Seq(items) = &v.value else {
            self.diags.push(self.err(
                "G0113",
                format!("'exceptions' must be a list, but this is {}", v.kind()),
                v.span,
            ));
            return None;
        };
        let mut out = Vec::new();
        for it in items {
            let Value::Map(pairs) = &it.value else {
                self.diags.push(self.err(
                    "G0113",
                    "an exception must be a mapping with name, fields, comps and values",
                    it.span,
                ));
                return None;
            };
            let get = |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| k.as_str() == Some(n))
                    .map(|(_, v)| v)
            };
            for (k, _) in pairs {
                let kn = k.as_str().unwrap_or("");
                if !matches!(kn, "name" | "fields" | "comps" | "values") {
                    self.diags.push(
                        self.err(
                            "G0113",
                            format!("unknown key '{kn}' in an exception"),
                            k.span,
                        )
                        .with_hint("exception keys: name, fields, comps, values"),
                    );
                    return None;
                }
            }
            let Some(name) = get("name").and_then(|n| n.as_str()) else {
                self.diags
                    .push(self.err("G0113", "an exception needs a 'name'", it.span));
                return None;
            };
            let (fields, single) = match get("fields") {
                None => (Vec::new(), false),
                Some(f) => match &f.value {
                    Value::Scalar(s) => (vec![lit(s, f)], true),
                    _ => (self.lits(f, "exception fields")?, false),
                },
            };
            let comps = match get("comps") {
                None => Vec::new(),
                Some(c) => match &c.value {
                    Value::Scalar(s) => vec![lit(s, c)],
                    _ => self.lits(c, "exception comps")?,
                },
            };
            let mut values = Vec::new();
            if let Some(vs) = get("values") {
                let Value::Seq(tuples) = &vs.value else {
                    self.diags.push(self.err(
                        "G0113",
                        "exception 'values' must be a list",
                        vs.span,
                    ));
                    return None;
                };
                for t in tuples {
                    // Without 'fields' (an append), a scalar is a one-field value.
                    if single || (fields.is_empty() && t.as_str().is_some()) {
                        values.push(vec![self.ex_value(t)?]);
                        continue;
                    }
                    let Value::Seq(elems) = &t.value else {
                        self.diags.push(
                            self.err("G0113", format!("each value of exception '{name}' must be a list (one element per field)"), t.span)
                                .with_hint("write [value1, value2], in the order of 'fields'"),
                        );
                        return None;
                    };
                    if !fields.is_empty() && elems.len() != fields.len() {
                        self.diags.push(self.err("G0113", format!("this value has {} element(s) but exception '{name}' has {} field(s)", elems.len(), fields.len()), t.span));
                        return None;
                    }
                    let mut tuple = Vec::new();
                    for e in elems {
                        tuple.push(self.ex_value(e)?);
                    }
                    values.push(tuple);
                }
            }
            if !comps.is_empty() && !fields.is_empty() && comps.len() != fields.len() {
                self.diags.push(self.err(
                    "G0113",
                    format!(
                        "exception '{name}' has {} field(s) but {} comp(s)",
                        fields.len(),
                        comps.len()
                    ),
                    it.span,
                ));
                return None;
            }
            let comps = if comps.is_empty() && !fields.is_empty() {
                let dflt = if single { "in" } else { "=" };
                fields
                    .iter()
                    .map(|f| Lit {
                        text: dflt.into(),
                        quoted: false,
                        span: f.span,
                    })
                    .collect()
            } else {
                comps
            };
            out.push(ExceptionDef {
                name: name.to_string(),
                span: it.span,
                fields,
                single,
                comps,
                values,
            });
        }
        Some(out)
    }

    fn ex_value(&mut self, n: &Node) -> Option<ExValue> {
        match &n.value {
            Value::Scalar(s) => Some(ExValue::One(lit(s, n))),
            Value::Seq(_) => Some(ExValue::Many(self.lits(n, "exception values")?)),
            _ => {
                self.diags.push(self.err(
                    "G0113",
                    format!(
                        "an exception value must be a string or a list, but this is {}",
                        n.kind()
                    ),
                    n.span,
                ));
                None
            }
        }
    }

    /// Rule names in definition order, with whether each is enabled.
    pub fn rule_names(&self) -> HashMap<&str, bool> {
        self.rules
            .iter()
            .map(|r| (r.name.as_str(), r.enabled))
            .collect()
    }
}

fn lit(s: &str, n: &Node) -> Lit {
    Lit {
        text: s.to_string(),
        quoted: n.style != Style::Plain,
        span: n.span,
    }
}

trait MaxOr {
    fn max_or(self, other: Span) -> Span;
}

impl MaxOr for Span {
    fn max_or(self, other: Span) -> Span {
        if self == Span::default() {
            other
        } else {
            self
        }
    }
}
