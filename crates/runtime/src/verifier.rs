//! Reading the kernel verifier's log: which instruction failed, and a short summary.
//!
//! With log level 1 the verifier prints each instruction it walks as `N: (op) text`
//! (optionally followed by `; state`), interleaved with register-state lines (`N: R1=ctx()`)
//! and branch markers (`from 3 to 5: ...`). When it gives up, the message comes after the
//! last instruction line, so that line's `N` is the failing instruction.

/// How many log lines the summary shows.
const SUMMARY_LINES: usize = 5;

/// The index of the instruction the verifier stopped at: the last `N: (xx) ...` line.
pub fn failing_insn(log: &str) -> Option<usize> {
    log.lines().rev().find_map(insn_line_index)
}

/// `Some(N)` if `line` is an instruction line `N: (xx) ...`.
fn insn_line_index(line: &str) -> Option<usize> {
    let (num, rest) = line.split_once(": (")?;
    let opcode = rest.get(..3)?;
    let is_opcode = opcode.ends_with(')') && opcode[..2].bytes().all(|b| b.is_ascii_hexdigit());
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || !is_opcode {
        return None;
    }
    num.parse().ok()
}

/// True for the statistics lines the kernel appends (`processed N insns ...`,
/// `verification time ...`, `stack depth ...`), which say nothing about the error.
fn is_stats_line(line: &str) -> bool {
    line.starts_with("processed ")
        || line.starts_with("verification time ")
        || line.starts_with("stack depth ")
}

/// The common reasons the verifier gives up, each explained in one sentence.
const CLASSES: &[(&[&str], &str)] = &[
    (
        &["back-edge", "infinite loop", "loop is not bounded", "unbounded loop"],
        "the verifier could not prove that a loop ends: bound it with a constant (e.g. `while ($i < 100)`) or use unroll(N)",
    ),
    (
        &["BPF program is too large", "too complex", "complexity limit", "jumps is too complex"],
        "the program is too large or has too many paths for the verifier (over 1,000,000 instructions explored): split the work over several probes, or use smaller loop and unroll counts",
    ),
    (
        &["combined stack size", "stack limit", "invalid stack off", "exceeds stack"],
        "the program needs more than the kernel's 512 bytes of stack: use fewer or shorter strings (BPFTRACE_STRLEN) in one statement",
    ),
    (
        &["unknown func", "cannot use helper", "not allowed in", "helper call is not allowed", "program of this type cannot"],
        "the program calls a kernel helper this probe type may not use, or this kernel does not have; the call comes from the function at the marked line",
    ),
    (
        &["unreachable insn"],
        "the generated code contains an instruction no path reaches, which the verifier refuses: this is a kestrel bug, please report it with the script",
    ),
    (
        &["invalid mem access", "invalid read", "invalid write", "invalid access", "invalid indirect read", "!read_ok", "min value is negative", "out of bounds", "invalid bpf_context access", "invalid size", "pointer arithmetic"],
        "the program reads or writes memory the verifier cannot prove is valid; kestrel should only generate checked accesses, so this is likely a kestrel bug: please report it with the script",
    ),
];

/// One sentence saying why the verifier rejected a program, for the common classes
/// (unbounded loop, too many instructions, stack limit, helper not allowed, invalid memory
/// access), judged from the last lines of its log.
pub fn explain(log: &str) -> Option<&'static str> {
    let last = tail(log, 3).join("\n");
    CLASSES
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| last.contains(n)))
        .map(|(_, why)| *why)
}

/// The last few meaningful lines of the log.
pub fn tail(log: &str, n: usize) -> Vec<&str> {
    let mut lines: Vec<&str> = log
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !is_stats_line(l))
        .collect();
    let start = lines.len().saturating_sub(n);
    lines.drain(..start);
    lines
}

/// One paragraph for the user: which probe was rejected, where, and the log's last lines.
pub fn summary(probe: &str, insn: Option<usize>, log: &str) -> String {
    let mut s = format!("the kernel verifier rejected the program for probe '{probe}'");
    if let Some(i) = insn {
        s.push_str(&format!(" at instruction {i}"));
    }
    let lines = tail(log, SUMMARY_LINES);
    if lines.is_empty() {
        s.push_str(" (no verifier log)");
    } else {
        s.push(':');
        for line in lines {
            s.push_str("\n  ");
            s.push_str(line);
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const UNINIT: &str = "func#0 @0\n\
        0: R1=ctx() R10=fp0\n\
        0: (b7) r0 = 0                        ; R0_w=0\n\
        1: (bf) r0 = r2\n\
        R2 !read_ok\n\
        processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";

    const BRANCHY: &str = "0: R1=ctx() R10=fp0\n\
        0: (79) r6 = *(u64 *)(r1 +8)\n\
        1: (15) if r6 == 0x0 goto pc+2\n\
        2: (b7) r0 = 1\n\
        3: (95) exit\n\
        from 1 to 4: R0=1 R6=0 R10=fp0\n\
        4: (71) r0 = *(u8 *)(r6 +0)\n\
        R6 invalid mem access 'scalar'\n\
        verification time 33 usec\n\
        stack depth 0\n\
        processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";

    #[test]
    fn explains_common_rejections() {
        let why = |log: &str| explain(log).unwrap_or("");
        assert!(why(UNINIT).contains("memory"));
        assert!(why(BRANCHY).contains("memory"));
        assert!(why("10: (05) goto pc-1\ninfinite loop detected at insn 10\n").contains("loop"));
        assert!(why("back-edge from insn 12 to 3\n").contains("loop"));
        assert!(why("BPF program is too large. Processed 1000001 insn\n").contains("too large"));
        assert!(why("combined stack size of 2 calls is 544. Too large\n").contains("512 bytes"));
        assert!(
            why("5: (85) call bpf_override_return#58\nunknown func bpf_override_return#58\n")
                .contains("helper")
        );
        assert!(why("unreachable insn 14\n").contains("kestrel bug"));
        assert_eq!(explain("something new\n"), None);
    }

    #[test]
    fn finds_the_failing_instruction() {
        assert_eq!(failing_insn(UNINIT), Some(1));
        assert_eq!(failing_insn(BRANCHY), Some(4));
        assert_eq!(
            failing_insn("12: (85) call bpf_foo#999\ninvalid func unknown#999\n"),
            Some(12)
        );
    }

    #[test]
    fn state_lines_and_noise_are_not_instructions() {
        assert_eq!(
            failing_insn("0: R1=ctx() R10=fp0\nfrom 1 to 4: R0=1\n"),
            None
        );
        assert_eq!(failing_insn(""), None);
        assert_eq!(failing_insn("x1: (b7) r0 = 0"), None);
        assert_eq!(failing_insn("1: (zz) r0 = 0"), None);
    }

    #[test]
    fn summary_names_probe_and_shows_last_lines_without_stats() {
        let s = summary("BEGIN", Some(1), UNINIT);
        assert_eq!(
            s,
            "the kernel verifier rejected the program for probe 'BEGIN' at instruction 1:\n  \
             func#0 @0\n  \
             0: R1=ctx() R10=fp0\n  \
             0: (b7) r0 = 0                        ; R0_w=0\n  \
             1: (bf) r0 = r2\n  \
             R2 !read_ok"
        );
        let s = summary("tracepoint:a:b", Some(4), BRANCHY);
        assert_eq!(s.lines().count(), 1 + 5);
        assert!(s.ends_with("  R6 invalid mem access 'scalar'"));
        assert_eq!(
            summary("x", None, ""),
            "the kernel verifier rejected the program for probe 'x' (no verifier log)"
        );
    }
}
