#!/usr/bin/env bash
# Loader benchmark: `rcompose config` against `docker-compose config` (Debian's docker-compose 1.29) on
# the same generated 500-service project with an override file and cross-file `extends`, side by side
# with hyperfine. Not a test: it prints figures to record in the issue note.
#
# usage: bench/config.sh [SERVICES]   (needs: hyperfine, docker-compose, python3; builds rcompose --release)
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-500}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
rcompose=$PWD/target/release/rcompose
python3 bench/gen-project.py "$work/project" "$services"
cd "$work/project"
# Both tools must accept the project before they are timed.
"$rcompose" -p bench config -q
docker-compose -p bench config -q
hyperfine -N --warmup 3 --min-runs 10 --export-markdown "$work/result.md" \
  "$rcompose -p bench config" \
  "docker-compose -p bench config"
cat "$work/result.md"
