#!/usr/bin/env bash
# The cold-start benchmark (README "Cold start"; not part of `make test`). Builds every function
# and the floor (tests/cold-start-floor) with the release profile for this machine (x86_64: the
# arm64 bootstraps of `make build` cannot run here), installs the Python peer's requirements
# (tests/cold-start-peer) into target/cold-start/peer-venv, starts moto on a free port and runs
# `wxface-dev cold-start`, which starts the simulators itself and prints the table.
#
# Usage: bash scripts/bench-cold-start.sh [--rounds N] [--warm N]
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT" || exit 1

enter_venv

WORK="$WXFACE_ROOT/target/cold-start"
mkdir -p "$WORK"
rm -rf "$WORK/logs"

# The peer's own venv: only what it imports, as its Lambda package would hold.
peer_venv="$WORK/peer-venv"
req="tests/cold-start-peer/requirements.txt"
want="$( { python3 --version 2>&1; cat "$req"; } | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$peer_venv/.stamp" || "$(cat "$peer_venv/.stamp")" != "$want" ]]; then
    log "bench: installing the Python peer's requirements into $peer_venv"
    rm -rf "$peer_venv"
    python3 -m venv "$peer_venv" || die "python3 -m venv failed"
    "$peer_venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" ||
        die "could not install $req"
    echo "$want" >"$peer_venv/.stamp"
fi

bins=(--bin cold-start-floor)
for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done
log "bench: cargo build --release ${bins[*]}"
cargo build -q --release "${bins[@]}" || die "release build failed"
cargo build -q -p wxface-harness --bin wxface-dev || die "build of wxface-dev failed"

stop_all_on_exit
moto_port=$(free_port)
start_bg moto_server "$WORK/moto.log" "$PYTHON" scripts/moto_server.py -H 127.0.0.1 -p "$moto_port"
wait_port moto_server "$moto_port" "$BG_PID" 30 "$WORK/moto.log" || exit 1

target/debug/wxface-dev cold-start --aws "http://127.0.0.1:$moto_port" \
    --bin-dir target/release --python "$peer_venv/bin/python" --logs "$WORK/logs" "$@"
