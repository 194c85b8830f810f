//! Maps as structured values, for callers that turn them into something other than text
//! (the agent's metrics): integer keys stay integers, other keys are rendered as bpftrace
//! prints them, histogram buckets come with their inclusive upper bounds.

use kestrel_obj::{UserMapLayout, ValueKind};

use super::decode::{bucket_count, decode_hist, decode_plain, Folded, KeyPart};
use super::RawEntry;

/// One component of a map key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyValue {
    /// An integer, with its type's signedness applied.
    Int(i128),
    /// Anything else (strings, `ksym`, `ntop`, stacks, ...) as bpftrace prints it in a key.
    Text(String),
}

/// Histogram counts with bucket bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistValue {
    /// Inclusive upper bound of each bucket (`None`: no bound, the last bucket).
    pub upper_bounds: Vec<Option<i128>>,
    /// Count of each bucket (not cumulative).
    pub counts: Vec<u64>,
}

/// A map value with its per-CPU copies folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapValue {
    /// `count()`, `sum()`, `min()`, `max()` and integer assignments.
    Int(i128),
    /// `avg()` and `stats()`: sum and number of values.
    Avg {
        /// Sum of the values.
        total: i64,
        /// Number of values.
        count: u64,
    },
    /// A string or other rendered value.
    Text(String),
    /// `hist()` / `lhist()`.
    Hist(HistValue),
}

/// One entry: key components (empty for a map without keys) and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapEntry {
    /// The key components.
    pub key: Vec<KeyValue>,
    /// The value.
    pub value: MapValue,
}

/// One script map, read at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapValues {
    /// `@name`.
    pub name: String,
    /// What the values are.
    pub kind: ValueKind,
    /// Its entries, in bpftrace's print order.
    pub entries: Vec<MapEntry>,
    /// Entries that could not be decoded (short keys or values).
    pub malformed: usize,
}

fn key_value(part: &KeyPart) -> KeyValue {
    match part {
        KeyPart::Int(i) => KeyValue::Int(i.value()),
        KeyPart::Str { .. } => KeyValue::Text(part.text()),
    }
}

/// Inclusive upper bounds of a histogram kind's buckets (see [`ValueKind::Hist`] and
/// [`ValueKind::Lhist`] for what each bucket holds); the last bucket is unbounded.
pub fn hist_upper_bounds(kind: &ValueKind) -> Vec<Option<i128>> {
    let Some(n) = bucket_count(kind) else {
        return Vec::new();
    };
    (0..n)
        .map(|i| {
            if i + 1 == n {
                return None;
            }
            match kind {
                // 0: negative values, 1: zero, i >= 2: [2^(i-2), 2^(i-1)).
                ValueKind::Hist => Some(match i {
                    0 => -1,
                    1 => 0,
                    _ => (1i128 << (i - 1)) - 1,
                }),
                // 0: below min, i >= 1: [min + (i-1)*step, min + i*step).
                ValueKind::Lhist { min, step, .. } => {
                    Some(i128::from(*min) + i as i128 * i128::from(*step) - 1)
                }
                _ => None,
            }
        })
        .collect()
}

/// Decodes one map's raw entries into structured values.
pub fn map_values(layout: &UserMapLayout, entries: &[RawEntry]) -> MapValues {
    let mut out = MapValues {
        name: layout.display.clone(),
        kind: layout.value.clone(),
        entries: Vec::new(),
        malformed: 0,
    };
    if matches!(layout.value, ValueKind::Hist | ValueKind::Lhist { .. }) {
        let decoded = decode_hist(layout, entries);
        out.malformed = decoded.malformed;
        let bounds = hist_upper_bounds(&layout.value);
        for g in decoded.groups {
            out.entries.push(MapEntry {
                key: g.key.iter().map(key_value).collect(),
                value: MapValue::Hist(HistValue {
                    upper_bounds: bounds.clone(),
                    counts: g.counts,
                }),
            });
        }
    } else {
        let decoded = decode_plain(layout, entries);
        out.malformed = decoded.malformed;
        for (key, v) in decoded.entries {
            let value = match v {
                Folded::Unsigned(n) => MapValue::Int(i128::from(n)),
                Folded::Signed(n) => MapValue::Int(i128::from(n)),
                Folded::Str(s) => MapValue::Text(String::from_utf8_lossy(&s).into_owned()),
                Folded::Avg { total, count } | Folded::Stats { total, count } => {
                    MapValue::Avg { total, count }
                }
            };
            out.entries.push(MapEntry {
                key: key.iter().map(key_value).collect(),
                value,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_obj::{Field, ScalarType};

    #[test]
    fn log2_bounds_are_inclusive_integer_bounds() {
        let b = hist_upper_bounds(&ValueKind::Hist);
        assert_eq!(b.len(), 66);
        assert_eq!(&b[..5], &[Some(-1), Some(0), Some(1), Some(3), Some(7)]);
        assert_eq!(b[65], None);
        let l = hist_upper_bounds(&ValueKind::Lhist {
            min: 0,
            max: 30,
            step: 10,
        });
        assert_eq!(l, vec![Some(-1), Some(9), Some(19), Some(29), None]);
    }

    #[test]
    fn keys_and_hist_counts_decode() {
        let layout = UserMapLayout {
            display: "@lat".into(),
            keys: vec![Field {
                offset: 0,
                ty: ScalarType::Int {
                    size: 4,
                    signed: false,
                },
            }],
            value: ValueKind::Hist,
        };
        let key = |k: u32, bucket: u64| {
            let mut v = k.to_le_bytes().to_vec();
            v.extend_from_slice(&[0; 4]);
            v.extend_from_slice(&bucket.to_le_bytes());
            v
        };
        let entries = [
            RawEntry {
                key: key(7, 3),
                values: vec![5u64.to_le_bytes().to_vec()],
            },
            RawEntry {
                key: key(7, 4),
                values: vec![2u64.to_le_bytes().to_vec()],
            },
        ];
        let m = map_values(&layout, &entries);
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.entries[0].key, vec![KeyValue::Int(7)]);
        let MapValue::Hist(h) = &m.entries[0].value else {
            panic!("not a histogram")
        };
        assert_eq!((h.counts[3], h.counts[4]), (5, 2));
        assert_eq!(h.upper_bounds[3], Some(3));
    }
}
