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

/// A renderer for tools whose result is one histogram map (`@dist`, optionally keyed):
/// prints each histogram libbpf-tools style under a label made from its key, at every
/// interval (the counts of that interval) and at exit.
pub struct HistRender {
    /// The map holding the histograms.
    pub map: &'static str,
    /// The unit in the header (`usecs`).
    pub unit: &'static str,
    /// The label line for a key (`pid = 12 bash`); empty keys get no label.
    pub label: fn(&str) -> String,
    /// The JSON name of the key.
    pub key_name: &'static str,
    /// JSON lines instead of text.
    pub json: bool,
    /// Print a `HH:MM:SS` line before each report (with -T or -i).
    pub clock: bool,
    previous: std::collections::HashMap<(String, i64), u64>,
}

impl HistRender {
    /// A renderer for `map`, in `unit`, with key labels from `label`.
    pub fn new(
        map: &'static str,
        unit: &'static str,
        key_name: &'static str,
        label: fn(&str) -> String,
        opts: &crate::Options,
    ) -> HistRender {
        HistRender {
            map,
            unit,
            label,
            key_name,
            json: opts.json,
            clock: opts.has("timestamp") || opts.has("interval"),
            previous: std::collections::HashMap::new(),
        }
    }

    /// The histograms of the map, keyed (`""` for an unkeyed map), minus what earlier
    /// reports already showed.
    fn groups(&mut self, maps: &serde_json::Map<String, Value>) -> Vec<(String, Vec<Bucket>)> {
        let mut groups: Vec<(String, Vec<Bucket>)> = match maps.get(self.map) {
            Some(Value::Array(_)) => vec![(String::new(), buckets(&maps[self.map]))],
            Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), buckets(v))).collect(),
            _ => Vec::new(),
        };
        for (key, group) in &mut groups {
            for b in group.iter_mut() {
                let seen = self
                    .previous
                    .insert((key.clone(), b.min), b.count)
                    .unwrap_or(0);
                b.count = b.count.saturating_sub(seen);
            }
            // Leading and trailing empty buckets say nothing.
            while group.last().is_some_and(|b| b.count == 0) {
                group.pop();
            }
            let first = group
                .iter()
                .position(|b| b.count != 0)
                .unwrap_or(group.len());
            group.drain(..first);
        }
        groups.retain(|(_, g)| !g.is_empty());
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
    }
}

impl crate::Render for HistRender {
    fn record(&mut self, _fields: &[&str]) -> Vec<crate::Row> {
        Vec::new()
    }

    fn maps(&mut self, maps: &serde_json::Map<String, Value>) -> String {
        let groups = self.groups(maps);
        let mut s = String::new();
        if self.clock && !self.json {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let _ = writeln!(s, "{}", crate::table::hms(now));
        }
        for (key, group) in groups {
            if self.json {
                let k: Vec<(&str, Value)> = if key.is_empty() {
                    Vec::new()
                } else {
                    vec![(self.key_name, Value::String(key.clone()))]
                };
                s.push_str(&json(&k, self.unit, &group));
                continue;
            }
            if !key.is_empty() {
                let _ = writeln!(s, "\n{}", (self.label)(&key));
            }
            s.push_str(&text(self.unit, &group));
        }
        if !self.json {
            s.push('\n');
        }
        s
    }
}

/// The unit a latency histogram prints in: `msecs` with `-m/--milliseconds`, else `usecs`.
pub fn unit_name(opts: &crate::tool::Options) -> &'static str {
    if opts.has("milliseconds") {
        "msecs"
    } else {
        "usecs"
    }
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
