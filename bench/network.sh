#!/usr/bin/env bash
# Network costs, side by side in one hyperfine run, and name-lookup latency.
#
# 1. Create and tear down networks: `rcompose up --no-start` + `down` of a one-service project whose
#    service is on 10 networks, against the same project with `network_mode: none` (no network at
#    all); the difference over 10 is the cost of one network with one endpoint (bridge, address,
#    veth pair, namespace, hosts file, records). `ip` (iproute2) doing the same kernel work for 10
#    bridges (bridge, address, up, veth into a namespace, delete) is the lower bound.
# 2. Lookup latency: in a running container, 500 lookups of a service name through `/etc/hosts`
#    (`ping -c1` by name against `ping -c1` by address; the difference over 500 is the cost of one
#    lookup), and 500 queries to the embedded DNS server (`nslookup db` against `true`).
#
# Usage (as root): bench/network.sh [runs]   (default 20). Needs busybox-static, hyperfine.
# Traffic stays inside containers and namespaces this script makes.
set -euo pipefail

runs=${1:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/rcompose-bench-network}
if [ "$(id -u)" != 0 ]; then
    echo "bench/network.sh: needs root" >&2
    exit 1
fi
for tool in busybox hyperfine; do
    command -v "$tool" >/dev/null || apt-get install -y busybox-static hyperfine >/dev/null
done
cargo build --quiet --release --manifest-path "$here/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
rc="$target_dir/release/rcompose"

rm -rf "$WORK"
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/none" "$WORK/ten" "$WORK/lookup"
cleanup() {
    for dir in none ten lookup; do
        "$rc" --root "$WORK/state" -f "$WORK/$dir/compose.yaml" down -t 0 >/dev/null 2>&1 || true
    done
    for n in $(seq 1 10); do
        ip link del "rcbv$n" 2>/dev/null || true
        ip link del "rcbench$n" 2>/dev/null || true
    done
    ip netns del rcbench 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cp /bin/busybox "$WORK/rootfs/bin/"
for applet in $(busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$WORK/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$WORK/rootfs/etc/passwd"
echo "root:x:0:" >"$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
"$rc" --root "$WORK/state" image import --change 'CMD ["sh"]' "$WORK/rootfs.tar" busybox:latest >/dev/null

cat >"$WORK/none/compose.yaml" <<'EOF'
services:
  app:
    image: busybox
    network_mode: none
EOF
{
    echo "services:"
    echo "  app:"
    echo "    image: busybox"
    echo "    networks: [n1, n2, n3, n4, n5, n6, n7, n8, n9, n10]"
    echo "networks:"
    for n in $(seq 1 10); do echo "  n$n: {}"; done
} >"$WORK/ten/compose.yaml"

cat >"$WORK/iproute-cycle.sh" <<'EOF'
ip netns add rcbench
for n in $(seq 1 10); do
    ip link add "rcbench$n" type bridge
    ip addr add "10.199.$n.1/24" dev "rcbench$n"
    ip link set "rcbench$n" up
    ip link add "rcbv$n" type veth peer name "eth$n" netns rcbench
    ip link set "rcbv$n" master "rcbench$n" up
done
for n in $(seq 1 10); do ip link del "rcbv$n"; ip link del "rcbench$n"; done
ip netns del rcbench
EOF

hyperfine --runs "$runs" --warmup 2 --export-json "$WORK/networks.json" \
    -n "rcompose, no network" \
    "$rc --root $WORK/state -f $WORK/none/compose.yaml up --no-start && $rc --root $WORK/state -f $WORK/none/compose.yaml down" \
    -n "rcompose, 10 networks" \
    "$rc --root $WORK/state -f $WORK/ten/compose.yaml up --no-start && $rc --root $WORK/state -f $WORK/ten/compose.yaml down" \
    -n "iproute2, 10 bridges + veths" \
    "bash $WORK/iproute-cycle.sh"

cat >"$WORK/lookup/compose.yaml" <<'EOF'
services:
  db:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
  client:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
EOF
"$rc" --root "$WORK/state" -f "$WORK/lookup/compose.yaml" up -d >/dev/null
address=$("$rc" --root "$WORK/state" -f "$WORK/lookup/compose.yaml" exec -T client sh -c "grep -w db /etc/hosts | cut -f1 | head -1")
timed() {
    # busybox's date has no %N: time the whole exec from the host; the exec's own cost cancels out
    # in the difference between the two loops.
    local start end
    start=$(date +%s%N)
    "$rc" --root "$WORK/state" -f "$WORK/lookup/compose.yaml" exec -T client sh -c \
        "for i in \$(seq 500); do ping -c1 -W1 $1 >/dev/null; done"
    end=$(date +%s%N)
    echo $(((end - start) / 500000))
}
by_name=$(timed db)
by_address=$(timed "$address")
# The embedded DNS server: 500 `nslookup db` (each a busybox process and one UDP query to
# 127.0.0.11), against 500 runs of `true` for the process cost.
timed_loop() {
    local start end
    start=$(date +%s%N)
    "$rc" --root "$WORK/state" -f "$WORK/lookup/compose.yaml" exec -T client sh -c \
        "for i in \$(seq 500); do $1 >/dev/null; done"
    end=$(date +%s%N)
    echo $(((end - start) / 500000))
}
dns_query=$(timed_loop "nslookup db")
process=$(timed_loop "/bin/true")

python3 - "$WORK/networks.json" "$by_name" "$by_address" "$dns_query" "$process" <<'EOF'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
def ms(r, key): return r[key] * 1000
print(f"{'':32} {'min':>8} {'median':>8} {'max':>8}  (ms)")
for name, r in results.items():
    print(f"{name:32} {ms(r,'min'):8.1f} {ms(r,'median'):8.1f} {ms(r,'max'):8.1f}")
none = results["rcompose, no network"]["median"]
ten = results["rcompose, 10 networks"]["median"]
ip = results["iproute2, 10 bridges + veths"]["median"]
per = (ten - none) / 10 * 1000
print(f"one network with one endpoint, create + remove: {per:.1f} ms (iproute2: {ip / 10 * 1000:.1f} ms, ratio {per / (ip / 10 * 1000):.2f}x)")
name, address = int(sys.argv[2]), int(sys.argv[3])
print(f"ping by name {name} us, by address {address} us: one /etc/hosts lookup ~ {name - address} us")
dns, process = int(sys.argv[4]), int(sys.argv[5])
print(f"nslookup db {dns} us, a process {process} us: one query to the embedded DNS server ~ {dns - process} us")
EOF
