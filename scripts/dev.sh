#!/usr/bin/env bash
# make dev: the whole stack on this machine, in the foreground. Ctrl-C stops everything.
#
#   moto_server      http://127.0.0.1:5005   DynamoDB + Secrets Manager (scripts/moto_server.py)
#   wechat-sim       http://127.0.0.1:9100   WeChat's servers and the user's device (hooks)
#   wechatpay-sim    http://127.0.0.1:9200   WeChat Pay's servers and the kiosk's face SDK (hooks)
#   cargo lambda     http://127.0.0.1:9000/lambda-url/<function>/   the functions, rebuilt on change
#   api-front        http://127.0.0.1:9001/<route>   the same functions behind the HTTP API's routes
#
# Table wxface-dev-sessions and secrets wxface/dev/wechat-app, wxface/dev/access-token are
# created by `wxface-dev setup`. Logs and pids go to .dev/. Then run `make demo` elsewhere.
# Ports can be changed with WXFACE_DEV_MOTO_PORT, WXFACE_DEV_SIM_PORT, WXFACE_DEV_PAY_SIM_PORT,
# WXFACE_DEV_FUNCTIONS_PORT, WXFACE_DEV_API_PORT.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT"

MOTO_PORT="${WXFACE_DEV_MOTO_PORT:-5005}"
SIM_PORT="${WXFACE_DEV_SIM_PORT:-9100}"
PAY_SIM_PORT="${WXFACE_DEV_PAY_SIM_PORT:-9200}"
FN_PORT="${WXFACE_DEV_FUNCTIONS_PORT:-9000}"
API_PORT="${WXFACE_DEV_API_PORT:-9001}"
TABLE=wxface-dev-sessions
APP_SECRET_ID=wxface/dev/wechat-app
TOKEN_SECRET_ID=wxface/dev/access-token
MERCHANT_SECRET_ID=wxface/dev/merchant
IDENTITY_SECRET_ID=wxface/dev/identity-key
DEV="$WXFACE_ROOT/.dev"

bash scripts/venv.sh
export PATH="$WXFACE_ROOT/.venv/bin:$PATH"
export PYTHON="$WXFACE_ROOT/.venv/bin/python"
export_local_aws_env

port_busy "$MOTO_PORT" &&
    die "port $MOTO_PORT (for moto_server) is already in use on 127.0.0.1 — is another \`make dev\` running? (see $DEV/*.pid)"

mkdir -p "$DEV"
rm -f "$DEV"/*.pid

cleanup() {
    trap - EXIT INT TERM
    log ""
    log "dev: stopping the stack"
    stop_all
    rm -f "$DEV"/*.pid
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "dev: starting moto_server on 127.0.0.1:$MOTO_PORT (log: .dev/moto.log)"
start_bg moto_server "$DEV/moto.log" "$PYTHON" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT"
echo "$BG_PID" >"$DEV/moto.pid"
MOTO_PID=$BG_PID
wait_port moto_server "$MOTO_PORT" "$MOTO_PID" 30 "$DEV/moto.log"

log "dev: building and starting the simulators and the functions (the first build takes a few minutes; logs in .dev/)"
STACK_TABLE=$TABLE STACK_APP_SECRET=$APP_SECRET_ID STACK_TOKEN_SECRET=$TOKEN_SECRET_ID \
    STACK_MERCHANT_SECRET=$MERCHANT_SECRET_ID STACK_API_PORT=$API_PORT \
    STACK_IDENTITY_SECRET=$IDENTITY_SECRET_ID \
    start_stack "$DEV" "http://127.0.0.1:$MOTO_PORT" "$SIM_PORT" "$PAY_SIM_PORT" "$FN_PORT" \
    "${RUST_LOG:-info}"
echo "$SIM_PID" >"$DEV/sim.pid"
echo "$PAY_SIM_PID" >"$DEV/pay-sim.pid"
echo "$WATCH_PID" >"$DEV/lambda-watch.pid"
echo "$API_PID" >"$DEV/api-front.pid"

cat >&2 <<MSG

dev: stack ready
  issue-key      POST http://127.0.0.1:$FN_PORT/lambda-url/issue-key/
  verify-result  POST http://127.0.0.1:$FN_PORT/lambda-url/verify-result/
  event-callback GET/POST http://127.0.0.1:$FN_PORT/lambda-url/event-callback/  (WeChat's push)
  authinfo       POST http://127.0.0.1:$FN_PORT/lambda-url/authinfo/ and .../authinfo/real-name
                 (Authorization: Bearer dev-kiosk-001-token-for-local-use-only, device kiosk-001)
                 (partner mode: Bearer dev-ward-a-01-token-for-local-use-only, device ward-a-01, hospital 1900000109)
  HTTP API front http://127.0.0.1:$API_PORT: POST /issue-key, POST /verify-result,
                 GET /.well-known/jwks.json, GET|POST /event-callback, POST /authinfo,
                 POST /authinfo/real-name, GET /lookup (the routes of a China deployment)
  simulator      http://127.0.0.1:$SIM_PORT   (wx.login: POST /__sim/login {"appid","openid"})
  WeChat Pay sim http://127.0.0.1:$PAY_SIM_PORT   (kiosk face SDK: POST /__sim/face/auth, /__sim/face/consent)
  AWS (moto)     http://127.0.0.1:$MOTO_PORT  table $TABLE
  try it:        make demo          (in another terminal; FRONT=api: through the HTTP API front)
  stop:          Ctrl-C

MSG

# Show the functions' output here; stop when any service dies.
tail -n +1 -f "$DEV/lambda-watch.log" &
TAIL_PID=$!
PIDS+=("$TAIL_PID")
while kill -0 "$MOTO_PID" 2>/dev/null && kill -0 "$SIM_PID" 2>/dev/null &&
    kill -0 "$PAY_SIM_PID" 2>/dev/null && kill -0 "$WATCH_PID" 2>/dev/null &&
    kill -0 "$API_PID" 2>/dev/null; do
    sleep 1
done
for pid in "$MOTO_PID" "$SIM_PID" "$PAY_SIM_PID" "$WATCH_PID" "$API_PID"; do
    kill -0 "$pid" 2>/dev/null || log "ERROR: ${NAMES[$pid]} stopped unexpectedly (see .dev/)"
done
exit 1
