#!/bin/sh
# Prepares the tools of the deploy checks in TOOLS_DIR (a build directory), once:
#  - node_modules from deploy/validate/package-lock.json (`npm ci`, pinned versions), redone
#    when the lock file changes;
#  - Debian 12's kubectl (package kubernetes-client, kustomize v2.0.3): the installed one
#    when kubernetes-client is installed, else the package unpacked into TOOLS_DIR (apt-get
#    download + dpkg-deb -x), because another kubectl package may own /usr/bin/kubectl.
# Usage: setup.sh TOOLS_DIR. Prints what it did; exits non-zero when a tool cannot be had.
set -eu
tools=${1:?usage: setup.sh TOOLS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$tools"
tools=$(cd "$tools" && pwd)

# Serialise concurrent runs on one tools dir.
exec 9>"$tools/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

# ---- node modules ----------------------------------------------------------------
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "setup: $tool is not installed (Node.js 20 with npm is expected on the machine)" >&2
        exit 1
    fi
done
node_dir="$tools/node"
stamp="$node_dir/.lock-sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ ! -d "$node_dir/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: npm ci in $node_dir"
    mkdir -p "$node_dir"
    cp "$here/package.json" "$here/package-lock.json" "$node_dir/"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
else
    echo "setup: node modules up to date in $node_dir"
fi

# ---- Debian's kubectl ------------------------------------------------------------
if dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q "install ok installed"; then
    ln -sf "$(dpkg-query -L kubernetes-client | grep '/bin/kubectl$' | head -n1)" "$tools/kubectl-debian"
    echo "setup: Debian kubectl is installed"
elif [ ! -x "$tools/kubernetes-client/usr/bin/kubectl" ]; then
    echo "setup: unpacking Debian's kubernetes-client into $tools/kubernetes-client"
    dl="$tools/download"
    rm -rf "$dl" && mkdir -p "$dl"
    if ! (cd "$dl" && apt-get download kubernetes-client >/dev/null 2>&1); then
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$dl" && apt-get download kubernetes-client)
    fi
    dpkg-deb -x "$dl"/kubernetes-client_*.deb "$tools/kubernetes-client"
    rm -rf "$dl"
    ln -sf "$tools/kubernetes-client/usr/bin/kubectl" "$tools/kubectl-debian"
else
    ln -sf "$tools/kubernetes-client/usr/bin/kubectl" "$tools/kubectl-debian"
    echo "setup: Debian kubectl already unpacked"
fi
"$tools/kubectl-debian" version --client 2>/dev/null | head -n1
