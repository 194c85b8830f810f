//! RED metrics of HTTP exchanges with OpenTelemetry semantic-convention names:
//! `http.server.request.duration` / `http.client.request.duration` (Prometheus
//! `http_server_request_duration_seconds`, `http_client_request_duration_seconds`),
//! histograms with OTel's default buckets in seconds, labels `http.request.method`,
//! `http.response.status_code`, `http.route` (templated, capped per service),
//! `server.address`/`server.port` for clients, and `service.name` from the process name.
//! Built on kestrel-export's [`Family`]/[`Histogram`] so the agent exports them as is.

use std::collections::BTreeMap;

use kestrel_export::{Family, Histogram, Kind, Unit, Value};
use kestrel_l7::route::RouteCap;
use kestrel_l7::{Detail, Role};

use crate::monitor::Exchange;

/// OTel's default explicit bucket bounds for `http.*.request.duration`, seconds.
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Default cap of distinct routes per service.
pub const ROUTES_PER_SERVICE: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    service: String,
    method: String,
    status: String,
    route: String,
    server_address: String,
    server_port: String,
}

/// Accumulated RED metrics.
#[derive(Debug)]
pub struct Red {
    server: BTreeMap<Key, (Vec<u64>, f64)>,
    client: BTreeMap<Key, (Vec<u64>, f64)>,
    routes: RouteCap,
}

impl Default for Red {
    fn default() -> Self {
        Red::new(ROUTES_PER_SERVICE)
    }
}

impl Red {
    /// Empty metrics with at most `routes_per_service` routes per service.
    pub fn new(routes_per_service: usize) -> Red {
        Red {
            server: BTreeMap::new(),
            client: BTreeMap::new(),
            routes: RouteCap::new(routes_per_service),
        }
    }

    /// Counts one exchange (HTTP only; others are ignored).
    pub fn observe(&mut self, e: &Exchange) {
        let Detail::Http(h) = &e.record.detail else {
            return;
        };
        let secs = e.record.duration_ns() as f64 / 1e9;
        let service = e.comm.clone();
        let route = match &h.path {
            Some(p) => self.routes.route(&service, p),
            None => String::new(),
        };
        let (server_address, server_port) = match e.record.role {
            Role::Client => (
                h.host
                    .as_deref()
                    .map(|s| s.rsplit_once(':').map_or(s, |(a, _)| a).to_string())
                    .or_else(|| e.peer.map(|a| a.ip().to_string()))
                    .unwrap_or_default(),
                e.peer.map(|a| a.port().to_string()).unwrap_or_default(),
            ),
            Role::Server => (String::new(), String::new()),
        };
        let key = Key {
            service,
            method: h.method.clone().unwrap_or_else(|| "_OTHER".into()),
            status: h.status.map(|s| s.to_string()).unwrap_or_default(),
            route,
            server_address,
            server_port,
        };
        let map = match e.record.role {
            Role::Server => &mut self.server,
            Role::Client => &mut self.client,
        };
        let slot = map
            .entry(key)
            .or_insert_with(|| (vec![0; BUCKETS.len() + 1], 0.0));
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = slot.0.get_mut(i) {
            *c += 1;
        }
        slot.1 += secs;
    }

    /// Routes folded into `/{overflow}` by the cap.
    pub fn routes_overflowed(&self) -> u64 {
        self.routes.overflowed()
    }

    /// The metrics as export families (`http_server_request_duration` and
    /// `http_client_request_duration`, unit seconds).
    pub fn families(&self) -> Vec<Family> {
        let mut out = Vec::new();
        for (role, map) in [("server", &self.server), ("client", &self.client)] {
            let labels: &[&str] = if role == "server" {
                &[
                    "service_name",
                    "http_request_method",
                    "http_response_status_code",
                    "http_route",
                ]
            } else {
                &[
                    "service_name",
                    "http_request_method",
                    "http_response_status_code",
                    "http_route",
                    "server_address",
                    "server_port",
                ]
            };
            let mut fam = Family::new(
                &format!("http_{role}_request_duration"),
                &format!("Duration of HTTP {role} requests (OTel http.{role}.request.duration)."),
                Kind::Histogram,
                labels,
            )
            .with_unit(Unit::Seconds);
            for (k, (counts, sum)) in map {
                let mut l = vec![
                    k.service.clone(),
                    k.method.clone(),
                    k.status.clone(),
                    k.route.clone(),
                ];
                if role == "client" {
                    l.push(k.server_address.clone());
                    l.push(k.server_port.clone());
                }
                let mut bounds = BUCKETS.to_vec();
                bounds.push(f64::INFINITY);
                fam.push(
                    l,
                    Value::Histogram(Histogram {
                        bounds,
                        counts: counts.clone(),
                        sum: Some(*sum),
                    }),
                );
            }
            out.push(fam);
        }
        out
    }

