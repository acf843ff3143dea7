#!/usr/bin/env bash
# The published-port proxy's cost: throughput (bytes streamed to a sink) and latency (small
# request/response round trips) to a server in a container, through the port rcompose publishes on
# 127.0.0.1, against the same server reached directly from the host at the container's address on
# its network (the bridge and veth the proxy also crosses; without a network endpoint, from inside
# the container's network namespace with nsenter), and against a host-loopback baseline. Prints
# each figure and the ratios proxy/direct.
#
# Usage (as root):  bench/proxy.sh [MiB] [round trips]     (default 1024 MiB, 20000 round trips)
# Needs: busybox-static, cc with a static libc (libc6-dev), nsenter (util-linux). Builds rcompose in
# release mode unless RCOMPOSE points at a binary. Work files live under $WORK (default
# /tmp/rcompose-bench-proxy) and are removed at the end, with the project.
set -euo pipefail

mib=${1:-1024}
trips=${2:-20000}
here=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/rcompose-bench-proxy}

if [ "$(id -u)" != 0 ]; then
    echo "bench/proxy.sh: needs root" >&2
    exit 1
fi
if [ -z "${RCOMPOSE:-}" ]; then
    cargo build --quiet --release --bin rcompose --manifest-path "$here/Cargo.toml"
    target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    RCOMPOSE="$target_dir/release/rcompose"
fi

rm -rf "$WORK"
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/project"
rc() { "$RCOMPOSE" --root "$WORK/state" -p benchproxy --project-directory "$WORK/project" -f "$WORK/project/compose.yaml" "$@"; }
cleanup() {
    rc down -t 1 >/dev/null 2>&1 || true
    [ -n "${host_server:-}" ] && kill "$host_server" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The tool: `server PORT` accepts connections one per child; a connection's first byte picks the
# mode: 'S' reads to the end and answers with the byte count, 'E' echoes 64-byte messages.
# `sink HOST PORT MIB` and `echo HOST PORT N` are the clients; they print MiB/s and µs per trip.
cat >"$WORK/net.c" <<'EOF'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int full(int fd, char *b, size_t n, int in) {
    size_t d = 0;
    while (d < n) { ssize_t r = in ? read(fd, b + d, n - d) : write(fd, b + d, n - d); if (r <= 0) return -1; d += r; }
    return 0;
}
static int dial(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(1); }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}
int main(int argc, char **argv) {
    static char b[1 << 20];
    if (argc == 3 && !strcmp(argv[1], "server")) {
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[2]));
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) { perror("listen"); return 1; }
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
            int c = accept(s, 0, 0);
            if (c < 0) continue;
            if (fork() == 0) {
                char mode;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                if (full(c, &mode, 1, 1) < 0) _exit(1);
                if (mode == 'S') {
                    unsigned long long total = 0; ssize_t r;
                    while ((r = read(c, b, sizeof b)) > 0) total += r;
                    full(c, (char *)&total, sizeof total, 0);
                } else {
                    while (full(c, b, 64, 1) == 0 && full(c, b, 64, 0) == 0) {}
                }
                _exit(0);
            }
            close(c);
        }
    }
    if (argc == 5 && !strcmp(argv[1], "sink")) {
        int fd = dial(argv[2], atoi(argv[3]));
        unsigned long long want = strtoull(argv[4], 0, 10) << 20, total = 0;
        memset(b, 'x', sizeof b);
        double t = now();
        full(fd, "S", 1, 0);
        for (unsigned long long sent = 0; sent < want; sent += sizeof b) full(fd, b, sizeof b, 0);
        shutdown(fd, SHUT_WR);
        if (full(fd, (char *)&total, sizeof total, 1) < 0 || total != want) { fprintf(stderr, "short: %llu of %llu\n", total, want); return 1; }
        printf("%.1f\n", (want >> 20) / (now() - t));
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "echo")) {
        int fd = dial(argv[2], atoi(argv[3])), n = atoi(argv[4]);
        full(fd, "E", 1, 0);
        for (int i = 0; i < 100; i++) full(fd, b, 64, 0), full(fd, b, 64, 1);
        double t = now();
        for (int i = 0; i < n; i++) if (full(fd, b, 64, 0) < 0 || full(fd, b, 64, 1) < 0) { fprintf(stderr, "echo failed\n"); return 1; }
        printf("%.1f\n", (now() - t) / n * 1e6);
        return 0;
    }
    fprintf(stderr, "usage: server PORT | sink HOST PORT MIB | echo HOST PORT N\n");
    return 2;
}
EOF
cc -O2 -static -o "$WORK/rootfs/bin/net" "$WORK/net.c"
net="$WORK/rootfs/bin/net"

