//! OTLP/HTTP protobuf payloads of metrics and logs, built on the opentelemetry-proto
//! messages (prost; no gRPC).
//!
//! Metrics are cumulative (`AGGREGATION_TEMPORALITY_CUMULATIVE`), as BPF maps are: counters
//! become monotonic sums, gauges gauges, histograms explicit-bucket histograms whose bounds
//! are the [`Histogram`](crate::Histogram) bounds without the final `+Inf`. Names are the
//! family names (no `_total`, no unit suffix); the unit goes in the `unit` field as UCUM.
//! Labels become data point attributes; the overflow series keeps its `__overflow__` values.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram as OtlpHistogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use prost::Message;

use crate::model::{Family, Value};
use crate::resource::Resource;
use crate::ExportError;

/// The URL path OTLP/HTTP receivers take metrics on.
pub const METRICS_PATH: &str = "/v1/metrics";
/// The URL path OTLP/HTTP receivers take logs on.
pub const LOGS_PATH: &str = "/v1/logs";
/// The `Content-Type` of OTLP/HTTP protobuf bodies.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// The instrumentation scope every payload names.
const SCOPE: &str = "kestrel-agent";

fn string_value(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.to_string())),
    })
}

fn key_value(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: string_value(v),
        ..Default::default()
    }
}

fn resource(r: &Resource) -> OtlpResource {
    OtlpResource {
        attributes: r.attributes.iter().map(|(k, v)| key_value(k, v)).collect(),
        ..Default::default()
    }
}

fn scope(version: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE.to_string(),
        version: version.to_string(),
        ..Default::default()
    }
}

/// When the numbers started (the start of cumulative sums) and when they were read, in
/// nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    /// Start of the cumulative period (when the source began counting).
    pub start_unix_nano: u64,
    /// When the values were read.
    pub now_unix_nano: u64,
}

