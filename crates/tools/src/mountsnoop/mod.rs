//! mountsnoop: mount() and umount() calls written out as calls, with the mount namespace,
//! like libbpf-tools' mountsnoop.

use std::collections::HashMap;

use crate::script::{fill, filter};
use crate::table::{Column, Row, Value};
use crate::tool::{
    Example, Flag, Options, Render, Tool, ToolError, CGROUP, FAILED, PID, TIMESTAMP,
};

/// The mountsnoop tool.
#[derive(Debug)]
pub struct Mountsnoop;

impl Tool for Mountsnoop {
    fn name(&self) -> &'static str {
        "mountsnoop"
    }
    fn about(&self) -> &'static str {
        "Trace mount() and umount() calls: command, PID, mount namespace, the call and its result"
    }
    fn examples(&self) -> &'static [Example] {
        &[Example {
            command: "kestrel tool mountsnoop -T",
            does: "every mount and umount, with times",
        }]
    }
    fn flags(&self) -> &'static [Flag] {
        &[PID, CGROUP, FAILED, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let failed = if opts.has("failed") {
            " && args->ret < 0"
        } else {
            ""
        };
        fill(
            include_str!("mountsnoop.bt"),
            &[
                ("filter", filter(opts, &[])?),
                ("failed", failed.to_string()),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        vec![
            Column::str("COMM", "comm", 16),
            Column::int("PID", "pid", 7),
            Column::int("TID", "tid", 7),
            Column::int("MNT_NS", "mnt_ns", 11),
            Column::str("CALL", "call", 0),
        ]
    }
    fn renderer(&self, _opts: &Options) -> Box<dyn Render> {
        Box::new(MountRender::default())
    }
}

#[derive(Default)]
struct MountRender {
    pending: HashMap<String, (Row, String)>,
}

/// The MS_* flags by bit, as mount(2) names them.
const MS_FLAGS: [(u64, &str); 16] = [
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
];

/// `MS_RDONLY|MS_NOSUID` (unknown bits in hex; `0x0` for none).
pub fn mount_flags(flags: u64) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut rest = flags;
    for (bit, name) in MS_FLAGS {
        if flags & bit != 0 {
            names.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 || names.is_empty() {
        names.push(format!("{rest:#x}"));
    }
    names.join("|")
}

impl Render for MountRender {
    fn record(&mut self, fields: &[&str]) -> Vec<Row> {
        let head = |comm: &str, pid: &str, tid: &str, ns: &str| -> Row {
            vec![
                Value::Str(comm.to_string()),
                Value::Int(pid.parse().unwrap_or(0)),
                Value::Int(tid.parse().unwrap_or(0)),
                Value::Int(ns.parse().unwrap_or(0)),
            ]
        };
        if self.pending.len() >= 4096 {
            self.pending.clear();
        }
        match fields {
            ["M", tid, pid, comm, ns, flags, src, dst, fs, data] => {
                let call = format!(
                    "mount(\"{src}\", \"{dst}\", \"{fs}\", {}, \"{data}\")",
                    mount_flags(flags.parse().unwrap_or(0))
                );
                self.pending
                    .insert((*tid).to_string(), (head(comm, pid, tid, ns), call));
                vec![]
            }
            ["U", tid, pid, comm, ns, flags, target] => {
                let call = format!(
                    "umount(\"{target}\", {flags:#x})",
                    flags = flags.parse::<u64>().unwrap_or(0)
                );
                self.pending
                    .insert((*tid).to_string(), (head(comm, pid, tid, ns), call));
                vec![]
            }
            ["R", tid, ret] => match self.pending.remove(*tid) {
                Some((mut row, call)) => {
                    row.push(Value::Str(format!("{call} = {ret}")));
                    vec![row]
                }
                None => vec![],
            },
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_read_like_c() {
        assert_eq!(mount_flags(1 | 4096), "MS_RDONLY|MS_BIND");
        assert_eq!(mount_flags(0), "0x0");
        let mut r = MountRender::default();
        assert!(r
            .record(&[
                "M",
                "9",
                "9",
                "mount",
                "4026531841",
                "1",
                "/dev/loop0",
                "/mnt",
                "ext4",
                ""
            ])
            .is_empty());
        let rows = r.record(&["R", "9", "0"]);
        assert_eq!(
            rows[0][4],
            Value::Str("mount(\"/dev/loop0\", \"/mnt\", \"ext4\", MS_RDONLY, \"\") = 0".into())
        );
    }
}
