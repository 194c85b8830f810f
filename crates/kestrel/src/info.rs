//! `--info`: what this kernel and this build support, in the shape of `bpftrace --info`
//! (bpftrace's runtime test suite reads its `NAME: yes` lines to decide which tests apply).

/// The report, one `name: yes|no` per line under a few headings.
pub fn report() -> String {
    let uname = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut out = String::new();
    out.push_str("System\n");
    out.push_str(&format!("  OS: Linux {uname}\n"));
    out.push_str(&format!("  Arch: {}\n\n", std::env::consts::ARCH));
    out.push_str("Build\n");
    out.push_str(&format!(
        "  version: kestrel {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("  LLVM: none (kestrel emits eBPF itself)\n");
    out.push_str("  libdw (DWARF support): no\n");
    out.push_str("  blazesym (advanced symbolization): yes\n\n");
    // What kestrel's code generator and runtime use; kprobes, fentry and multi-attach
    // links are not used by kestrel on this kernel (see docs/architecture.md).
    out.push_str("Kernel features\n");
    out.push_str(&format!("  btf: {}\n", yes(btf)));
    out.push_str("  Loop support: yes\n");
    out.push_str("  probe_read_kernel: yes\n");
    out.push_str("  send_signal: yes\n");
    out.push_str("  get_func_ip: no\n");
    out.push_str("  jiffies64: yes\n");
    out.push_str("  iter: no\n");
    out.push_str("  fentry: no\n");
    out.push_str("  kprobe_multi: no\n");
    out.push_str("  kprobe_session: no\n");
    out.push_str("  uprobe_multi: no\n");
    out.push_str("  skboutput: no\n");
    out.push_str("  dpath: no\n");
    out.push_str("  lookup_percpu_elem: no\n");
    out.push_str("  get_ktime_ns: no\n\n");
    out.push_str("Map types\n  hash: yes\n  percpu hash: yes\n  array: yes\n  percpu array: yes\n  stack_trace: yes\n  ringbuf: yes\n\n");
    out.push_str("Probe types\n  tracepoint: yes\n  rawtracepoint: yes\n  uprobe: yes\n  usdt: yes\n  profile: yes\n  interval: yes\n  software: yes\n  hardware: no\n  kprobe: no\n  fentry: no\n");
    out
}
