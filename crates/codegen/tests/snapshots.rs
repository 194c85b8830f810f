//! Codegen snapshots: the instructions generated for a set of scripts, compiled against the
//! fixture kernel (no root needed). Any change to codegen shows its effect on the listings
//! and instruction counts in review. Update with `INSTA_UPDATE=always cargo test -p
//! kestrel-codegen --test snapshots` after checking the difference is intended.

use kestrel_kernel::FixtureKernel;

/// Compile `script` and render every program as `probe (N insns)` plus its disassembly.
fn listing(script: &str) -> String {
    let ast = kestrel_lang::parse(script).unwrap_or_else(|d| panic!("parse: {d:?}"));
    let kernel = FixtureKernel::standard();
    let analysis =
        kestrel_lang::analyze(&ast, &kernel).unwrap_or_else(|d| panic!("analyze: {d:?}"));
    let object = kestrel_codegen::compile(&analysis.program).expect("compile");
    let mut out = format!("script: {script}\n");
    for p in &object.programs {
        out.push_str(&format!("\n{} ({} insns)\n", p.probe, p.insns.len()));
        out.push_str(&kestrel_isa::disassemble(&p.insns));
    }
    for cb in &object.callbacks {
        out.push_str(&format!(
            "\n{} (callback, {} insns)\n",
            cb.name,
            cb.insns.len()
        ));
        out.push_str(&kestrel_isa::disassemble(&cb.insns));
    }
    out
}

macro_rules! snapshot {
    ($name:ident, $script:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), listing($script));
        }
    };
}

snapshot!(hello_world, r#"BEGIN { printf("hello world\n"); exit(); }"#);
snapshot!(
    count_by_comm,
    r#"tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }"#
);
snapshot!(
    opens_filtered,
    r#"tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { @opens[comm] = count(); }"#
);
snapshot!(
    execve_printf,
    r#"tracepoint:syscalls:sys_enter_execve { printf("%s %s\n", comm, str(args->filename)); }"#
);
snapshot!(
    interval_exit,
    r#"interval:ms:100 { @ticks = count(); if (@ticks == 5) { exit(); } }"#
);
snapshot!(
    latency_hist,
    r#"tracepoint:syscalls:sys_enter_read { @start[tid] = nsecs; }
       tracepoint:syscalls:sys_exit_read /@start[tid]/ { @us = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); }"#
);
snapshot!(
    lhist_sum,
    r#"tracepoint:syscalls:sys_exit_read { @bytes = lhist(args->ret, 0, 1000, 100); @total = sum(args->ret); }"#
);
snapshot!(
    min_max_avg_stats,
    r#"tracepoint:syscalls:sys_exit_read { @mn = min(args->ret); @mx = max(args->ret); @a = avg(args->ret); @s = stats(args->ret); }"#
);
snapshot!(
    while_loop,
    r#"BEGIN { $i = 0; while ($i < 10) { $i++; } printf("%d\n", $i); exit(); }"#
);
snapshot!(
    ternary_strings,
    r#"tracepoint:sched:sched_process_exec { printf("%s\n", pid > 100 ? comm : "low"); }"#
);
snapshot!(
    data_loc_string,
    r#"tracepoint:sched:sched_process_exec { @[str(args->filename)] = count(); }"#
);
snapshot!(
    big_record_scratch,
    r#"tracepoint:syscalls:sys_enter_execve { printf("%s %s %s %s\n", str(args->filename), str(args->filename), str(args->filename), comm); }"#
);
snapshot!(
    for_over_map,
    r#"BEGIN { @m[1] = 10; $sum = 0; for ($kv : @m) { $sum += $kv.1; if ($sum > 100) { break; } } printf("%d\n", $sum); exit(); }"#
);
snapshot!(
    map_actions,
    r#"interval:s:1 { @c = count(); print(@c, 5, 2); print((1, "x")); clear(@c); time(); printf("%s\n", strftime("%H", nsecs)); }"#
);
snapshot!(
    join_argv,
    r#"tracepoint:syscalls:sys_enter_execve { join(args->argv, ","); }"#
);
snapshot!(
    len_map,
    r#"BEGIN { @a[1] = 1; printf("%d\n", len(@a)); exit(); }"#
);
