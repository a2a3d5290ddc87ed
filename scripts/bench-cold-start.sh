#!/usr/bin/env bash
# The cold-start benchmark (docs/performance.md "Cold start"; not part of `make test`). Builds every function
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
side_venv "$peer_venv" tests/cold-start-peer/requirements.txt ||
    die "could not install the peer's requirements"

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
