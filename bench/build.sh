#!/usr/bin/env bash
# Image builds, side by side in one run on the same machine, the same Dockerfiles and the same
# contexts: rcompose's builder (`rcompose build`, release build) against `buildah bud --layers`
# (Debian's buildah, overlay storage under its own temporary root, runc).
#
# Workloads (temporary copies; the repository is never touched):
#   api    examples/backend/api: the multi-stage Rust build (rustc 1.63 on rust-toolchain:1.63-debian,
#          656 MB, then busybox-base:latest). The base images are made by
#          examples/backend/build-images.sh into the rcompose state root, exported with `rcompose image
#          save` and copied into buildah's storage with skopeo, so both tools start from the same
#          images (same ids). The one-file change rewrites main.rs's `VERSION`.
#   app    a generated context of $FILES small source files (default 2000) in nested directories:
#          `FROM busybox-base`, `RUN mkdir`, `WORKDIR /app`, `COPY . .`, a `RUN` that lists them:
#          what hashing a context costs. The one-file change rewrites one file deep in the tree.
# Operations per workload and tool, timed from the command's start to its exit (wall clock):
#   cold        the build with an empty build cache (untimed before it: rcompose `image rm` + `builder
#               prune -a -f`; buildah `rm --all`, `rmi` + `rmi --prune`), the base images present
#   no change   the same build again
#   1 file chg  the build after one source file got new content (new content every run, so that no
#               run can hit a layer an earlier run cached)
# The tools alternate run by run (rcompose, buildah, rcompose, ...), so that load from elsewhere on a
# shared machine hits both alike. "re-run" counts the RUN/COPY/ADD steps that did not come from the
# cache, out of all of them: rcompose's step lines without CACHED, buildah's steps without
# `--> Using cache`. (rcompose applies WORKDIR and the config-only instructions, ENV, USER, CMD...,
# to the image config on every build, with no cache lookup and no layer, and lists WORKDIR with its
# time, never CACHED; buildah commits an image for each, from its cache or not: they are left out of
# the count for both.) The table gives min / median / max in ms and the ratio buildah median /
# rcompose median (above 1 = rcompose is faster), then the issue #11 targets: a no-change rebuild
# under 200 ms and at least 5x faster than buildah's; a one-file change re-runs only the steps after
# the COPY of that file.
#
# Every build runs without a network: buildah `--network none`, rcompose `build.network: none`.
#
# Usage (as root):  bench/build.sh [--rcompose-only]
#   --rcompose-only     skip buildah (quick iterations on rcompose)
# Env: RUNS (5: no-change and one-file runs per tool), COLD_RUNS (3), FILES (2000),
#      WORK (default /tmp/rcompose-bench-build; removed at the end but for $WORK/results).
# Needs: buildah, skopeo, runc, busybox-static (installed with apt-get if missing), python3.
# crun 1.8, buildah's default runtime on Debian 12, refuses a hybrid cgroup layout; runc does not.
set -euo pipefail

rcompose_only=0
for arg in "$@"; do
    case $arg in
        --rcompose-only) rcompose_only=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bench/build.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "bench/build.sh: needs root" >&2
    exit 1
fi

here=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/rcompose-bench-build}
RUNS=${RUNS:-5}
COLD_RUNS=${COLD_RUNS:-3}
FILES=${FILES:-2000}
OUT="$WORK/results"

missing=()
for pair in skopeo:skopeo runc:runc /bin/busybox:busybox-static; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ "$rcompose_only" = 1 ] || command -v buildah >/dev/null || missing+=(buildah)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y "${missing[@]}" >/dev/null
fi

# rcompose and its helper, copied so that someone else's build during the run changes nothing here.
cargo build --quiet --release --bins --manifest-path "$here/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

state="$WORK/state"
broot="$WORK/buildah/root"
brunroot="$WORK/buildah/runroot"
driver=overlay
rc=("$WORK/bin/rcompose" --root "$state")
bh=(buildah --root "$broot" --runroot "$brunroot" --storage-driver "$driver")

