#!/usr/bin/env bash
# The demo, offline, in a temporary state root that it removes at the end:
#
#   bash examples/demo.sh             examples/backend: an HTTP API in front of Redis, on a copy of the
#                                     example in the state root. Makes the base images (build-images.sh:
#                                     Debian's redis, rustc 1.63 and busybox packages), serves `redis:7`
#                                     from a local registry (Debian's docker-registry on 127.0.0.1) as
#                                     docker.io's mirror, which `up` pulls it from, `rcompose build`
#                                     (api/Dockerfile compiles the API in a toolchain stage), `up -d`,
#                                     talks to the API on http://127.0.0.1:8080, shows that Redis's data
#                                     survives `down` and `up` in its volume, edits the API's source and
#                                     runs `up --build -d` (the steps before `COPY main.rs` CACHED, only
#                                     the API recreated, Redis running on with its data), `down -v`.
#   bash examples/demo.sh jobs        examples/jobs: a job pipeline on busybox with completion
#                                     conditions, replicas, a shared volume and attached logs.
#
# Needs root (containers use namespaces, mounts and cgroups). API_PORT picks another host port.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
demo=${1:-backend}
case $demo in backend | jobs) ;; *) echo "usage: $0 [backend|jobs]" >&2; exit 2 ;; esac
if [ ! -x /bin/busybox ]; then apt-get install -y -q busybox-static >/dev/null; fi
if [ "$demo" = backend ] && [ ! -x /usr/bin/docker-registry ]; then
  apt-get install -y -q --no-install-recommends docker-registry >/dev/null
fi
# Nothing the demo does leaves this machine: registries on 127.0.0.1 only, builds without network.
export RCOMPOSE_OFFLINE=1
cargo build --release --quiet
rcompose="$PWD/target/release/rcompose"
state=$(mktemp -d /tmp/rcompose-demo.XXXXXX)
compose="examples/$demo/compose.yaml"
# The backend demo edits the API's source: it works on a copy, never on the repository's files.
if [ "$demo" = backend ]; then
  cp -r examples/backend "$state/backend"
  compose="$state/backend/compose.yaml"
fi
registry_pid=
cleanup() {
  "$rcompose" --root "$state" -f "$compose" down -v -t 1 >/dev/null 2>&1 || true
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { echo "+ rcompose $*"; "$rcompose" --root "$state" -f "$compose" "$@"; }

jobs_demo() {
  local rootfs="$state/rootfs"
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/"
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
  echo 'root:x:0:' > "$rootfs/etc/group"
  tar -C "$rootfs" -cf "$state/busybox.tar" .
  echo "+ rcompose image import busybox.tar busybox:latest"
  "$rcompose" --root "$state" image import --change 'CMD ["sh"]' "$state/busybox.tar" busybox:latest
  run up --dry-run
  run up
  run ps -a
  run logs report
  run down -v
}

port=${API_PORT:-8080}
# http METHOD PATH [BODY]: one request to the API, shown as the curl command it is (busybox wget
# stands in where curl is missing).
http() {
  local url="http://127.0.0.1:$port$2"
  if [ -n "${3:-}" ]; then echo "+ curl -X $1 -d '$3' $url"; else echo "+ curl $url"; fi
  if command -v curl >/dev/null; then
    curl -sS --max-time 5 -X "$1" ${3:+--data "$3"} "$url"
  else
    /bin/busybox wget -q -O- -T 5 ${3:+--post-data "$3"} "$url"
  fi
}

# Waits (up to 30 s) until the API answers /health through the published port.
wait_api() {
  for _ in $(seq 1 120); do
    if curl -sf --max-time 2 "http://127.0.0.1:$port/health" >/dev/null 2>&1 ||
      /bin/busybox wget -q -O /dev/null -T 2 "http://127.0.0.1:$port/health" 2>/dev/null; then
      return 0
    fi
    sleep 0.25
  done
  echo "demo: the API did not answer on 127.0.0.1:$port within 30 s" >&2
  run ps -a
  run logs --tail 20
  return 1
}

# Starts Debian's docker-registry on a free port of 127.0.0.1 with its storage in the state root; sets
# registry_port and registry_pid.
start_registry() {
  registry_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo 45000)
  mkdir -p "$state/registry"
  cat > "$state/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $state/registry/data
http:
  addr: 127.0.0.1:$registry_port
EOF
  /usr/bin/docker-registry serve "$state/registry/config.yml" >"$state/registry/log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 100); do
    if /bin/busybox wget -q -O /dev/null "http://127.0.0.1:$registry_port/v2/" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: the registry did not start:" >&2
  cat "$state/registry/log" >&2
  return 1
}

