//! Built-in scenarios: what an offender does, named after falcosecurity/event-generator's
//! actions (written here). `kestrel guard scenario NAME` runs the offender as a child
//! process (`kestrel guard scenario-step NAME DIR`, sometimes under another name), waits
//! for it and reports its exit status. Every offender makes its offending call, waits
//! [`DEFAULT_WAIT_MS`] (the window in which a userspace kill lands; its delay is in the alert), then
//! writes `DIR/NAME.marker` — so in kill mode the marker's absence shows the process was
//! stopped after the call.
//!
//! Host scenarios only: the network actions (ssh to a non-standard port, netcat) need a
//! test network namespace and are not written yet.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The scenarios, with the rule each is meant to trigger.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "ReadSensitiveFileUntrusted",
        "Read sensitive file untrusted",
    ),
    ("RunShellUntrusted", "Run shell untrusted"),
    (
        "SearchPrivateKeysOrPasswords",
        "Search Private Keys or Passwords",
    ),
    ("ClearLogActivities", "Clear Log Activities"),
    (
        "CreateSymlinkOverSensitiveFiles",
        "Create Symlink Over Sensitive Files",
    ),
    (
        "CreateHardlinkOverSensitiveFiles",
        "Create Hardlink Over Sensitive Files",
    ),
    ("PtraceAttachedToProcess", "PTRACE attached to process"),
    ("PtraceAntiDebugAttempt", "PTRACE anti-debug attempt"),
    ("ExecutionFromDevShm", "Execution from /dev/shm"),
    (
        "FilelessExecutionViaMemfdCreate",
        "Fileless execution via memfd_create",
    ),
    ("PacketSocketCreatedOnHost", "Packet socket created on host"),
    (
        "LinuxKernelModuleInjection",
        "Linux Kernel Module Injection Detected",
    ),
];

/// How long an offender waits after its offending call before writing its marker, unless
/// told otherwise (`--wait-ms`): the window in which a userspace kill must land.
pub const DEFAULT_WAIT_MS: u64 = 1000;

/// The rule a scenario triggers.
pub fn rule_of(name: &str) -> Option<&'static str> {
    SCENARIOS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

fn marker(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.marker"))
}

/// Exit code of a finished child as a shell reports it (128 + signal).
fn code(st: std::process::ExitStatus) -> i32 {
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// Runs scenario `name` (or every one for `all`) with its files in `dir`; prints one line
/// per scenario; returns the exit code of the (last) offender.
pub fn run(name: &str, dir: Option<&Path>, wait_ms: u64) -> anyhow::Result<i32> {
    let names: Vec<&str> = if name == "all" {
        SCENARIOS.iter().map(|(n, _)| *n).collect()
    } else if rule_of(name).is_some() {
        vec![name]
    } else {
        let all: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
        anyhow::bail!("unknown scenario '{name}'; scenarios: {}", all.join(", "));
    };
    let tmp;
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            tmp = std::env::temp_dir().join(format!("kestrel-scenario-{}", std::process::id()));
            tmp.clone()
        }
    };
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let mut last = 0;
    for n in names {
        let _ = std::fs::remove_file(marker(&dir, n));
        let prog = if n == "RunShellUntrusted" {
            // The parent must look like a network server: run ourselves as "httpd".
            let link = dir.join("httpd");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&exe, &link)?;
            link
        } else {
            exe.clone()
        };
        let st = Command::new(&prog)
            .args(["guard", "scenario-step", n])
            .arg(&dir)
            .arg(wait_ms.to_string())
            .status()?;
        last = code(st);
        let pidfile = dir.join("ptrace-target.pid");
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            // Only the target this scenario started (its pid file), and only if it is still
            // our `sleep`.
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = std::fs::remove_file(&pidfile);
        }
        let m = marker(&dir, n).exists();
        println!(
            "{n}: exit {last}, marker {}",
            if m { "written" } else { "not written" }
        );
    }
    Ok(last)
}

fn done(dir: &Path, name: &str, wait: Duration) -> anyhow::Result<i32> {
    std::thread::sleep(wait);
    std::fs::File::create(marker(dir, name))?.write_all(b"done\n")?;
    Ok(0)
}

/// A `sh -c` script that waits out the window, then writes the marker.
fn shell_tail(dir: &Path, name: &str, wait: Duration) -> String {
    format!(
        "sleep {:.3}; echo done > '{}'",
        wait.as_secs_f64(),
        marker(dir, name).display()
    )
}

