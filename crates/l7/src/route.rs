//! Route templates: paths with their variable segments replaced, and a per-service cap on
//! how many distinct routes are kept (metric label cardinality).
//!
//! ```
//! use kestrel_l7::route::{template, RouteCap};
//! assert_eq!(template("/users/42/orders/0f3a9c2b7d"), "/users/{id}/orders/{hex}");
//! assert_eq!(template("/o/123e4567-e89b-12d3-a456-426614174000?x=1"), "/o/{uuid}");
//! let mut cap = RouteCap::new(1);
//! assert_eq!(cap.route("svc", "/a/1"), "/a/{id}");
//! assert_eq!(cap.route("svc", "/b"), RouteCap::OVERFLOW);
//! assert_eq!(cap.overflowed(), 1);
//! ```

use std::collections::{HashMap, HashSet};

/// The template of `path`: query and fragment dropped; numeric segments become `{id}`,
/// UUIDs `{uuid}`, hex strings of 8 or more characters with a digit `{hex}`.
pub fn template(path: &str) -> String {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    let path = &path[..end];
    if path.is_empty() {
        return "/".to_string();
    }
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(placeholder(seg).unwrap_or(seg));
    }
    out
}

fn placeholder(seg: &str) -> Option<&'static str> {
    let b = seg.as_bytes();
    if b.is_empty() {
        return None;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return Some("{id}");
    }
    if is_uuid(b) {
        return Some("{uuid}");
    }
    if b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit) {
        return Some("{hex}");
    }
    None
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Distinct routes per service, capped: past the cap, new routes of that service map to
/// [`RouteCap::OVERFLOW`] and are counted.
#[derive(Debug, Clone)]
pub struct RouteCap {
    cap: usize,
    max_services: usize,
    seen: HashMap<String, HashSet<String>>,
    overflowed: u64,
}

impl RouteCap {
    /// The route reported once a service has `cap` routes.
    pub const OVERFLOW: &'static str = "/{overflow}";

    /// A cap of `per_service` routes per service (and at most 4096 services).
    pub fn new(per_service: usize) -> RouteCap {
        RouteCap {
            cap: per_service,
            max_services: 4096,
            seen: HashMap::new(),
            overflowed: 0,
        }
    }

    /// The route label for a request of `service` to `path`.
    pub fn route(&mut self, service: &str, path: &str) -> String {
        let t = template(path);
        if !self.seen.contains_key(service) && self.seen.len() >= self.max_services {
            self.overflowed += 1;
            return Self::OVERFLOW.to_string();
        }
        let routes = self.seen.entry(service.to_string()).or_default();
        if routes.contains(&t) {
            return t;
        }
        if routes.len() >= self.cap {
            self.overflowed += 1;
            return Self::OVERFLOW.to_string();
        }
        routes.insert(t.clone());
        t
    }

    /// Requests whose route was reported as [`RouteCap::OVERFLOW`].
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// Distinct routes kept for `service`.
    pub fn routes(&self, service: &str) -> usize {
        self.seen.get(service).map_or(0, HashSet::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        assert_eq!(template(""), "/");
        assert_eq!(template("/"), "/");
        assert_eq!(template("/api/v1/users/12345"), "/api/v1/users/{id}");
        assert_eq!(template("/commit/deadbeef"), "/commit/deadbeef"); // no digit
        assert_eq!(template("/commit/deadbee1"), "/commit/{hex}");
        assert_eq!(template("/c/abc1234"), "/c/abc1234"); // 7 chars
        assert_eq!(
            template("/x/123E4567-E89B-12D3-A456-426614174000/y"),
            "/x/{uuid}/y"
        );
        assert_eq!(template("/v2/items/"), "/v2/items/");
        assert_eq!(template("/a//1#frag"), "/a//{id}");
    }

    #[test]
    fn cap_counts_overflow_per_service() {
        let mut c = RouteCap::new(2);
        assert_eq!(c.route("a", "/x/1"), "/x/{id}");
        assert_eq!(c.route("a", "/x/2"), "/x/{id}");
        assert_eq!(c.route("a", "/y"), "/y");
        assert_eq!(c.route("a", "/z"), RouteCap::OVERFLOW);
        assert_eq!(c.route("b", "/z"), "/z");
        assert_eq!(c.route("a", "/y"), "/y");
        assert_eq!(c.overflowed(), 1);
        assert_eq!(c.routes("a"), 2);
    }
}
