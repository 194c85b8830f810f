#!/usr/bin/env bash
# Per-workload policy benchmark (issue 14): the cost a policy adds to each connect() and
# sendto() of a process in the workload's cgroup, with 10,000 CIDR rules, for kestrel's
# cgroup hooks (two LPM-trie lookups whatever the rule count) and for the same 10,000 rules
# as nftables `socket cgroupv2` rules (walked one by one). Two measures:
#  - the loop's ns per call (bench/policy_loop.c, gcc -O2), median of $RUNS runs;
#  - kestrel's own programs' run time per call (kernel.bpf_stats_enabled), steady on a
#    loaded machine.
# UDP connect() sends no packet, so only the socket hook sees it (nftables cannot filter
# it); sendto() passes both the sendmsg4 hook and netfilter's output hook.
# Needs root, gcc, nft, bpftool, python3. Usage: bench/policy.sh [calls per run]
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KESTREL:-./target/release/kestrel}
N=${1:-200000}
RUNS=${RUNS:-5}
CGM=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
CG=$CGM/kpolbench
W=$(mktemp -d)
cleanup() {
    $K policy down >/dev/null 2>&1 || true
    nft delete table inet kpolbench 2>/dev/null || true
    rmdir "$CG" 2>/dev/null || true
}
trap 'cleanup; rm -rf "$W"' EXIT
cleanup
for tool in gcc nft bpftool python3; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }; done
gcc -O2 -o "$W/loop" bench/policy_loop.c
mkdir -p "$CG"

# N deny rules for random /24s in 11.0.0.0-99.255.255.255 and one allow rule for the target.
rules() { # COUNT FILE
    python3 - "$1" "$CG" > "$2" <<'PY'
import random, sys
n, cg = int(sys.argv[1]), sys.argv[2]
random.seed(1)
nets = set()
while len(nets) < n - 1:
    nets.add("%d.%d.%d.0/24" % (random.randrange(11, 100), random.randrange(256), random.randrange(256)))
print('[[workload]]\nname = "bench"\ncgroup = "%s"\n' % cg)
print('[[workload.rule]]\nname = "target"\ndirection = "egress"\nto = "127.0.0.0/8"\nports = "9000"\nproto = "udp"\nverdict = "allow"\n')
for i, c in enumerate(sorted(nets)):
    print('[[workload.rule]]\nname = "r%d"\ndirection = "egress"\nto = "%s"\nverdict = "deny"\n' % (i, c))
PY
}
rules 1 "$W/p1.toml"
rules 10000 "$W/p10k.toml"
python3 - "$W/p10k.toml" > "$W/nft10k.nft" <<'PY'
import re, sys
# The same deny prefixes as nftables rules matching the same cgroup (level 1 below the
# cgroup2 mount; nft resolves the path under /sys/fs/cgroup, hence the mount's last part).
nets = re.findall(r'to = "(\d+\.\d+\.\d+\.\d+/24)"', open(sys.argv[1]).read())
print("table inet kpolbench {\n  chain out {\n    type filter hook output priority 0; policy accept;")
for c in nets:
    print('    socket cgroupv2 level 1 "unified/kpolbench" ip daddr %s drop' % c)
print("  }\n}")
PY
[ "$(basename "$CGM")" = unified ] || sed -i "s|\"unified/kpolbench\"|\"kpolbench\"|" "$W/nft10k.nft"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
loop() { # MODE [CALLS] -> median ns per call, run inside the cgroup
    for _ in $(seq "$RUNS"); do
        sh -c "echo \$\$ > $CG/cgroup.procs && exec $W/loop $1 127.0.0.1 9000 ${2:-$N}" |
            sed -n 's/.*"ns_per_call": \([0-9.]*\), "calls": [0-9]*, "failed": \([0-9]*\).*/\1 \2/p' |
            awk '$2 != 0 { print "calls failed: " $2 > "/dev/stderr"; exit 1 } { print $1 }'
    done | median
}
prog_ns() { # HOOK-PROGRAM-NAME -> run_time_ns / run_cnt of that program on the cgroup
    local id
    id=$(bpftool -j cgroup show "$CG" | python3 -c "import json,sys; print([p['id'] for p in json.load(sys.stdin) if p['name'] == sys.argv[1]][0])" "$1")
    bpftool -j prog show id "$id" | python3 -c "import json,sys; p=json.load(sys.stdin); print('%.0f' % (p.get('run_time_ns', 0) / max(p.get('run_cnt', 1), 1)))"
}
sysctl -qw kernel.bpf_stats_enabled=1
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
echo "calls per run: $N, median of $RUNS runs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
row "setup" "connect() ns" "sendto() ns" "connect4 prog ns" "sendmsg4 prog ns"
row "---" "---" "---" "---" "---"
C0=$(loop connect); S0=$(loop sendto)
row "no policy" "$C0" "$S0" "-" "-"
for f in p1 p10k; do
    $K policy up --file "$W/$f.toml" >/dev/null
    C=$(loop connect); S=$(loop sendto)
    row "kestrel, $( [ $f = p1 ] && echo 1 rule || echo 10,000 rules)" "$C" "$S" "$(prog_ns kpol_connect4)" "$(prog_ns kpol_sendmsg4)"
    $K policy down >/dev/null
done
nft -f "$W/nft10k.nft"
# Sanity: the nft rules do match this cgroup (a rule for the target itself refuses it).
nft insert rule inet kpolbench out socket cgroupv2 level 1 "$(sed -n 's/.*level 1 "\([^"]*\)".*/\1/p' "$W/nft10k.nft" | head -1)" ip daddr 127.0.0.2 drop
if sh -c "echo \$\$ > $CG/cgroup.procs && exec $W/loop sendto 127.0.0.2 9000 1" | grep -q '"failed": 0'; then
    echo "nft rules do not match the cgroup: the comparison would be void" >&2; exit 1
fi
nft delete rule inet kpolbench out handle "$(nft -a list chain inet kpolbench out | sed -n 's/.*127.0.0.2 drop # handle \([0-9]*\)/\1/p')"
# The rules are walked one by one for every packet: a thousandth of the calls is plenty.
C=$(loop connect); S=$(loop sendto $(( N / 1000 > 100 ? N / 1000 : 100 )))
row "nftables, 10,000 socket cgroupv2 rules" "$C (not seen)" "$S" "-" "-"
nft delete table inet kpolbench
sysctl -qw kernel.bpf_stats_enabled=0
