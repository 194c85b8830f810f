#!/usr/bin/env bash
# XDP firewall benchmark (issue 6): same traffic, one run, for every receiver.
# Frames are injected with `kestrel bench xdp-gen` (BPF_PROG_TEST_RUN live frames redirected
# into veth kbgA); they arrive at kbgB (in netns kbench) where the receiver under test runs.
# Receiver rate = packets the receiver counted / seconds the sender ran.
# Needs root, nft and iptables (apt-get install nftables iptables). Usage: bench/firewall.sh [seconds]
# SPLIT=1: run kbgB's NAPI in its own kernel thread pinned to CPU 1 (/sys/class/net/kbgB/threaded,
# set after each XDP attach, since veth creates its NAPI context only then) and the sender on
# CPU 0, so each row measures the receiver alone instead of sender + receiver on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KESTREL:-./target/release/kestrel}
DUR=${1:-5}
W=$(mktemp -d)
cleanup() {
    $K firewall down --iface kbgB >/dev/null 2>&1 || true
    nft delete table netdev kbench 2>/dev/null || true
    iptables -t raw -D PREROUTING -i kbgB -s 198.18.0.0/15 -j DROP 2>/dev/null || true
    ip link del kbgA 2>/dev/null || true
}
trap 'cleanup; rm -rf "$W"' EXIT
cleanup
ip link add kbgA type veth peer name kbgB
ip link set kbgA up
ip link set kbgB up
ip addr add 198.19.0.1/16 dev kbgB
MAC=$(ip -o link show kbgB | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
inns() { "$@"; }
SPLIT=${SPLIT:-0}
# With SPLIT=1: move kbgB's receive path to its own thread on CPU 1 (after an XDP attach).
split() {
    [ "$SPLIT" = 1 ] || return 0
    echo 1 > /sys/class/net/kbgB/threaded
    sleep 0.2
    for p in $(pgrep -f "napi/kbgB" || true); do taskset -pc 1 "$p" >/dev/null; done
}
SENDCPU=()
[ "$SPLIT" = 1 ] && SENDCPU=(taskset -c 0)

# Rule sets: N blocked prefixes (random /24s in 11.0.0.0-99.255.255.255 plus the traffic's 198.18.0.0/15) and a
# SYN-flood rate-limit rule.
rules() { # N FILE [blocked?]
    python3 - "$1" "${3:-blocked}" > "$2" <<'PY'
import random, sys
n = int(sys.argv[1]); blocked = sys.argv[2] != "open"
random.seed(1)
nets = set()
while len(nets) < max(n - 1, 0):
    nets.add("%d.%d.%d.0/24" % (random.randrange(11, 100), random.randrange(256), random.randrange(256)))
lst = sorted(nets) + (["198.18.0.0/15"] if blocked else ["203.0.113.0/24"])
print("block = [" + ",\n".join('"%s"' % c for c in lst) + "]")
print('[[rule]]\nname = "syn-flood"\nmatch = "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"\naction = "rate-limit"\nper = "src/24"\npps = 1000\nburst = 2000')
print('[[rule]]\nname = "udp-limit"\nmatch = "udp"\naction = "rate-limit"\nper = "src"\npps = 1000\nburst = 1000')
PY
}
rules 1 $W/r1.toml; rules 100 $W/r100.toml; rules 100000 $W/r100k.toml; rules 100000 $W/r100k-rl.toml open

gen() { "${SENDCPU[@]}" $K bench xdp-gen --iface kbgA --duration "$DUR" --dst-mac "$MAC" | sed -n 's/.*"sent": \([0-9]*\), "seconds": \([0-9.]*\).*/\1 \2/p'; }
row() { # name sent secs counted
    python3 -c "import sys; n,s,t,c=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4]); print('| %s | %.2f | %.2f | %d |' % (n, s/t/1e6, c/t/1e6, c))" "$@"
}
declare -A RATE
echo "| receiver on kbgB | sender Mpps | receiver Mpps (counted) | packets counted |"
echo "|---|---|---|---|"

# 1. Empty XDP_DROP on kbgB (the ceiling); it has no counter, so "counted" is the sender's
# count: each redirected batch is processed synchronously on the sending CPU.
read -r sent secs < <($K bench xdp-gen --iface kbgA --duration "$DUR" --dst-mac "$MAC" --sink-drop kbgB | sed -n 's/.*"sent": \([0-9]*\), "seconds": \([0-9.]*\).*/\1 \2/p')
row "empty XDP_DROP" "$sent" "$secs" "$sent"

for case in r1 r100 r100k r100k-rl; do
    inns $K firewall up --iface kbgB --rules $W/$case.toml >/dev/null
    split
    read -r sent secs < <(gen)
    counted=$(inns $K firewall status --iface kbgB --json | python3 -c "import json,sys; s=json.load(sys.stdin)[0]; print(s['blocked']['packets']+sum(r['packets'] for r in s['rules'])+s['unmatched']['packets'])")
    row "kestrel firewall, $case" "$sent" "$secs" "$counted"
    inns $K firewall down --iface kbgB >/dev/null
done

# nftables netdev ingress drop (an XDP_PASS program on kbgB keeps veth's NAPI path on, as the
# redirect needs; its cost is the empty program's, a few ns).
printf '[[rule]]\nmatch = "ip6"\naction = "drop"\n' > $W/pass.toml
inns $K firewall up --iface kbgB --rules $W/pass.toml >/dev/null
split
inns nft -f - <<'N'
table netdev kbench {
    chain in {
        type filter hook ingress device kbgB priority 0;
        ip saddr 198.18.0.0/15 counter drop
    }
}
N
read -r sent secs < <(gen)
counted=$(inns nft list table netdev kbench | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
row "nftables netdev ingress drop" "$sent" "$secs" "$counted"
inns nft delete table netdev kbench

inns iptables -t raw -A PREROUTING -i kbgB -s 198.18.0.0/15 -j DROP
read -r sent secs < <(gen)
counted=$(inns iptables -t raw -L PREROUTING -v -x -n | awk '/DROP/ {print $1; exit}')
row "iptables raw PREROUTING drop" "$sent" "$secs" "$counted"
inns iptables -t raw -D PREROUTING -i kbgB -s 198.18.0.0/15 -j DROP
inns $K firewall down --iface kbgB >/dev/null

echo
echo "| program | ns/packet (BPF_PROG_TEST_RUN, repeat 1e6) | verdict |"
echo "|---|---|---|"
ns() { $K bench xdp-ns "$@" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['ns_per_packet'], d['verdict'])"; }
read -r n v < <(ns); echo "| empty XDP_DROP | $n | $v |"
for case in r1 r100 r100k r100k-rl; do
    read -r n v < <(ns --rules $W/$case.toml); echo "| kestrel firewall, $case | $n | $v |"
done
