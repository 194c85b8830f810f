//! The process table: what Falco's `proc.*`, `user.*` and `container.id` fields need, per
//! process (tgid). Seeded from a /proc tree (any root, so tests use a fake one) and kept up to
//! date by fork, exec and exit events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::event::ExecInfo;

/// The kernel's comm length without its NUL.
pub const COMM_LEN: usize = 15;

/// "Unset" login uid.
pub const NO_LOGINUID: u32 = u32::MAX;

/// One process.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Process {
    /// tgid.
    pub pid: u32,
    /// Parent's tgid (0: unknown).
    pub ppid: u32,
    /// comm (at most 15 bytes).
    pub comm: String,
    /// argv[0].
    pub exe: String,
    /// Full executable path.
    pub exepath: String,
    /// argv[1..].
    pub args: Vec<String>,
    /// Controlling tty device number (0: none).
    pub tty: u32,
    /// Working directory.
    pub cwd: String,
    /// Session id.
    pub sid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Audit login uid ([`NO_LOGINUID`] when unset).
    pub loginuid: u32,
    /// The cgroup path (cgroup v2 line, else the first v1 line).
    pub cgroup: String,
    /// The executable is a memfd.
    pub exe_from_memfd: bool,
    /// When it started, ns since the epoch (0: before the table was seeded).
    pub start_ns: u64,
}

impl Process {
    /// `proc.cmdline`: comm and the arguments.
    pub fn cmdline(&self) -> String {
        let mut s = self.comm.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// `container.id`: 12 hex digits of a container id in the cgroup path, or `host`.
    pub fn container_id(&self) -> String {
        container_id(&self.cgroup)
    }
}

/// The container id in a cgroup path: the last path component holding a run of 64 hex
/// digits (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>`, `libpod-<id>`,
/// `/docker/<id>`), shortened to 12 like Falco; `host` when there is none.
pub fn container_id(cgroup: &str) -> String {
    for comp in cgroup.rsplit('/') {
        let b = comp.as_bytes();
        let mut run = 0;
        for (i, c) in b.iter().enumerate() {
            if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
                run += 1;
                if run == 64 && b.get(i + 1).is_none_or(|n| !n.is_ascii_hexdigit()) {
                    let start = i + 1 - 64;
                    return comp[start..start + 12].to_string();
                }
            } else {
                run = 0;
            }
        }
    }
    "host".to_string()
}

/// A process table.
#[derive(Clone, Debug, Default)]
pub struct ProcessTable {
    procs: HashMap<u32, Process>,
    /// Where /proc is (None: not live, e.g. replaying events).
    proc_root: Option<PathBuf>,
}

/// Most ancestors walked (guards against a ppid loop from bad input).
const MAX_ANCESTORS: usize = 64;

impl ProcessTable {
    /// An empty table that never reads /proc.
    pub fn new() -> ProcessTable {
        ProcessTable::default()
    }

    /// A table seeded from every numeric directory of `proc_root` (normally `/proc`); the same
    /// root is read later for details an exec event lacks. Unreadable processes (gone, or
    /// not permitted) are skipped.
    pub fn seed(proc_root: &Path) -> std::io::Result<ProcessTable> {
        let mut t = ProcessTable {
            procs: HashMap::new(),
            proc_root: Some(proc_root.to_path_buf()),
        };
        for entry in std::fs::read_dir(proc_root)?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(p) = read_process(proc_root, pid) {
                t.procs.insert(pid, p);
            }
        }
        Ok(t)
    }

    /// Number of processes.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Insert or replace a process.
    pub fn insert(&mut self, p: Process) {
        self.procs.insert(p.pid, p);
    }

    /// The process `pid`, if known.
    pub fn get(&self, pid: u32) -> Option<&Process> {
        self.procs.get(&pid)
    }

    /// The process `pid`, reading it from /proc when it is not in the table yet (a process
    /// that started before seeding finished, or whose fork was lost).
    pub fn get_or_load(&mut self, pid: u32) -> Option<&Process> {
        if !self.procs.contains_key(&pid) {
            let p = self
                .proc_root
                .as_deref()
                .and_then(|r| read_process(r, pid))?;
            self.procs.insert(pid, p);
        }
        self.procs.get(&pid)
    }

    /// The process's ancestors, parent first.
    pub fn ancestors(&self, pid: u32) -> Vec<&Process> {
        let mut out = Vec::new();
        let mut cur = self.procs.get(&pid);
        while let Some(p) = cur {
            if out.len() >= MAX_ANCESTORS || p.ppid == 0 || p.ppid == p.pid {
                break;
            }
            cur = self.procs.get(&p.ppid);
            if let Some(parent) = cur {
                out.push(parent);
            }
        }
        out
    }

    /// A fork: the child starts as a copy of the parent (threads add nothing).
    pub fn on_fork(&mut self, parent: u32, child: u32, thread: bool, ts_ns: u64) {
        if thread || parent == child {
            return;
        }
        let mut p = match self.procs.get(&parent) {
            Some(p) => p.clone(),
            None => match self
                .proc_root
                .as_deref()
                .and_then(|r| read_process(r, child))
            {
                Some(p) => p,
                None => Process {
                    ppid: parent,
                    ..Process::default()
                },
            },
        };
        p.pid = child;
        p.ppid = parent;
        p.start_ns = ts_ns;
        self.procs.insert(child, p);
    }

    /// An exec: the image changes, everything else stays. Fields the event lacks come from
    /// /proc when the table is live, else from the filename.
    pub fn on_exec(&mut self, pid: u32, info: &ExecInfo, ts_ns: u64) {
        let live = self.proc_root.as_deref().and_then(|r| read_process(r, pid));
        let p = self.procs.entry(pid).or_insert_with(|| Process {
            pid,
            ..Process::default()
        });
        let argv = info
            .argv
            .clone()
            .or_else(|| {
                live.as_ref().map(|l| {
                    std::iter::once(l.exe.clone())
                        .chain(l.args.clone())
                        .collect()
                })
            })
            .unwrap_or_else(|| vec![info.filename.clone()]);
        p.exe = argv.first().cloned().unwrap_or_default();
        p.args = argv.into_iter().skip(1).collect();
        p.exepath = info
            .exepath
            .clone()
            .or_else(|| {
                live.as_ref()
                    .map(|l| l.exepath.clone())
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| info.filename.clone());
        p.comm = info
            .comm
            .clone()
            .or_else(|| live.as_ref().map(|l| l.comm.clone()))
            .unwrap_or_else(|| comm_of(&info.filename));
        p.exe_from_memfd = p.exepath.starts_with("/memfd:");
        if let Some(l) = &live {
            if p.ppid == 0 {
                p.ppid = l.ppid;
            }
            p.uid = l.uid;
            p.gid = l.gid;
            p.cgroup.clone_from(&l.cgroup);
        }
        p.start_ns = ts_ns;
    }

    /// The process changed directory.
    pub fn set_cwd(&mut self, pid: u32, cwd: String) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.cwd = cwd;
        }
    }

    /// The process is gone.
    pub fn on_exit(&mut self, pid: u32) {
        self.procs.remove(&pid);
    }
}

