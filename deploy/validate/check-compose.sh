#!/bin/sh
# Validates docker-compose.yml alone and with docker-compose.scale.yml using Debian 12's
# docker-compose (1.29; no Docker engine needed for `config`), checks the normalised result
# with check-compose.mjs, and checks the compose Prometheus configuration with promtool.
# Usage: check-compose.sh TOOLS_DIR (prepared by setup.sh).
set -eu
tools=$(cd "${1:?usage: check-compose.sh TOOLS_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export SC_DEPLOY_NODE_DIR="$tools/node"
if ! command -v docker-compose >/dev/null 2>&1; then
    echo "docker-compose is not installed (Debian package docker-compose, scripts/deps/deploy.txt)"
    exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$root"
docker-compose version --short
docker-compose -f docker-compose.yml config >"$out/config.yaml"
docker-compose -f docker-compose.yml -f docker-compose.scale.yml config >"$out/scaled.yaml"
docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' '
echo
node "$here/check-compose.mjs" "$out/config.yaml" "$out/scaled.yaml"
promtool check config deploy/prometheus/prometheus.yml
