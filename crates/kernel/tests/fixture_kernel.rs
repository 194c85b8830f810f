//! The standard fixture kernel: captured format texts parse into the expected fields.

use kestrel_kernel::{FixtureKernel, KernelError, KernelFacts, TracepointFormat, TracepointId};

fn format(kernel: &FixtureKernel, c: &str, n: &str) -> TracepointFormat {
    match kernel.tracepoint_format(&TracepointId::new(c, n)) {
        Ok(f) => f,
        Err(e) => panic!("{c}:{n}: {e}"),
    }
}

const REQUIRED: &[&str] = &[
    "syscalls:sys_enter_openat",
    "syscalls:sys_exit_openat",
    "syscalls:sys_enter_execve",
    "syscalls:sys_enter_read",
    "syscalls:sys_enter_write",
    "syscalls:sys_exit_read",
    "syscalls:sys_enter_getppid",
    "sched:sched_switch",
    "sched:sched_process_exec",
    "sched:sched_process_exit",
    "sched:sched_process_fork",
    "sched:sched_wakeup",
    "block:block_rq_issue",
    "block:block_rq_complete",
    "sock:inet_sock_set_state",
    "tcp:tcp_retransmit_skb",
    "raw_syscalls:sys_enter",
    "raw_syscalls:sys_exit",
    "syscalls:sys_enter_connect",
    "syscalls:sys_enter_clone",
];

#[test]
fn every_captured_format_parses_with_the_common_header() {
    let k = FixtureKernel::standard();
    assert!(k.formats.len() >= REQUIRED.len());
    for name in REQUIRED {
        assert!(
            k.formats.iter().any(|f| f.id.to_string() == *name),
            "{name} missing from the standard fixture"
        );
    }
    for f in &k.formats {
        let common: Vec<&str> = f
            .fields
            .iter()
            .filter(|x| x.common)
            .map(|x| x.name.as_str())
            .collect();
        assert_eq!(
            common,
            [
                "common_type",
                "common_flags",
                "common_preempt_count",
                "common_pid"
            ],
            "{}",
            f.id
        );
        assert!(f.event_id > 0);
        // Fields are in file order and never overlap.
        for w in f.fields.windows(2) {
            assert!(w[0].offset + w[0].size <= w[1].offset, "{}: {:?}", f.id, w);
        }
    }
}

#[test]
fn openat_pointer_and_ints() {
    let f = format(&FixtureKernel::standard(), "syscalls", "sys_enter_openat");
    assert_eq!(f.event_id, 782);
    let filename = f.field("filename");
    let Some(filename) = filename else {
        panic!("no filename")
    };
    assert_eq!(filename.c_type, "const char *");
    assert_eq!((filename.offset, filename.size), (24, 8));
    assert!(filename.is_pointer());
    assert!(filename.is_char_string());
    assert_eq!(filename.base_type(), "char *");
    assert_eq!(filename.array_len(), None);
    let args: Vec<&str> = f.args().map(|a| a.name.as_str()).collect();
    assert_eq!(args, ["__syscall_nr", "dfd", "filename", "flags", "mode"]);
    let nr = f.field("__syscall_nr");
    assert!(nr.is_some_and(|n| n.signed && n.size == 4 && !n.common));
}

#[test]
fn sched_switch_char_arrays() {
    let f = format(&FixtureKernel::standard(), "sched", "sched_switch");
    let Some(comm) = f.field("prev_comm") else {
        panic!("no prev_comm")
    };
    assert_eq!(comm.c_type, "char[16]");
    assert_eq!(comm.array_len(), Some(16));
    assert_eq!(comm.base_type(), "char");
    assert!(comm.is_char_string());
    assert!(!comm.is_pointer());
    assert!(f
        .field("prev_state")
        .is_some_and(|s| s.c_type == "long" && s.signed));
    assert!(f
        .field("next_pid")
        .is_some_and(|p| p.c_type == "pid_t" && p.offset == 56));
}

