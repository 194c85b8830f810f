//! "Did you mean ...?" suggestions by edit distance.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
///
/// The allowed distance grows with the word's length (1 for up to 3 characters, 2 up to 6,
/// 3 beyond) so that short names are not "corrected" into unrelated ones. An exact match is
/// never suggested; ties go to the earliest candidate.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word: Vec<char> = word.chars().collect();
    let threshold = match word.len() {
        0 => return None,
        1..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    let mut row = Vec::new();
    for cand in candidates {
        let chars: Vec<char> = cand.chars().collect();
        if chars.len().abs_diff(word.len()) > threshold {
            continue;
        }
        let d = distance(&word, &chars, &mut row);
        if d == 0 || d > threshold {
            continue;
        }
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance where swapping two adjacent characters counts as one edit.
fn distance(a: &[char], b: &[char], scratch: &mut Vec<usize>) -> usize {
    // Three rolling rows: two back (for transpositions), previous, current.
    let n = b.len();
    scratch.clear();
    scratch.resize(3 * (n + 1), 0);
    let (mut pp, mut p, mut c) = (0usize, n + 1, 2 * (n + 1));
    for j in 0..=n {
        scratch[p + j] = j;
    }
    for i in 1..=a.len() {
        scratch[c] = i;
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (scratch[p + j] + 1)
                .min(scratch[c + j - 1] + 1)
                .min(scratch[p + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(scratch[pp + j - 2] + 1);
            }
            scratch[c + j] = v;
        }
        (pp, p, c) = (p, c, pp);
    }
    scratch[p + n]
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names() {
        let c = ["comm", "pid", "tid", "nsecs", "count", "printf"];
        assert_eq!(did_you_mean("com", c), Some("comm"));
        assert_eq!(did_you_mean("pritnf", c), Some("printf"));
        assert_eq!(did_you_mean("nsec", c), Some("nsecs"));
        assert_eq!(did_you_mean("cuont", c), Some("count"));
    }

    #[test]
    fn rejects_far_or_exact() {
        let c = ["comm", "pid", "sched_switch"];
        assert_eq!(did_you_mean("xyz", c), None);
        assert_eq!(did_you_mean("pid", c), None);
        assert_eq!(did_you_mean("", c), None);
        assert_eq!(did_you_mean("sched_wakeup", c), None);
    }

    #[test]
    fn prefers_closest() {
        let c = ["sys_enter_open", "sys_enter_openat", "sys_enter_openat2"];
        assert_eq!(
            did_you_mean("sys_enter_openatt", c),
            Some("sys_enter_openat")
        );
    }
}
