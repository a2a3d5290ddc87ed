#!/usr/bin/env bash
# Create ./.venv (if missing) and install requirements-dev.txt into it.
# Re-running is instant: a stamp file records the hash of the requirements that were installed.
# Usage: bash scripts/venv.sh        (from anywhere; works on a fresh clone)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/requirements-dev.txt"
stamp="$venv/.requirements.sha256"

python="${PYTHON:-python3}"
want="$( { "$python" --version 2>&1; cat "$req"; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "venv: creating $venv" >&2
    "$python" -m venv "$venv"
fi

echo "venv: installing $(basename "$req") (takes about a minute the first time)" >&2
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q --upgrade pip >&2
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" >&2

# Sanity: the two tools the scripts rely on are there.
for tool in moto_server cargo-lambda cfn-lint sam; do
    if [[ ! -x "$venv/bin/$tool" ]]; then
        echo "venv: $tool missing from $venv/bin after install" >&2
        exit 1
    fi
done
echo "$want" > "$stamp"
echo "venv: ready" >&2
