//! Script maps → metric families, following each `[[script.metric]]` mapping: key
//! components become labels (through their decoders), values become counters, gauges or
//! histograms (log2 and linear buckets as cumulative buckets with inclusive integer upper
//! bounds), and the cardinality cap folds the excess into one overflow series.

use kestrel_codegen::{MapRole, ObjectSpec, ValueKind};
use kestrel_export::{Capper, Family, Histogram, Kind, Unit, Value};
use kestrel_runtime::output::values::{HistValue, MapValue, MapValues};

use super::config::MetricConfig;
use super::decode::Decoders;

/// One metric of a running script and what it keeps between scrapes.
pub struct MetricState {
    /// Its mapping.
    pub cfg: MetricConfig,
    /// Its cardinality cap.
    pub capper: Capper,
    /// Key components a decoder could not make sense of, by decoder name.
    pub decoder_errors: std::collections::BTreeMap<&'static str, u64>,
    /// Histogram buckets shown so far (first, last index), so buckets never disappear.
    hist_range: Option<(usize, usize)>,
}

impl MetricState {
    /// A fresh state for `cfg`.
    pub fn new(cfg: MetricConfig) -> MetricState {
        MetricState {
            capper: Capper::new(cfg.cardinality_limit),
            cfg,
            decoder_errors: Default::default(),
            hist_range: None,
        }
    }
}

