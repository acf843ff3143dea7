#!/usr/bin/env bash
# Watch mode (`rcompose watch`, release build) on a busybox project made here offline:
#   sync latency   50 writes of a synced file, one after another: time from the write (its
#                  close) until the new content is readable in the container (read through the
#                  container's root, /proc/<pid>/root, polled every 0.5 ms); median, p95, max
#   rebuild        a file under a `rebuild` rule changed: time until the recreated container
#                  runs the new image (its /version read through `rcompose exec`, polled), and
#                  the time the watcher's own line reports
#   1,000 files    written at once (a branch switch): time until all are in the container, and
#                  in how many batches they came
#   idle CPU       the watcher's CPU time (all threads, /proc/<pid>/stat) over 60 s with no
#                  change, and its RSS
#
# docker compose v2's watch is not run side by side: it needs dockerd, which this machine does not
# have running; installing and starting it (../shared/peers/setup.sh) changes the host's firewall
# and forwarding under whatever else runs here. Its figures by design: a 500 ms quiet period
# before any action (pkg/watch/debounce.go), so its sync latency is above 500 ms.
#
# Usage (as root):  bench/watch.sh
# Env: IDLE_SECONDS (60), WRITES (50), OUT (results, default /tmp/rcompose-bench-watch/results.md)
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "bench/watch.sh: needs root" >&2
    exit 1
fi
[ -x /bin/busybox ] || {
    echo "bench/watch.sh: needs /bin/busybox (apt-get install busybox-static)" >&2
    exit 1
}
here=$(cd "$(dirname "$0")/.." && pwd)
IDLE_SECONDS=${IDLE_SECONDS:-60}
WRITES=${WRITES:-50}
BENCH=/tmp/rcompose-bench-watch
OUT=${OUT:-$BENCH/results.md}

cargo build --quiet --release --bins --manifest-path "$here/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# A run stopped half-way left its project up: take it down before its state goes.
if [ -x "$BENCH/bin/rcompose" ] && [ -d "$BENCH/project" ]; then
    (cd "$BENCH/project" && RCOMPOSE_MASQUERADE=0 "$BENCH/bin/rcompose" --root "$BENCH/state" \
        -p benchwatch down -v -t 1 >/dev/null 2>&1) || true
fi
rm -rf "$BENCH"
mkdir -p "$BENCH/bin" "$BENCH/project/src" "$BENCH/rootfs/bin" "$BENCH/rootfs/etc" "$BENCH/rootfs/tmp"
# Copies, so that a build by someone else during the run does not change the binaries under test.
cp "$target_dir/release/rcompose" "$target_dir/release/rcompose-helper" "$BENCH/bin/"
export RCOMPOSE_MASQUERADE=0 RCOMPOSE_OFFLINE=1
rc() { "$BENCH/bin/rcompose" --root "$BENCH/state" -p benchwatch "$@"; }
watcher=
cleanup() {
    if [ -n "$watcher" ]; then
        kill -INT "$watcher" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$watcher" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$watcher" 2>/dev/null || true
        wait "$watcher" 2>/dev/null || true
    fi
    (cd "$BENCH/project" && rc down -v -t 1 >/dev/null 2>&1) || true
}
trap cleanup EXIT

# busybox:latest, imported offline from Debian's busybox-static.
cp /bin/busybox "$BENCH/rootfs/bin/"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$BENCH/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$BENCH/rootfs/etc/passwd"
echo 'root:x:0:' >"$BENCH/rootfs/etc/group"
tar -C "$BENCH/rootfs" -cf "$BENCH/rootfs.tar" .
rc image import --change 'CMD ["sh"]' "$BENCH/rootfs.tar" busybox:latest >/dev/null

cd "$BENCH/project"
cat >compose.yaml <<'EOF'
services:
  web:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - {action: sync, path: ./src, target: /app}
  api:
    build: ./api
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    volumes: [data:/data]
    develop:
      watch:
        - {action: rebuild, path: ./api/version}
volumes:
  data: {}
EOF
mkdir -p api
printf 'FROM busybox:latest\nCOPY version /version\n' >api/Dockerfile
echo v0 >api/version
echo start >src/probe.txt

# The binary itself in the background (not through `rc`, whose subshell would be $!).
"$BENCH/bin/rcompose" --root "$BENCH/state" -p benchwatch watch --quiet >"$BENCH/watch.log" 2>&1 &
watcher=$!
for _ in $(seq 600); do
    grep -q 'Watch enabled' "$BENCH/watch.log" 2>/dev/null && break
    sleep 0.1
