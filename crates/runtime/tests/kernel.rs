//! Kernel tests: load hand-built objects as root and watch them run. Each test observes only
//! its own workload (pid filters). Skipped with a printed reason when BPF is unavailable,
//! unless `CI=true` or `KESTREL_REQUIRE_KERNEL=1`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use kestrel_isa::{Insn, Reg};
use kestrel_obj::{AttachPoint, Field, MapKind, ObjectSpec, PrintfSpec, ScalarType, EVENT_EXIT};
use kestrel_runtime::{ExitReason, Flow, LoadOptions, RuntimeError, Session, StopFlag};

fn printf_u64(format: &str) -> PrintfSpec {
    PrintfSpec {
        format: format.into(),
        args: vec![Field {
            offset: 8,
            ty: ScalarType::Int {
                size: 8,
                signed: false,
            },
        }],
        record_size: 16,
    }
}

/// A stop flag that trips by itself after `secs`, so a broken test fails instead of hanging.
fn watchdog(secs: u64) -> StopFlag {
    let stop = StopFlag::new();
    let s = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        s.stop();
    });
    stop
}

#[test]
fn begin_prints_and_exits() {
    if !kernel_available("begin_prints_and_exits") {
        return;
    }
    let mut a = Asm::new();
    emit_record(&mut a, 0, &[0, 42]);
    emit_record(&mut a, 0, &[-1]); // EVENT_EXIT: st_imm sign-extends -1 to u64::MAX
    a.i(Insn::mov64_imm(Reg::R0, 0)).i(Insn::exit());
    assert_eq!(EVENT_EXIT, u64::MAX);
    let obj = ObjectSpec {
        programs: vec![a.program("begin", "BEGIN", AttachPoint::Begin)],
        maps: vec![ringbuf("events")],
        printfs: vec![printf_u64("value %d\n")],
        ..Default::default()
    };
    let mut s = Session::load(obj, &LoadOptions::default()).unwrap();
    assert_eq!(s.attach().unwrap(), 1);
    assert_eq!(s.attached(), 0);
    let mut out = Vec::new();
    assert_eq!(s.run_begin(&mut out).unwrap(), Flow::Exit);
    assert_eq!(String::from_utf8(out).unwrap(), "value 42\n");
    let mut out = Vec::new();
    assert_eq!(s.poll(&mut out, &watchdog(5)).unwrap(), ExitReason::Exit);
    s.run_end(&mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn interval_event_reaches_poll() {
    if !kernel_available("interval_event_reaches_poll") {
        return;
    }
    let mut a = Asm::new();
    emit_record(&mut a, 0, &[0, 7]);
    emit_record(&mut a, 0, &[-1]);
    a.i(Insn::mov64_imm(Reg::R0, 0)).i(Insn::exit());
    let obj = ObjectSpec {
        programs: vec![a.program(
            "tick",
            "interval:ms:10",
            AttachPoint::Interval {
                period_ns: 10_000_000,
            },
        )],
        maps: vec![ringbuf("events")],
        printfs: vec![printf_u64("tick %d\n")],
        ..Default::default()
    };
    let mut s = Session::load(obj, &LoadOptions::default()).unwrap();
    assert_eq!(s.attach().unwrap(), 1);
    assert_eq!(s.attached(), 1);
    let mut out = Vec::new();
    assert_eq!(s.run_begin(&mut out).unwrap(), Flow::Continue);
    assert_eq!(s.poll(&mut out, &watchdog(10)).unwrap(), ExitReason::Exit);
    // The timer may have fired again before detach; only the first tick is printed.
    assert_eq!(String::from_utf8(out).unwrap(), "tick 7\n");
    s.run_end(&mut Vec::new()).unwrap();
    assert_eq!(s.attached(), 0);
}

#[test]
fn stop_flag_ends_poll() {
    if !kernel_available("stop_flag_ends_poll") {
        return;
    }
    let mut a = Asm::new();
    a.i(Insn::mov64_imm(Reg::R0, 0)).i(Insn::exit());
    let obj = ObjectSpec {
        programs: vec![a.program("begin", "BEGIN", AttachPoint::Begin)],
        maps: vec![ringbuf("events")],
        printfs: vec![],
        ..Default::default()
    };
    let mut s = Session::load(obj, &LoadOptions::default()).unwrap();
    s.attach().unwrap();
    let stop = StopFlag::new();
    let s2 = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(250));
        s2.stop();
    });
    let t = std::time::Instant::now();
    assert_eq!(s.poll(&mut Vec::new(), &stop).unwrap(), ExitReason::Stopped);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn tracepoint_counts_child_getppid_calls() {
    if !kernel_available("tracepoint_counts_child_getppid_calls") {
        return;
    }
    // The child says it is ready (python's own start-up is over: it calls getppid too),
    // then waits for a line on stdin, so its pid can go into the program before it makes a
    // single counted call.
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import os,sys\nprint('ready', flush=True)\nsys.stdin.readline()\nfor _ in range(1000): os.getppid()\n",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let pid = child.id();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "ready");

    let a = count_by_pid(pid, 0);
    let tp = AttachPoint::Tracepoint {
        category: "syscalls".into(),
        name: "sys_enter_getppid".into(),
    };
    let obj = ObjectSpec {
        programs: vec![a.program("count_ppid", "tracepoint:syscalls:sys_enter_getppid", tp)],
        maps: vec![count_map("counts", "@calls", MapKind::PerCpuHash)],
        printfs: vec![],
        ..Default::default()
    };
    let mut s = Session::load(obj, &LoadOptions::default()).unwrap();
    assert_eq!(s.attach().unwrap(), 1);

    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "go").unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    s.run_end(&mut Vec::new()).unwrap();

    let entries = s.read_map("@calls").unwrap().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].key, u64::from(pid).to_le_bytes());
    let total: u64 = entries[0]
        .values
        .iter()
        .map(|v| u64::from_le_bytes(v[..8].try_into().unwrap()))
        .sum();
    assert_eq!(total, 1000);

    let mut out = Vec::new();
    s.print_maps(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text, format!("\n\n@calls[{pid}]: 1000\n"));
}