#[test]
fn data_loc_strings() {
    let k = FixtureKernel::standard();
    let f = format(&k, "sched", "sched_process_exec");
    let Some(filename) = f.field("filename") else {
        panic!("no filename")
    };
    assert_eq!(filename.c_type, "__data_loc char[]");
    assert!(filename.is_data_loc());
    assert!(filename.is_char_string());
    assert!(!filename.is_pointer());
    assert_eq!(filename.array_len(), None);
    assert_eq!(filename.base_type(), "char");
    assert_eq!(filename.size, 4);
    let issue = format(&k, "block", "block_rq_issue");
    assert!(issue.field("cmd").is_some_and(|c| c.is_data_loc()));
    assert!(issue
        .field("rwbs")
        .is_some_and(|c| c.array_len() == Some(10)));
}

#[test]
fn raw_syscalls_args_array_and_execve_pointer_pointers() {
    let k = FixtureKernel::standard();
    let f = format(&k, "raw_syscalls", "sys_enter");
    let Some(args) = f.field("args") else {
        panic!("no args")
    };
    assert_eq!(args.c_type, "unsigned long[6]");
    assert_eq!(args.array_len(), Some(6));
    assert_eq!(args.base_type(), "unsigned long");
    assert!(!args.is_char_string());
    assert_eq!(args.size, 48);
    let e = format(&k, "syscalls", "sys_enter_execve");
    let Some(argv) = e.field("argv") else {
        panic!("no argv")
    };
    assert_eq!(argv.c_type, "const char *const *");
    assert!(argv.is_pointer());
    assert!(!argv.is_char_string());
    let p = format(&k, "sock", "inet_sock_set_state");
    assert!(p
        .field("saddr")
        .is_some_and(|s| s.array_len() == Some(4) && !s.is_char_string()));
}

#[test]
fn listing_uses_the_full_captured_list() -> Result<(), KernelError> {
    let k = FixtureKernel::standard();
    let sys = k.tracepoints("syscalls:*")?;
    assert!(sys.len() > 500, "{}", sys.len());
    assert!(sys.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
    assert!(k.tracepoints("*")?.len() > 2000);
    let open: Vec<String> = k
        .tracepoints("*:sys_enter_open*")?
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(open.contains(&"syscalls:sys_enter_openat".to_string()));
    assert!(open
        .iter()
        .all(|n| n.starts_with("syscalls:sys_enter_open")));
    assert_eq!(k.tracepoints("sched:sched_switch")?.len(), 1);
    assert!(k.tracepoints("nosuch:probe")?.is_empty());
    // Listed but not captured vs. not there at all.
    let listed = TracepointId::new("syscalls", "sys_enter_mmap");
    assert!(matches!(
        k.tracepoint_format(&listed),
        Err(KernelError::NotInFixture { .. })
    ));
    let missing = TracepointId::new("nosuch", "probe");
    assert!(matches!(
        k.tracepoint_format(&missing),
        Err(KernelError::UnknownTracepoint { .. })
    ));
    assert!(matches!(k.btf(), Err(KernelError::NoBtf(_))));
    Ok(())
}

#[test]
fn from_format_text_checks_the_name() {
    let text = "name: x\nID: 1\nformat:\n\tfield:int a;\toffset:8;\tsize:4;\tsigned:1;\n";
    assert!(FixtureKernel::from_format_text("c", "x", text).is_ok());
    let err = FixtureKernel::from_format_text("c", "y", text);
    assert!(matches!(err, Err(KernelError::BadFormat { .. })), "{err:?}");
    let k = FixtureKernel::default();
    assert!(matches!(k.tracepoints("*"), Ok(v) if v.is_empty()));
}

#[test]
fn truncated_or_mangled_formats_never_panic() {
    for f in &FixtureKernel::standard().formats {
        let text = match std::fs::read_to_string(format!(
            "{}/fixtures/formats/{}/{}.format",
            env!("CARGO_MANIFEST_DIR"),
            f.id.category,
            f.id.name
        )) {
            Ok(t) => t,
            Err(e) => panic!("{}: {e}", f.id),
        };
        let mut cut = 0;
        while cut < text.len() {
            if text.is_char_boundary(cut) {
                let _ = FixtureKernel::from_format_text(&f.id.category, &f.id.name, &text[..cut]);
                let mangled = format!("{}]];:\t{}", &text[..cut], &text[cut..]);
                let _ = FixtureKernel::from_format_text(&f.id.category, &f.id.name, &mangled);
            }
            cut += 7;
        }
    }
}
