#!/usr/bin/env bash
# kestrel lb benchmark (issue 15): ns/packet under BPF_PROG_TEST_RUN, then live forwarding of
# the same traffic by kestrel lb (nat, forward = stack and redirect) and by nftables DNAT
# (`dnat to numgen inc mod 3 map {...}`, conntrack).
#
# Live part: frames are injected with `kestrel lb bench-gen` (BPF_PROG_TEST_RUN live frames
# redirected into veth klbgA, the header rewritten from constants before each send, since
# recycled live-frame pages keep a receiver's DNAT); they arrive at klbgB, the load balancer's interface. The VIP's
# three backends are veths klbe1..3 whose peers klbe1p..3p hold an empty XDP_DROP
# (`kestrel lb bench-sink`); static neighbour entries stand in for ARP. Forwarded rate =
# packets the backends' peers received (their XDP_DROP count) / seconds the sender ran. One UDP flow (the
# generator's frame is fixed), so conntrack and the connection table both see one entry.
# Needs root, nft and ethtool. Usage: bench/lb.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KESTREL:-./target/release/kestrel}
DUR=${1:-5}
W=$(mktemp -d)
SINK=""
cleanup() {
    [ -n "$SINK" ] && kill "$SINK" 2>/dev/null || true
    $K lb down --iface klbgB >/dev/null 2>&1 || true
    nft delete table ip kbenchlb 2>/dev/null || true
    ip link del klbgA 2>/dev/null || true
    for i in 1 2 3; do ip link del klbe$i 2>/dev/null || true; done
}
trap 'cleanup; rm -rf "$W"' EXIT
cleanup

echo "| program | ns/packet (BPF_PROG_TEST_RUN, repeat 1e6) |"
echo "|---|---|"
ns() { $K lb bench-ns "$@" | python3 -c "import json,sys; print(json.load(sys.stdin)['ns_per_packet'])"; }
if [ "${SKIP_NS:-0}" != 1 ]; then
for b in 3 10 100 1000; do echo "| nat, $b backends, 1 tracked connection | $(ns --backends $b) |"; done
for c in 1000 100000 1000000; do echo "| nat, 3 backends, $c tracked connections | $(ns --conns $c) |"; done
echo "| dsr, 3 backends | $(ns --mode dsr) |"
echo "| dsr, 1000 backends, 1000000 tracked connections | $(ns --mode dsr --backends 1000 --conns 1000000) |"
fi
echo

ip link add klbgA type veth peer name klbgB
ip link set klbgA up
ip link set klbgB up
ip addr add 10.213.1.1/24 dev klbgB
ip route add 198.18.0.0/15 dev klbgB
sysctl -qw net.ipv4.conf.klbgB.forwarding=1
sysctl -qw net.ipv4.conf.klbgB.rp_filter=0
MAC=$(cat /sys/class/net/klbgB/address)
for i in 1 2 3; do
    ip link add klbe$i type veth peer name klbe${i}p
    ip addr add 10.214.$i.1/24 dev klbe$i
    ip link set klbe$i up
    ip link set klbe${i}p up
    ip neigh replace 10.214.$i.2 lladdr "$(cat /sys/class/net/klbe${i}p/address)" dev klbe$i nud permanent
done
cat > $W/lb.toml <<'T'
[[service]]
name = "bench"
vip = "10.213.0.100"
port = 80
proto = "udp"
backends = ["10.214.1.2:80", "10.214.2.2:80", "10.214.3.2:80"]
T
{ echo 'forward = "redirect"'; cat $W/lb.toml; } > $W/lb-redirect.toml

$K lb bench-sink --iface klbe1p --iface klbe2p --iface klbe3p --seconds 100000 >/dev/null &
SINK=$!
sleep 1
# XDP_DROP'ed frames are not in rx_packets: count veth's per-queue XDP drop counters.
received() { for i in 1 2 3; do ethtool -S klbe${i}p; done | awk '/rx_queue_[0-9]+_xdp_drops:/ {n += $2} END {print n + 0}'; }
gen() { $K lb bench-gen --iface klbgA --duration "$DUR" --dst-mac "$MAC" --dst 10.213.0.100:80 | sed -n 's/.*"sent": \([0-9]*\), "seconds": \([0-9.]*\).*/\1 \2/p'; }
row() { # name sent secs forwarded
    python3 -c "import sys; n,s,t,c=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4]); print('| %s | %.2f | %.2f | %d |' % (n, s/t/1e6, c/t/1e6, c))" "$@"
}
echo "| forwarder on klbgB | sender Mpps | forwarded Mpps (received by backends) | packets forwarded |"
echo "|---|---|---|---|"
for cfg in lb lb-redirect; do
    $K lb up --iface klbgB --config $W/$cfg.toml >/dev/null
    before=$(received)
    read -r sent secs < <(gen)
    after=$(received)
    row "kestrel lb nat, $( [ $cfg = lb ] && echo 'forward = stack' || echo 'forward = redirect')" "$sent" "$secs" $((after - before))
    $K lb down --iface klbgB >/dev/null
done

# nftables DNAT with conntrack. klbgB needs veth's NAPI path for the redirected frames: GRO on
# (no XDP program on it for this row).
ethtool -K klbgB gro on >/dev/null 2>&1 || true
nft -f - <<'N'
table ip kbenchlb {
    chain pre {
        type nat hook prerouting priority dstnat;
        ip daddr 10.213.0.100 udp dport 80 dnat to numgen inc mod 3 map { 0 : 10.214.1.2, 1 : 10.214.2.2, 2 : 10.214.3.2 }
    }
}
N
before=$(received)
read -r sent secs < <(gen)
after=$(received)
row "nftables DNAT (numgen inc mod 3, conntrack)" "$sent" "$secs" $((after - before))
nft delete table ip kbenchlb
