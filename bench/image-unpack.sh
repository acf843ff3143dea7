#!/usr/bin/env bash
# Image unpack throughput, side by side in one hyperfine run on the same docker-archive:
#   rcompose image load  vs  skopeo copy docker-archive: oci:  vs  umoci unpack  (vs skopeo+umoci)
# and the store's disk use for two images sharing a base.
#
# The root filesystem is built offline (no debootstrap): a copy of this machine's /usr/sbin,
# /usr/lib/python3.11 and /usr/libexec (big binaries and many small files, about 200 MB) plus busybox.
# Needs root (umoci unpack and rcompose keep owners and device nodes), hyperfine, skopeo, umoci,
# busybox-static. Usage: bench/image-unpack.sh [WORKDIR]   (default: a fresh directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."

work=${1:-$(mktemp -d /tmp/rcompose-image-bench.XXXXXX)}
mkdir -p "$work"
for tool in hyperfine skopeo umoci; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y $tool)" >&2; exit 1; }
done

cargo build --release --quiet
rc=${CARGO_TARGET_DIR:-$PWD/target}/release/rcompose

echo "== root filesystem"
rootfs=$work/rootfs
if [ ! -d "$rootfs" ]; then
  mkdir -p "$rootfs/usr/lib" "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
  cp -a /usr/sbin /usr/libexec "$rootfs/usr/"
  cp -a /usr/lib/python3.11 "$rootfs/usr/lib/"
  cp /bin/busybox "$rootfs/bin/busybox"
  "$rootfs/bin/busybox" --install -s "$rootfs/bin" 2>/dev/null || true
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
fi
echo "rootfs: $(du -sh "$rootfs" | cut -f1), $(find "$rootfs" | wc -l) entries"

echo "== docker-archive (made by skopeo from a umoci layout)"
archive=$work/base.tar
if [ ! -f "$archive" ]; then
  rm -rf "$work/layout"
  umoci init --layout "$work/layout"
  umoci new --image "$work/layout:base"
  umoci insert --image "$work/layout:base" "$rootfs" /
  skopeo copy --quiet "oci:$work/layout:base" "docker-archive:$archive:bench/base:latest"
fi
ls -l "$archive"
umoci_src=$work/oci-for-umoci
rm -rf "$umoci_src"
skopeo copy --quiet "docker-archive:$archive" "oci:$umoci_src:base"

# Each prepare step ends with `sync`, so that no run pays for the writeback of the previous run's
# files (without it the tool that writes most is charged for its own earlier runs). The second table
# times the same commands followed by `sync`: what it costs until the data is on disk.
echo "== unpack throughput (hyperfine)"
load="RCOMPOSE_ROOT=$work/store $rc image load -q -i $archive"
copy="skopeo copy --quiet docker-archive:$archive oci:$work/oci-copy:base"
unpack="umoci unpack --image $umoci_src:base $work/bundle"
both="skopeo copy --quiet docker-archive:$archive oci:$work/oci-copy2:base && umoci unpack --image $work/oci-copy2:base $work/bundle2"
clean="rm -rf $work/store $work/oci-copy $work/bundle $work/oci-copy2 $work/bundle2; sync"
for suffix in "" " && sync"; do
  out=$work/unpack${suffix:+-sync}.md
  hyperfine --warmup 1 --runs 5 --export-markdown "$out" --prepare "$clean" \
    --command-name "rcompose image load$suffix" "$load$suffix" \
    --command-name "skopeo copy docker-archive: oci:$suffix" "$copy$suffix" \
    --command-name "umoci unpack$suffix" "$unpack$suffix" \
    --command-name "skopeo copy + umoci unpack$suffix" "$both$suffix"
done

echo "== disk use: two images sharing the base"
app=$work/app
rm -rf "$app" && mkdir -p "$app/srv"
head -c 5000000 /dev/urandom > "$app/srv/data"
umoci insert --image "$work/layout:base" --tag app "$app" /
rm -f "$work/app.tar"
skopeo copy --quiet "oci:$work/layout:app" "docker-archive:$work/app.tar:bench/app:latest"
store=$work/store-two
rm -rf "$store"
RCOMPOSE_ROOT=$store $rc image load -i "$archive"
RCOMPOSE_ROOT=$store $rc image load -i "$work/app.tar"
RCOMPOSE_ROOT=$store $rc image ls
{
  echo "| what | size |"
  echo "| --- | --- |"
  echo "| base.tar (docker-archive) | $(du -sh "$archive" | cut -f1) |"
  echo "| app.tar (docker-archive, base + 5 MB layer) | $(du -sh "$work/app.tar" | cut -f1) |"
  echo "| store total, both images | $(du -sh "$store/image" | cut -f1) |"
  echo "| store blobs/ (tarballs as received, for save) | $(du -sh "$store/image/blobs" | cut -f1) |"
  echo "| store l/ (unpacked layers, shared) | $(du -sh "$store/image/l" | cut -f1) |"
  echo "| unpacked layer directories | $(ls "$store/image/l" | wc -l) |"
} | tee "$work/disk.md"
cat "$work/unpack.md" "$work/unpack-sync.md"
echo "results in $work/unpack.md, $work/unpack-sync.md and $work/disk.md"
