//! kestrel-export: the agent's numbers on their way out.
//!
//! It owns the metric model ([`Family`], [`Series`], [`Value`]), the per-metric cardinality
//! cap ([`Capper`]: at most `cap` series plus one overflow series whose label values are all
//! [`OVERFLOW_VALUE`]), Prometheus exposition ([`prom`]: OpenMetrics text, or the 0.0.4 text
//! format when the scrape asks for it, through the prometheus-client crate), OTLP/HTTP
//! protobuf encoding of metrics and logs ([`otlp`], the opentelemetry-proto messages) with
//! resource attributes from the environment ([`resource`]), and a bounded export queue with
//! retries and a drop counter ([`queue`]).
//!
//! It knows nothing of where the numbers come from: BPF maps, self-metrics and tests all
//! build the same [`Family`] values.
//!
//! ```
//! use kestrel_export::{prom, Family, Kind, Value};
//!
//! let mut opens = Family::new("kestrel_opens", "openat calls by command", Kind::Counter, &["comm"]);
//! opens.push(vec!["bash".into()], Value::Counter(3.0));
//! let text = prom::encode(&[opens], prom::Format::OpenMetrics).unwrap();
//! assert!(text.contains("kestrel_opens_total{comm=\"bash\"} 3.0\n"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cap;
mod model;
pub mod otlp;
pub mod prom;
pub mod queue;
pub mod resource;

pub use cap::{Capper, OVERFLOW_VALUE};
pub use model::{Family, Histogram, Kind, Series, Unit, Value};

/// Why numbers could not be encoded or sent.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A family's series does not have one value per label name, or its value is of
    /// another kind than the family.
    #[error("metric {metric}: {why}")]
    Invalid {
        /// The family's name.
        metric: String,
        /// What is wrong.
        why: String,
    },
    /// The text encoder failed (prometheus-client reports only that it did).
    #[error("cannot encode metric {metric} as text")]
    Encode {
        /// The family being encoded when it failed, if known.
        metric: String,
    },
    /// An OTLP endpoint is not a URL this client can post to.
    #[error("OTLP endpoint '{endpoint}': {why}")]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// What is wrong with it.
        why: String,
    },
}

/// The opentelemetry-proto messages (for receivers and tests that decode payloads).
pub use opentelemetry_proto as proto;
/// prost, whose `Message` trait decodes the [`proto`] messages.
pub use prost;
