#!/usr/bin/env bash
# The demo: builds a busybox image offline (Debian's busybox-static), then runs examples/jobs with
# rcompose: `up` in dependency order with health gating, logs, `ps`, and `down -v`.
# Needs root (containers use namespaces, mounts and cgroups). State goes to a temporary --root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
if [ ! -x /bin/busybox ]; then apt-get install -y -q busybox-static >/dev/null; fi
cargo build --release --quiet
rcompose="$PWD/target/release/rcompose"
state=$(mktemp -d /tmp/rcompose-demo.XXXXXX)
rootfs="$state/rootfs"
trap '"$rcompose" --root "$state" -f examples/jobs/compose.yaml down -v -t 1 >/dev/null 2>&1 || true; rm -rf "$state"' EXIT

mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
tar -C "$rootfs" -cf "$state/busybox.tar" .

run() { echo "+ rcompose $*"; "$rcompose" --root "$state" -f examples/jobs/compose.yaml "$@"; }
echo "+ rcompose image import busybox.tar busybox:latest"
"$rcompose" --root "$state" image import --change 'CMD ["sh"]' "$state/busybox.tar" busybox:latest
run up --dry-run
run up
run ps -a
run logs report
run down -v
