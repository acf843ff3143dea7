#!/usr/bin/env bash
# Pulling from a local registry, side by side: `rcompose image pull` (into the store, unpacked, ready
# to run) against `skopeo copy docker://... oci:` alone and followed by `umoci unpack`, with each
# one's peak RSS. The image: 5 gzip layers of 40 files each (half random, half text), ~105 MB
# compressed, ~210 MB unpacked, made offline by python3; served by Debian's docker-registry on
# 127.0.0.1. Needs root (umoci unpack), docker-registry, skopeo, umoci, python3, /usr/bin/time.
# Usage: bench/pull.sh [RUNS]   (default 5). RCOMPOSE_BIN=path measures that binary instead of a
# fresh release build; RCOMPOSE_BEFORE=path also measures that one (e.g. main's before a change),
# interleaved in the same runs, so a before/after figure shares the machine's load. Prints each
# run, then the medians: wall time, CPU time (user+system, less sensitive to a shared machine's
# load than wall time) and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
for tool in docker-registry skopeo umoci python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [ -n "${RCOMPOSE_BIN:-}" ]; then
  rc=$RCOMPOSE_BIN
else
  cargo build --release --quiet
  rc=${CARGO_TARGET_DIR:-$PWD/target}/release/rcompose
fi
work=$(mktemp -d /tmp/rcompose-pull-bench.XXXXXX)
registry_pid=
cleanup() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

python3 - "$work/big.tar" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile
layers, diff_ids = [], []
for n in range(5):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in range(40):
            data = os.urandom(512 * 1024) + (b"line of text %d\n" % f) * (512 * 1024 // 16)
            info = tarfile.TarInfo(f"layer{n}/file{f}.bin"); info.size = len(data); info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    layers.append(gzip.compress(raw, compresslevel=1))
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w") as tar:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))
    add("config.json", config)
    names = [f"l{i}.tar.gz" for i in range(len(layers))]
    for name, layer in zip(names, layers):
        add(name, layer)
    add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["big:1"], "Layers": names}]).encode())
open(sys.argv[1], "wb").write(out.getvalue())
EOF

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
image=127.0.0.1:$port/bench/big:1
"$rc" --root "$work/source" image load -q -i "$work/big.tar"
"$rc" --root "$work/source" image tag big:1 "$image"
"$rc" --root "$work/source" image push -q "$image"
echo "image: $(du -sh "$work/registry" | cut -f1) in the registry"

# measure LABEL COMMAND...: one run, appended to $work/figures as "LABEL<TAB>wall<TAB>cpu<TAB>rss".
measure() {
  local label=$1
  shift
  /usr/bin/time -o "$work/time" -f "%e %U %S %M" "$@" >/dev/null
  awk -v label="$label" -v figures="$work/figures" '{
    printf "  %-44s %5.2f s wall, %5.2f s CPU, peak RSS %6d KiB\n", label, $1, $2 + $3, $4
    printf "%s\t%s\t%s\t%s\n", label, $1, $2 + $3, $4 >> figures
  }' "$work/time"
}
# Each run writes into new directories, removed only at the end: on ext4, creating files right
# after many were deleted costs far more (the inode allocator skips recently deleted inodes one by
# one), which would charge the unpacking tools for the benchmark's own clean-up.
for run in $(seq "$runs"); do
  echo "== run $run"
  measure "rcompose image pull (unpacked, ready to run)" "$rc" --root "$work/dst-$run" image pull -q "$image"
  if [ -n "${RCOMPOSE_BEFORE:-}" ]; then
    measure "before: rcompose image pull" "$RCOMPOSE_BEFORE" --root "$work/before-$run" image pull -q "$image"
  fi
  measure "skopeo copy docker:// oci: (not unpacked)" skopeo copy -q --src-tls-verify=false "docker://$image" "oci:$work/oci-$run:big"
  measure "umoci unpack (after skopeo)" umoci unpack --image "$work/oci-$run:big" "$work/bundle-$run"
done
echo "== medians of $runs runs"
python3 - "$work/figures" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, wall, cpu, rss = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append((float(wall), float(cpu), int(rss)))
for label, runs in rows.items():
    wall, cpu, rss = (statistics.median(column) for column in zip(*runs))
    print(f"  {label:<44} {wall:5.2f} s wall, {cpu:5.2f} s CPU, peak RSS {rss / 1024:5.1f} MiB")
EOF
