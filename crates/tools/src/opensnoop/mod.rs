//! opensnoop: open()/openat() calls with their file descriptor or error, like
//! libbpf-tools' opensnoop. Entry stores the path per thread; exit prints one record.

use crate::script::{fill, filter, quote};
use crate::table::{Column, Row, Value};
use crate::tool::{
    Example, Flag, Options, Render, Tool, ToolError, CGROUP, FAILED, PID, TIMESTAMP, UID,
};

/// The opensnoop tool.
#[derive(Debug)]
pub struct Opensnoop;

const EXTENDED: Flag = Flag {
    key: "extended-fields",
    short: Some('e'),
    value: None,
    help: "Include the open flags (octal) as a FLAGS column",
};
const NAME: Flag = Flag {
    key: "name",
    short: Some('n'),
    value: Some("COMM"),
    help: "Trace processes whose command name is COMM only",
};

impl Tool for Opensnoop {
    fn name(&self) -> &'static str {
        "opensnoop"
    }
    fn about(&self) -> &'static str {
        "Trace open() and openat(): PID, command, FD or error, flags, path"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool opensnoop",
                does: "trace every file open",
            },
            Example {
                command: "kestrel tool opensnoop -x",
                does: "only failed opens",
            },
            Example {
                command: "kestrel tool opensnoop -p 181 -e",
                does: "PID 181 only, with open flags",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, UID, NAME, FAILED, EXTENDED, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn str_len(&self) -> u32 {
        200
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let mut extra = Vec::new();
        if let Some(n) = opts.get("name") {
            extra.push(format!("comm == {}", quote(n, "--name")?));
        }
        let failed = if opts.has("failed") {
            " && args->ret < 0"
        } else {
            ""
        };
        fill(
            include_str!("opensnoop.bt"),
            &[
                ("filter", filter(opts, &extra)?),
                ("failed", failed.to_string()),
            ],
        )
    }
    fn columns(&self, opts: &Options) -> Vec<Column> {
        let mut c = vec![
            Column::int("PID", "pid", 6),
            Column::str("COMM", "comm", 16),
            Column::int("FD", "fd", 3).right(),
            Column::int("ERR", "err", 3).right(),
        ];
        if opts.has("extended-fields") {
            c.push(Column::str("FLAGS", "flags", 8));
        }
        c.push(Column::str("PATH", "path", 0));
        c
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        Box::new(OpenRender {
            extended: opts.has("extended-fields"),
        })
    }
}

struct OpenRender {
    extended: bool,
}

impl Render for OpenRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let [pid, comm, fd, err, flags, path] = fields else {
            return vec![];
        };
        let int = |s: &str| {
            s.parse::<i64>()
                .map(Value::Int)
                .unwrap_or_else(|_| Value::Str(s.to_string()))
        };
        let mut row = vec![int(pid), Value::Str((*comm).to_string()), int(fd), int(err)];
        if self.extended {
            let f = flags.parse::<u64>().unwrap_or(0);
            row.push(Value::Str(format!("{f:08o}")));
        }
        row.push(Value::Str((*path).to_string()));
        vec![row]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_in_octal() {
        let mut r = Opensnoop.renderer(&Options::new([("extended-fields", "")], false));
        let rows = r.record(&["5", "cat", "-1", "2", "524288", "/x"]);
        assert_eq!(rows[0][4], Value::Str("02000000".into()));
        assert_eq!(rows[0][2], Value::Int(-1));
    }
}
