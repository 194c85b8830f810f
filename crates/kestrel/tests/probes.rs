//! Kernel tests of the probe types beyond tracepoints and intervals: uprobes/uretprobes
//! (arguments, stack arguments, return values, `func`, `probe`, globs, library names, `-p`),
//! profile and software perf events, raw tracepoints, and the one-line errors of probe types
//! this kernel lacks (kprobes, kfuncs, hardware counters).
//!
//! Every test traces only its own workload: a C program it compiles under a unique name and
//! starts with `-c` (or whose PID it filters on).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{kernel_available, run, TempDir, Tracer};

/// A program with functions of known arguments. Each probed function sits on its own page:
/// on the project's VM kernel, uprobes in some pages that also hold running code stop
/// firing after their first hit (bpftrace shows the same), which this layout avoids.
const CHILD_SOURCE: &str = r#"
#include <stdlib.h>
#include <unistd.h>
#define PAGE __attribute__((noinline, aligned(4096)))
PAGE long kp_sum3(long a, long b, long c) { return a + b + c; }
PAGE long kp_eight(long a, long b, long c, long d, long e, long f, long g, long h) {
    return a + b + c + d + e + f + g + h;
}
PAGE int kp_name(const char *s) { return s[0]; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5;
    int nap = argc > 2 ? atoi(argv[2]) : 20000;
    static volatile long sink;
    usleep(100000);
    for (int i = 0; i < n; i++) {
        sink += kp_sum3(i, 10, 100);
        sink += kp_eight(1, 2, 3, 4, 5, 6, 70, 80);
        sink += kp_name("kestrel");
        usleep(nap);
    }
    return 0;
}
"#;

/// Compiles the test child as `dir/name`, or says why it cannot (no C compiler).
fn build_child(dir: &TempDir, name: &str) -> Option<PathBuf> {
    let src = dir.0.join(format!("{name}.c"));
    let bin = dir.0.join(name);
    std::fs::write(&src, CHILD_SOURCE).expect("write source");
    let status = Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => Some(bin),
        other => {
            assert!(
                std::env::var("CI").is_err(),
                "cannot compile the test child with cc: {other:?}"
            );
            eprintln!("SKIP: cannot compile the test child with cc: {other:?}");
            None
        }
    }
}

