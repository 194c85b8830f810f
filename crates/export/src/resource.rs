//! Resource attributes: who is sending, from the environment.
//!
//! `service.name` comes from `OTEL_SERVICE_NAME` (default `kestrel`), `host.name` from
//! `K8S_NODE_NAME`'s node when set or else the kernel's hostname, and the `k8s.*`
//! attributes from the variables a DaemonSet fills in with the downward API
//! (see [`K8S_VARIABLES`]). `OTEL_RESOURCE_ATTRIBUTES` (`key=value,...`) adds or overrides
//! any of them, as the OpenTelemetry SDKs read it.

/// Environment variables read for `k8s.*` attributes, with the attribute each fills.
pub const K8S_VARIABLES: &[(&str, &str)] = &[
    ("K8S_NODE_NAME", "k8s.node.name"),
    ("K8S_POD_NAME", "k8s.pod.name"),
    ("K8S_POD_UID", "k8s.pod.uid"),
    ("K8S_NAMESPACE_NAME", "k8s.namespace.name"),
    ("K8S_DAEMONSET_NAME", "k8s.daemonset.name"),
    ("K8S_CLUSTER_NAME", "k8s.cluster.name"),
    ("K8S_CONTAINER_NAME", "k8s.container.name"),
];

/// The attributes of the resource this agent reports as, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// `(key, value)` pairs, keys unique.
    pub attributes: Vec<(String, String)>,
}

impl Resource {
    /// From the process environment and the kernel's hostname.
    pub fn from_env(service_version: &str) -> Resource {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
        Resource::from_lookup(|k| std::env::var(k).ok(), hostname, service_version)
    }

    /// From any variable lookup (tests pass a map).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        hostname: Option<String>,
        service_version: &str,
    ) -> Resource {
        let mut r = Resource::default();
        let set = |k: &str| lookup(k).filter(|v| !v.is_empty());
        r.set(
            "service.name",
            set("OTEL_SERVICE_NAME").unwrap_or_else(|| "kestrel".into()),
        );
        r.set("service.version", service_version.to_string());
        // On Kubernetes the pod's hostname is the pod name; the node is the host.
        if let Some(host) = set("K8S_NODE_NAME").or(hostname) {
            r.set("host.name", host);
        }
        for (var, attr) in K8S_VARIABLES {
            if let Some(v) = set(var) {
                r.set(attr, v);
            }
        }
        if let Some(extra) = set("OTEL_RESOURCE_ATTRIBUTES") {
            for pair in extra.split(',') {
                if let Some((k, v)) = pair.split_once('=') {
                    let (k, v) = (k.trim(), v.trim());
                    if !k.is_empty() {
                        r.set(k, v.to_string());
                    }
                }
            }
        }
        r
    }

    /// Sets `key` (replacing an earlier value).
    pub fn set(&mut self, key: &str, value: String) {
        match self.attributes.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((key.to_string(), value)),
        }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn downward_api_variables_become_k8s_attributes() {
        let env: HashMap<&str, &str> = [
            ("K8S_NODE_NAME", "node-7"),
            ("K8S_POD_NAME", "kestrel-abcde"),
            ("K8S_NAMESPACE_NAME", "monitoring"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, k8s.cluster.name=c1",
            ),
        ]
        .into();
        let r = Resource::from_lookup(
            |k| env.get(k).map(|v| v.to_string()),
            Some("pod-host".into()),
            "0.1.0",
        );
        assert_eq!(r.get("service.name"), Some("kestrel"));
        assert_eq!(r.get("host.name"), Some("node-7"));
        assert_eq!(r.get("k8s.node.name"), Some("node-7"));
        assert_eq!(r.get("k8s.pod.name"), Some("kestrel-abcde"));
        assert_eq!(r.get("k8s.namespace.name"), Some("monitoring"));
        assert_eq!(r.get("k8s.cluster.name"), Some("c1"));
        assert_eq!(r.get("deployment.environment"), Some("prod"));
    }

    #[test]
    fn outside_kubernetes_the_hostname_is_the_host() {
        let r = Resource::from_lookup(|_| None, Some("box".into()), "0.1.0");
        assert_eq!(r.get("host.name"), Some("box"));
        assert_eq!(r.get("k8s.pod.name"), None);
    }
}