    /// A human summary: per (role, service, method, status, route) the count, errors
    /// (5xx for servers, 4xx and 5xx for clients, as OTel's error.type rules say), and
    /// p50/p99 upper bounds from the buckets.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (role, map) in [("server", &self.server), ("client", &self.client)] {
            if map.is_empty() {
                continue;
            }
            s.push_str(&format!(
                "http.{role}.request.duration (Prometheus http_{role}_request_duration_seconds)\n"
            ));
            s.push_str(&format!(
                "  {:<16} {:<7} {:<6} {:<28} {:>9} {:>9} {:>10} {:>10}\n",
                "SERVICE", "METHOD", "STATUS", "ROUTE", "COUNT", "SUM_S", "P50_LE_S", "P99_LE_S"
            ));
            for (k, (counts, sum)) in map {
                let n: u64 = counts.iter().sum();
                let route = if role == "client" && !k.server_address.is_empty() {
                    format!("{}:{}{}", k.server_address, k.server_port, k.route)
                } else {
                    k.route.clone()
                };
                s.push_str(&format!(
                    "  {:<16} {:<7} {:<6} {:<28} {:>9} {:>9.3} {:>10} {:>10}\n",
                    k.service,
                    k.method,
                    k.status,
                    route,
                    n,
                    sum,
                    quantile(counts, 0.5),
                    quantile(counts, 0.99)
                ));
            }
        }
        s
    }
}

/// The upper bound of the bucket holding quantile `q` ("+Inf" past the last).
fn quantile(counts: &[u64], q: f64) -> String {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return "-".into();
    }
    let want = (q * n as f64).ceil() as u64;
    let mut acc = 0;
    for (i, c) in counts.iter().enumerate() {
        acc += c;
        if acc >= want {
            return BUCKETS.get(i).map_or("+Inf".into(), |b| b.to_string());
        }
    }
    "+Inf".into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kestrel_l7::{ConnId, HttpRecord, Outcome, Record};

    fn ex(role: Role, path: &str, status: u16, dur_ns: u64) -> Exchange {
        Exchange {
            wall_ns: 0,
            pid: 1,
            comm: "nginx".into(),
            local: None,
            peer: Some("10.0.0.1:8080".parse().unwrap()),
            record: Record {
                conn: ConnId(1),
                role,
                start_ns: 0,
                end_ns: dur_ns,
                request_bytes: 1,
                response_bytes: 1,
                outcome: Outcome::Complete,
                detail: Detail::Http(HttpRecord {
                    method: Some("GET".into()),
                    path: Some(path.into()),
                    status: Some(status),
                    ..HttpRecord::default()
                }),
            },
        }
    }

    #[test]
    fn otel_names_buckets_and_templated_routes() {
        let mut r = Red::new(10);
        r.observe(&ex(Role::Server, "/users/123", 200, 3_000_000));
        r.observe(&ex(Role::Server, "/users/456", 200, 30_000_000));
        r.observe(&ex(Role::Client, "/x", 404, 1));
        let f = r.families();
        assert_eq!(f[0].name, "http_server_request_duration");
        assert_eq!(f[0].series.len(), 1);
        assert_eq!(f[0].series[0].labels[3], "/users/{id}");
        let Value::Histogram(h) = &f[0].series[0].value else {
            panic!()
        };
        assert_eq!(h.counts[0], 1); // 3 ms <= 5 ms
        assert_eq!(h.counts[3], 1); // 30 ms <= 50 ms
        assert_eq!(f[1].series[0].labels[4], "10.0.0.1");
        assert_eq!(f[1].series[0].labels[5], "8080");
        let text =
            kestrel_export::prom::encode(&f, kestrel_export::prom::Format::OpenMetrics).unwrap();
        assert!(text.contains("http_server_request_duration_seconds_bucket"));
        assert!(r.summary().contains("/users/{id}"));
    }
}
