//! offcputime: off-CPU time by stack, printed as folded stacks (`comm;frame;frame usecs`,
//! the input of flamegraph tools), like libbpf-tools' `offcputime -f`.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::script::fill;
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, PID};

/// The offcputime tool.
#[derive(Debug)]
pub struct Offcputime;

const USER: Flag = Flag {
    key: "user-stacks-only",
    short: Some('U'),
    value: None,
    help: "User stacks only (the traced programs need frame pointers)",
};
const KERNEL: Flag = Flag {
    key: "kernel-stacks-only",
    short: Some('K'),
    value: None,
    help: "Kernel stacks only",
};
const MIN: Flag = Flag {
    key: "min-block-time",
    short: Some('m'),
    value: Some("USECS"),
    help: "Count blocks of at least USECS microseconds only (default 1)",
};

impl Tool for Offcputime {
    fn name(&self) -> &'static str {
        "offcputime"
    }
    fn about(&self) -> &'static str {
        "Off-CPU time by command and stack, as folded stacks for flame graphs"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool offcputime 5",
                does: "5 seconds of blocking, user and kernel stacks",
            },
            Example {
                command: "kestrel tool offcputime -K -p 181 10",
                does: "kernel stacks of thread 181",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, USER, KERNEL, MIN]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let kinds: &[&str] = match (opts.has("user-stacks-only"), opts.has("kernel-stacks-only")) {
            (true, false) => &["ustack"],
            (false, true) => &["kstack"],
            _ => &["ustack", "kstack"],
        };
        // One map per stack kind: the user stack comes first in the folded line.
        let save: Vec<String> = kinds
            .iter()
            .map(|k| format!("    @{k}[tid] = {k};"))
            .collect();
        let keys: String = kinds
            .iter()
            .map(|k| format!(", @{k}[args->next_pid]"))
            .collect();
        let forget: Vec<String> = kinds
            .iter()
            .map(|k| format!("    delete(@{k}[args->next_pid]);"))
            .collect();
        let pfilter = match opts.num("pid")? {
            Some(p) => format!("args->prev_pid == {p}"),
            None => "args->prev_pid != 0".to_string(),
        };
        fill(
            include_str!("offcputime.bt"),
            &[
                ("pfilter", pfilter),
                ("save", save.join("\n")),
                ("keys", keys),
                ("forget", forget.join("\n")),
                ("min", opts.num("min-block-time")?.unwrap_or(1).to_string()),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        Vec::new()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(Folded { json: opts.json })
    }
}

struct Folded {
    json: bool,
}

/// `comm;root;...;leaf` from a map key `comm,<stack>[,<stack>]` whose stacks are printed
/// leaf first, one `    frame+off` per line.
pub fn fold(key: &str) -> String {
    let mut parts = key.split(",\n");
    let comm = parts.next().unwrap_or("");
    let mut folded = vec![comm.to_string()];
    for stack in parts {
        let frames: Vec<&str> = stack
            .lines()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| f.rsplit_once('+').map_or(f, |(name, _)| name))
            .collect();
        folded.extend(frames.iter().rev().map(|f| (*f).to_string()));
    }
    folded.join(";")
}

impl Render for Folded {
    fn record(&mut self, _fields: &[&str]) -> Vec<crate::Row> {
        Vec::new()
    }

    fn maps(&mut self, maps: &serde_json::Map<String, Json>) -> String {
        let Some(Json::Object(off)) = maps.get("@off") else {
            return String::new();
        };
        let mut rows: Vec<(String, u64)> = off
            .iter()
            .filter_map(|(k, v)| Some((fold(k), v.as_u64()?)))
            .collect();
        rows.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        let mut s = String::new();
        for (stack, us) in rows {
            if self.json {
                let _ = writeln!(s, "{}", serde_json::json!({"stack": stack, "usecs": us}));
            } else {
                let _ = writeln!(s, "{stack} {us}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_root_first_without_offsets() {
        let key = "bash,\n    leaf+1\n    root+2\n,\n    kleaf+3\n    kroot+4\n";
        assert_eq!(fold(key), "bash;root;leaf;kroot;kleaf");
        assert_eq!(fold("kworker,\n"), "kworker");
    }
}
