//! `-c CMD`: start a command held at the door until the probes are attached, then let it run;
//! tracing ends when it exits (bpftrace's behaviour, and the value of `cpid`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use kestrel_runtime::StopFlag;

/// A command started but waiting for [`HeldChild::release`].
pub struct HeldChild {
    child: Child,
    gate: PathBuf,
    dir: PathBuf,
}

impl HeldChild {
    /// Start `cmd` (split into words like a shell would, without expansions). The child
    /// blocks reading a FIFO until released, so no event of its start is missed.
    pub fn spawn(cmd: &str) -> anyhow::Result<HeldChild> {
        let words = split_words(cmd);
        if words.is_empty() {
            anyhow::bail!("-c needs a command to run");
        }
        let dir = std::env::temp_dir().join(format!("kestrel-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let gate = dir.join("gate");
        let status = Command::new("mkfifo")
            .arg(&gate)
            .status()
            .context("cannot run mkfifo")?;
        if !status.success() {
            anyhow::bail!("mkfifo {} failed", gate.display());
        }
        // `exec` keeps the PID, so the pid we report is the command's own.
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg("read -r _ < \"$0\"; exec \"$@\"")
            .arg(&gate)
            .args(&words)
            .spawn()
            .with_context(|| format!("cannot start '{cmd}'"))?;
        Ok(HeldChild { child, gate, dir })
    }

    /// The child's PID (the `cpid` builtin).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Let the command run; when it exits, `stop` is set so tracing ends. The returned
    /// handle ends the command if tracing stops first (as bpftrace does).
    pub fn release(self, stop: &StopFlag) -> anyhow::Result<RunningChild> {
        let mut gate = OpenOptions::new()
            .write(true)
            .open(&self.gate)
            .context("cannot open the -c gate")?;
        gate.write_all(b"go\n")?;
        drop(gate);
        let _ = std::fs::remove_dir_all(&self.dir);
        let stop = stop.clone();
        let child = Arc::new(Mutex::new(self.child));
        let watched = Arc::clone(&child);
        std::thread::spawn(move || loop {
            // Polled, not waited on, so that the main thread can still kill it.
            let done = match watched.lock() {
                Ok(mut c) => !matches!(c.try_wait(), Ok(None)),
                Err(_) => true,
            };
            if done {
                stop.stop();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        });
        Ok(RunningChild { child })
    }

    /// End the command without running it (when loading or attaching failed).
    pub fn abandon(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A released `-c` command.
pub struct RunningChild {
    child: Arc<Mutex<Child>>,
}

impl RunningChild {
    /// Kill the command if it is still running (tracing ended before it did) and reap it.
    pub fn end(&self) {
        if let Ok(mut c) = self.child.lock() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for RunningChild {
    fn drop(&mut self) {
        self.end();
    }
}

/// Split a command line into words, honouring single and double quotes and backslashes.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split_words("ls -l /tmp"), ["ls", "-l", "/tmp"]);
        assert_eq!(
            split_words(r#"sh -c 'echo "a b"' x\ y"#),
            ["sh", "-c", "echo \"a b\"", "x y"]
        );
        assert!(split_words("   ").is_empty());
    }
}
