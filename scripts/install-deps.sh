#!/bin/sh
# Installs the Debian 12 packages that building, testing and running socialcare need.
# Only missing packages are installed; when everything is present this is a no-op.
set -eu

PKGS="build-essential cmake pkg-config librdkafka-dev libhiredis-dev libjansson-dev
libcurl4-openssl-dev libmicrohttpd-dev libssl-dev libcmocka-dev redis-server
prometheus curl"
# Areas add the packages they need in scripts/deps/<area>.txt (one name per line, # comments).
here=$(dirname "$0")
for f in "$here"/deps/*.txt; do
    [ -f "$f" ] || continue
    PKGS="$PKGS $(sed -e 's/#.*//' "$f" | tr '\n' ' ')"
done

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
