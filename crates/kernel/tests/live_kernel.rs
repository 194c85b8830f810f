//! Against the running system. Skips with a printed reason when tracefs cannot be found or
//! mounted, unless `CI=true` or `KESTREL_REQUIRE_KERNEL=1`, which turn a skip into a failure.

use std::time::Instant;

use kestrel_kernel::{
    ensure_bpffs, ensure_tracefs, features, FixtureKernel, KernelFacts, LiveKernel, TracepointId,
};

fn require_kernel() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("KESTREL_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// Returns false (after printing why) when the live system cannot be used.
fn live_available() -> bool {
    match ensure_tracefs() {
        Ok(m) => {
            println!(
                "tracefs at {} (newly mounted: {})",
                m.path.display(),
                m.newly_mounted
            );
            true
        }
        Err(e) => {
            assert!(!require_kernel(), "tracefs required but unavailable: {e}");
            println!("skipped: {e}");
            false
        }
    }
}

#[test]
fn tracefs_is_cached() {
    if !live_available() {
        return;
    }
    let (a, b) = (ensure_tracefs(), ensure_tracefs());
    assert!(matches!((&a, &b), (Ok(x), Ok(y)) if x == y));
    assert!(kestrel_kernel::tracefs_root().is_ok_and(|r| r.join("events").is_dir()));
}

#[test]
fn listing_is_fast_and_sorted() -> Result<(), kestrel_kernel::KernelError> {
    if !live_available() {
        return Ok(());
    }
    let k = LiveKernel::new();
    let start = Instant::now();
    let all = k.tracepoints("*")?;
    let elapsed = start.elapsed();
    println!("listed {} tracepoints in {:?}", all.len(), elapsed);
    assert!(all.len() > 100);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert!(all.iter().all(|id| id.category != "ftrace"));

    let sys = k.tracepoints("syscalls:sys_enter_*")?;
    assert!(sys.iter().all(|id| id.name.starts_with("sys_enter_")));
    assert!(sys.contains(&TracepointId::new("syscalls", "sys_enter_openat")));
    assert!(k
        .tracepoints("*:sys_enter_open*")?
        .iter()
        .all(|id| id.name.starts_with("sys_enter_open")));
    assert_eq!(k.tracepoints("sched:sched_switch")?.len(), 1);
    assert!(k.tracepoints("sched:*")?.len() > 5);
    assert!(k.tracepoints("nosuch:probe")?.is_empty());
    Ok(())
}

#[test]
fn live_formats_match_the_fixture_shapes() -> Result<(), kestrel_kernel::KernelError> {
    if !live_available() {
        return Ok(());
    }
    let live = LiveKernel::new();
    for id in live.tracepoints("sched:*")? {
        live.tracepoint_format(&id)?;
    }
    // Field names and types (not ids) are stable for a given kernel version family.
    let fixture = FixtureKernel::standard();
    let id = TracepointId::new("sched", "sched_switch");
    let a = live.tracepoint_format(&id)?;
    let b = fixture.tracepoint_format(&id)?;
    let shape = |f: &kestrel_kernel::TracepointFormat| {
        f.fields
            .iter()
            .map(|x| (x.name.clone(), x.c_type.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&a), shape(&b));
    let missing = live.tracepoint_format(&TracepointId::new("nosuch", "probe"));
    assert!(matches!(
        missing,
        Err(kestrel_kernel::KernelError::UnknownTracepoint { .. })
    ));
    Ok(())
}

#[test]
fn every_live_format_parses() -> Result<(), kestrel_kernel::KernelError> {
    if !live_available() {
        return Ok(());
    }
    let live = LiveKernel::new();
    let start = Instant::now();
    let all = live.tracepoints("*")?;
    for id in &all {
        live.tracepoint_format(id)?;
    }
    println!("parsed {} formats in {:?}", all.len(), start.elapsed());
    Ok(())
}

#[test]
fn bpffs_and_features() {
    if !live_available() {
        return;
    }
    match ensure_bpffs() {
        Ok(m) => {
            println!(
                "bpffs at {} (newly mounted: {})",
                m.path.display(),
                m.newly_mounted
            );
            assert_eq!(m.path, std::path::Path::new(kestrel_kernel::BPFFS_PATH));
        }
        Err(e) => {
            assert!(!require_kernel(), "{e}");
            println!("bpffs unavailable: {e}");
        }
    }
    println!(
        "kprobes: {} ({:?}); btf: {}; cgroup2: {:?}",
        features::kprobes_available(),
        features::kprobe_unavailable_reason(),
        features::btf_available(),
        features::cgroup2_path()
    );
    assert_eq!(
        features::kprobes_available(),
        features::kprobe_unavailable_reason().is_none()
    );
}
