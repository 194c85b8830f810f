//! Histogram rows: which buckets are shown, their labels, bars and JSON objects.
//!
//! Mirrors bpftrace's model: a histogram is the run of buckets from the lowest to the
//! highest non-zero one; `labels[j]` is the exclusive upper bound of shown bucket `j`, and
//! the first bucket's lower bound is kept apart (absent for the "below everything" bucket).
//! A missing label marks lhist's "at or above max" bucket.

use kestrel_obj::ValueKind;

use super::decode::HistGroup;

/// An integer as bpftrace writes it: a number if a double holds it exactly (RFC 8259's
/// interoperable range), else a string, so parsers never silently round it.
pub(crate) fn json_int(v: i128) -> String {
    if (v as f64) as i128 == v {
        v.to_string()
    } else {
        format!("\"{v}\"")
    }
}

/// Builds the shown histogram of one group.
pub(crate) fn group_histogram(kind: &ValueKind, group: &HistGroup) -> Histogram {
    match kind {
        ValueKind::Lhist { min, max, step } => build_lhist(&group.counts, *min, *max, *step),
        _ => build_hist(&group.counts),
    }
}

/// Width of the bar column.
const BAR_WIDTH: usize = 52;

/// A bucket bound: a plain number, or a number shown with a K/M/G... suffix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Label {
    /// Printed as a decimal number.
    Int(i128),
    /// Printed as `text`; JSON uses `value`.
    Sym {
        /// E.g. `1K`.
        text: String,
        /// E.g. 1024.
        value: i128,
    },
}

impl Label {
    fn text(&self) -> String {
        match self {
            Label::Int(v) => v.to_string(),
            Label::Sym { text, .. } => text.clone(),
        }
    }

    fn value(&self) -> i128 {
        match self {
            Label::Int(v) | Label::Sym { value: v, .. } => *v,
        }
    }
}

/// Adjacent integer bounds describe a one-value bucket, printed `[n]`.
fn single_value(lo: &Label, hi: &Label) -> bool {
    matches!((lo, hi), (Label::Int(a), Label::Int(b)) if a + 1 == *b)
}

/// The shown part of a histogram.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Histogram {
    lower_bound: Option<Label>,
    labels: Vec<Label>,
    counts: Vec<u64>,
}

fn shown_range(counts: &[u64]) -> Option<(usize, usize)> {
    let first = counts.iter().position(|c| *c > 0)?;
    let last = counts.iter().rposition(|c| *c > 0)?;
    Some((first, last))
}

/// The bound at the start of log2 bucket `index` (>= 3), with a power-of-1024 suffix.
fn log2_label(index: usize) -> Label {
    let power = index.saturating_sub(1);
    let decade = power / 10;
    let suffix = ["", "K", "M", "G", "T", "P", "E", "Z", "Y"]
        .get(decade)
        .copied()
        .unwrap_or("?");
    let mantissa = 1i128 << (power - 10 * decade.min(8));
    Label::Sym {
        text: format!("{mantissa}{suffix}"),
        value: 1i128 << power.min(126),
    }
}

/// Builds the shown part of a `hist()` from its bucket counts.
pub(crate) fn build_hist(counts: &[u64]) -> Histogram {
    let mut h = Histogram::default();
    let Some((first, last)) = shown_range(counts) else {
        return h;
    };
    let label = |i: usize| {
        if i <= 2 {
            Label::Int(i as i128)
        } else {
            log2_label(i)
        }
    };
    if first != 0 {
        h.lower_bound = Some(label(first - 1));
    }
    for (i, c) in counts.iter().enumerate().take(last + 1).skip(first) {
        h.labels.push(label(i));
        h.counts.push(*c);
    }
    h
}

fn linear_label(n: i128, step: i128) -> Label {
    const KILO: i128 = 1024;
    const MEGA: i128 = 1024 * 1024;
    if step % KILO != 0 {
        return Label::Int(n);
    }
    let text = if n == 0 {
        "0".to_string()
    } else if n % MEGA == 0 {
        format!("{}M", n / MEGA)
    } else if n % KILO == 0 {
        format!("{}K", n / KILO)
    } else {
        n.to_string()
    };
    Label::Sym { text, value: n }
}

/// Builds the shown part of an `lhist(x, min, max, step)` from its bucket counts.
pub(crate) fn build_lhist(counts: &[u64], min: i64, max: i64, step: i64) -> Histogram {
    let mut h = Histogram::default();
    let Some((first, last)) = shown_range(counts) else {
        return h;
    };
    let (min, max, step) = (i128::from(min), i128::from(max), i128::from(step));
    if first != 0 {
        h.lower_bound = Some(linear_label(min + (first as i128 - 1) * step, step));
    }
    for (i, c) in counts.iter().enumerate().take(last + 1).skip(first) {
        let upper = min + i as i128 * step;
        if upper <= max {
            h.labels.push(linear_label(upper, step));
        }
        h.counts.push(*c);
    }
    h
}

impl Histogram {
    fn row_label(&self, j: usize) -> String {
        if j == 0 {
            return match (&self.lower_bound, self.labels.first()) {
                (None, Some(hi)) => format!("(..., {})", hi.text()),
                (None, None) => "(..., ...)".to_string(),
                (Some(lo), None) => format!("[{}, ...)", lo.text()),
                (Some(lo), Some(hi)) if single_value(lo, hi) => format!("[{}]", lo.text()),
                (Some(lo), Some(hi)) => format!("[{}, {})", lo.text(), hi.text()),
            };
        }
        let lo = &self.labels[j - 1];
        match self.labels.get(j) {
            None => format!("[{}, ...)", lo.text()),
            Some(hi) if single_value(lo, hi) => format!("[{}]", lo.text()),
            Some(hi) => format!("[{}, {})", lo.text(), hi.text()),
        }
    }

    /// The rows as text: label (16 columns, left), count (8, right), ` |`, bar, `|`.
    pub(crate) fn text(&self) -> String {
        let max = self.counts.iter().copied().max().unwrap_or(0);
        let mut out = String::new();
        for (j, count) in self.counts.iter().enumerate() {
            // bpftrace computes the bar in single precision and truncates.
            let bar = if max == 0 {
                0
            } else {
                ((*count as f32 / max as f32) * BAR_WIDTH as f32) as usize
            };
            out.push_str(&format!(
                "{:<16}{:>8} |{:<52}|\n",
                self.row_label(j),
                count,
                "@".repeat(bar.min(BAR_WIDTH))
            ));
        }
        out
    }

    /// The rows as a JSON array of `{"min": a, "max": b, "count": n}` with closed bounds.
    pub(crate) fn json(&self) -> String {
        let mut parts = Vec::with_capacity(self.counts.len());
        for (j, count) in self.counts.iter().enumerate() {
            let mut obj = String::from("{");
            let lo = if j == 0 {
                self.lower_bound.as_ref()
            } else {
                self.labels.get(j - 1)
            };
            if let Some(lo) = lo {
                obj.push_str(&format!("\"min\": {}, ", json_int(lo.value())));
            }
            if let Some(hi) = self.labels.get(j) {
                obj.push_str(&format!("\"max\": {}, ", json_int(hi.value() - 1)));
            }
            obj.push_str(&format!("\"count\": {count}}}"));
            parts.push(obj);
        }
        format!("[{}]", parts.join(","))
    }
}