# A busybox image with the tool, and a project publishing the server's port on an ephemeral port.
cp "$(readlink -f "$(command -v busybox)")" "$WORK/rootfs/bin/busybox"
for applet in $("$WORK/rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$WORK/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$WORK/rootfs/etc/passwd"
echo 'root:x:0:' >"$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
"$RCOMPOSE" --root "$WORK/state" image import "$WORK/rootfs.tar" benchnet:latest >/dev/null
cat >"$WORK/project/compose.yaml" <<'EOF'
services:
  server:
    image: benchnet:latest
    command: ["net", "server", "9000"]
    ports: ["127.0.0.1::9000"]
EOF
rc up -d >/dev/null
published=$(rc port server 9000)
port=${published##*:}
id=$(rc ps -q server)
pid=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pid'])" "$WORK/state/containers/$id/state.json")
for _ in $(seq 50); do "$net" echo 127.0.0.1 "$port" 1 >/dev/null 2>&1 && break; sleep 0.1; done

# The host-loopback baseline: the same server on the host.
"$net" server 9100 &
host_server=$!
sleep 0.2

address=$(python3 - "$WORK/state/networks" "$id" <<'EOF'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob(f"*/endpoints/{sys.argv[2]}.json")):
    print(json.loads(path.read_text())["address"])
    break
EOF
)
if [ -n "$address" ]; then
    direct_how="direct to $address (bridge)"
    inside() { "$net" "$1" "$address" "$3" "$4"; }
else
    direct_how="direct (in the container's netns)"
    inside() { nsenter --net="/proc/$pid/ns/net" "$net" "$@"; }
fi
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
runs=3
measure() { # command...: the median of its outputs
    local values
    values=$(for _ in $(seq $runs); do "$@"; done | median)
    printf '%s\n' "$values"
}
echo "published: $published (container pid $pid); $mib MiB per throughput run, $trips round trips per latency run, median of $runs"
through_proxy=$(measure "$net" sink 127.0.0.1 "$port" "$mib")
direct=$(measure inside sink 127.0.0.1 9000 "$mib")
loopback=$(measure "$net" sink 127.0.0.1 9100 "$mib")
lat_proxy=$(measure "$net" echo 127.0.0.1 "$port" "$trips")
lat_direct=$(measure inside echo 127.0.0.1 9000 "$trips")
lat_loopback=$(measure "$net" echo 127.0.0.1 9100 "$trips")
printf '\n%-34s %12s %14s\n' "" "MiB/s" "µs/round trip"
printf '%-34s %12s %14s\n' "through the published port (proxy)" "$through_proxy" "$lat_proxy"
printf '%-34s %12s %14s\n' "$direct_how" "$direct" "$lat_direct"
printf '%-34s %12s %14s\n' "host loopback (no container)" "$loopback" "$lat_loopback"
python3 - "$through_proxy" "$direct" "$lat_proxy" "$lat_direct" <<'EOF'
import sys
proxy, direct, lat_proxy, lat_direct = map(float, sys.argv[1:])
print(f"\nthroughput proxy/direct: {proxy / direct:.2f}x   latency proxy/direct: {lat_proxy / lat_direct:.2f}x"
      f" (+{lat_proxy - lat_direct:.1f} µs per round trip)")
EOF
