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
# docker compose v2's `watch` runs the same measures side by side on the same project (with
# dockerd as ../shared/peers/setup.sh installs and starts it: it does not touch the host's firewall)
# when ../shared/peers has been set up (PEERS=0 skips it). By design it waits for 500 ms of quiet
# before any action (pkg/watch/debounce.go), so its sync latency is above 500 ms.
#
# Usage (as root):  bench/watch.sh
# Env: IDLE_SECONDS (60), WRITES (50), PEERS (1), OUT (results, default
#      /tmp/rcompose-bench-watch/results.md)
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
PEERS=${PEERS:-1}
peers=$here/../shared/peers
BENCH=/tmp/rcompose-bench-watch
OUT=${OUT:-$BENCH/results.md}

cargo build --quiet --release --bins --manifest-path "$here/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# A run stopped half-way left its project up: take it down before its state goes.
if [ -x "$BENCH/bin/rcompose" ] && [ -d "$BENCH/rcompose" ]; then
    (cd "$BENCH/rcompose" && RCOMPOSE_MASQUERADE=0 "$BENCH/bin/rcompose" --root "$BENCH/state" \
        -p benchwatch down -v -t 1 >/dev/null 2>&1) || true
fi
rm -rf "$BENCH"
mkdir -p "$BENCH/bin" "$BENCH/rootfs/bin" "$BENCH/rootfs/etc" "$BENCH/rootfs/tmp"
# Copies, so that a build by someone else during the run does not change the binaries under test.
cp "$target_dir/release/rcompose" "$target_dir/release/rcompose-helper" "$BENCH/bin/"
export RCOMPOSE_MASQUERADE=0 RCOMPOSE_OFFLINE=1
rc() { "$BENCH/bin/rcompose" --root "$BENCH/state" -p benchwatch "$@"; }

# docker compose v2 beside it, when the peers are installed.
with_v2=0
if [ "$PEERS" = 1 ] && [ -f "$peers/lib.sh" ]; then
    # shellcheck source=/dev/null
    source "$peers/lib.sh"
    if [ -x "$DC2_BIN" ] && [ -x "$DOCKERD_BIN" ]; then
        with_v2=1
    else
        echo "bench/watch.sh: docker compose v2 or dockerd missing (run $peers/setup.sh): rcompose only" >&2
    fi
fi
v2() { "$DC2_BIN" -p benchwatchv2 "$@"; }