/// Checks each mapping against the compiled script: the map exists, has one key component
/// per label, and holds values of the kind asked for.
pub fn check_against(object: &ObjectSpec, metrics: &[MetricConfig]) -> Result<(), String> {
    for m in metrics {
        let layout = object.maps.iter().find_map(|spec| match &spec.role {
            MapRole::User(l) if l.display == m.map => Some(l),
            _ => None,
        });
        let Some(layout) = layout else {
            let maps: Vec<&str> = object
                .maps
                .iter()
                .filter_map(|s| match &s.role {
                    MapRole::User(l) => Some(l.display.as_str()),
                    _ => None,
                })
                .collect();
            return Err(format!(
                "metric {}: the script has no map {} (its maps: {})",
                m.name,
                m.map,
                if maps.is_empty() {
                    "none".to_string()
                } else {
                    maps.join(", ")
                }
            ));
        };
        if layout.keys.len() != m.labels.len() {
            return Err(format!(
                "metric {}: map {} has {} key component(s) but {} label(s) are listed",
                m.name,
                m.map,
                layout.keys.len(),
                m.labels.len()
            ));
        }
        let hist = matches!(layout.value, ValueKind::Hist | ValueKind::Lhist { .. });
        match (m.kind, hist) {
            (Kind::Histogram, false) => {
                return Err(format!(
                    "metric {}: kind histogram needs a hist() or lhist() map; {} is not one",
                    m.name, m.map
                ))
            }
            (Kind::Counter | Kind::Gauge, true) => {
                return Err(format!(
                    "metric {}: {} holds a histogram; use kind = \"histogram\"",
                    m.name, m.map
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The family of one metric from its map's values (already capped).
pub fn family(state: &mut MetricState, map: &MapValues, decoders: &mut Decoders) -> Family {
    let cfg = &state.cfg;
    let names: Vec<&str> = cfg.labels.iter().map(String::as_str).collect();
    let mut fam = Family::new(&cfg.name, &cfg.help, cfg.kind, &names);
    if let Some(u) = &cfg.unit {
        fam = fam.with_unit(Unit::parse(u));
    }
    let scale = cfg.scale.unwrap_or(1.0);
    if cfg.kind == Kind::Histogram {
        let hists = map.entries.iter().filter_map(|e| match &e.value {
            MapValue::Hist(h) => Some(h),
            _ => None,
        });
        for h in hists {
            let first = h.counts.iter().position(|c| *c > 0);
            let last = h.counts.iter().rposition(|c| *c > 0);
            if let (Some(f), Some(l)) = (first, last) {
                state.hist_range = Some(match state.hist_range {
                    Some((a, b)) => (a.min(f), b.max(l)),
                    None => (f, l),
                });
            }
        }
    }
    let mut errors = Vec::new();
    for entry in &map.entries {
        let mut labels = Vec::with_capacity(cfg.labels.len());
        let mut keep = true;
        for (i, part) in entry.key.iter().enumerate() {
            let chain = cfg.decoders.get(i).map(Vec::as_slice).unwrap_or(&[]);
            match decoders.decode(chain, part, &mut errors) {
                Some(v) => labels.push(v),
                None => {
                    keep = false;
                    break;
                }
            }
        }
        if !keep || labels.len() != cfg.labels.len() {
            continue;
        }
        let value = match (&entry.value, cfg.kind) {
            (MapValue::Int(n), Kind::Counter) => Value::Counter(scaled(*n as f64, scale)),
            (MapValue::Int(n), Kind::Gauge) => Value::Gauge(scaled(*n as f64, scale)),
            (MapValue::Avg { total, count }, Kind::Gauge) => Value::Gauge(if *count == 0 {
                0.0
            } else {
                scaled(*total as f64 / *count as f64, scale)
            }),
            (MapValue::Avg { total, .. }, Kind::Counter) => {
                Value::Counter(scaled(*total as f64, scale))
            }
            (MapValue::Hist(h), Kind::Histogram) => {
                Value::Histogram(histogram(h, state.hist_range, scale))
            }
            _ => {
                errors.push("value");
                continue;
            }
        };
        fam.push(labels, value);
    }
    for e in errors {
        *state.decoder_errors.entry(e).or_default() += 1;
    }
    state.capper.apply(fam)
}

/// `v * scale`, computed as a division when scale is 1/N (1e-6, 1e-9), so that 255 µs is
/// 0.000255 and not 0.00025499999999999996.
fn scaled(v: f64, scale: f64) -> f64 {
    let inv = 1.0 / scale;
    if scale < 1.0 && (inv - inv.round()).abs() <= 1e-9 * inv {
        v / inv.round()
    } else {
        v * scale
    }
}

/// The shown buckets `range` (first..=last ever non-empty) of a map histogram, then +Inf.
/// BPF histograms keep no sum: `sum` is estimated as Σ count × bucket lower bound (a lower
/// bound of the true sum, within a factor of two for log2 buckets).
fn histogram(h: &HistValue, range: Option<(usize, usize)>, scale: f64) -> Histogram {
    let n = h.counts.len().min(h.upper_bounds.len());
    if n == 0 {
        return Histogram {
            bounds: vec![f64::INFINITY],
            counts: vec![0],
            sum: Some(0.0),
        };
    }
    let (first, last) = range.unwrap_or((0, 0));
    let last = last.min(n - 1);
    let first = first.min(last);
    let mut sum = 0.0;
    for i in 0..n {
        let lower = match i {
            0 => h.upper_bounds[0].unwrap_or(0),
            _ => h.upper_bounds[i - 1].map_or(0, |u| u + 1),
        };
        sum += h.counts[i] as f64 * lower as f64;
    }
    let below: u64 = h.counts[..first].iter().sum();
    let above: u64 = h.counts[last + 1..n].iter().sum();
    let mut bounds = Vec::with_capacity(last - first + 2);
    let mut counts = Vec::with_capacity(last - first + 2);
    for i in first..=last {
        bounds.push(h.upper_bounds[i].map_or(f64::INFINITY, |u| scaled(u as f64, scale)));
        counts.push(h.counts[i] + if i == first { below } else { 0 });
    }
    match counts.last_mut() {
        Some(c) if bounds.last() == Some(&f64::INFINITY) => *c += above,
        _ => {
            bounds.push(f64::INFINITY);
            counts.push(above);
        }
    }
    Histogram {
        bounds,
        counts,
        sum: Some(scaled(sum, scale)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_runtime::output::values::hist_upper_bounds;

    #[test]
    fn log2_histogram_trims_to_the_shown_range_and_ends_with_inf() {
        let mut counts = vec![0u64; 66];
        counts[3] = 4; // [2, 4)
        counts[5] = 1; // [8, 16)
        let h = HistValue {
            upper_bounds: hist_upper_bounds(&ValueKind::Hist),
            counts,
        };
        let out = histogram(&h, Some((3, 5)), 1.0);
        assert_eq!(out.bounds, vec![3.0, 7.0, 15.0, f64::INFINITY]);
        assert_eq!(out.counts, vec![4, 0, 1, 0]);
        assert_eq!(out.sum, Some(4.0 * 2.0 + 8.0));
        assert_eq!(out.cumulative().last(), Some(&(f64::INFINITY, 5)));
    }

    #[test]
    fn lhist_last_bucket_is_inf() {
        let kind = ValueKind::Lhist {
            min: 0,
            max: 20,
            step: 10,
        };
        let h = HistValue {
            upper_bounds: hist_upper_bounds(&kind),
            counts: vec![0, 1, 2, 3],
        };
        let out = histogram(&h, Some((1, 3)), 1.0);
        assert_eq!(out.bounds, vec![9.0, 19.0, f64::INFINITY]);
        assert_eq!(out.counts, vec![1, 2, 3]);
    }

    #[test]
    fn microseconds_scale_to_clean_seconds() {
        assert_eq!(scaled(255.0, 1e-6), 0.000255);
        assert_eq!(scaled(3.0, 2.0), 6.0);
    }
}