/// The offender itself (`kestrel guard scenario-step NAME DIR`).
pub fn step(name: &str, dir: &Path, wait_ms: u64) -> anyhow::Result<i32> {
    let wait = Duration::from_millis(wait_ms);
    match name {
        "ReadSensitiveFileUntrusted" => {
            let _f = std::fs::File::open("/etc/shadow")?;
            done(dir, name, wait)
        }
        "RunShellUntrusted" => {
            let st = Command::new("sh")
                .arg("-c")
                .arg(shell_tail(dir, name, wait))
                .status()?;
            Ok(code(st))
        }
        "SearchPrivateKeysOrPasswords" => {
            // grep reads our pipe, so it lives through the window (its argv is read from
            // /proc while it runs).
            let mut child = Command::new("grep")
                .args(["-e", "BEGIN PRIVATE KEY", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()?;
            std::thread::sleep(wait);
            drop(child.stdin.take());
            let st = child.wait()?;
            if st.signal().is_none() {
                std::fs::write(marker(dir, name), "done\n")?;
            }
            Ok(code(st))
        }
        "ClearLogActivities" => {
            let path = format!("/var/log/kestrel-scenario-{}.log", std::process::id());
            std::fs::write(dir.join("ClearLogActivities.path"), &path)?;
            let _f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            let r = done(dir, name, wait);
            let _ = std::fs::remove_file(&path);
            r
        }
        "CreateSymlinkOverSensitiveFiles" => {
            let link = dir.join("shadow-link");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink("/etc/shadow", &link)?;
            let r = done(dir, name, wait);
            let _ = std::fs::remove_file(&link);
            r
        }
        "CreateHardlinkOverSensitiveFiles" => {
            let link = dir.join("shadow-hardlink");
            let _ = std::fs::remove_file(&link);
            // EXDEV when DIR is on another file system: the attempt is what counts.
            let _ = std::fs::hard_link("/etc/shadow", &link);
            let r = done(dir, name, wait);
            let _ = std::fs::remove_file(&link);
            r
        }
        "PtraceAttachedToProcess" => {
            // PTRACE_SEIZE does not stop the target, so a killed tracer leaves no stopped
            // process behind; the runner kills the target by its pid file in any case.
            let mut target = Command::new("sleep")
                .arg("5")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            std::fs::write(dir.join("ptrace-target.pid"), target.id().to_string())?;
            let pid = nix::unistd::Pid::from_raw(target.id() as i32);
            let attached = nix::sys::ptrace::seize(pid, nix::sys::ptrace::Options::empty());
            let r = done(dir, name, wait);
            if attached.is_ok() {
                let _ = nix::sys::ptrace::detach(pid, None);
            }
            let _ = target.kill();
            let _ = target.wait();
            r
        }
        "PtraceAntiDebugAttempt" => {
            let _ = nix::sys::ptrace::traceme();
            done(dir, name, wait)
        }
        "ExecutionFromDevShm" => {
            let path = PathBuf::from(format!("/dev/shm/kestrel-scn-{}", std::process::id()));
            std::fs::copy("/bin/sh", &path)?;
            let st = Command::new(&path)
                .arg("-c")
                .arg(shell_tail(dir, name, wait))
                .status();
            let _ = std::fs::remove_file(&path);
            Ok(code(st?))
        }
        "FilelessExecutionViaMemfdCreate" => {
            let fd = nix::sys::memfd::memfd_create(
                c"kestrel-scenario",
                nix::sys::memfd::MemFdCreateFlag::empty(),
            )?;
            let mut f = std::fs::File::from(fd);
            f.write_all(&std::fs::read("/bin/sh")?)?;
            let args = [
                CString::new("sh")?,
                CString::new("-c")?,
                CString::new(shell_tail(dir, name, wait))?,
            ];
            let env: Vec<CString> = Vec::new();
            // Replaces this process: the memfd program is the offender.
            let e = nix::unistd::fexecve(std::os::fd::AsRawFd::as_raw_fd(&f), &args, &env);
            anyhow::bail!("fexecve: {e:?}")
        }
        "PacketSocketCreatedOnHost" => {
            use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
            let _s = socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::empty(),
                None,
            );
            done(dir, name, wait)
        }
        "LinuxKernelModuleInjection" => {
            // /dev/null is no module: the kernel refuses it, the attempt is the event.
            let f = std::fs::File::open("/dev/null")?;
            let _ = nix::kmod::finit_module(&f, c"", nix::kmod::ModuleInitFlags::empty());
            done(dir, name, wait)
        }
        other => anyhow::bail!("unknown scenario '{other}'"),
    }
}
