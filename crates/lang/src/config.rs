//! Current bpftrace's `config = { key = value; ... }` block (and the `BPFTRACE_*`
//! environment variables with the same names): which options exist and what they set.
//!
//! Keys are case-insensitive and may carry the `BPFTRACE_` prefix (`BPFTRACE_STACK_MODE`
//! and `stack_mode` are one option), as in bpftrace. Options kestrel reads change how the
//! script compiles or runs; the others are accepted so that scripts written for bpftrace
//! run unchanged.

use crate::ast::{ConfigValue, Program};
use crate::diag::codes;
use crate::diag::Diagnostic;

/// What a script's config block (or the environment) asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptConfig {
    /// `max_strlen`: bytes of a string value (a NUL included).
    pub max_strlen: Option<u32>,
    /// `max_map_keys`: entries of a map without its own `let` size.
    pub max_map_keys: Option<u32>,
    /// `print_maps_on_exit`: whether maps are printed when the script ends (default yes).
    pub print_maps_on_exit: Option<bool>,
    /// `stack_mode`: `bpftrace`, `perf`, `raw`, ...
    pub stack_mode: Option<String>,
}

/// Every option current bpftrace knows (its config.cpp), the old names included.
const KNOWN: &[&str] = &[
    "cache_user_symbols",
    "cpp_demangle",
    "lazy_symbolication",
    "license",
    "log_size",
    "max_bpf_progs",
    "max_cat_bytes",
    "max_map_keys",
    "max_probes",
    "max_strlen",
    "on_stack_limit",
    "perf_rb_pages",
    "stack_mode",
    "str_trunc_trailer",
    "missing_probes",
    "print_maps_on_exit",
    "use_blazesym",
    "show_debug_info",
    "strlen",
    "no_cpp_demangle",
    "cat_bytes_max",
    "map_keys_max",
];

/// The option a key names: lower case, without `bpftrace_`, old names mapped to new.
pub fn canonical(key: &str) -> String {
    let k = key.to_ascii_lowercase();
    let k = k.strip_prefix("bpftrace_").unwrap_or(&k).to_string();
    match k.as_str() {
        "strlen" => "max_strlen".into(),
        "map_keys_max" => "max_map_keys".into(),
        "cat_bytes_max" => "max_cat_bytes".into(),
        _ => k,
    }
}

fn truthy(v: &ConfigValue) -> Option<bool> {
    match v {
        ConfigValue::Int(n) => Some(*n != 0),
        ConfigValue::Word(w) | ConfigValue::Str(w) => match w.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
    }
}

fn number(v: &ConfigValue) -> Option<u64> {
    match v {
        ConfigValue::Int(n) => Some(*n),
        ConfigValue::Word(w) | ConfigValue::Str(w) => w.parse().ok(),
    }
}

impl ScriptConfig {
    /// Set one option from text (an environment variable's value).
    pub fn set_text(&mut self, key: &str, value: &str) -> Result<(), String> {
        let v = match value.parse::<u64>() {
            Ok(n) => ConfigValue::Int(n),
            Err(_) => ConfigValue::Word(value.to_string()),
        };
        self.set(key, &v)
    }

    /// Set one option; the error says why the key or value is not accepted.
    pub fn set(&mut self, key: &str, value: &ConfigValue) -> Result<(), String> {
        let k = canonical(key);
        if !KNOWN.contains(&k.as_str()) {
            return Err(format!("{key}: not a known configuration option"));
        }
        let bad = || format!("{key}: invalid value");
        match k.as_str() {
            "max_strlen" => {
                let n = number(value).ok_or_else(bad)?;
                self.max_strlen = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "max_map_keys" => {
                let n = number(value).ok_or_else(bad)?;
                self.max_map_keys = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "print_maps_on_exit" => self.print_maps_on_exit = Some(truthy(value).ok_or_else(bad)?),
            "stack_mode" => {
                let (ConfigValue::Word(w) | ConfigValue::Str(w)) = value else {
                    return Err(bad());
                };
                self.stack_mode = Some(w.clone());
            }
            _ => {}
        }
        Ok(())
    }

    /// The options of `program`'s config block, over those already set (the environment's).
    pub fn apply(&mut self, program: &Program) -> Result<(), Vec<Diagnostic>> {
        let mut diags = Vec::new();
        for item in &program.config {
            if let Err(msg) = self.set(&item.key.name, &item.value) {
                diags.push(Diagnostic::error(msg, item.span).with_code(codes::BAD_ARGUMENTS));
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(diags)
        }
    }

    /// The config set by `BPFTRACE_*` environment variables that name known options.
    pub fn from_env() -> ScriptConfig {
        let mut c = ScriptConfig::default();
        for (k, v) in std::env::vars() {
            if let Some(rest) = k.strip_prefix("BPFTRACE_") {
                if KNOWN.contains(&canonical(rest).as_str()) {
                    let _ = c.set_text(&k, &v);
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_with_or_without_prefix() {
        let mut c = ScriptConfig::default();
        assert!(c.set("BPFTRACE_MAX_STRLEN", &ConfigValue::Int(16)).is_ok());
        assert_eq!(c.max_strlen, Some(16));
        assert!(c.set("print_maps_on_exit", &ConfigValue::Int(0)).is_ok());
        assert_eq!(c.print_maps_on_exit, Some(false));
        assert!(c
            .set("stack_mode", &ConfigValue::Word("raw".into()))
            .is_ok());
        assert_eq!(
            c.set("bad_config", &ConfigValue::Word("raw".into())),
            Err("bad_config: not a known configuration option".to_string())
        );
    }

    #[test]
    fn config_block_parses_and_applies() {
        let p = crate::parse("config = { max_strlen = 8; print_maps_on_exit=false } BEGIN { }");
        let p = p.unwrap_or_default();
        let mut c = ScriptConfig::default();
        assert!(c.apply(&p).is_ok());
        assert_eq!(c.max_strlen, Some(8));
        assert_eq!(c.print_maps_on_exit, Some(false));
        let p = crate::parse("config = { nope = 1 } BEGIN { }").unwrap_or_default();
        assert!(c.apply(&p).is_err());
    }
}
