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
