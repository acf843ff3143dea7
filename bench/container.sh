#!/usr/bin/env bash
# Container start-up cost, side by side in one hyperfine run: create + start + wait + remove of a
# container running `true`, for rcompose's runtime (`rcompose-runtime run`, the runtime crate's helper
# binary driving the library API), crun and runc on the same busybox root filesystem, and
# `unshare --mount --pid --net --uts --ipc --fork true` as the kernel's lower bound.
#
# Usage (as root):  bench/container.sh [runs]        (default 30 runs after 5 warm-ups)
# Needs: busybox-static crun runc hyperfine (installed with apt-get if missing), python3 for the table.
# Work files live under $WORK (default /tmp/rcompose-bench-container) and are removed at the end.
# BASELINE=<path of another rcompose-runtime binary> (say, built from an earlier commit with
# CARGO_TARGET_DIR elsewhere) adds it as a contender `baseline`: the cost of a change, before and
# after, in the same runs.
#
# crun 1.8 refuses this machine's hybrid cgroup layout ("cgroups in hybrid mode not supported, drop all
# controllers from cgroupv2": the cgroup2 mount holds hugetlb). Rather than changing the host's cgroup
# mounts, the whole comparison then runs in a private mount namespace in which the cgroup2 mount at
# /sys/fs/cgroup/unified is unmounted, so every contender sees the same legacy (v1) layout. A second,
# rcompose-only run outside that namespace shows the cost on the real hybrid layout.
set -euo pipefail

runs=${1:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/rcompose-bench-container}

if [ "$(id -u)" != 0 ]; then
    echo "bench/container.sh: needs root" >&2
    exit 1
fi
missing=()
for pair in busybox:busybox-static crun:crun runc:runc hyperfine:hyperfine; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y "${missing[@]}" >/dev/null
fi

cargo build --quiet --release -p runtime --bin rcompose-runtime --manifest-path "$here/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
rt="$target_dir/release/rcompose-runtime"

rm -rf "$WORK"
mkdir -p "$WORK/bundle/rootfs/bin" "$WORK/bundle/rootfs/etc" "$WORK/state" "$WORK/results"
trap 'rm -rf "$WORK/state" "$WORK/bundle"' EXIT
rootfs="$WORK/bundle/rootfs"
cp "$(readlink -f "$(command -v busybox)")" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
(cd "$WORK/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' config.json)

# One run of each, so a broken contender fails here and not inside hyperfine.
"$rt" run "$WORK/state" "$rootfs" true
runc run -b "$WORK/bundle" rcompose-bench-runc
namespace=()
if ! crun run -b "$WORK/bundle" rcompose-bench-crun 2>"$WORK/crun.err"; then
    if grep -q "hybrid mode" "$WORK/crun.err" && [ -d /sys/fs/cgroup/unified ]; then
        namespace=(unshare --mount sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh)
        echo "crun rejects the hybrid cgroup layout: comparing in a mount namespace without the cgroup2 mount"
    else
        cat "$WORK/crun.err" >&2
        exit 1
    fi
fi

baseline=()
names="rcompose crun runc unshare"
if [ -n "${BASELINE:-}" ]; then
    "$BASELINE" run "$WORK/state" "$rootfs" true
    baseline=(-n baseline "$BASELINE run $WORK/state $rootfs true")
    names="$names baseline"
fi

"${namespace[@]}" hyperfine -N --warmup 5 --runs "$runs" --export-json "$WORK/results/side-by-side.json" \
    -n rcompose "$rt run $WORK/state $rootfs true" "${baseline[@]}" \
    -n crun "crun run -b $WORK/bundle rcompose-bench-crun" \
    -n runc "runc run -b $WORK/bundle rcompose-bench-runc" \
    -n unshare "unshare --mount --pid --net --uts --ipc --fork true"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$WORK/results/hybrid.json" \
    -n "rcompose (hybrid cgroups)" "$rt run $WORK/state $rootfs true"

# Cross-check robust to a shared, busy machine: the same commands interleaved (one run of each in
# turn), so a burst of load from elsewhere hits every contender alike.
"${namespace[@]}" python3 - "$runs" "$names" "$rt run $WORK/state $rootfs true" \
    "crun run -b $WORK/bundle rcompose-bench-crun" "runc run -b $WORK/bundle rcompose-bench-runc" \
    "unshare --mount --pid --net --uts --ipc --fork true" ${BASELINE:+"$BASELINE run $WORK/state $rootfs true"} \
    >"$WORK/results/interleaved.json" <<'PY'
import json, subprocess, sys, time
runs, names, commands = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
times = {name: [] for name in names}
for _ in range(runs + 3):
    for name, command in zip(names, commands):
        start = time.perf_counter()
        subprocess.run(command.split(), check=True)
        times[name].append(time.perf_counter() - start)
results = []
for name in names:
    samples = sorted(times[name][3:])
    results.append({"command": name + " (interleaved)", "min": samples[0],
                    "median": samples[len(samples) // 2], "max": samples[-1]})
json.dump({"results": results}, sys.stdout)
PY

python3 - "$WORK/results/side-by-side.json" "$WORK/results/hybrid.json" \
    "$WORK/results/interleaved.json" <<'EOF'
import json, sys
rows = []
for path in sys.argv[1:]:
    rows += json.load(open(path))["results"]
print(f"\n{'command':28} {'min':>7} {'median':>7} {'max':>7}  (ms)  median vs crun")
for r in rows:
    crun = next(c for c in rows if c["command"] == ("crun (interleaved)" if "interleaved" in r["command"] else "crun"))
    ms = lambda v: f"{v * 1000:7.1f}"
    print(f"{r['command']:28} {ms(r['min'])} {ms(r['median'])} {ms(r['max'])}        "
          f"{r['median'] / crun['median']:.2f}x")
EOF
echo "raw results: $WORK/results"