# Everything this script made goes, whatever happens: rcompose's containers (a build leaves none:
# checked), buildah's containers and images, then any mount left under $WORK, then the files.
cleanup() {
    local status=$?
    set +e
    # (A container is a directory named by its id; .names.lock is the store's lock file.)
    if [ -d "$state/containers" ] && [ -n "$(ls "$state/containers")" ]; then
        echo "bench/build.sh: rcompose left containers: $(ls "$state/containers" | tr '\n' ' ')" >&2
        status=1
    fi
    if [ -d "$broot" ]; then
        "${bh[@]}" rm --all >/dev/null 2>&1
        "${bh[@]}" rmi --all --force >/dev/null 2>&1
    fi
    findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r target; do
        echo "bench/build.sh: unmounting a leftover $target" >&2
        umount -l "$target"
    done
    rm -rf "$state" "$WORK/buildah" "$WORK/ctx" "$WORK/bin" "$WORK/images"
    if findmnt -rn -o TARGET | grep -qF "$WORK/"; then
        echo "bench/build.sh: mounts left under $WORK" >&2
        status=1
    fi
    exit "$status"
}
trap cleanup EXIT

rm -rf "$state" "$WORK/buildah" "$WORK/ctx" "$WORK/bin" "$WORK/images" "$OUT"
mkdir -p "$WORK/bin" "$WORK/ctx" "$WORK/images" "$OUT/raw"
for binary in rcompose rcompose-helper; do
    [ ! -x "$target_dir/release/$binary" ] || cp "$target_dir/release/$binary" "$WORK/bin/$binary"
done

# The base images: made (or imported from target/backend-images) by the example's own script.
RCOMPOSE="$WORK/bin/rcompose" bash "$here/examples/backend/build-images.sh" --root "$state" |
    sed 's/^/  /'
if [ "$rcompose_only" = 0 ]; then
    for ref in busybox-base:latest rust-toolchain:1.63-debian; do
        archive="$WORK/images/${ref%%:*}.tar"
        "${rc[@]}" image save -o "$archive" "$ref"
        skopeo --insecure-policy copy --quiet "docker-archive:$archive" \
            "containers-storage:[$driver@$broot+$brunroot]localhost/$ref"
        rm -f "$archive"
    done
    echo "buildah's storage ($driver, $broot):"
    "${bh[@]}" images | sed 's/^/  /'
fi

# The contexts, and the compose files that give rcompose the same builds with no network.
cp -r "$here/examples/backend/api" "$WORK/ctx/api"
mkdir -p "$WORK/ctx/app"
python3 - "$WORK/ctx/app" "$FILES" <<'EOF'
import pathlib, random, sys
root, count = pathlib.Path(sys.argv[1]), int(sys.argv[2])
rng = random.Random(11)
words = "let mut fn struct impl match return self value error result option some none".split()
for n in range(count):
    # 20 packages of 10 modules: src/pkg07/mod3/file0042.rs
    path = root / "src" / f"pkg{n % 20:02d}" / f"mod{n // 20 % 10}" / f"file{n:04d}.rs"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(rng.randint(10, 60))]
    path.write_text(f"// file {n}\n" + "\n".join(lines) + "\n")
EOF
cat >"$WORK/ctx/app/Dockerfile" <<'EOF'
FROM busybox-base:latest
RUN mkdir -p /var/lib/app
WORKDIR /app
COPY . .
RUN find . -type f | sort > /var/lib/app/files.txt && wc -l < /var/lib/app/files.txt
CMD ["sh"]
EOF
for workload in api app; do
    cat >"$WORK/ctx/$workload.yaml" <<EOF
name: benchbuild$workload
services:
  $workload:
    build:
      context: ./$workload
      network: none
    image: bench-$workload:latest
EOF
done
echo "contexts: api ($(find "$WORK/ctx/api" -type f | wc -l) files), app ($(find "$WORK/ctx/app" -type f | wc -l) files, $(du -sh "$WORK/ctx/app" | cut -f1))"

{
    echo "date: $(date -u +%FT%TZ)  kernel: $(uname -r)  cpus: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rcompose: $(git -C "$here" rev-parse --short HEAD)$(git -C "$here" diff --quiet HEAD -- src runtime || echo ' (with uncommitted changes)')"
    if [ "$rcompose_only" = 0 ]; then
        echo "buildah: $(dpkg-query -W -f='${Version}' buildah) ($driver storage, runtime $(runc --version | head -1))"
    fi
} >"$OUT/versions.txt"

