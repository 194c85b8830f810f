//! The metric model: a [`Family`] is one metric name with its help, unit, kind and label
//! names, and the [`Series`] (one per label set) it holds at one moment.

/// What kind of number a family holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Only goes up (resets when its source restarts). Prometheus adds `_total`.
    Counter,
    /// Any value at a moment.
    Gauge,
    /// Counts of observations in buckets with explicit upper bounds.
    Histogram,
}

/// The unit of a family, spelled for both worlds: Prometheus appends a suffix to the
/// name (`_seconds`), OTLP carries a UCUM code (`s`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Seconds (`_seconds`, `s`).
    Seconds,
    /// Bytes (`_bytes`, `By`).
    Bytes,
    /// Anything else: the Prometheus suffix and the UCUM code.
    Other {
        /// Appended to the Prometheus name after `_`.
        suffix: String,
        /// The OTLP `unit` field.
        ucum: String,
    },
}

impl Unit {
    /// The suffix Prometheus names carry (`seconds`).
    pub fn prometheus_suffix(&self) -> &str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Bytes => "bytes",
            Unit::Other { suffix, .. } => suffix,
        }
    }

    /// The UCUM code OTLP carries (`s`).
    pub fn ucum(&self) -> &str {
        match self {
            Unit::Seconds => "s",
            Unit::Bytes => "By",
            Unit::Other { ucum, .. } => ucum,
        }
    }

    /// Parses a configured unit: `seconds`/`s`, `bytes`/`By`, or any other word (used as
    /// both the suffix and the code).
    pub fn parse(word: &str) -> Unit {
        match word {
            "seconds" | "s" => Unit::Seconds,
            "bytes" | "By" => Unit::Bytes,
            other => Unit::Other {
                suffix: other.to_string(),
                ucum: other.to_string(),
            },
        }
    }
}

/// A histogram: per-bucket counts with explicit inclusive upper bounds (the last bound
/// is `+Inf`), like Prometheus' `le` and OTLP's `explicit_bounds`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Inclusive upper bound of each bucket; the last one is `f64::INFINITY`.
    pub bounds: Vec<f64>,
    /// Observations in each bucket (not cumulative); as many as `bounds`.
    pub counts: Vec<u64>,
    /// Sum of the observations, when the source knows it.
    pub sum: Option<f64>,
}

impl Histogram {
    /// The total number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, c| a.saturating_add(*c))
    }

    /// `(le, cumulative count)` pairs, as Prometheus exposes them.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0u64;
        self.bounds
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| {
                total = total.saturating_add(*c);
                (*b, total)
            })
            .collect()
    }

    /// Adds `other`'s counts bucket by bucket (the overflow series sums what it absorbs).
    /// Bounds must be the same; extra buckets of `other` are ignored.
    pub fn merge(&mut self, other: &Histogram) {
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c = c.saturating_add(*o);
        }
        self.sum = match (self.sum, other.sum) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
}

/// The value of one series.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A counter's total.
    Counter(f64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram.
    Histogram(Histogram),
}

impl Value {
    /// The kind of family this value belongs in.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Counter(_) => Kind::Counter,
            Value::Gauge(_) => Kind::Gauge,
            Value::Histogram(_) => Kind::Histogram,
        }
    }

    /// Adds `other` into `self` (counters and gauges sum; histograms merge buckets).
    pub fn absorb(&mut self, other: &Value) {
        match (self, other) {
            (Value::Counter(a), Value::Counter(b)) | (Value::Gauge(a), Value::Gauge(b)) => *a += b,
            (Value::Histogram(a), Value::Histogram(b)) => a.merge(b),
            _ => {}
        }
    }
}

/// One label set and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// One value per label name of the family, in the same order.
    pub labels: Vec<String>,
    /// The number(s).
    pub value: Value,
}

/// One metric: name, help, unit, kind, label names, and its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The name without the `_total` a counter gets on exposition and without the unit
    /// suffix (e.g. `kestrel_opens`, `http_server_request_duration` with unit seconds).
    pub name: String,
    /// One line of help.
    pub help: String,
    /// The unit, if any.
    pub unit: Option<Unit>,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Label names, in order.
    pub label_names: Vec<String>,
    /// The series.
    pub series: Vec<Series>,
}

impl Family {
    /// An empty family. A counter name ending in `_total` loses that suffix here: the
    /// encoders add it back (Prometheus) or leave it off (OTLP).
    pub fn new(name: &str, help: &str, kind: Kind, label_names: &[&str]) -> Family {
        let name = match kind {
            Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        Family {
            name: name.to_string(),
            help: help.to_string(),
            unit: None,
            kind,
            label_names: label_names.iter().map(|s| s.to_string()).collect(),
            series: Vec::new(),
        }
    }

    /// The same family with a unit. A name already ending in the unit's suffix keeps it
    /// once (the encoder appends it, so it is taken off here).
    pub fn with_unit(mut self, unit: Unit) -> Family {
        let suffix = format!("_{}", unit.prometheus_suffix());
        if let Some(stripped) = self.name.strip_suffix(&suffix) {
            self.name = stripped.to_string();
        }
        self.unit = Some(unit);
        self
    }

    /// Adds a series.
    pub fn push(&mut self, labels: Vec<String>, value: Value) {
        self.series.push(Series { labels, value });
    }

    /// Checks that every series has one value per label name and a value of the
    /// family's kind.
    pub fn validate(&self) -> Result<(), crate::ExportError> {
        for s in &self.series {
            if s.labels.len() != self.label_names.len() {
                return Err(crate::ExportError::Invalid {
                    metric: self.name.clone(),
                    why: format!(
                        "a series has {} label values for {} label names",
                        s.labels.len(),
                        self.label_names.len()
                    ),
                });
            }
            if s.value.kind() != self.kind {
                return Err(crate::ExportError::Invalid {
                    metric: self.name.clone(),
                    why: format!("a {:?} value in a {:?} family", s.value.kind(), self.kind),
                });
            }
            if let Value::Histogram(h) = &s.value {
                if h.bounds.len() != h.counts.len() || h.bounds.last() != Some(&f64::INFINITY) {
                    return Err(crate::ExportError::Invalid {
                        metric: self.name.clone(),
                        why: "a histogram needs one count per bound and +Inf as its last bound"
                            .to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}
