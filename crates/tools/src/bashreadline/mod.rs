//! bashreadline: the command lines interactive bash shells read, system-wide, like
//! libbpf-tools' bashreadline (uretprobe on bash's `readline`).

use crate::script::{fill, filter, quote};
use crate::table::{Column, Row, Value, TIME};
use crate::tool::{Example, Flag, Options, Plain, Render, Tool, ToolError, PID};

/// The bashreadline tool.
#[derive(Debug)]
pub struct Bashreadline;

const SHELL: Flag = Flag {
    key: "shell",
    short: Some('s'),
    value: Some("PATH"),
    help: "The bash binary to trace (default /bin/bash)",
};

impl Tool for Bashreadline {
    fn name(&self) -> &'static str {
        "bashreadline"
    }
    fn about(&self) -> &'static str {
        "Print commands typed into bash shells system-wide (uretprobe on readline)"
    }
    fn examples(&self) -> &'static [Example] {
        &[Example {
            command: "kestrel tool bashreadline",
            does: "every command line bash reads",
        }]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, SHELL]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let bash = opts.get("shell").unwrap_or("/bin/bash");
        // Checked like a string literal, but used as a probe path.
        quote(bash, "--shell")?;
        if bash.contains(char::is_whitespace) || bash.contains(':') {
            return Err(ToolError::BadValue {
                flag: "--shell".into(),
                value: bash.into(),
                why: "expected a path without spaces or colons",
            });
        }
        fill(
            include_str!("bashreadline.bt"),
            &[("bash", bash.to_string()), ("filter", filter(opts, &[])?)],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            TIME,
            Column::int("PID", "pid", 7),
            Column::str("COMMAND", "command", 0),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(ReadlineRender(Plain::new(vec![
            Column::int("PID", "pid", 7),
            Column::str("COMMAND", "command", 0),
        ])))
    }
}

struct ReadlineRender(Plain);

impl Render for ReadlineRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        // A command may hold the separator only if typed in; keep all of it.
        match fields.split_first() {
            Some((pid, rest)) => {
                let mut rows = self.0.record(&[pid, ""]);
                if let Some(cell) = rows.first_mut().and_then(|r| r.get_mut(1)) {
                    *cell = Value::Str(rest.join("\u{1f}"));
                }
                rows
            }
            None => vec![],
        }
    }
}
