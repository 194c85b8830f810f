//! Kernel tests of stacks and symbols: `kstack`, `ustack` (symbolized after the traced
//! process exits), `ksym`/`kaddr`. Each test traces only its own child (`-c`, `pid == cpid`).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{kernel_available, run, TempDir};

/// A C program whose getppid() calls come from `level1 -> level2 -> level3`; it sleeps a
/// little before exiting so kestrel sees its mappings while it lives.
const CHILD_SOURCE: &str = r#"
#include <unistd.h>
#include <sys/syscall.h>
__attribute__((noinline)) void level3(void) { syscall(SYS_getppid); }
__attribute__((noinline)) void level2(void) { level3(); }
__attribute__((noinline)) void level1(void) { level2(); }
int main(void) { for (int i = 0; i < 3; i++) level1(); usleep(600000); return 0; }
"#;

/// Compiles the child with frame pointers, or says why it cannot (no C compiler).
fn build_child(dir: &TempDir) -> Option<PathBuf> {
    let src = dir.0.join("stackchild.c");
    let bin = dir.0.join("stackchild");
    std::fs::write(&src, CHILD_SOURCE).expect("write source");
    let status = Command::new("cc")
        .args(["-O0", "-g", "-fno-omit-frame-pointer", "-o"])
        .arg(&bin)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => Some(bin),
        other => {
            eprintln!("SKIP: cannot compile the test child with cc: {other:?}");
            None
        }
    }
}

fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout={stdout} stderr={}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn kstack_key_shows_syscall_entry_frames() {
    if !kernel_available("kstack_key_shows_syscall_entry_frames") {
        return;
    }
    let dir = TempDir::new("kstack");
    let Some(child) = build_child(&dir) else {
        return;
    };
    let child = child.to_string_lossy().to_string();
    let out = stdout_of(&[
        "-e",
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[kstack] = count(); @p[kstack(perf, 3)] = count(); }",
        "-c",
        &child,
    ]);
    // @[\n    frame+off\n ...\n]: 3, as bpftrace prints it.
    assert!(out.contains("@[\n    "), "{out}");
    assert!(out.contains("\n    do_syscall_64+"), "{out}");
    assert!(out.contains("\n]: 3\n"), "{out}");
    assert!(out.contains(" ([kernel.kallsyms])\n"), "{out}");
    assert!(out.contains("@p[\n\tffffffff"), "{out}");
}

#[test]
fn ustack_names_the_childs_functions_after_it_exits() {
    if !kernel_available("ustack_names_the_childs_functions_after_it_exits") {
        return;
    }
    let dir = TempDir::new("ustack");
    let Some(child) = build_child(&dir) else {
        return;
    };
    let child = child.to_string_lossy().to_string();
    let out = stdout_of(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[ustack, comm] = count(); @p[ustack(perf, 6)] = count(); printf("%s|\n", ustack(3)); }"#,
        "-c",
        &child,
    ]);
    // Maps print after the child exited; its frames still resolve.
    for f in ["level2+", "level1+", "main+"] {
        assert!(out.contains(&format!("\n    {f}")), "no {f} in {out}");
    }
    assert!(out.contains(", stackchild]: 3\n"), "{out}");
    assert!(
        out.contains(" main+") && out.contains(&format!(" ({child})\n")),
        "{out}"
    );
    // In printf the frames are indented by 8 spaces.
    assert!(out.contains("\n        level2+"), "{out}");
}

#[test]
fn ksym_of_kaddr_is_the_symbol() {
    if !kernel_available("ksym_of_kaddr_is_the_symbol") {
        return;
    }
    let out = stdout_of(&[
        "-e",
        r#"BEGIN { printf("%s %s\n", ksym(kaddr("do_syscall_64")), ksym(kaddr("do_syscall_64") + 4)); exit(); }"#,
    ]);
    assert!(
        out.lines().any(|l| l == "do_syscall_64 do_syscall_64"),
        "{out}"
    );
}