# The runs, the checks and the table.
RC="${rc[*]}" BH="${bh[*]} bud --layers --network none --pull=never --runtime $(command -v runc)" \
    CTX="$WORK/ctx" RUNS="$RUNS" COLD_RUNS="$COLD_RUNS" ONLY_RC="$rcompose_only" \
    python3 - "$OUT" <<'EOF'
import os, pathlib, re, shlex, statistics, subprocess, sys, time

out = pathlib.Path(sys.argv[1])
ctx = pathlib.Path(os.environ["CTX"])
rc, bh = shlex.split(os.environ["RC"]), shlex.split(os.environ["BH"])
bh_store = bh[: bh.index("bud")]
runs, cold_runs = int(os.environ["RUNS"]), int(os.environ["COLD_RUNS"])
tools = ["rcompose"] + ([] if os.environ["ONLY_RC"] == "1" else ["buildah"])
FS = ("RUN", "COPY", "ADD")

def build_cmd(tool, w):
    if tool == "rcompose":
        return rc + ["--progress", "plain", "-f", str(ctx / f"{w}.yaml"), "build"]
    return bh + ["-t", f"localhost/bench-{w}:latest", "-f", str(ctx / w / "Dockerfile"), str(ctx / w)]

def quiet(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def empty_cache(tool, w):
    if tool == "rcompose":
        subprocess.run(rc + ["image", "rm", f"bench-{w}:latest"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        quiet(rc + ["builder", "prune", "-a", "-f"])
    else:
        quiet(bh_store + ["rm", "--all"])
        subprocess.run(bh_store + ["rmi", "-f", f"localhost/bench-{w}:latest"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        quiet(bh_store + ["rmi", "--prune"])

def steps(tool, text):
    """[(instruction text, from cache)] of the RUN/COPY/ADD steps a build printed."""
    found = []
    if tool == "rcompose":
        for line in text.splitlines():
            # [api build 4/5] COPY main.rs ./ 0.0s   (FROM lines have no outcome)
            m = re.match(r"^\[[^\]]* \d+/\d+\] (.*) (CACHED|[\d.]+s)$", line)
            if m and m.group(1).split()[0] in FS:
                found.append([m.group(1), m.group(2) == "CACHED"])
    else:
        current = None
        for line in text.splitlines():
            m = re.match(r"^(?:\[\d+/\d+\] )?STEP \d+/\d+: (.*)$", line)
            if m:
                current = [m.group(1), False] if m.group(1).split()[0] in FS else None
                if current:
                    found.append(current)
            elif line.startswith("--> Using cache") and current:
                current[1] = True
    return found

results = {}  # (workload, operation, tool) -> [(ms, re-run steps, all steps)]
def timed(tool, w, op, n):
    log = out / "raw" / f"{w}-{op.replace(' ', '')}-{tool}-{n}.log"
    with open(log, "w") as f:
        start = time.perf_counter()
        done = subprocess.run(build_cmd(tool, w), stdout=f, stderr=subprocess.STDOUT)
        ms = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        sys.exit(f"bench/build.sh: {tool} build of {w} failed ({op}); see {log}:\n" + log.read_text()[-2000:])
    all_steps = steps(tool, log.read_text())
    rerun = [s for s, cached in all_steps if not cached]
    results.setdefault((w, op, tool), []).append((ms, rerun, all_steps))
    print(f"  {w:4} {op:10} {tool:8} run {n}: {ms:8.1f} ms, re-ran {len(rerun)}/{len(all_steps)}", flush=True)

def edit(w, n):
    """Gives one file of workload w new content (unique per n)."""
    if w == "api":
        path = ctx / "api" / "main.rs"
        text, count = re.subn(r'const VERSION: &str = "[^"]*";', f'const VERSION: &str = "bench-{n}";', path.read_text())
        assert count == 1, "main.rs has no VERSION line"
        path.write_text(text)
        return path
    path = sorted((ctx / "app" / "src").rglob("*.rs"))[len(list((ctx / "app" / "src").rglob("*.rs"))) // 2]
    path.write_text(path.read_text().split("\n// change")[0] + f"\n// change {n}\n")
    return path

changed = {}
edits = 0
for w in ["api", "app"]:
    print(f"== {w}", flush=True)
    for n in range(1, cold_runs + 1):
        for tool in tools:
            empty_cache(tool, w)
            timed(tool, w, "cold", n)
    for n in range(1, runs + 1):
        for tool in tools:
            timed(tool, w, "no change", n)
    for n in range(1, runs + 1):
        edits += 1
        changed[w] = edit(w, edits).relative_to(ctx / w)
        for tool in tools:
            timed(tool, w, "1 file chg", n)

# What a one-file change must re-run: the COPY that sends the file, the steps after it in its stage,
# and in a later stage the COPY --from of what that stage made and what follows it.
expected = {
    "api": ["COPY main.rs", "RUN rustc --edition", "COPY --from=build"],
    "app": ["COPY . .", "RUN find"],
}
def names(rerun):
    return [s if len(s) < 40 else s[:37] + "..." for s in rerun]

labels = [("cold", "cold (empty cache)"), ("no change", "no-change rebuild"), ("1 file chg", "1 file changed")]
lines = ["ms: min / median / max (runs); re-run: RUN/COPY/ADD steps not from the cache / all of them;",
         "ratio: buildah's median / rcompose's median (above 1 = rcompose is faster)", ""]
head = "| workload: operation | rcompose | re-run |" + (" buildah | re-run | ratio |" if len(tools) > 1 else "")
lines += [head, "|---|---:|---:|" + ("---:|---:|---:|" if len(tools) > 1 else "")]
medians, reruns = {}, {}
for w in ["api", "app"]:
    for op, label in labels:
        row = f"| {w}: {label} |"
        for tool in tools:
            rs = results[(w, op, tool)]
            ms = [r[0] for r in rs]
            med = statistics.median(ms)
            medians[(w, op, tool)] = med
            p = 1 if med < 100 else 0
            counts = sorted({f"{len(r[1])}/{len(r[2])}" for r in rs})
            reruns[(w, op, tool)] = rs
            row += f" {min(ms):.{p}f} / {med:.{p}f} / {max(ms):.{p}f} ({len(ms)}) | {', '.join(counts)} |"
        if len(tools) > 1:
            row += f" {medians[(w, op, 'buildah')] / medians[(w, op, 'rcompose')]:.1f}x |"
        lines.append(row)

def verdict(ok):
    return "met" if ok else "NOT MET"
lines += ["", "Targets (issue #11):"]
for w in ["api", "app"]:
    noop = medians[(w, "no change", "rcompose")]
    lines.append(f"- {w}: no-change rebuild under 200 ms: {noop:.1f} ms, {verdict(noop < 200)}")
    if len(tools) > 1:
        ratio = medians[(w, "no change", "buildah")] / noop
        lines.append(f"- {w}: no-change rebuild at least 5x faster than buildah's: {ratio:.1f}x, {verdict(ratio >= 5)}")
    for tool in tools:
        cold_ok = all(len(r[1]) == len(r[2]) for r in reruns[(w, "cold", tool)])
        noop_ok = all(not r[1] for r in reruns[(w, "no change", tool)])
        chg = [r[1] for r in reruns[(w, "1 file chg", tool)]]
        chg_ok = all(len(r) == len(expected[w]) and all(s.startswith(e) for s, e in zip(r, expected[w])) for r in chg)
        lines.append(f"- {w}: {tool}: one-file change ({changed[w]}) re-ran {names(chg[0])}"
                     f" (expected {expected[w]}): {verdict(chg_ok)}"
                     + ("" if cold_ok else "; a cold build used the cache!")
                     + ("" if noop_ok else "; a no-change rebuild re-ran steps!"))
text = "\n".join(lines)
print()
print(text)
(out / "summary.md").write_text(text + "\n")
EOF
cat "$OUT/versions.txt"
echo "raw logs: $OUT/raw; table: $OUT/summary.md"
