#!/usr/bin/env bash
# make demo: every flow (v2, v1, by push, by the server alone, the kiosks, a second mini-program
# as a tenant) against the stack of `make dev` (run that first, in another terminal). Prints every
# request and answer, with the person's data masked.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT"

SIM_PORT="${WXFACE_DEV_SIM_PORT:-9100}"
FN_PORT="${WXFACE_DEV_FUNCTIONS_PORT:-9000}"

port_busy "$FN_PORT" || die "nothing listens on 127.0.0.1:$FN_PORT: start the stack with \`make dev\` first"
port_busy "$SIM_PORT" || die "nothing listens on 127.0.0.1:$SIM_PORT: start the stack with \`make dev\` first"

# FRONT=api (make demo FRONT=api): through the HTTP API front of `make dev` instead.
api=()
if [[ "${FRONT:-}" == api ]]; then
    API_PORT="${WXFACE_DEV_API_PORT:-9001}"
    port_busy "$API_PORT" || die "nothing listens on 127.0.0.1:$API_PORT: start the stack with \`make dev\` first"
    api=(--api "http://127.0.0.1:$API_PORT")
fi

exec cargo run -q -p wxface-harness --bin wxface-dev -- demo "${api[@]}" \
    --functions "http://127.0.0.1:$FN_PORT/lambda-url" \
    --sim "http://127.0.0.1:$SIM_PORT" \
    --pay-sim "http://127.0.0.1:${WXFACE_DEV_PAY_SIM_PORT:-9200}" \
    --aws "http://127.0.0.1:${WXFACE_DEV_MOTO_PORT:-5005}" --table wxface-dev-sessions \
    --tenant-prefix wxface/dev/wechat-app-tenants/ "$@"