# container_id SERVICE: the id of the service's container.
container_id() { "$rcompose" --root "$state" -f "$compose" ps -q "$1"; }

backend_demo() {
  step "Base images from Debian's packages: redis, a Rust 1.63 toolchain, busybox (cached in target/backend-images)"
  RCOMPOSE=$rcompose bash examples/backend/build-images.sh --root "$state"
  "$rcompose" --root "$state" image ls

  step "A team's registry: redis:7 served by a registry on 127.0.0.1, as docker.io's mirror"
  start_registry
  local seeded="127.0.0.1:$registry_port/library/redis:7"
  echo "+ rcompose image tag redis:7 $seeded && rcompose image push $seeded"
  "$rcompose" --root "$state" image tag redis:7 "$seeded"
  "$rcompose" --root "$state" image push "$seeded"
  "$rcompose" --root "$state" image rm redis:7 "$seeded" >/dev/null
  export RCOMPOSE_REGISTRY_MIRRORS="http://127.0.0.1:$registry_port"
  echo "RCOMPOSE_REGISTRY_MIRRORS=$RCOMPOSE_REGISTRY_MIRRORS: compose.yaml's \`image: redis:7\` comes from it"

  step "Build the API: api/Dockerfile compiles main.rs with rustc (no network), copies the binary onto busybox"
  cat "$state/backend/api/Dockerfile"
  run build
  "$rcompose" --root "$state" image ls backend-api

  step "Start: pull redis:7 (through the mirror), Redis first, the API once Redis is healthy"
  run up -d
  run ps
  wait_api

  step "Talk to the API on 127.0.0.1:$port"
  http GET /health
  http GET /hits
  http GET /hits
  http GET /hits
  local note
  note="rcompose was here at $(date -u +%H:%M:%S)"
  http POST /notes "$note"
  http GET /notes
  run logs --tail 6 api

  step "down (keeps the volume), then up: Redis reloads its append-only file from the volume"
  run down
  run up -d
  wait_api
  http GET /hits
  http GET /notes

  step "Edit the API's source, up --build: the steps from COPY main.rs on run again, only the API is recreated"
  local main="$state/backend/api/main.rs" redis_before api_before
  sed -i 's/^const VERSION: &str = "1";$/const VERSION: \&str = "2";/' "$main"
  grep -q '^const VERSION: &str = "2";$' "$main" || { echo "demo: no VERSION \"1\" in $main" >&2; return 1; }
  diff -u --label api/main.rs --label api/main.rs examples/backend/api/main.rs "$main" || true
  redis_before=$(container_id redis) api_before=$(container_id api)
  run up --build -d
  wait_api
  run ps
  local health notes
  health=$(http GET /health)
  echo "$health"
  http GET /hits
  notes=$(http GET /notes)
  echo "$notes"
  run exec redis redis-cli lrange notes 0 -1
  [ "$(container_id redis)" = "$redis_before" ] || { echo "demo: Redis was recreated" >&2; return 1; }
  [ "$(container_id api)" != "$api_before" ] || { echo "demo: the API was not recreated" >&2; return 1; }
  [[ $health == *'"version":"2"'* ]] || { echo "demo: the API does not run the edited source" >&2; return 1; }
  [[ $notes == *"$note"* ]] || { echo "demo: Redis lost the note" >&2; return 1; }
  echo "Redis kept its container (${redis_before:0:12}) and its data; the API runs the rebuilt image."

  step "down -v: containers, network and volume removed"
  run down -v
  run ps -a
}

"${demo}_demo"
