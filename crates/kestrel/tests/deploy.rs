//! deploy/: the Kubernetes manifest and the Helm chart validate offline against the
//! Kubernetes API schemas (kubernetes-validate from PyPI, which ships them), their agent
//! configs pass `kestrel agent --check`, and the Containerfile packages the static binary.
//!
//! The chart is rendered by tests/deploy/render_chart.py, a renderer of the template subset
//! the chart uses (helm is not installable here); the PodMonitor, a CRD the validator has
//! no schema for, is checked for the fields that tie it to the DaemonSet.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{kestrel, TempDir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the validator is installed; under CI its absence fails the test.
fn validator_available(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import kubernetes_validate, yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: python3 -m pip install kubernetes-validate (scripts/test.sh does)");
        }
        eprintln!(
            "SKIP {test}: kubernetes-validate is not installed (pip install kubernetes-validate)"
        );
    }
    ok
}

fn validate(file: &Path) -> Output {
    Command::new("python3")
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "--kubernetes-version",
            "1.37.0",
        ])
        .arg(file)
        .output()
        .expect("run kubernetes-validate")
}

fn assert_valid(file: &Path, kinds: &[&str]) {
    let out = validate(file);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} does not validate:\n{text}",
        file.display()
    );
    assert!(!text.contains("ERROR"), "{text}");
    for kind in kinds {
        assert!(
            text.contains(&format!("passed for resource {kind}/")),
            "{kind} not validated:\n{text}"
        );
    }
}

fn render(dir: &TempDir, name: &str, sets: &[&str]) -> PathBuf {
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("crates/kestrel/tests/deploy/render_chart.py"))
        .arg(repo().join("deploy/kubernetes/helm/kestrel"));
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("render the chart");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.0.join(name);
    std::fs::write(&path, &out.stdout).expect("write rendered chart");
    path
}

/// `python3` reading YAML documents: prints the expression for each document of `kind`.
fn yaml_query(file: &Path, kind: &str, expr: &str) -> String {
    let code = format!(
        "import sys, yaml\nfor d in yaml.safe_load_all(open(sys.argv[1])):\n    if d and d.get('kind') == {kind:?}:\n        print({expr})\n"
    );
    let out = Command::new("python3")
        .args(["-c", &code])
        .arg(file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The agent.toml of the ConfigMap in `file` passes `kestrel agent --check`.
fn config_checks(dir: &TempDir, file: &Path) {
    let toml = yaml_query(file, "ConfigMap", "d['data']['agent.toml']");
    let path = dir.0.join("agent.toml");
    std::fs::write(&path, toml).expect("write agent.toml");
    let out = kestrel()
        .args(["agent", "--check", "--config"])
        .arg(&path)
        .output()
        .expect("run kestrel");
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

const KINDS: &[&str] = &["serviceaccount", "configmap", "daemonset", "service"];

#[test]
fn the_manifest_validates_and_its_config_checks() {
    if !validator_available("the_manifest_validates_and_its_config_checks") {
        return;
    }
    let manifest = repo().join("deploy/kubernetes/kestrel-agent.yaml");
    assert_valid(&manifest, KINDS);
    let dir = TempDir::new("deploy-manifest");
    config_checks(&dir, &manifest);
    // The validator bites: a wrong type is an error.
    let text = std::fs::read_to_string(&manifest).expect("read manifest");
    let broken = dir.0.join("broken.yaml");
    std::fs::write(&broken, text.replace("hostPID: true", "hostPID: \"yes\"")).expect("write");
    let out = validate(&broken);
    assert!(!out.status.success(), "a string hostPID passed validation");
    // What the issue asks of the pod.
    let ds = yaml_query(&manifest, "DaemonSet", "d['spec']['template']['spec']");
    assert!(ds.contains("'hostPID': True"), "{ds}");
    for path in [
        "/sys/fs/bpf",
        "/sys/kernel/tracing",
        "/sys/fs/cgroup",
        "/proc",
    ] {
        assert!(
            ds.contains(&format!("'path': '{path}'")),
            "no hostPath {path}"
        );
    }
    for cap in ["BPF", "PERFMON", "NET_ADMIN"] {
        assert!(ds.contains(&format!("'{cap}'")), "capability {cap} missing");
    }
    for var in ["K8S_NODE_NAME", "K8S_POD_NAME", "K8S_NAMESPACE_NAME"] {
        assert!(ds.contains(var), "downward-API variable {var} missing");
    }
    let svc = yaml_query(&manifest, "Service", "d['metadata']['annotations']");
    assert!(svc.contains("'prometheus.io/scrape': 'true'"), "{svc}");
}

#[test]
fn the_rendered_chart_validates_and_its_podmonitor_points_at_the_pods() {
    if !validator_available("the_rendered_chart_validates") {
        return;
    }
    let dir = TempDir::new("deploy-chart");
    let default = render(&dir, "default.yaml", &[]);
    assert_valid(&default, KINDS);
    config_checks(&dir, &default);
    assert_eq!(
        yaml_query(&default, "PodMonitor", "d"),
        "",
        "PodMonitor is off by default"
    );

    let with_pm = render(
        &dir,
        "podmonitor.yaml",
        &["podMonitor.enabled=true", "prometheusAnnotations=false"],
    );
    assert_valid(&with_pm, KINDS);
    let selector = yaml_query(
        &with_pm,
        "PodMonitor",
        "d['spec']['selector']['matchLabels']",
    );
    let pod_labels = yaml_query(
        &with_pm,
        "DaemonSet",
        "d['spec']['template']['metadata']['labels']",
    );
    assert_eq!(
        selector, pod_labels,
        "the PodMonitor selects the agent pods"
    );
    let endpoint = yaml_query(
        &with_pm,
        "PodMonitor",
        "d['spec']['podMetricsEndpoints'][0]['port'], d['apiVersion']",
    );
    assert_eq!(endpoint.trim(), "metrics monitoring.coreos.com/v1");
    let limits = yaml_query(
        &with_pm,
        "PodMonitor",
        "d['spec']['sampleLimit'], d['spec']['labelLimit']",
    );
    assert_eq!(limits.trim(), "20000 30");
    let annotations = yaml_query(
        &with_pm,
        "DaemonSet",
        "d['spec']['template']['metadata'].get('annotations')",
    );
    assert_eq!(
        annotations.trim(),
        "None",
        "annotations follow prometheusAnnotations"
    );
}

#[test]
fn the_containerfile_packages_the_static_binary_in_scratch() {
    let text = std::fs::read_to_string(repo().join("deploy/Containerfile")).expect("Containerfile");
    assert!(text.lines().any(|l| l.trim() == "FROM scratch"), "{text}");
    assert!(
        text.contains("target/x86_64-unknown-linux-gnu/release/kestrel"),
        "{text}"
    );
    assert!(
        text.contains("+crt-static"),
        "the build command is documented: {text}"
    );
    assert!(text.contains("ENTRYPOINT [\"/kestrel\"]"), "{text}");
}
