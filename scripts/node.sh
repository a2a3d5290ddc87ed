#!/usr/bin/env bash
# Installs the Node packages of examples/backend (jose) into its own node_modules, from its
# package-lock.json. Re-running is instant: a stamp records the lockfile that was installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dir="$WXFACE_ROOT/examples/backend"
stamp="$dir/node_modules/.lock.sha256"
want="$( { node --version; cat "$dir/package-lock.json"; } | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || die "npm is needed (Node.js ≥ 20)"
log "node: npm ci in examples/backend"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
echo "$want" >"$stamp"
