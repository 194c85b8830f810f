#!/usr/bin/env bash
# Run kestrel's whole test suite: lint, unit tests and the kernel tests that load real eBPF.
# Installs what the tests need first (idempotent). Run as root so kernel tests can load
# programs; under CI=true (or KESTREL_REQUIRE_KERNEL=1) a missing capability fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for pair in python3:python3 gcc:gcc ip:iproute2 mountpoint:util-linux bpftool:bpftool ping:iputils-ping tcpdump:tcpdump nft:nftables losetup:mount; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
# <sys/sdt.h> for the usdt test programs.
[ -e /usr/include/x86_64-linux-gnu/sys/sdt.h ] || [ -e /usr/include/sys/sdt.h ] || need_pkgs+=(systemtap-sdt-dev)
# libbpf-tools for the side-by-side tool tests (crates/kestrel/tests/tools.rs).
[ -x /usr/sbin/execsnoop ] || need_pkgs+=(libbpf-tools)
# The real Prometheus server for the agent tests (crates/kestrel/tests/agent.rs).
command -v prometheus >/dev/null 2>&1 || need_pkgs+=(prometheus)
# Real servers and clients for `kestrel http` (crates/kestrel/tests/http.rs).
for pair in nginx:nginx wrk:wrk curl:curl; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need_pkgs+=("${pair#*:}")
done
# ethtool for the lb tests (checksum offload off, GRO on in their namespaces).
command -v ethtool >/dev/null 2>&1 || need_pkgs+=(ethtool)
if ((${#need_pkgs[@]})); then
    if [ "$(id -u)" = 0 ]; then
        echo "test.sh: installing ${need_pkgs[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        echo "test.sh: missing ${need_pkgs[*]} (run as root to install them)" >&2
    fi
fi

# kubernetes-validate (PyPI; ships the Kubernetes API schemas) for the offline manifest and
# chart validation in crates/kestrel/tests/deploy.rs.
python3 -c 'import kubernetes_validate' 2>/dev/null || python3 -m pip install -q kubernetes-validate

if [ "${CI:-}" = true ]; then
    export KESTREL_REQUIRE_KERNEL=1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast 2>&1 | tee /tmp/kestrel-test.log
echo "== fuzz (60 s per target: parse, sema, isa, compile, l7)"
# A stable-Rust fuzzer (crates/fuzz): no panics, no hangs, coded diagnostics, and code that
# passes the structural checker. Failing inputs land in target/fuzz-findings/.
cargo run --quiet -p kestrel-fuzz -- --seconds "${KESTREL_FUZZ_SECONDS:-60}"