/// Runs kestrel to completion; returns stdout, failing with stderr when it fails.
fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "args={args:?} stdout={stdout} stderr={}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs kestrel expecting failure; returns stderr.
fn stderr_of_failure(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected failure: args={args:?} stdout={} stderr={stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// The integer value of map line `prefix: N`, if present.
fn map_value(out: &str, prefix: &str) -> Option<u64> {
    out.lines().find_map(|l| {
        l.strip_prefix(prefix)?
            .strip_prefix(": ")?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn uprobe_reads_register_and_stack_arguments() {
    if !kernel_available("uprobe_reads_register_and_stack_arguments") {
        return;
    }
    let dir = TempDir::new("uprobe-args");
    let Some(bin) = build_child(&dir, "kpargs") else {
        return;
    };
    let b = bin.display();
    let script = format!(
        "uprobe:{b}:kp_sum3 {{ printf(\"sum3 %d %d %d %s %s\\n\", arg0, arg1, arg2, func, probe); }}
         uprobe:{b}:kp_eight {{ printf(\"eight %d %d %d %d %d %d %d %d\\n\", arg0, arg1, arg2, arg3, arg4, arg5, sarg0, sarg1); }}
         uprobe:{b}:kp_name {{ printf(\"name %s %d %d\\n\", str(arg0), usermode, reg(\"ip\") == uaddr(\"kp_name\") ? 0 : 1); }}"
    );
    let out = stdout_of(&["-e", &script, "-c", &format!("{b} 4")]);
    assert!(
        out.contains(&format!("sum3 0 10 100 kp_sum3 uprobe:{b}:kp_sum3"))
            || out.contains(&format!("sum3 1 10 100 kp_sum3 uprobe:{b}:kp_sum3")),
        "{out}"
    );
    assert!(out.contains("eight 1 2 3 4 5 6 70 80"), "{out}");
    // The string's page may not be mapped yet at the very first call; later calls read it.
    assert!(out.contains("name kestrel 1 "), "{out}");
}

#[test]
fn uretprobe_sees_return_values_and_globs_expand() {
    if !kernel_available("uretprobe_sees_return_values_and_globs_expand") {
        return;
    }
    let dir = TempDir::new("uretprobe");
    let Some(bin) = build_child(&dir, "kpret") else {
        return;
    };
    let b = bin.display();
    let script = format!(
        "uretprobe:{b}:kp_sum3 {{ @ret[retval] = count(); }}
         uprobe:{b}:kp_* {{ @calls[func] = count(); }}"
    );
    let out = stdout_of(&["-e", &script, "-c", &format!("{b} 3")]);
    // kp_sum3(i, 10, 100) returns 110, 111, 112.
    assert!(
        (110..=112).any(|v| map_value(&out, &format!("@ret[{v}]")).is_some()),
        "{out}"
    );
    for f in ["kp_sum3", "kp_eight", "kp_name"] {
        assert!(
            map_value(&out, &format!("@calls[{f}]")).is_some_and(|n| n >= 1),
            "{f}: {out}"
        );
    }
}

#[test]
fn uprobe_on_a_library_by_name() {
    if !kernel_available("uprobe_on_a_library_by_name") {
        return;
    }
    let dir = TempDir::new("uprobe-lib");
    let Some(bin) = build_child(&dir, "kplib") else {
        return;
    };
    let out = stdout_of(&[
        "-e",
        "uprobe:libc:usleep /pid == cpid/ { @naps[probe] = count(); @arg = max(arg0); }",
        "-c",
        &format!("{} 3 30000", bin.display()),
    ]);
    assert!(out.contains("@naps[uprobe:/"), "{out}");
    assert!(out.contains("libc.so"), "{out}");
    assert_eq!(map_value(&out, "@arg"), Some(100_000), "{out}");
}

#[test]
fn pid_flag_scopes_uprobes_and_tracepoints() {
    if !kernel_available("pid_flag_scopes_uprobes_and_tracepoints") {
        return;
    }
    let dir = TempDir::new("uprobe-pid");
    let Some(bin) = build_child(&dir, "kppid") else {
        return;
    };
    // Two copies of the workload; only the first is traced.
    let mut traced = Command::new(&bin)
        .args(["200", "20000"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn traced child");
    let mut other = Command::new(&bin)
        .args(["200", "20000"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn other child");
    let pid = traced.id().to_string();
    let b = bin.display();
    let script = format!(
        "uprobe:{b}:kp_sum3 {{ @u[pid] = count(); }}
         tracepoint:syscalls:sys_enter_clock_nanosleep,tracepoint:syscalls:sys_enter_nanosleep {{ @t[pid] = count(); }}
         interval:ms:1200 {{ exit(); }}"
    );
    let mut t = Tracer::start(&["-p", &pid, "-e", &script]);
    let (lines, err, code) = {
        t.wait_for(|l| l.starts_with("@t["), Duration::from_secs(5));
        t.finish()
    };
    let _ = traced.kill();
    let _ = other.kill();
    let _ = traced.wait();
    let _ = other.wait();
    let out = lines.join("\n");
    assert_eq!(code, Some(0), "{out} {err}");
    let other_pid = other.id();
    assert!(out.contains(&format!("@t[{pid}]")), "{out}");
    assert!(out.contains(&format!("@u[{pid}]")), "{out}");
    assert!(!out.contains(&format!("[{other_pid}]")), "{out}");
}

#[test]
fn uprobe_errors_name_the_symbol_and_binary() {
    if !kernel_available("uprobe_errors_name_the_symbol_and_binary") {
        return;
    }
    let dir = TempDir::new("uprobe-err");
    let Some(bin) = build_child(&dir, "kperr") else {
        return;
    };
    let b = bin.display();
    let err = stderr_of_failure(&["-e", &format!("uprobe:{b}:kp_sum {{ }}")]);
    assert!(err.contains("has no function 'kp_sum'"), "{err}");
    assert!(err.contains("did you mean 'kp_sum3'"), "{err}");
    let err = stderr_of_failure(&["-e", "uprobe:kestrel_no_such_lib:f { }"]);
    assert!(
        err.contains("cannot find binary 'kestrel_no_such_lib'"),
        "{err}"
    );
    let err = stderr_of_failure(&["-e", &format!("uretprobe:{b}:kp_sum3 {{ @ = arg0; }}")]);
    assert!(err.contains("arg0 is not available in this probe"), "{err}");
}

/// A program with USDT probes (needs <sys/sdt.h>, from systemtap-sdt-dev).
/// Every probe has a semaphore (`_SDT_HAS_SEMAPHORES`); `kestrel:guarded` only fires while a
/// tracer has counted its semaphore up. (The conformance cases cover probes without one.)
const USDT_SOURCE: &str = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <unistd.h>
#define SEM(name) unsigned short kestrel_##name##_semaphore __attribute__((unused, section(".probes")))
SEM(tick); SEM(bare); SEM(guarded);
int main(void) {
    long x = 5; int y = -3; char word[8] = "usdt";
    usleep(50000);
    for (int i = 0; i < 3; i++) {
        DTRACE_PROBE3(kestrel, tick, x + i, y, word);
        DTRACE_PROBE(kestrel, bare);
        if (kestrel_guarded_semaphore) DTRACE_PROBE1(kestrel, guarded, i);
        usleep(10000);
    }
    return 0;
}
"#;

fn build_usdt_child(dir: &TempDir) -> Option<PathBuf> {
    let src = dir.0.join("kpusdt.c");
    let bin = dir.0.join("kpusdt");
    std::fs::write(&src, USDT_SOURCE).expect("write source");
    let status = Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => Some(bin),
        other => {
            assert!(
                std::env::var("CI").is_err(),
                "cannot compile the usdt child (is systemtap-sdt-dev installed?): {other:?}"
            );
            eprintln!("SKIP: cannot compile the usdt child: {other:?}");
            None
        }
    }
}

#[test]
fn usdt_probes_read_note_arguments() {
    if !kernel_available("usdt_probes_read_note_arguments") {
        return;
    }
    let dir = TempDir::new("usdt");
    let Some(bin) = build_usdt_child(&dir) else {
        return;
    };
    let b = bin.display();
    let script = format!(
        "usdt:{b}:kestrel:tick {{ printf(\"tick %d %d %s %s\\n\", arg0, arg1, str(arg2), probe); }}
         usdt:{b}:bare {{ @bare = count(); }}
         usdt:{b}:kestrel:guarded {{ @guarded = count(); }}"
    );
    let out = stdout_of(&["-e", &script, "-c", &b.to_string()]);
    for v in 5..=7 {
        assert!(
            out.contains(&format!("tick {v} -3 usdt usdt:{b}:kestrel:tick")),
            "{out}"
        );
    }
    assert_eq!(map_value(&out, "@bare"), Some(3), "{out}");
    assert_eq!(map_value(&out, "@guarded"), Some(3), "{out}");
    let err = stderr_of_failure(&["-e", &format!("usdt:{b}:kestrel:nope {{ }}")]);
    assert!(
        err.contains("has no usdt probe matching 'kestrel:nope'"),
        "{err}"
    );
}

#[test]
fn listing_user_and_perf_probes() {
    if !kernel_available("listing_user_and_perf_probes") {
        return;
    }
    let dir = TempDir::new("list");
    let Some(bin) = build_child(&dir, "kplist") else {
        return;
    };
    let b = bin.display();
    let out = stdout_of(&["-l", &format!("uprobe:{b}:kp_*")]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!("uprobe:{b}:kp_eight"),
            format!("uprobe:{b}:kp_name"),
            format!("uprobe:{b}:kp_sum3")
        ],
        "{out}"
    );
    let out = stdout_of(&["-l", "software:*"]);
    assert!(out.lines().any(|l| l == "software:page-faults:"), "{out}");
    assert!(out.lines().all(|l| l.starts_with("software:")), "{out}");
    let out = stdout_of(&["-l", "hardware:*cycles"]);
    assert!(out.lines().any(|l| l == "hardware:cpu-cycles:"), "{out}");
    let out = stdout_of(&["-l", "rawtracepoint:sys_e*"]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["rawtracepoint:sys_enter", "rawtracepoint:sys_exit"]
    );
    if let Some(usdt) = build_usdt_child(&dir) {
        let u = usdt.display();
        let out = stdout_of(&["-l", &format!("usdt:{u}:*")]);
        assert!(out.contains(&format!("usdt:{u}:kestrel:tick")), "{out}");
        assert!(out.contains(&format!("usdt:{u}:kestrel:bare")), "{out}");
    }
}

#[test]
fn kernel_function_probes_fail_in_one_line() {
    if !kernel_available("kernel_function_probes_fail_in_one_line") {
        return;
    }
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        eprintln!("SKIP: this kernel has kprobes");
        return;
    }
    let err = stderr_of_failure(&[
        "-e",
        "tracepoint:syscalls:sys_enter_getppid { @a = count(); } kprobe:do_sys_openat2 { @b = count(); }",
    ]);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("no kprobes")
            && lines[0].contains("use tracepoint:syscalls:sys_enter_openat instead"),
        "{err}"
    );
}

#[test]
fn uprobe_at_an_address() {
    if !kernel_available("uprobe_at_an_address") {
        return;
    }
    let dir = TempDir::new("uprobe-addr");
    let Some(bin) = build_child(&dir, "kpaddr") else {
        return;
    };
    // The address of kp_sum3 as `nm` prints it.
    let nm = Command::new("nm").arg(&bin).output().expect("nm");
    let text = String::from_utf8_lossy(&nm.stdout);
    let Some(addr) = text.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        let a = parts.next()?;
        (parts.nth(1)? == "kp_sum3").then(|| a.trim_start_matches('0').to_string())
    }) else {
        panic!("nm shows no kp_sum3: {text}");
    };
    let b = bin.display();
    let out = stdout_of(&[
        "-e",
        &format!("uprobe:{b}:0x{addr} {{ @[func, arg1] = count(); }}"),
        "-c",
        &format!("{b} 2"),
    ]);
    assert!(out.contains(&format!("@[0x{addr}, 10]: ")), "{out}");
}