/// The comm the kernel gives after exec: the file name's last component, 15 bytes at most.
pub fn comm_of(filename: &str) -> String {
    let base = filename.rsplit('/').next().unwrap_or(filename);
    let mut end = base.len().min(COMM_LEN);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// Read one process from `root/PID/`: stat, cmdline, exe, cwd, status, loginuid, cgroup.
/// `None` when its stat cannot be read or parsed.
pub fn read_process(root: &Path, pid: u32) -> Option<Process> {
    let dir = root.join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // "pid (comm) state ppid pgrp session tty_nr ..."; comm may hold spaces and ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let num = |i: usize| rest.get(i).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let mut p = Process {
        pid,
        comm,
        ppid: num(1) as u32,
        sid: num(3) as u32,
        tty: num(4) as u32,
        loginuid: NO_LOGINUID,
        ..Process::default()
    };
    if let Ok(cmd) = std::fs::read(dir.join("cmdline")) {
        let mut parts: Vec<String> = cmd
            .split(|&b| b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        if parts.last().is_some_and(String::is_empty) {
            parts.pop();
        }
        let mut it = parts.into_iter();
        p.exe = it.next().unwrap_or_default();
        p.args = it.collect();
    }
    if let Ok(exe) = std::fs::read_link(dir.join("exe")) {
        let s = exe.to_string_lossy();
        p.exepath = s.strip_suffix(" (deleted)").unwrap_or(&s).to_string();
        p.exe_from_memfd = p.exepath.starts_with("/memfd:");
    }
    if let Ok(cwd) = std::fs::read_link(dir.join("cwd")) {
        p.cwd = cwd.to_string_lossy().into_owned();
    }
    if let Ok(status) = std::fs::read_to_string(dir.join("status")) {
        for line in status.lines() {
            let first = |l: &str| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u32>().ok())
            };
            if line.starts_with("Uid:") {
                p.uid = first(line).unwrap_or(0);
            } else if line.starts_with("Gid:") {
                p.gid = first(line).unwrap_or(0);
            }
        }
    }
    if let Ok(l) = std::fs::read_to_string(dir.join("loginuid")) {
        p.loginuid = l.trim().parse().unwrap_or(NO_LOGINUID);
    }
    if let Ok(cg) = std::fs::read_to_string(dir.join("cgroup")) {
        let lines: Vec<&str> = cg.lines().collect();
        let path_of = |l: &str| l.splitn(3, ':').nth(2).map(str::to_string);
        // A container id anywhere wins; then the v2 line; then the first line.
        p.cgroup = lines
            .iter()
            .filter_map(|l| path_of(l))
            .find(|path| container_id(path) != "host")
            .or_else(|| {
                lines
                    .iter()
                    .find(|l| l.starts_with("0::"))
                    .and_then(|l| path_of(l))
            })
            .or_else(|| lines.first().and_then(|l| path_of(l)))
            .unwrap_or_default();
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_from_cgroup_paths() {
        let id = "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e";
        assert_eq!(container_id(&format!("/docker/{id}")), "3f4e5d6c7b8a");
        assert_eq!(
            container_id(&format!("/system.slice/docker-{id}.scope")),
            "3f4e5d6c7b8a"
        );
        assert_eq!(
            container_id(&format!(
                "/kubepods/besteffort/pod1/cri-containerd-{id}.scope"
            )),
            "3f4e5d6c7b8a"
        );
        assert_eq!(
            container_id("/user.slice/user-0.slice/session-1.scope"),
            "host"
        );
        assert_eq!(container_id("/"), "host");
        assert_eq!(container_id(&format!("/x/{id}0")), "host");
    }

    #[test]
    fn comm_is_truncated_basename() {
        assert_eq!(
            comm_of("/usr/bin/a-very-long-program-name"),
            "a-very-long-pro"
        );
        assert_eq!(comm_of("sh"), "sh");
    }
}
