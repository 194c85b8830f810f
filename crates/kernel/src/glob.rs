//! Shell-style glob matching for probe names (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`).
//!
//! Tracepoint names are ASCII, so matching works on bytes. `*` matches any run of
//! characters, `:` included, so `*:sys_enter_open*` and `*open*` both work.

/// True if `s` contains a glob metacharacter, i.e. `pattern` may match more than one name.
pub fn has_glob(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Whether `text` matches the glob `pattern` as a whole.
///
/// An unterminated `[` is taken literally, so no pattern is an error.
///
/// ```
/// use kestrel_kernel::glob::glob_match;
/// assert!(glob_match("syscalls:sys_enter_*", "syscalls:sys_enter_openat"));
/// assert!(!glob_match("sched:*", "syscalls:sys_enter_openat"));
/// ```
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where to resume after the most recent `*`: the pattern index after it and the text
    // index it currently absorbs up to. One backtrack point suffices for `*`-only globs.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some(b'*') => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some(b'?') => Some(1),
            Some(b'[') => match class_match(&p[pi..], t[ti]) {
                ClassResult::Match(len) => Some(len),
                ClassResult::NoMatch => None,
                ClassResult::Literal => (t[ti] == b'[').then_some(1),
            },
            Some(&c) => (c == t[ti]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

enum ClassResult {
    /// The class matched; the pattern bytes it spans.
    Match(usize),
    NoMatch,
    /// No closing `]`: the `[` is an ordinary character.
    Literal,
}

/// Matches one byte against the bracket expression starting at `p[0] == b'['`.
fn class_match(p: &[u8], c: u8) -> ClassResult {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&lo) = p.get(i) else {
            return ClassResult::Literal;
        };
        // A `]` right after `[` or `[!` is a member, as in shells.
        if lo == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&hi| hi != b']') {
            let hi = p[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    if matched != negate {
        ClassResult::Match(i)
    } else {
        ClassResult::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_wildcards() {
        assert!(glob_match("sched:sched_switch", "sched:sched_switch"));
        assert!(!glob_match("sched:sched_switch", "sched:sched_switc"));
        assert!(!glob_match("sched:sched_switc", "sched:sched_switch"));
        assert!(glob_match("sched:*", "sched:sched_switch"));
        assert!(!glob_match("sched:*", "syscalls:sys_enter_read"));
        assert!(glob_match(
            "syscalls:sys_enter_*",
            "syscalls:sys_enter_openat"
        ));
        assert!(!glob_match(
            "syscalls:sys_enter_*",
            "syscalls:sys_exit_openat"
        ));
        assert!(glob_match("*:sys_enter_open*", "syscalls:sys_enter_openat"));
        assert!(glob_match("*:sys_enter_open*", "syscalls:sys_enter_open"));
        assert!(glob_match("*open*", "syscalls:sys_enter_openat2"));
        assert!(glob_match("*", ""));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("**a**", "xxa"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn question_mark() {
        assert!(glob_match("sys_?xit", "sys_exit"));
        assert!(!glob_match("sys_?xit", "sys_xit"));
        assert!(glob_match("???", "abc"));
        assert!(!glob_match("???", "abcd"));
    }

    #[test]
    fn classes() {
        assert!(glob_match("sys_enter_[rw]*", "sys_enter_read"));
        assert!(glob_match("sys_enter_[rw]*", "sys_enter_write"));
        assert!(!glob_match("sys_enter_[rw]*", "sys_enter_open"));
        assert!(glob_match("x[a-c]y", "xby"));
        assert!(!glob_match("x[a-c]y", "xdy"));
        assert!(glob_match("x[!a-c]y", "xdy"));
        assert!(!glob_match("x[^a-c]y", "xay"));
        assert!(glob_match("x[]]y", "x]y"));
        assert!(glob_match("x[a-]y", "x-y"));
        assert!(glob_match("*[0-9]", "ext4_da_write_end2"));
    }

    #[test]
    fn unterminated_class_is_literal() {
        assert!(glob_match("a[b", "a[b"));
        assert!(!glob_match("a[b", "ab"));
        assert!(glob_match("*[", "xx["));
    }

    #[test]
    fn has_glob_detects_metachars() {
        assert!(has_glob("sched:*"));
        assert!(has_glob("a?"));
        assert!(has_glob("[ab]"));
        assert!(!has_glob("sched:sched_switch"));
    }
}