#[test]
fn verifier_rejection_names_probe_and_insn() {
    if !kernel_available("verifier_rejection_names_probe_and_insn") {
        return;
    }
    let mut a = Asm::new();
    a.i(Insn::mov64_imm(Reg::R0, 0))
        .i(Insn::mov64_reg(Reg::R0, Reg::R2)) // r2 was never written
        .i(Insn::exit());
    let obj = ObjectSpec {
        programs: vec![a.program("begin", "BEGIN", AttachPoint::Begin)],
        maps: vec![],
        printfs: vec![],
        ..Default::default()
    };
    let err = Session::load(obj, &LoadOptions::default()).unwrap_err();
    let RuntimeError::Verifier {
        ref program,
        ref probe,
        insn,
        ref log,
    } = err
    else {
        panic!("expected a verifier error, got {err:?}");
    };
    assert_eq!(program, "begin");
    assert_eq!(probe, "BEGIN");
    assert_eq!(insn, Some(1));
    assert!(log.contains("R2 !read_ok"), "log: {log}");
    let shown = err.to_string();
    assert!(shown.contains("probe 'BEGIN' at instruction 1"), "{shown}");
    assert!(shown.contains("R2 !read_ok"), "{shown}");
}

#[test]
fn failed_attach_leaves_nothing_attached() {
    if !kernel_available("failed_attach_leaves_nothing_attached") {
        return;
    }
    let me = std::process::id();
    let good = count_by_pid(me, 0).program(
        "good",
        "tracepoint:syscalls:sys_enter_getppid",
        AttachPoint::Tracepoint {
            category: "syscalls".into(),
            name: "sys_enter_getppid".into(),
        },
    );
    let mut nosuch = Asm::new();
    nosuch.i(Insn::mov64_imm(Reg::R0, 0)).i(Insn::exit());
    let bad = nosuch.program(
        "bad",
        "tracepoint:nosuch:probe",
        AttachPoint::Tracepoint {
            category: "nosuch".into(),
            name: "probe".into(),
        },
    );
    let obj = ObjectSpec {
        programs: vec![good, bad],
        maps: vec![count_map("counts", "@c", MapKind::Hash)],
        printfs: vec![],
        ..Default::default()
    };
    let mut s = Session::load(obj, &LoadOptions::default()).unwrap();
    let err = s.attach().unwrap_err();
    assert!(
        matches!(&err, RuntimeError::UnknownTracepoint { probe, .. } if probe == "tracepoint:nosuch:probe"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string().lines().next().unwrap_or(""),
        err.to_string(),
        "one line"
    );
    assert_eq!(s.attached(), 0);
    // The good probe was attached first and must be gone: our own getppid calls go uncounted.
    for _ in 0..10 {
        let _ = nix::unistd::getppid();
    }
    assert_eq!(s.read_map("@c").unwrap().unwrap(), vec![]);
}

#[test]
fn fentry_probe_answers() {
    if !kernel_available("fentry_probe_answers") {
        return;
    }
    // No assertion on the answer (it depends on the kernel); it must answer without leaving
    // anything behind and agree with itself.
    let first = kestrel_runtime::fentry_available();
    assert_eq!(first, kestrel_runtime::fentry_available());
    eprintln!("fentry available: {first}");
}

/// `bpftool prog loadall` (libbpf) accepts the BTF-map flavour of our objects (`--emit-obj`).
#[test]
fn btf_map_objects_load_in_libbpf() {
    use kestrel_obj::elf::{write_elf_with, MapStyle};
    if !kernel_available("btf_map_objects_load_in_libbpf") {
        return;
    }
    let mut a = count_by_pid(std::process::id(), 0);
    let counter = a.program(
        "count_ppid",
        "tracepoint:syscalls:sys_enter_getppid",
        AttachPoint::Tracepoint {
            category: "syscalls".into(),
            name: "sys_enter_getppid".into(),
        },
    );
    a = Asm::new();
    emit_record(&mut a, 1, &[0, 42]);
    a.i(Insn::mov64_imm(Reg::R0, 0)).i(Insn::exit());
    let obj = ObjectSpec {
        programs: vec![counter, a.program("begin", "BEGIN", AttachPoint::Begin)],
        maps: vec![
            count_map("counts", "@c", MapKind::PerCpuHash),
            ringbuf("events"),
        ],
        printfs: vec![printf_u64("%d\n")],
        ..Default::default()
    };
    let bytes = write_elf_with(&obj, MapStyle::Btf).unwrap();

    if Command::new("bpftool").arg("version").output().is_err() {
        eprintln!("bpftool not installed: skipping the libbpf half");
        return;
    }
    let dir = std::env::temp_dir().join(format!("kestrel-btf-{}", std::process::id()));
    std::fs::write(&dir, &bytes).unwrap();
    let pin = format!("/sys/fs/bpf/kestrel-test-{}", std::process::id());
    let result = Command::new("bpftool")
        .args(["prog", "loadall"])
        .arg(&dir)
        .arg(&pin)
        .output()
        .unwrap();
    let dump = Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(&dir)
        .output()
        .unwrap();
    // Remove what bpftool pinned (programs; maps are not pinned without `pinmaps`).
    let _ = std::fs::remove_dir_all(&pin);
    let _ = std::fs::remove_file(&dir);
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains("VAR 'counts' type_id=") && dump.contains("DATASEC '.maps' size=80 vlen=2"),
        "unexpected BTF dump:\n{dump}"
    );
    assert!(
        result.status.success(),
        "bpftool prog loadall failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    // libbpf loads the BTF into the kernel too, and only warns if the kernel rejects it.
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!stderr.contains("BTF"), "libbpf complained: {stderr}");
}
