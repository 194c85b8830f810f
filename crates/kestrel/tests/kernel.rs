//! End-to-end tests: the real kestrel binary against real tracepoints and a real workload.
//! Each test filters on its own workload (a unique comm or path) so tests may run in parallel
//! with each other and with anything else on the machine.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{kernel_available, run, unique_binary, TempDir, Tracer};

#[test]
fn hello_world_prints_and_exits_zero() {
    if !kernel_available("hello_world_prints_and_exits_zero") {
        return;
    }
    let out = run(&["-e", r#"BEGIN { printf("hello world\n"); exit(); }"#]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout={stdout} stderr={}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().any(|l| l == "hello world"), "{stdout}");
}

#[test]
fn counts_openat_by_comm_until_ctrl_c() {
    if !kernel_available("counts_openat_by_comm_until_ctrl_c") {
        return;
    }
    let dir = TempDir::new("openat");
    let comm = format!("kcat{}", std::process::id() % 100_000);
    let cat = unique_binary(&dir, "/bin/cat", &comm);
    let script = format!(
        r#"tracepoint:syscalls:sys_enter_openat /comm == "{comm}"/ {{ @opens[comm] = count(); }}"#
    );
    let tracer = Tracer::start(&["-e", &script]);
    for _ in 0..3 {
        let st = Command::new(&cat)
            .arg("/etc/hostname")
            .output()
            .expect("run cat");
        assert!(st.status.success());
    }
    std::thread::sleep(Duration::from_millis(200));
    tracer.interrupt();
    let (lines, err, code) = tracer.finish();
    assert_eq!(code, Some(0), "stderr: {err}");
    let prefix = format!("@opens[{comm}]: ");
    let line = lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {lines:?}"));
    let n: u64 = line[prefix.len()..].parse().expect("count");
    assert!(n >= 3, "{line}");
}

#[test]
fn execve_shows_path_of_each_exec() {
    if !kernel_available("execve_shows_path_of_each_exec") {
        return;
    }
    let dir = TempDir::new("execve");
    let bin = unique_binary(&dir, "/bin/true", "kestrel_exec_probe");
    let script =
        r#"tracepoint:syscalls:sys_enter_execve { printf("%s %s\n", comm, str(args->filename)); }"#;
    let mut tracer = Tracer::start(&["-e", script]);
    let path = bin.to_string_lossy().to_string();
    assert!(Command::new(&bin).status().expect("exec").success());
    let found = tracer.wait_for(
        |l| l.ends_with(&format!(" {path}")),
        Duration::from_secs(10),
    );
    tracer.interrupt();
    let (lines, err, code) = tracer.finish();
    assert!(found, "no exec line for {path}: {lines:?} {err}");
    assert_eq!(code, Some(0), "stderr: {err}");
}

#[test]
fn interval_counts_ticks_then_exits() {
    if !kernel_available("interval_counts_ticks_then_exits") {
        return;
    }
    let out = run(&[
        "-e",
        "interval:ms:100 { @ticks = count(); if (@ticks == 5) { exit(); } }",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr={}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().any(|l| l == "@ticks: 5"), "{stdout}");
}

#[test]
fn unknown_tracepoint_is_a_diagnostic() {
    if !kernel_available("unknown_tracepoint_is_a_diagnostic") {
        return;
    }
    let out = run(&["-e", "tracepoint:nosuch:probe { @x = 1; }"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown tracepoint 'nosuch:probe'"), "{err}");
    assert!(err.contains("-e:1:1"), "{err}");
    assert!(err.contains("^^^"), "{err}");
}

#[test]
fn emitted_object_loads_with_bpftool() {
    if !kernel_available("emitted_object_loads_with_bpftool") {
        return;
    }
    let bpftool = ["/usr/sbin/bpftool", "/usr/bin/bpftool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bpftool) = bpftool else {
        assert!(
            std::env::var("CI").is_err(),
            "bpftool missing in CI (scripts/test.sh installs it)"
        );
        eprintln!("SKIP emitted_object_loads_with_bpftool: no bpftool");
        return;
    };
    let dir = TempDir::new("emit");
    let obj = dir.0.join("prog.o");
    let out = run(&[
        "--emit-obj",
        &obj.to_string_lossy(),
        "-e",
        r#"tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { @opens[comm] = count(); printf("%s\n", str(args->filename)); }"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pin = format!("/sys/fs/bpf/kestrel-test-emit-{}", std::process::id());
    let load = Command::new(bpftool)
        .args(["prog", "loadall", &obj.to_string_lossy(), &pin])
        .output()
        .expect("bpftool");
    let listing = std::fs::read_dir(&pin).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&pin);
    assert!(
        load.status.success(),
        "bpftool: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    assert_eq!(listing, 1, "one program pinned");
}

#[test]
fn list_probes_with_globs_and_arguments() {
    if !kernel_available("list_probes_with_globs_and_arguments") {
        return;
    }
    let out = run(&["-l", "tracepoint:syscalls:sys_enter_open*"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout
            .lines()
            .any(|l| l == "tracepoint:syscalls:sys_enter_openat"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with("tracepoint:syscalls:sys_enter_open")),
        "{stdout}"
    );
    let out = run(&["-lv", "tracepoint:sched:sched_switch"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "tracepoint:sched:sched_switch\n    char prev_comm[16]\n    pid_t prev_pid\n    int prev_prio\n    long prev_state\n    char next_comm[16]\n    pid_t next_pid\n    int next_prio\n"
    );
}

#[test]
fn emitted_object_with_callbacks_loads_with_bpftool() {
    if !kernel_available("emitted_object_with_callbacks_loads_with_bpftool") {
        return;
    }
    let Some(bpftool) = ["/usr/sbin/bpftool", "/usr/bin/bpftool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "bpftool missing in CI (scripts/test.sh installs it)"
        );
        eprintln!("SKIP emitted_object_with_callbacks_loads_with_bpftool: no bpftool");
        return;
    };
    let dir = TempDir::new("emit-cb");
    let obj = dir.0.join("prog.o");
    let out = run(&[
        "--emit-obj",
        &obj.to_string_lossy(),
        "-e",
        r#"BEGIN { @m[1] = 10; for ($kv : @m) { printf("%d\n", $kv.1); } } tracepoint:syscalls:sys_enter_openat { @n[comm] = 1; for ($kv : @n) { @x = count(); } }"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pin = format!("/sys/fs/bpf/kestrel-test-emitcb-{}", std::process::id());
    let load = Command::new(bpftool)
        .args(["prog", "loadall", &obj.to_string_lossy(), &pin])
        .output()
        .expect("bpftool");
    let pinned = std::fs::read_dir(&pin).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&pin);
    assert!(
        load.status.success(),
        "bpftool: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    assert_eq!(pinned, 2, "two programs pinned");
}

#[test]
fn lost_events_are_counted_and_reported() {
    if !kernel_available("lost_events_are_counted_and_reported") {
        return;
    }
    let dir = TempDir::new("lost");
    let comm = format!("kflood{}", std::process::id() % 100_000);
    let python = ["/usr/bin/python3", "/usr/bin/python3.11"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("python3");
    let flooder = unique_binary(&dir, python, &comm);
    let script = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /comm == "{comm}"/ {{ printf("%s %s %s %s\n", comm, comm, comm, comm); @n = count(); }}"#
    );
    let child = common::kestrel()
        .env("KESTREL_RINGBUF_BYTES", "4096")
        .args(["-e", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(800));
    let st = Command::new(&flooder)
        .args(["-c", "import os\nfor _ in range(100000): os.getppid()"])
        .status()
        .expect("flood");
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let printed = stdout.lines().filter(|l| l.starts_with(&comm)).count() as u64;
    let lost: u64 = stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Lost ")
                .and_then(|r| r.strip_suffix(" events"))
        })
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    assert!(
        lost > 0,
        "a 4 KiB ring buffer should drop some of 100,000 events: {printed} printed"
    );
    assert_eq!(
        printed + lost,
        100_000,
        "every event is either printed or counted as lost"
    );
    assert!(
        stdout.contains("@n: 100000"),
        "{}",
        &stdout[stdout.len().saturating_sub(200)..]
    );
}

/// The `prog_id:` and `link_id:` values of every BPF descriptor process `pid` holds, and how
/// many perf events it holds (from /proc/PID/fdinfo and the fd links).
fn bpf_objects_of(pid: u32) -> (Vec<u32>, Vec<u32>, usize) {
    let (mut progs, mut links, mut perf) = (Vec::new(), Vec::new(), 0);
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (progs, links, perf);
    };
    for fd in fds.flatten() {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        let target = target.to_string_lossy();
        if target.contains("perf_event") {
            perf += 1;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        if target.contains("bpf_link") || target.contains("bpf-link") {
            links.extend(field("link_id:"));
        } else if target.contains("bpf-prog") {
            progs.extend(field("prog_id:"));
        }
    }
    (progs, links, perf)
}

/// `kill -9` in the middle of a run leaves no program, link or perf event behind: every
/// attachment is a descriptor, so the kernel tears it down with the process.
#[test]
fn kill_9_leaves_nothing_attached() {
    if !kernel_available("kill_9_leaves_nothing_attached") {
        return;
    }
    if Command::new("bpftool").arg("version").output().is_err() {
        assert!(
            std::env::var("KESTREL_REQUIRE_KERNEL").is_err(),
            "kill_9_leaves_nothing_attached: bpftool is required"
        );
        eprintln!("kill_9_leaves_nothing_attached: bpftool missing, skipping");
        return;
    }
    let tracer = Tracer::start(&[
        "-e",
        "tracepoint:syscalls:sys_enter_getppid { @a = count(); } profile:hz:49 { @b = count(); } interval:ms:100 { @c = count(); } rawtracepoint:sys_enter { @d = count(); }",
    ]);
    let pid = tracer.pid();
    let (progs, links, perf) = bpf_objects_of(pid);
    assert!(progs.len() >= 4, "programs held: {progs:?}");
    assert!(links.len() >= 4, "links held: {links:?}");
    assert!(perf >= 1, "perf events held: {perf}");
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let (_, _, code) = tracer.finish();
    assert_eq!(code, None, "killed by a signal");
    // The kernel frees programs and links after an RCU grace period: give it a few seconds.
    let gone = |kind: &str, id: u32| {
        !Command::new("bpftool")
            .args([kind, "show", "id", &id.to_string()])
            .output()
            .expect("bpftool")
            .status
            .success()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left_progs: Vec<u32> = progs
            .iter()
            .copied()
            .filter(|&id| !gone("prog", id))
            .collect();
        let left_links: Vec<u32> = links
            .iter()
            .copied()
            .filter(|&id| !gone("link", id))
            .collect();
        if left_progs.is_empty() && left_links.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind after kill -9: programs {left_progs:?}, links {left_links:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
