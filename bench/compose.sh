#!/usr/bin/env bash
# Compose operations, side by side in one run on the same machine and the same compose files:
# rcompose (release build) against docker compose v2.40.3 and docker-compose 1.29 (both on dockerd
# 20.10) and podman-compose 1.0.3 (podman 4.3 + crun), the peers that ../shared/peers installs,
# starts and measures. The ratio that counts is against the fastest peer, docker compose v2.
#
# Projects (the peers' compose files, used as they are: rcompose imports the same busybox root
# filesystem under the same name, localbusybox:latest): `one` (1 service), `ten` (10 independent
# services), `chain` (10 services, s02 depends_on s01 ... s10 on s09); every service runs
# `sh -c "trap 'exit 0' TERM; sleep 3600 & wait"`, is on one `internal: true` network and mounts one
# named volume. Operations, timed by hyperfine:
#   up -d (cold)        from nothing (the prepare step runs `down -v`) until every container runs
#   up -d (no change)   a second `up -d` on the running project
#   up -d (1 env chg)   `up -d` with CHANGE=${CHG} flipped on one service (s01 in one, s05 otherwise)
#   down -v             from the running project to nothing
# The summary gives min / median / max per tool and the ratio: fastest peer's median over
# rcompose's median (above 1 = rcompose is faster).
#
# Usage (as root):  bench/compose.sh [--rcompose-only]
#   --rcompose-only     skip the peers (quick iterations on rcompose; no host state is changed)
# Env: PEER_TOOLS (peers to run, default "dockerv2 docker podman"; e.g. "dockerv2" alone leaves
#      podman, and the firewall changes its netavark makes, out),
#      RUNS_RC (20) RUNS_DOCKER (5, both docker composes) RUNS_PODMAN (3 for `one`) RUNS_PODMAN_SLOW (2 for `ten` and
#      `chain`: podman-compose sleeps 1 s after every `podman run`, so one cold `up` of ten takes
#      12 s and one no-op `up` 21 s), PEERS (default ../shared/peers next to the repo),
#      OUT (results, default /tmp/rcompose-bench-compose/results).
#
# With the peers this runs the peers' setup.sh (idempotent; installs docker.io, docker-compose,
# podman, podman-compose from Debian on first use), starts dockerd on its own socket under
# /tmp/rcompose-anchors, and on exit removes every container, stops dockerd and runs the peers'
# teardown.sh, which restores ip_forward and the nftables ruleset netavark changes and undoes the
# cgroup change crun needs. Traffic stays inside the containers the three tools create.
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
            echo "bench/compose.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "bench/compose.sh: needs root" >&2
    exit 1
fi

here=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$(cd "$here/.." && pwd)/shared/peers}
PEER_TOOLS=${PEER_TOOLS:-dockerv2 docker podman}
RUNS_RC=${RUNS_RC:-20}
RUNS_DOCKER=${RUNS_DOCKER:-5}
RUNS_PODMAN=${RUNS_PODMAN:-3}
RUNS_PODMAN_SLOW=${RUNS_PODMAN_SLOW:-2}
BENCH=/tmp/rcompose-bench-compose
OUT=${OUT:-$BENCH/results}
RAW="$OUT/raw"
C="$PEERS/compose"
for project in one ten chain; do
    [ -f "$C/$project.yml" ] || {
        echo "bench/compose.sh: $C/$project.yml is missing (set PEERS to the peers' directory)" >&2
        exit 1
    }
done
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null

# rcompose and its small monitor/exec helper (rcompose-helper, found next to rcompose).
cargo build --quiet --release --bins --manifest-path "$here/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# Copies, so that a build by someone else during the run does not change the binaries under test.
mkdir -p "$BENCH"
for binary in rcompose rcompose-helper; do
    rm -f "$BENCH/$binary"
    [ ! -x "$target_dir/release/$binary" ] || cp "$target_dir/release/$binary" "$BENCH/$binary"
done
rc="$BENCH/rcompose --root $BENCH/state"

rm -rf "$RAW"
mkdir -p "$RAW"
tools=(rcompose)
if [ "$rcompose_only" = 0 ]; then
    read -r -a peer_tools <<<"$PEER_TOOLS"
    for tool in "${peer_tools[@]}"; do
        case $tool in
            dockerv2 | docker | podman) tools+=("$tool") ;;
            *)
                echo "bench/compose.sh: unknown peer $tool in PEER_TOOLS" >&2
                exit 2
                ;;
        esac
    done
    "$PEERS/setup.sh"
    # shellcheck source=/dev/null
    source "$PEERS/lib.sh"
    set -e
    begin_session # sets its own EXIT trap (end_session); ours below runs it and more
