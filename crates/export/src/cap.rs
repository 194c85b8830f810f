//! The per-metric cardinality cap.
//!
//! A [`Capper`] remembers which label sets of one metric hold a series of their own (at most
//! `cap`). A label set that arrives when all places are taken is folded into one overflow
//! series, whose label values are all [`OVERFLOW_VALUE`]: counters and gauges add up into it,
//! histograms merge bucket by bucket, so totals over the metric stay right while the number
//! of series stays at most `cap + 1`. Each distinct label set refused is counted once in
//! [`Capper::dropped`], the number the agent exposes as its dropped-series counter.
//!
//! Places are kept across snapshots (a series never flips between its own place and the
//! overflow while it exists); a label set absent from a snapshot gives its place up.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use crate::model::{Family, Series};

/// The label value every label of the overflow series has.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// How many refused label sets are remembered (by 64-bit hash, 8 bytes each) to count each
/// once; past this the counter stops growing for new ones and [`Capper::saturated`] says so.
const REFUSED_MEMORY: usize = 1 << 20;

/// The cap of one metric and what it has decided so far.
#[derive(Clone, Debug)]
pub struct Capper {
    cap: usize,
    admitted: HashSet<Vec<String>>,
    refused: HashSet<u64>,
    dropped: u64,
}

impl Capper {
    /// A cap of `cap` series (0 sends everything to the overflow series).
    pub fn new(cap: usize) -> Capper {
        Capper {
            cap,
            admitted: HashSet::new(),
            refused: HashSet::new(),
            dropped: 0,
        }
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Distinct label sets refused a series of their own since this capper was made.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether so many label sets were refused that new ones are no longer counted.
    pub fn saturated(&self) -> bool {
        self.refused.len() >= REFUSED_MEMORY
    }

    /// The family with at most `cap` series of its own plus one overflow series (last)
    /// holding the rest. Series with the same labels are summed first.
    pub fn apply(&mut self, mut family: Family) -> Family {
        let mut merged: Vec<Series> = Vec::with_capacity(family.series.len());
        let mut index: HashMap<Vec<String>, usize> = HashMap::new();
        for s in family.series.drain(..) {
            match index.get(&s.labels) {
                Some(&i) => merged[i].value.absorb(&s.value),
                None => {
                    index.insert(s.labels.clone(), merged.len());
                    merged.push(s);
                }
            }
        }
        // Places of label sets that are gone are given up, so clear() frees them.
        self.admitted.retain(|l| index.contains_key(l));
        let mut overflow: Option<Series> = None;
        for s in merged {
            if self.admitted.contains(&s.labels) {
                family.series.push(s);
                continue;
            }
            if self.admitted.len() < self.cap {
                self.admitted.insert(s.labels.clone());
                family.series.push(s);
                continue;
            }
            let hash = hash_labels(&s.labels);
            if self.refused.len() < REFUSED_MEMORY && self.refused.insert(hash) {
                self.dropped += 1;
            }
            match &mut overflow {
                Some(o) => o.value.absorb(&s.value),
                None => {
                    overflow = Some(Series {
                        labels: vec![OVERFLOW_VALUE.to_string(); s.labels.len()],
                        value: s.value,
                    })
                }
            }
        }
        family.series.extend(overflow);
        family
    }
}

fn hash_labels(labels: &[String]) -> u64 {
    let mut h = DefaultHasher::new();
    labels.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Value};

    fn family(n: usize) -> Family {
        let mut f = Family::new("kestrel_opens_total", "opens", Kind::Counter, &["comm"]);
        for i in 0..n {
            f.push(vec![format!("c{i}")], Value::Counter(1.0));
        }
        f
    }

    #[test]
    fn hundred_thousand_label_values_keep_cap_plus_one_series() {
        let mut capper = Capper::new(1000);
        let out = capper.apply(family(100_000));
        assert_eq!(out.series.len(), 1001);
        assert_eq!(capper.dropped(), 99_000);
        let last = out.series.last().expect("overflow series");
        assert_eq!(last.labels, vec![OVERFLOW_VALUE.to_string()]);
        assert_eq!(last.value, Value::Counter(99_000.0));
        let total: f64 = out
            .series
            .iter()
            .map(|s| match s.value {
                Value::Counter(v) => v,
                _ => 0.0,
            })
            .sum();
        assert_eq!(total, 100_000.0);
        // The next snapshot of the same map counts nobody twice and keeps the same places.
        let again = capper.apply(family(100_000));
        assert_eq!(again.series.len(), 1001);
        assert_eq!(capper.dropped(), 99_000);
        assert_eq!(again.series[..1000], out.series[..1000]);
    }

    #[test]
    fn places_freed_by_vanished_series_go_to_new_ones() {
        let mut capper = Capper::new(2);
        capper.apply(family(2));
        let mut f = Family::new("kestrel_opens_total", "opens", Kind::Counter, &["comm"]);
        f.push(vec!["new".into()], Value::Counter(5.0));
        let out = capper.apply(f);
        assert_eq!(out.series.len(), 1);
        assert_eq!(out.series[0].labels, vec!["new".to_string()]);
        assert_eq!(capper.dropped(), 0);
    }

    #[test]
    fn duplicate_label_sets_are_summed() {
        let mut capper = Capper::new(10);
        let mut f = Family::new("g", "g", Kind::Gauge, &["x"]);
        f.push(vec!["a".into()], Value::Gauge(1.0));
        f.push(vec!["a".into()], Value::Gauge(2.0));
        let out = capper.apply(f);
        assert_eq!(out.series.len(), 1);
        assert_eq!(out.series[0].value, Value::Gauge(3.0));
    }
}