done
grep -q 'Watch enabled' "$BENCH/watch.log" || {
    cat "$BENCH/watch.log" >&2
    exit 1
}
web_pid=$(python3 - "$BENCH/state" <<'EOF'
import json, os, sys
root = sys.argv[1] + "/containers"
for cid in os.listdir(root):
    try:
        cfg = json.load(open(f"{root}/{cid}/config.json"))
        state = json.load(open(f"{root}/{cid}/state.json"))
    except (OSError, ValueError):
        continue
    labels = cfg.get("spec", {}).get("labels", {})
    if labels.get("com.docker.compose.service") == "web" and state.get("pid", 0) > 0:
        print(state["pid"])
EOF
)
[ -n "$web_pid" ] || {
    echo "bench/watch.sh: cannot find the web container's pid" >&2
    exit 1
}

python3 - "$web_pid" "$WRITES" "$BENCH" <<'EOF' >"$BENCH/sync.txt"
import os, statistics, sys, time
pid, writes, bench = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
host = f"{bench}/project/src/probe.txt"
inside = f"/proc/{pid}/root/app/probe.txt"
def visible(text):
    try:
        with open(inside) as f:
            return f.read() == text
    except OSError:
        return False
samples = []
for i in range(writes):
    text = f"write {i} {time.time_ns()}"
    start = time.perf_counter()
    with open(host, "w") as f:
        f.write(text)
    while not visible(text):
        if time.perf_counter() - start > 10:
            sys.exit(f"write {i} not visible after 10 s")
        time.sleep(0.0005)
    samples.append((time.perf_counter() - start) * 1000)
    time.sleep(0.05)
samples.sort()
p95 = samples[min(len(samples) - 1, int(round(0.95 * len(samples))) - 1)]
print(f"{statistics.median(samples):.1f} {p95:.1f} {samples[-1]:.1f} {samples[0]:.1f}")

# 1,000 files at once.
many = f"{bench}/project/src/many"
os.makedirs(many)
start = time.perf_counter()
for i in range(1000):
    with open(f"{many}/file-{i:04}.txt", "w") as f:
        f.write(str(i))
written = time.perf_counter()
target = f"/proc/{pid}/root/app/many"
while True:
    try:
        if len(os.listdir(target)) == 1000:
            break
    except OSError:
        pass
    if time.perf_counter() - start > 60:
        sys.exit("1,000 files not all synced after 60 s")
    time.sleep(0.002)
print(f"{(time.perf_counter() - start) * 1000:.0f} {(written - start) * 1000:.0f}")
EOF
read -r sync_median sync_p95 sync_max sync_min <<<"$(sed -n 1p "$BENCH/sync.txt")"
read -r batch_ms batch_write_ms <<<"$(sed -n 2p "$BENCH/sync.txt")"
sleep 0.5
batch_lines=$(grep 'web: synced' "$BENCH/watch.log" | tail -n +$((WRITES + 1)) | sed 's/^/    /')
batches=$(printf '%s\n' "$batch_lines" | grep -c synced || true)

# Rebuild: the new image answers.
start=$(date +%s%N)
echo v1 >api/version
for _ in $(seq 600); do
    [ "$(rc exec -T api cat /version 2>/dev/null)" = v1 ] && break
    sleep 0.05
done
[ "$(rc exec -T api cat /version 2>/dev/null)" = v1 ] || {
    cat "$BENCH/watch.log" >&2
    exit 1
}
rebuild_ms=$((($(date +%s%N) - start) / 1000000))
rebuild_line=$(grep 'rebuilt and recreated' "$BENCH/watch.log" | tail -1)

# Idle CPU: the watcher's own time (all its threads) over IDLE_SECONDS.
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$watcher/stat"; }
sleep 1
before=$(cpu)
sleep "$IDLE_SECONDS"
after=$(cpu)
idle_ms=$(((after - before) * 1000 / ticks))
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$watcher/status")

{
    echo "## rcompose watch ($(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo 'a tree'), $(date -u +%Y-%m-%d), $(nproc) cores)"
    echo
    echo "| measure | rcompose watch |"
    echo "|---|---:|"
    echo "| sync latency, write → visible in the container ($WRITES writes) | median $sync_median ms, p95 $sync_p95 ms (min $sync_min, max $sync_max) |"
    echo "| rebuild + recreate until the new image answers (exec polled every 50 ms) | $rebuild_ms ms |"
    echo "| 1,000 files written at once → all in the container | $batch_ms ms (writing took $batch_write_ms ms), $batches batch(es) |"
    echo "| idle CPU over ${IDLE_SECONDS} s | ${idle_ms} ms of CPU time; RSS ${rss_kib} KiB |"
    echo
    echo "Watcher lines: rebuild: \`${rebuild_line}\`"
    echo
    echo "Batches of the 1,000 files:"
    echo
    echo "$batch_lines"
} | tee "$OUT"
