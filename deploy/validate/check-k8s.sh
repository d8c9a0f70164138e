#!/bin/sh
# Renders every kustomization under deploy/k8s (base, overlays/production, overlays/staging)
# with Debian 12's kubectl (kustomize v2.0.3, the oldest we support) and, when a different
# kubectl is on PATH, with that one too; then validates each render with validate.mjs
# (upstream schemas incl. KEDA and Prometheus Operator, plus the product's rules) and
# strict.mjs (no field the schemas do not know).
# Usage: check-k8s.sh TOOLS_DIR (prepared by setup.sh). Exits non-zero on any failure.
set -eu
tools=$(cd "${1:?usage: check-k8s.sh TOOLS_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
k8s="$here/../k8s"
export SC_DEPLOY_NODE_DIR="$tools/node"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

kubectls="$tools/kubectl-debian"
other=$(command -v kubectl || true)
if [ -n "$other" ] && [ "$(readlink -f "$other")" != "$(readlink -f "$tools/kubectl-debian")" ]; then
    kubectls="$kubectls $other"
fi

status=0
renders=""
for k in $kubectls; do
    ver=$("$k" version --client 2>/dev/null | head -n1 | sed 's/.*GitVersion:"\([^"]*\)".*/\1/; s/Client Version: //')
    for d in base overlays/production overlays/staging; do
        f="$out/$(echo "$d" | tr / -)-$(basename "$k").yaml"
        if ! "$k" kustomize "$k8s/$d" >"$f" 2>"$f.err"; then
            echo "FAIL: kubectl $ver kustomize $d:"; cat "$f.err"; status=1; continue
        fi
        # Kustomize v2 keeps a "$patch" directive it does not understand: never allowed.
        # shellcheck disable=SC2016 # a literal $patch
        if grep -q '\$patch' "$f"; then
            echo "FAIL: kubectl $ver left a \$patch directive in $d"; status=1
        fi
        echo "== kubectl $ver kustomize $d"
        partial=""
        [ "$d" = base ] && partial=--partial
        node "$here/validate.mjs" $partial "$f" || status=1
        renders="$renders $f"
    done
done
echo "== strict (unknown fields), all renders"
# shellcheck disable=SC2086
node "$here/strict.mjs" $renders || status=1
if [ $status -eq 0 ]; then echo "check-k8s: all renders valid"; fi
exit $status