fi

cleanup() {
    local status=$?
    set +e
    for project in one ten chain; do
        $rc -f "$C/$project.yml" -p "rca$project" down -v -t 0 >/dev/null 2>&1
    done
    rm -rf "$BENCH/state"
    if [ "$rcompose_only" = 0 ]; then
        end_session
        "$PEERS/teardown.sh"
    fi
    exit "$status"
}
trap cleanup EXIT

# rcompose gets the peers' image: the same busybox root filesystem under the same name.
rootfs_tar=/tmp/rcompose-anchors/rootfs.tar
if [ "$rcompose_only" = 1 ] && [ ! -f "$rootfs_tar" ]; then
    rootfs_tar="$BENCH/rootfs.tar"
    if [ ! -f "$rootfs_tar" ]; then
        command -v busybox >/dev/null || apt-get install -y busybox-static >/dev/null
        rm -rf "$BENCH/rootfs"
        mkdir -p "$BENCH/rootfs"/{bin,etc,proc,sys,dev,tmp,data,root}
        cp "$(readlink -f "$(command -v busybox)")" "$BENCH/rootfs/bin/busybox"
        for applet in $("$BENCH/rootfs/bin/busybox" --list); do
            [ "$applet" = busybox ] || ln -sf busybox "$BENCH/rootfs/bin/$applet"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\n' >"$BENCH/rootfs/etc/passwd"
        printf 'root:x:0:\n' >"$BENCH/rootfs/etc/group"
        tar --numeric-owner --owner=0 --group=0 -C "$BENCH/rootfs" -cf "$rootfs_tar" .
    fi
fi
rm -rf "$BENCH/state"
$rc image import --change 'CMD ["sh"]' "$rootfs_tar" localbusybox:latest >/dev/null

if [ "$rcompose_only" = 0 ]; then
    start_dockerd
    podman_cleanup
fi

# Command lines per tool; project names rca<project> as the peers' measure.sh uses.
cmd() { # tool project
    case $1 in
        rcompose) echo "$rc -f $C/$2.yml -p rca$2" ;;
        dockerv2) echo "$DC2_BIN -f $C/$2.yml -p rca$2" ;;
        docker) echo "docker-compose -f $C/$2.yml -p rca$2" ;;
        podman) echo "podman-compose -f $C/$2.yml -p rca$2" ;;
    esac
}
# A `down -v` that really returns to nothing: podman-compose 1.0.3 never removes networks.
full_down() { # tool project
    case $1 in
        podman) echo "$(cmd "$@") down -v >/dev/null 2>&1; podman network rm -f rca$2_net >/dev/null 2>&1; true" ;;
        *) echo "$(cmd "$@") down -v >/dev/null 2>&1; true" ;;
    esac
}
runs() { # tool project
    case $1 in
        rcompose) echo "$RUNS_RC" ;;
        docker | dockerv2) echo "$RUNS_DOCKER" ;;
        podman) if [ "$2" = one ]; then echo "$RUNS_PODMAN"; else echo "$RUNS_PODMAN_SLOW"; fi ;;
    esac
}
hf() { # file-stem, hyperfine args...
    local name=$1
    shift
    echo "== $name" >&2
    hyperfine --style basic --export-json "$RAW/$name.json" "$@" 2>&1 |
        tee "$RAW/$name.txt" | grep -E 'Time|Range' || true
    [ -f "$RAW/$name.json" ] || {
        echo "bench/compose.sh: $name failed; see $RAW/$name.txt" >&2
        exit 1
    }
}

# rcompose's results are only worth timing if it did the work: every container running after a
# cold up, nothing recreated by a no-op up, only the changed service recreated by an env change.
ids() { # base command -> "name id" lines, sorted (ps --format json prints one object a line)
    $1 ps -a --format json 2>/dev/null |
        python3 -c 'import json,sys; [print(json.loads(l)["Name"], json.loads(l)["ID"]) for l in sys.stdin if l.strip()]' |
        sort
}
check_rcompose() { # project
    local project=$1 base ids_up ids_noop ids_change running changed
    base=$(cmd rcompose "$project")
    eval "$(full_down rcompose "$project")"
    $base up -d >/dev/null 2>&1
    running=$($base ps -q --status running | wc -l)
    ids_up=$(ids "$base")
    $base up -d >/dev/null 2>&1
    ids_noop=$(ids "$base")
    CHG=1 $base up -d >/dev/null 2>&1
    ids_change=$(ids "$base")
    changed=$(join <(echo "$ids_noop") <(echo "$ids_change") | awk '$2!=$3{print $1}' | tr '\n' ' ')
    echo "rcompose $project: running after up: $running; recreated by no-op up: [$(join <(echo "$ids_up") <(echo "$ids_noop") | awk '$2!=$3{print $1}' | tr '\n' ' ')]; recreated by env change: [$changed]" |
        tee -a "$OUT/checks.txt"
    eval "$(full_down rcompose "$project")"
}
: >"$OUT/checks.txt"
for project in one ten chain; do
    check_rcompose "$project"
