#!/usr/bin/env bash
# Create ./.venv (if missing) and install requirements-dev.txt into it (lib.sh's side_venv:
# re-running is instant), then check that the tools the scripts rely on are there.
# Usage: bash scripts/venv.sh        (from anywhere; works on a fresh clone)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$WXFACE_ROOT/.venv"
side_venv "$venv" "$WXFACE_ROOT/requirements-dev.txt" || die "could not install requirements-dev.txt"
for tool in moto_server cargo-lambda cfn-lint sam; do
    if [[ ! -x "$venv/bin/$tool" ]]; then
        rm -f "$venv/.stamp"
        die "venv: $tool missing from $venv/bin after install"
    fi
done
