#!/usr/bin/env bash
# Makes the backend example's base images offline and imports them into an rcompose state root:
#
#   redis:7                     Debian's redis-server and redis-tools packages (apt-get download,
#                               dpkg-deb -x) with the shared libraries they load, a `redis` user owning
#                               /data, busybox for a shell; runs `redis-server /etc/redis/redis.conf` as
#                               `redis`. Named as Docker Hub's image is (docker.io/library/redis:7), so
#                               compose.yaml says what a team's would; ../demo.sh serves it from a
#                               local registry as docker.io's mirror.
#   rust-toolchain:1.63-debian  Debian 12's rustc 1.63 and what it needs to link a static binary (gcc,
#                               binutils, libc6-dev) with every package they depend on, the same way,
#                               and busybox for /bin/sh: api/Dockerfile's build stage.
#   busybox-base:latest         busybox alone (a shell, wget): api/Dockerfile's final stage.
#
# The API itself is not made here: `rcompose build` (or `up`, which builds what is missing) compiles
# api/main.rs with api/Dockerfile on these bases, with no network.
#
# Usage: RCOMPOSE=path/to/rcompose build-images.sh --root STATE_ROOT
# Needs root (the tarballs keep file owners), apt-get, and /bin/busybox (busybox-static).
#
# The root filesystems are packed into tarballs under $BACKEND_CACHE (default: target/backend-images in
# the repository; the toolchain's is ~600 MiB) and rebuilt only when this script is newer than them, so a
# second run only imports. An image already in the state root is imported again only if its tarball was
# rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rcompose=${RCOMPOSE:-rcompose}
[ "${1:-}" = --root ] && [ -n "${2:-}" ] || { echo "usage: $0 --root STATE_ROOT" >&2; exit 2; }
root=$2
cache=${BACKEND_CACHE:-$here/../../target/backend-images}
mkdir -p "$cache"
# Earlier versions of this script compiled the API into api.tar.
rm -f "$cache/api.tar"
work=$(mktemp -d "${TMPDIR:-/tmp}/backend-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A busybox-static userland in $1/bin, and /etc/passwd and /etc/group with root, nobody and, when given,
# $2 (uid and gid $3) whose home is $4.
busybox_rootfs() {
  local rootfs=$1 user=${2:-} id=${3:-} home=${4:-}
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  {
    echo 'root:x:0:0:root:/root:/bin/sh'
    [ -z "$user" ] || echo "$user:x:$id:$id:$user:$home:/bin/false"
    echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false'
  } > "$rootfs/etc/passwd"
  {
    echo 'root:x:0:'
    [ -z "$user" ] || echo "$user:x:$id:"
    echo 'nogroup:x:65534:'
  } > "$rootfs/etc/group"
  if [ -n "$user" ]; then
    mkdir -p "$rootfs$home"
    chown "$id:$id" "$rootfs$home"
  fi
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

# download DIR PACKAGE...: the packages' .deb files into DIR.
download() {
  local debs=$1; shift
  mkdir -p "$debs"
  # Stale lists name versions the archive no longer has: update them and try again.
  (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$@") ||
    { apt-get update -q && (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$@"); }
}

build_redis() {
  local rootfs="$work/redis"
  # A machine that never ran `apt-get update` has no package lists.
  apt-cache show redis-server >/dev/null 2>&1 || apt-get update -q
  # The packages and the libraries they depend on directly (libc6 and the libraries of the host's own
  # apt come from the host below, through ldd).
  local packages="redis-server redis-tools"
  packages+=" $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances redis-tools | awk '$1 == "Depends:" && $2 ~ /^lib/ && $2 != "libc6" {print $2}' | sort -u | xargs)"
  # shellcheck disable=SC2086 # a list of package names
  download "$work/redis-debs" $packages
  for deb in "$work/redis-debs"/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
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

build_toolchain() {
  local rootfs="$work/toolchain"
  apt-cache show rustc >/dev/null 2>&1 || apt-get update -q
  # rustc, the C toolchain it links with (rustc's default linker is `cc`), the static C library, and
  # everything they depend on, libc6 included: the toolchain runs on its own libraries, not the host's.
  local packages
  packages=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances rustc gcc binutils libc6-dev | awk '/^[a-z0-9]/ {print $1}' | sort -u | xargs)
  # shellcheck disable=SC2086 # a list of package names
  download "$work/toolchain-debs" $packages
  for deb in "$work/toolchain-debs"/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
  rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/man" "$rootfs/usr/share/locale" \
    "$rootfs/usr/share/lintian"
  # What the packages' maintainer scripts would have made: gcc's postinst registers /usr/bin/cc.
  ln -sf gcc "$rootfs/usr/bin/cc"
  busybox_rootfs "$rootfs"
  tar --numeric-owner -C "$rootfs" -cf "$work/rust-toolchain.tar" .
  mv "$work/rust-toolchain.tar" "$cache/rust-toolchain.tar"
}

build_busybox() {
  local rootfs="$work/busybox"
  busybox_rootfs "$rootfs"
  tar --numeric-owner -C "$rootfs" -cf "$work/busybox.tar" .
  mv "$work/busybox.tar" "$cache/busybox.tar"
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

# stale TARBALL: whether TARBALL is missing or older than this script.
stale() { [ ! -s "$1" ] || [ "$0" -nt "$1" ]; }

redis_rebuilt=no toolchain_rebuilt=no busybox_rebuilt=no
if stale "$cache/redis.tar"; then
  echo "build-images: building redis:7 from Debian's packages"
  build_redis
  redis_rebuilt=yes
fi
if stale "$cache/rust-toolchain.tar"; then
  echo "build-images: building rust-toolchain:1.63-debian from Debian's packages"
  build_toolchain
  toolchain_rebuilt=yes
fi
if stale "$cache/busybox.tar"; then
  echo "build-images: building busybox-base:latest"
  build_busybox
  busybox_rebuilt=yes
fi
path='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
import "$cache/redis.tar" redis:7 "$redis_rebuilt" \
  'CMD ["redis-server", "/etc/redis/redis.conf"]' 'USER redis' 'WORKDIR /data'
import "$cache/rust-toolchain.tar" rust-toolchain:1.63-debian "$toolchain_rebuilt" 'CMD ["sh"]' "$path"
import "$cache/busybox.tar" busybox-base:latest "$busybox_rebuilt" 'CMD ["sh"]' "$path"
