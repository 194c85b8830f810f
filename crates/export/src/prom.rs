//! Prometheus exposition of [`Family`] values through the prometheus-client crate.
//!
//! OpenMetrics text is the default; the Prometheus text format 0.0.4 is written when the
//! scrape's `Accept` header asks for `text/plain` and not for OpenMetrics
//! ([`negotiate`]). prometheus-client has both encoders (`encoding::text` and
//! `encoding::prometheus_text`), so no encoder of our own is needed.

use std::borrow::Cow;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit as PromUnit};

use crate::model::{Family, Kind, Unit, Value};
use crate::ExportError;

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Text004,
}

impl Format {
    /// The `Content-Type` header of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text004 => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// The format to answer a scrape with, from its `Accept` header: OpenMetrics unless the
/// header names `text/plain` and does not name `application/openmetrics-text` (Prometheus
/// itself lists both, OpenMetrics first, and gets OpenMetrics).
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::OpenMetrics;
    };
    let accept = accept.to_ascii_lowercase();
    let wants_text = accept
        .split(',')
        .any(|part| part.trim_start().starts_with("text/plain"));
    if wants_text && !accept.contains("application/openmetrics-text") {
        Format::Text004
    } else {
        Format::OpenMetrics
    }
}

/// The families as exposition text in `format` (OpenMetrics ends with `# EOF`).
pub fn encode(families: &[Family], format: Format) -> Result<String, ExportError> {
    for f in families {
        f.validate()?;
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families(Arc::new(families.to_vec()))));
    let mut out = String::new();
    let result = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
        Format::Text004 => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        }
    };
    result.map_err(|_| ExportError::Encode {
        metric: families
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
    })?;
    Ok(out)
}

/// The collector prometheus-client calls back while encoding.
#[derive(Debug)]
struct Families(Arc<Vec<Family>>);

fn prom_unit(unit: &Unit) -> PromUnit {
    match unit {
        Unit::Seconds => PromUnit::Seconds,
        Unit::Bytes => PromUnit::Bytes,
        Unit::Other { suffix, .. } => PromUnit::Other(suffix.clone()),
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in self.0.iter() {
            let metric_type = match family.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let unit = family.unit.as_ref().map(prom_unit);
            let mut metric = encoder.encode_descriptor(
                &family.name,
                &family.help,
                unit.as_ref(),
                metric_type,
            )?;
            for series in &family.series {
                let labels: Vec<(Cow<'_, str>, Cow<'_, str>)> = family
                    .label_names
                    .iter()
                    .zip(&series.labels)
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                    .collect();
                let mut m = metric.encode_family(&labels)?;
                match &series.value {
                    Value::Counter(v) => m.encode_counter::<NoLabelSet, _, f64>(v, None)?,
                    Value::Gauge(v) => m.encode_gauge(v)?,
                    Value::Histogram(h) => {
                        let buckets: Vec<(f64, u64)> = h
                            .bounds
                            .iter()
                            .copied()
                            .zip(h.counts.iter().copied())
                            .collect();
                        m.encode_histogram::<NoLabelSet>(
                            h.sum.unwrap_or(0.0),
                            h.count(),
                            &buckets,
                            None,
                        )?
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Histogram;

    fn sample() -> Vec<Family> {
        let mut opens = Family::new(
            "kestrel_opens_total",
            "Opens by command.",
            Kind::Counter,
            &["comm"],
        );
        opens.push(vec!["bash".into()], Value::Counter(3.0));
        opens.push(vec!["say \"hi\"".into()], Value::Counter(1.0));
        let mut up = Family::new(
            "kestrel_agent_ready",
            "Whether the agent is ready.",
            Kind::Gauge,
            &[],
        );
        up.push(vec![], Value::Gauge(1.0));
        let mut lat = Family::new(
            "kestrel_read_latency",
            "Read latency.",
            Kind::Histogram,
            &["disk"],
        )
        .with_unit(Unit::Seconds);
        lat.push(
            vec!["sda".into()],
            Value::Histogram(Histogram {
                bounds: vec![0.001, 0.01, f64::INFINITY],
                counts: vec![2, 3, 1],
                sum: Some(0.5),
            }),
        );
        vec![opens, up, lat]
    }

    #[test]
    fn openmetrics_exposition_is_exact() {
        let text = encode(&sample(), Format::OpenMetrics).expect("encodes");
        let want = concat!(
            "# HELP kestrel_opens Opens by command.\n",
            "# TYPE kestrel_opens counter\n",
            "kestrel_opens_total{comm=\"bash\"} 3.0\n",
            "kestrel_opens_total{comm=\"say \\\"hi\\\"\"} 1.0\n",
            "# HELP kestrel_agent_ready Whether the agent is ready.\n",
            "# TYPE kestrel_agent_ready gauge\n",
            "kestrel_agent_ready 1.0\n",
            "# HELP kestrel_read_latency_seconds Read latency.\n",
            "# TYPE kestrel_read_latency_seconds histogram\n",
            "# UNIT kestrel_read_latency_seconds seconds\n",
            "kestrel_read_latency_seconds_sum{disk=\"sda\"} 0.5\n",
            "kestrel_read_latency_seconds_count{disk=\"sda\"} 6\n",
            "kestrel_read_latency_seconds_bucket{le=\"0.001\",disk=\"sda\"} 2\n",
            "kestrel_read_latency_seconds_bucket{le=\"0.01\",disk=\"sda\"} 5\n",
            "kestrel_read_latency_seconds_bucket{le=\"+Inf\",disk=\"sda\"} 6\n",
            "# EOF\n",
        );
        assert_eq!(text, want);
    }

    #[test]
    fn text_004_exposition_is_exact() {
        let text = encode(&sample(), Format::Text004).expect("encodes");
        let want = concat!(
            "# HELP kestrel_opens_total Opens by command.\n",
            "# TYPE kestrel_opens_total counter\n",
            "kestrel_opens_total{comm=\"bash\"} 3.0\n",
            "kestrel_opens_total{comm=\"say \\\"hi\\\"\"} 1.0\n",
            "# HELP kestrel_agent_ready Whether the agent is ready.\n",
            "# TYPE kestrel_agent_ready gauge\n",
            "kestrel_agent_ready 1.0\n",
            "# HELP kestrel_read_latency_seconds Read latency.\n",
            "# TYPE kestrel_read_latency_seconds histogram\n",
            "kestrel_read_latency_seconds_bucket{disk=\"sda\",le=\"0.001\"} 2\n",
            "kestrel_read_latency_seconds_bucket{disk=\"sda\",le=\"0.01\"} 5\n",
            "kestrel_read_latency_seconds_bucket{disk=\"sda\",le=\"+Inf\"} 6\n",
            "kestrel_read_latency_seconds_sum{disk=\"sda\"} 0.5\n",
            "kestrel_read_latency_seconds_count{disk=\"sda\"} 6\n",
        );
        assert_eq!(text, want);
    }

    #[test]
    fn accept_header_picks_the_format() {
        assert_eq!(negotiate(None), Format::OpenMetrics);
        assert_eq!(negotiate(Some("*/*")), Format::OpenMetrics);
        assert_eq!(negotiate(Some("text/plain;version=0.0.4")), Format::Text004);
        assert_eq!(
            negotiate(Some("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn mismatched_series_is_an_error() {
        let mut f = Family::new("x", "x", Kind::Gauge, &["a"]);
        f.push(vec![], Value::Gauge(1.0));
        assert!(encode(&[f], Format::OpenMetrics).is_err());
    }
}