/// One metrics request holding every family.
pub fn metrics_request(
    res: &Resource,
    version: &str,
    families: &[Family],
    times: Times,
) -> Result<ExportMetricsServiceRequest, ExportError> {
    let mut metrics = Vec::with_capacity(families.len());
    for f in families {
        f.validate()?;
        metrics.push(metric(f, times));
    }
    Ok(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(res)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope(version)),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// [`metrics_request`] as protobuf bytes for `POST /v1/metrics`.
pub fn encode_metrics(
    res: &Resource,
    version: &str,
    families: &[Family],
    times: Times,
) -> Result<Vec<u8>, ExportError> {
    Ok(metrics_request(res, version, families, times)?.encode_to_vec())
}

fn metric(f: &Family, times: Times) -> Metric {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let attrs = |labels: &[String]| -> Vec<KeyValue> {
        f.label_names
            .iter()
            .zip(labels)
            .map(|(k, v)| key_value(k, v))
            .collect()
    };
    let number = |labels: &[String], v: f64| NumberDataPoint {
        attributes: attrs(labels),
        start_time_unix_nano: times.start_unix_nano,
        time_unix_nano: times.now_unix_nano,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let data = match f.kind {
        crate::Kind::Counter => metric::Data::Sum(Sum {
            data_points: f
                .series
                .iter()
                .filter_map(|s| match s.value {
                    Value::Counter(v) => Some(number(&s.labels, v)),
                    _ => None,
                })
                .collect(),
            aggregation_temporality: cumulative,
            is_monotonic: true,
        }),
        crate::Kind::Gauge => metric::Data::Gauge(Gauge {
            data_points: f
                .series
                .iter()
                .filter_map(|s| match s.value {
                    Value::Gauge(v) => Some(number(&s.labels, v)),
                    _ => None,
                })
                .collect(),
        }),
        crate::Kind::Histogram => metric::Data::Histogram(OtlpHistogram {
            data_points: f
                .series
                .iter()
                .filter_map(|s| match &s.value {
                    Value::Histogram(h) => Some(HistogramDataPoint {
                        attributes: attrs(&s.labels),
                        start_time_unix_nano: times.start_unix_nano,
                        time_unix_nano: times.now_unix_nano,
                        count: h.count(),
                        sum: h.sum,
                        bucket_counts: h.counts.clone(),
                        // OTLP's last bucket is implicitly (last bound, +Inf).
                        explicit_bounds: h.bounds[..h.bounds.len().saturating_sub(1)].to_vec(),
                        ..Default::default()
                    }),
                    _ => None,
                })
                .collect(),
            aggregation_temporality: cumulative,
        }),
    };
    Metric {
        name: f.name.clone(),
        description: f.help.clone(),
        unit: f
            .unit
            .as_ref()
            .map(|u| u.ucum().to_string())
            .unwrap_or_default(),
        data: Some(data),
        ..Default::default()
    }
}

/// How serious a log record is (OTLP severity numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// INFO (9).
    Info,
    /// WARN (13).
    Warn,
    /// ERROR (17).
    Error,
    /// FATAL (21): Falco's Critical/Alert/Emergency.
    Fatal,
}

impl Severity {
    fn number(self) -> i32 {
        match self {
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
            Severity::Fatal => 21,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// One log record: an alert, a request log, an agent event.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEvent {
    /// When it happened, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// How serious.
    pub severity: Severity,
    /// The message.
    pub body: String,
    /// Structured fields.
    pub attributes: Vec<(String, String)>,
}

/// One logs request holding `events`.
pub fn logs_request(
    res: &Resource,
    version: &str,
    events: &[LogEvent],
) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(res)),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope(version)),
                log_records: events
                    .iter()
                    .map(|e| LogRecord {
                        time_unix_nano: e.time_unix_nano,
                        observed_time_unix_nano: e.time_unix_nano,
                        severity_number: e.severity.number(),
                        severity_text: e.severity.text().to_string(),
                        body: string_value(&e.body),
                        attributes: e.attributes.iter().map(|(k, v)| key_value(k, v)).collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// [`logs_request`] as protobuf bytes for `POST /v1/logs`.
pub fn encode_logs(res: &Resource, version: &str, events: &[LogEvent]) -> Vec<u8> {
    logs_request(res, version, events).encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Histogram, Kind, Unit};

    fn attr<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a str> {
        kvs.iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match &kv.value {
                Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s)),
                }) => Some(s.as_str()),
                _ => None,
            })
    }

    #[test]
    fn metrics_bytes_decode_back_with_names_units_temporality_and_attributes() {
        let mut opens = Family::new("kestrel_opens_total", "opens", Kind::Counter, &["comm"]);
        opens.push(vec!["bash".into()], Value::Counter(7.0));
        let mut lat = Family::new("io_latency_seconds", "latency", Kind::Histogram, &[])
            .with_unit(Unit::Seconds);
        lat.push(
            vec![],
            Value::Histogram(Histogram {
                bounds: vec![0.5, 1.0, f64::INFINITY],
                counts: vec![1, 2, 3],
                sum: None,
            }),
        );
        let mut g = Family::new("queue_depth", "depth", Kind::Gauge, &[]);
        g.push(vec![], Value::Gauge(4.0));
        let mut res = Resource::default();
        res.set("service.name", "kestrel".into());
        res.set("k8s.pod.name", "p1".into());
        let times = Times {
            start_unix_nano: 100,
            now_unix_nano: 200,
        };
        let bytes = encode_metrics(&res, "0.1.0", &[opens, lat, g], times).expect("encodes");
        let req = ExportMetricsServiceRequest::decode(bytes.as_slice()).expect("decodes");
        let rm = &req.resource_metrics[0];
        let rattrs = &rm.resource.as_ref().expect("resource").attributes;
        assert_eq!(attr(rattrs, "service.name"), Some("kestrel"));
        assert_eq!(attr(rattrs, "k8s.pod.name"), Some("p1"));
        let metrics = &rm.scope_metrics[0].metrics;
        assert_eq!(metrics[0].name, "kestrel_opens");
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
            panic!("counter is not a sum: {:?}", metrics[0].data)
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let p = &sum.data_points[0];
        assert_eq!(attr(&p.attributes, "comm"), Some("bash"));
        assert_eq!(p.value, Some(number_data_point::Value::AsDouble(7.0)));
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (100, 200));
        assert_eq!(metrics[1].name, "io_latency");
        assert_eq!(metrics[1].unit, "s");
        let Some(metric::Data::Histogram(h)) = &metrics[1].data else {
            panic!("not a histogram")
        };
        assert_eq!(
            h.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(h.data_points[0].explicit_bounds, vec![0.5, 1.0]);
        assert_eq!(h.data_points[0].bucket_counts, vec![1, 2, 3]);
        assert_eq!(h.data_points[0].count, 6);
        assert_eq!(h.data_points[0].sum, None);
        assert!(matches!(metrics[2].data, Some(metric::Data::Gauge(_))));
    }

    #[test]
    fn logs_bytes_decode_back() {
        let res = Resource::default();
        let ev = LogEvent {
            time_unix_nano: 5,
            severity: Severity::Warn,
            body: "Shell spawned".into(),
            attributes: vec![("rule".into(), "shell".into())],
        };
        let bytes = encode_logs(&res, "0.1.0", &[ev]);
        let req = ExportLogsServiceRequest::decode(bytes.as_slice()).expect("decodes");
        let rec = &req.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(rec.severity_number, 13);
        assert_eq!(rec.body, string_value("Shell spawned"));
        assert_eq!(attr(&rec.attributes, "rule"), Some("shell"));
    }
}
