//! Histograms as libbpf-tools prints them (`usecs : count distribution` with a 40-star bar),
//! from the `[{"min", "max", "count"}]` buckets of kestrel's JSON map output.

use std::fmt::Write as _;

use serde_json::Value;

/// One bucket: values `min..=max` seen `count` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Lowest value in the bucket.
    pub min: i64,
    /// Highest value in the bucket.
    pub max: i64,
    /// How many values fell in it.
    pub count: u64,
}

/// The buckets of one histogram in kestrel's JSON shape; entries that do not fit the shape
/// are skipped.
pub fn buckets(v: &Value) -> Vec<Bucket> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|b| {
                    Some(Bucket {
                        min: b.get("min").and_then(Value::as_i64).unwrap_or(i64::MIN),
                        max: b.get("max").and_then(Value::as_i64).unwrap_or(i64::MAX),
                        count: b.get("count")?.as_u64()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The text of one histogram, libbpf-tools style, with `unit` (`usecs`) in the header.
pub fn text(unit: &str, buckets: &[Bucket]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:>10} {:<14} : count    distribution", unit, "");
    let top = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    for b in buckets {
        let stars = usize::try_from(b.count.saturating_mul(40) / top).unwrap_or(40);
        let _ = writeln!(
            s,
            "{:>10} -> {:<10} : {:<8} |{:<40}|",
            b.min.max(0),
            b.max,
            b.count,
            "*".repeat(stars)
        );
    }
    s
}

/// One histogram as a JSON line: `{"key": ..., "unit": ..., "buckets": [...]}`.
pub fn json(key: &[(&str, Value)], unit: &str, buckets: &[Bucket]) -> String {
    let mut obj = serde_json::Map::new();
    for (k, v) in key {
        obj.insert((*k).to_string(), v.clone());
    }
    obj.insert("unit".into(), Value::String(unit.to_string()));
    let items: Vec<Value> = buckets
        .iter()
        .map(|b| serde_json::json!({"min": b.min, "max": b.max, "count": b.count}))
        .collect();
    obj.insert("buckets".into(), Value::Array(items));
    format!("{}\n", Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libbpf_tools_layout() {
        let b = buckets(
            &serde_json::json!([{"min": 2, "max": 3, "count": 4}, {"min": 4, "max": 7, "count": 2}]),
        );
        let t = text("usecs", &b);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "     usecs                : count    distribution"
        );
        assert_eq!(
            lines[1],
            "         2 -> 3          : 4        |****************************************|"
        );
        assert_eq!(
            lines[2],
            "         4 -> 7          : 2        |********************                    |"
        );
    }
}
