#!/usr/bin/env bash
# The cold-start benchmark (docs/performance.md; not part of `make test`). Builds every function
# and the floor (tests/cold-start-floor) with the release profile for this machine (x86_64: the
# arm64 bootstraps of `make build` cannot run here), installs the Python peer's requirements
# (tests/cold-start-peer) into target/cold-start/peer-venv, starts moto on a free port and runs
# `wxface-dev cold-start`, which starts the simulators itself and prints the tables.
#
# Usage: bash scripts/bench-cold-start.sh [--as-lambda] [wxface-dev cold-start options]
#   (--as-lambda, if given, comes first)
#   --as-lambda (make bench): as Lambda runs the functions: each subject under the CPU share and
#     memory of 128, 256, 512, 1,024 and 1,769 MB (cgroups; needs root), every upstream over TLS
#     (a local CA that only this run trusts: scripts/bench-ca.py, and the functions built with
#     the cargo feature `wxface/bench-ca`) and a round trip away; then the power-tuning table.
#   Without it (make bench-cold-start): the whole machine, plain HTTP on loopback.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT" || exit 1

enter_venv

WORK="$WXFACE_ROOT/target/cold-start"
mkdir -p "$WORK"
rm -rf "$WORK/logs"

as_lambda=()
features=()
if [[ "${1:-}" == "--as-lambda" ]]; then
    shift
    "$PYTHON" scripts/bench-ca.py "$WORK/tls" || die "could not make the benchmark's CA"
    as_lambda=(--memory 128,256,512,1024,1769 --tls-dir "$WORK/tls" --rounds 3 --warm 20)
    features=(--features wxface/bench-ca)
fi

# The peer's own venv: only what it imports, as its Lambda package would hold.
peer_venv="$WORK/peer-venv"
side_venv "$peer_venv" tests/cold-start-peer/requirements.txt ||
    die "could not install the peer's requirements"

bins=(--bin cold-start-floor)
for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done
log "bench: cargo build --release ${features[*]} ${bins[*]}"
cargo build -q --release "${features[@]}" "${bins[@]}" || die "release build failed"
cargo build -q -p wxface-harness --bin wxface-dev || die "build of wxface-dev failed"

stop_all_on_exit
moto_port=$(free_port)
start_bg moto_server "$WORK/moto.log" "$PYTHON" scripts/moto_server.py -H 127.0.0.1 -p "$moto_port"
wait_port moto_server "$moto_port" "$BG_PID" 30 "$WORK/moto.log" || exit 1

target/debug/wxface-dev cold-start --aws "http://127.0.0.1:$moto_port" \
    --bin-dir target/release --python "$peer_venv/bin/python" --logs "$WORK/logs" \
    "${as_lambda[@]}" "$@"