done

for tool in "${tools[@]}"; do
    for project in one ten chain; do
        r=$(runs "$tool" "$project")
        base=$(cmd "$tool" "$project")
        up="$base up -d"
        fd=$(full_down "$tool" "$project")
        eval "$fd"
        hf "${tool}_${project}_up" -r "$r" -n "$tool $project up -d (cold)" \
            --prepare "$fd" --cleanup "$fd" "$up"
        hf "${tool}_${project}_noop" -r "$r" -n "$tool $project up -d (no change)" \
            --setup "$up >/dev/null 2>&1" --cleanup "$fd" "$up"
        hf "${tool}_${project}_change" -r "$r" -n "$tool $project up -d (1 env changed)" \
            --setup "$up >/dev/null 2>&1" --prepare "CHG=0 $up >/dev/null 2>&1" --cleanup "$fd" \
            "CHG=1 $up"
        hf "${tool}_${project}_down" -r "$r" -n "$tool $project down -v" \
            --prepare "$up >/dev/null 2>&1" --cleanup "$fd" "$base down -v"
    done
done

{
    echo "date: $(date -u +%FT%TZ)  kernel: $(uname -r)  cpus: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rcompose: $(git -C "$here" rev-parse --short HEAD)$(git -C "$here" diff --quiet HEAD -- src runtime || echo ' (with uncommitted changes)')"
    if [ "$rcompose_only" = 0 ]; then
        echo "docker compose v2: $("$DC2_BIN" version --short) -> $($DOCKER_BIN --version)"
        echo "docker-compose: $(docker-compose version --short) -> $($DOCKER_BIN --version)"
        echo "podman-compose: $(dpkg-query -W -f='${Version}' podman-compose) -> $(podman --version)"
    fi
} >"$OUT/versions.txt"
cat "$OUT/versions.txt"
python3 - "$RAW" <<'EOF' | tee "$OUT/summary.md"
import json, pathlib, statistics, sys

raw = pathlib.Path(sys.argv[1])
projects = ["one", "ten", "chain"]
operations = [("up", "up -d (cold)"), ("noop", "up -d (no change)"),
              ("change", "up -d (1 env changed)"), ("down", "down -v")]
tools = [("rcompose", "rcompose"), ("dockerv2", "docker compose v2"), ("docker", "docker-compose"),
         ("podman", "podman-compose")]

def stats(tool, project, op):
    path = raw / f"{tool}_{project}_{op}.json"
    if not path.exists():
        return None
    times = [t * 1000 for t in json.loads(path.read_text())["results"][0]["times"]]
    return len(times), min(times), statistics.median(times), max(times)

present = [(key, name) for key, name in tools if any(raw.glob(f"{key}_*.json"))]
print("ms: min / median / max (runs); ratio = fastest peer's median / rcompose's median")
print()
print("| project / operation | " + " | ".join(name for _, name in present) +
      (" | ratio |" if len(present) > 1 else " |"))
print("|---|" + "---:|" * len(present) + ("---:|" if len(present) > 1 else ""))
for project in projects:
    for op, label in operations:
        cells, medians = [], {}
        for key, _ in present:
            s = stats(key, project, op)
            if s is None:
                cells.append("-")
                continue
            n, lo, med, hi = s
            medians[key] = med
            precision = 1 if med < 100 else 0
            cells.append(f"{lo:.{precision}f} / {med:.{precision}f} / {hi:.{precision}f} ({n})")
        ratio = ""
        peers = [medians[k] for k in medians if k != "rcompose"]
        if peers and "rcompose" in medians:
            ratio = f" {min(peers) / medians['rcompose']:.1f}x |"
        elif len(present) > 1:
            ratio = " - |"
        print(f"| {project}: {label} | " + " | ".join(cells) + " |" + ratio)
EOF
echo "raw results: $RAW; correctness checks: $OUT/checks.txt"
