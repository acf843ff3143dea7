#!/usr/bin/env bash
# Builds the backend example's two images offline and imports them into an rcompose state root:
#
#   redis:7-debian      Debian's redis-server and redis-tools packages (apt-get download, dpkg-deb -x)
#                       with the shared libraries they load, a `redis` user owning /data, busybox for a
#                       shell; runs `redis-server /etc/redis/redis.conf` as `redis`.
#   backend-api:latest  api/main.rs compiled by rustc into a static binary (std only, no crates) on a
#                       busybox root filesystem (a shell, and wget for the healthcheck).
#
# Usage: RCOMPOSE=path/to/rcompose build-images.sh --root STATE_ROOT
# Needs root (the tarballs keep file owners), rustc, apt-get, and /bin/busybox (busybox-static).
#
# The root filesystems are packed into tarballs under $BACKEND_CACHE (default: target/backend-images in
# the repository) and rebuilt only when this script or api/main.rs is newer than them, so a second run
# only imports. An image already in the state root is imported again only if its tarball was rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rcompose=${RCOMPOSE:-rcompose}
[ "${1:-}" = --root ] && [ -n "${2:-}" ] || { echo "usage: $0 --root STATE_ROOT" >&2; exit 2; }
root=$2
cache=${BACKEND_CACHE:-$here/../../target/backend-images}
mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/backend-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A busybox-static userland in $1/bin, and /etc/passwd and /etc/group with root, nobody and $2 (uid
# and gid $3) whose home is $4.
busybox_rootfs() {
  local rootfs=$1 user=$2 id=$3 home=$4
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs$home"
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s:%s:%s:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    "$user" "$id" "$id" "$user" "$home" > "$rootfs/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\nnogroup:x:65534:\n' "$user" "$id" > "$rootfs/etc/group"
  chown "$id:$id" "$rootfs$home"
}

# Copies into $1 every shared library that the ELF files $2... load and $1 lacks, at the path where
# the host has it: ldd resolves against the libraries already in $1 first, then the host's /lib.
# Fails naming any library found in neither.
add_libraries() {
  local rootfs=$1; shift
  local libpath="$rootfs/lib/x86_64-linux-gnu:$rootfs/usr/lib/x86_64-linux-gnu"
  local missing
  missing=$(LD_LIBRARY_PATH=$libpath ldd "$@" | awk '/not found/ {print $1}' | sort -u)
  [ -z "$missing" ] || { echo "build-images: libraries not found: $missing" >&2; return 1; }
  LD_LIBRARY_PATH=$libpath ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' |
    sort -u | while read -r lib; do
      case $lib in "$rootfs"/*) continue ;; esac
      [ -e "$rootfs$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
    done
}

build_redis() {
  local rootfs="$work/redis" debs="$work/debs"
  mkdir -p "$debs"
  # A machine that never ran `apt-get update` has no package lists.
  apt-cache show redis-server >/dev/null 2>&1 || apt-get update -q
  # The packages and the libraries they depend on directly (libc6 and the libraries of the host's own
  # apt come from the host below, through ldd).
  local packages="redis-server redis-tools"
  packages+=" $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances redis-tools | awk '$1 == "Depends:" && $2 ~ /^lib/ && $2 != "libc6" {print $2}' | sort -u | xargs)"
  # Stale lists name versions the archive no longer has: update them and try again.
  # shellcheck disable=SC2086 # a list of package names
  (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root $packages) ||
    { apt-get update -q && (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root $packages); }
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
  # What a container does not use: docs, init scripts, systemd units, Debian's daemonizing config.
  rm -rf "$rootfs/usr/share" "$rootfs/etc/init.d" "$rootfs/etc/default" "$rootfs/etc/logrotate.d" \
    "$rootfs/lib/systemd" "$rootfs/etc/redis/redis.conf"
  add_libraries "$rootfs" "$rootfs/usr/bin/redis-server" "$rootfs/usr/bin/redis-cli"
  busybox_rootfs "$rootfs" redis 999 /data
  cat > "$rootfs/etc/redis/redis.conf" <<'EOF'
# Container defaults: listen on the container's network, log to stdout, keep data in /data (a volume).
bind 0.0.0.0
protected-mode no
port 6379
daemonize no
logfile ""
dir /data
EOF
  tar --numeric-owner -C "$rootfs" -cf "$work/redis.tar" .
  mv "$work/redis.tar" "$cache/redis.tar"
}

build_api() {
  local rootfs="$work/api"
  busybox_rootfs "$rootfs" api 1000 /home/api
  mkdir -p "$rootfs/usr/local/bin"
  rustc --edition 2024 -O -C target-feature=+crt-static -C strip=symbols \
    -o "$rootfs/usr/local/bin/backend-api" "$here/api/main.rs"
  tar --numeric-owner -C "$rootfs" -cf "$work/api.tar" .
  mv "$work/api.tar" "$cache/api.tar"
}

# import TARBALL REFERENCE REBUILT CHANGES...: imports unless the image is there and was not rebuilt.
import() {
  local tar=$1 ref=$2 rebuilt=$3; shift 3
  if [ "$rebuilt" = no ] && "$rcompose" --root "$root" image inspect "$ref" >/dev/null 2>&1; then
    echo "build-images: $ref is up to date"
    return
  fi
  local changes=()
  for change in "$@"; do changes+=(--change "$change"); done
  echo "build-images: importing $ref"
  "$rcompose" --root "$root" image import "${changes[@]}" "$tar" "$ref" >/dev/null
}

redis_rebuilt=no api_rebuilt=no
if [ ! -s "$cache/redis.tar" ] || [ "$0" -nt "$cache/redis.tar" ]; then
  echo "build-images: building redis:7-debian from Debian's packages"
  build_redis
  redis_rebuilt=yes
fi
if [ ! -s "$cache/api.tar" ] || [ "$0" -nt "$cache/api.tar" ] || [ "$here/api/main.rs" -nt "$cache/api.tar" ]; then
  echo "build-images: compiling backend-api (rustc, static)"
  build_api
  api_rebuilt=yes
fi
import "$cache/redis.tar" redis:7-debian "$redis_rebuilt" \
  'CMD ["redis-server", "/etc/redis/redis.conf"]' 'USER redis' 'WORKDIR /data'
import "$cache/api.tar" backend-api:latest "$api_rebuilt" \
  'CMD ["/usr/local/bin/backend-api"]' 'USER api' 'ENV LISTEN=0.0.0.0:8080'