watcher=
started_dockerd=0
stop_watcher() {
    if [ -n "$watcher" ]; then
        kill -INT "$watcher" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$watcher" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$watcher" 2>/dev/null || true
        wait "$watcher" 2>/dev/null || true
        watcher=
    fi
}
cleanup() {
    stop_watcher
    (cd "$BENCH/rcompose" 2>/dev/null && rc down -v -t 1 >/dev/null 2>&1) || true
    if [ "$with_v2" = 1 ]; then
        (cd "$BENCH/v2" 2>/dev/null && v2 down -v -t 0 --rmi local >/dev/null 2>&1) || true
        [ "$started_dockerd" = 0 ] || stop_dockerd
    fi
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

# The same project for each tool, in its own directory, on image $2.
make_project() {
    local dir=$1 image=$2
    mkdir -p "$dir/src" "$dir/api"
    cat >"$dir/compose.yaml" <<EOF
services:
  web:
    image: $image
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    network_mode: none
    develop:
      watch:
        - {action: sync, path: ./src, target: /app}
  api:
    build: ./api
    image: benchwatch-api
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    network_mode: none
    volumes: [data:/data]
    develop:
      watch:
        - {action: rebuild, path: ./api/version}
volumes:
  data: {}
EOF
    printf 'FROM %s\nCOPY version /version\n' "$image" >"$dir/api/Dockerfile"
    echo v0 >"$dir/api/version"
    echo start >"$dir/src/probe.txt"
}

# Sync latency over $WRITES writes, then 1,000 files at once, into the container whose main
# process is $1, from project directory $2. Prints "median p95 max min" and "all_ms write_ms".
measure_sync() {
    python3 - "$1" "$WRITES" "$2" <<'EOF'
import os, statistics, sys, time
pid, writes, project = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
host = f"{project}/src/probe.txt"
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
many = f"{project}/src/many"
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
}

# The rebuild: time from the change until `$@ cat /version` (an exec into the api container,
# polled every 50 ms) answers v1.
measure_rebuild() {
    local start
    start=$(date +%s%N)
    echo v1 >api/version
    for _ in $(seq 1200); do
        [ "$("$@" cat /version 2>/dev/null)" = v1 ] && break
        sleep 0.05
    done
    [ "$("$@" cat /version 2>/dev/null)" = v1 ] || return 1
    echo $((($(date +%s%N) - start) / 1000000))
}

# The watcher's own CPU time (all its threads) over IDLE_SECONDS, in ms, and its RSS in KiB.
measure_idle() {
    local ticks before after
    ticks=$(getconf CLK_TCK)
    sleep 1
    before=$(awk '{print $14 + $15}' "/proc/$1/stat")
    sleep "$IDLE_SECONDS"
    after=$(awk '{print $14 + $15}' "/proc/$1/stat")
    echo "$(((after - before) * 1000 / ticks)) $(awk '/VmRSS/ {print $2}' "/proc/$1/status")"
}

wait_for_line() {
    local log=$1 text=$2
    for _ in $(seq 1200); do
        grep -q "$text" "$log" 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$log" >&2
    return 1
}

declare -A result

# ---- rcompose
make_project "$BENCH/rcompose" busybox:latest
cd "$BENCH/rcompose"
# The binary itself in the background (not through `rc`, whose subshell would be $!).
"$BENCH/bin/rcompose" --root "$BENCH/state" -p benchwatch watch --quiet >"$BENCH/rcompose.log" 2>&1 &
watcher=$!
wait_for_line "$BENCH/rcompose.log" 'Watch enabled'
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
measure_sync "$web_pid" "$BENCH/rcompose" >"$BENCH/rcompose.sync"
sleep 0.5
batch_lines=$(grep 'web: synced' "$BENCH/rcompose.log" | tail -n +$((WRITES + 1)) | sed 's/^/    /')
result[rcompose.batches]=$(printf '%s\n' "$batch_lines" | grep -c synced || true)
result[rcompose.rebuild]=$(measure_rebuild rc exec -T api) || {
    cat "$BENCH/rcompose.log" >&2
    exit 1
}
rebuild_line=$(grep 'rebuilt and recreated' "$BENCH/rcompose.log" | tail -1)
result[rcompose.idle]=$(measure_idle "$watcher")
stop_watcher
rc down -v -t 1 >/dev/null 2>&1

# ---- docker compose v2 (same project, its own dockerd)
if [ "$with_v2" = 1 ]; then
    dockerd_running || started_dockerd=1
    start_dockerd
    make_project "$BENCH/v2" "$IMAGE"
    cd "$BENCH/v2"
    v2 up -d --quiet-pull >"$BENCH/v2.log" 2>&1
    "$DC2_BIN" -p benchwatchv2 watch >>"$BENCH/v2.log" 2>&1 &
    watcher=$!
    wait_for_line "$BENCH/v2.log" 'Watch enabled'
    v2_pid=$(docker inspect -f '{{.State.Pid}}' benchwatchv2-web-1)
    measure_sync "$v2_pid" "$BENCH/v2" >"$BENCH/v2.sync"
    sleep 1
    result[v2.batches]=$(grep -c 'Syncing service "web"' "$BENCH/v2.log" | awk -v w="$WRITES" '{print $1 - w}')
    result[v2.rebuild]=$(measure_rebuild docker exec benchwatchv2-api-1) || {
        cat "$BENCH/v2.log" >&2
        exit 1
    }
    measure_idle "$(cat "$DOCKERD_PIDFILE")" >"$BENCH/dockerd.idle" &
    result[v2.idle]=$(measure_idle "$watcher")
    wait $!
    dockerd_idle=$(cat "$BENCH/dockerd.idle")
    stop_watcher
fi

row() { # tool -> the table's cells for it
    local sync batch idle
    read -r median p95 max min <<<"$(sed -n 1p "$BENCH/$1.sync")"
    read -r all write <<<"$(sed -n 2p "$BENCH/$1.sync")"
    read -r idle_ms rss <<<"${result[$1.idle]}"
    sync="median $median ms, p95 $p95 ms (min $min, max $max)"
    batch="$all ms (writing took $write ms), ${result[$1.batches]} batch(es)"
    idle="$idle_ms ms CPU, RSS $rss KiB"
    printf '%s\t%s\t%s\t%s\n' "$sync" "${result[$1.rebuild]} ms" "$batch" "$idle"
}
{
    echo "## watch ($(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo 'a tree'), $(date -u +%Y-%m-%d), $(nproc) cores)"
    echo
    tools=(rcompose)
    [ "$with_v2" = 1 ] && tools+=(v2)
    header="| measure | rcompose watch |"
    rule="|---|---:|"
    [ "$with_v2" = 1 ] && header+=" docker compose v2.40.3 watch |" && rule+="---:|"
    echo "$header"
    echo "$rule"
    labels=("sync latency, write → visible in the container ($WRITES writes)"
        "rebuild + recreate until the new image answers (exec polled every 50 ms)"
        "1,000 files written at once → all in the container"
        "idle over ${IDLE_SECONDS} s (the watcher process)")
    for i in 0 1 2 3; do
        line="| ${labels[$i]} |"
        for tool in "${tools[@]}"; do
            line+=" $(row "$tool" | cut -f$((i + 1))) |"
        done
        echo "$line"
    done
    if [ "$with_v2" = 1 ]; then
        read -r d_ms d_rss <<<"$dockerd_idle"
        echo
        echo "docker compose also needs dockerd: over the same idle ${IDLE_SECONDS} s it used $d_ms ms CPU, RSS $d_rss KiB."
    fi
    echo
    echo "rcompose's rebuild line: \`${rebuild_line}\`"
    echo
    echo "rcompose's batches of the 1,000 files:"
    echo
    echo "$batch_lines"
} | tee "$OUT"
