#!/usr/bin/env bash
# make dev: the whole stack on this machine, in the foreground. Ctrl-C stops everything.
#
#   moto_server      http://127.0.0.1:5005   DynamoDB + Secrets Manager (scripts/moto_server.py)
#   wechat-sim       http://127.0.0.1:9100   WeChat's servers and the user's device (hooks)
#   wechatpay-sim    http://127.0.0.1:9200   WeChat Pay's servers and the kiosk's face SDK (hooks)
#   cargo lambda     http://127.0.0.1:9000/lambda-url/<function>/   the functions, rebuilt on change
#
# Table wxface-dev-sessions and secrets wxface/dev/wechat-app, wxface/dev/access-token are
# created by `wxface-dev setup`. Logs and pids go to .dev/. Then run `make demo` elsewhere.
# Ports can be changed with WXFACE_DEV_MOTO_PORT, WXFACE_DEV_SIM_PORT, WXFACE_DEV_PAY_SIM_PORT,
# WXFACE_DEV_FUNCTIONS_PORT.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT"

MOTO_PORT="${WXFACE_DEV_MOTO_PORT:-5005}"
SIM_PORT="${WXFACE_DEV_SIM_PORT:-9100}"
PAY_SIM_PORT="${WXFACE_DEV_PAY_SIM_PORT:-9200}"
FN_PORT="${WXFACE_DEV_FUNCTIONS_PORT:-9000}"
TABLE=wxface-dev-sessions
APP_SECRET_ID=wxface/dev/wechat-app
TOKEN_SECRET_ID=wxface/dev/access-token
MERCHANT_SECRET_ID=wxface/dev/merchant
DEV="$WXFACE_ROOT/.dev"

bash scripts/venv.sh
export PATH="$WXFACE_ROOT/.venv/bin:$PATH"
export PYTHON="$WXFACE_ROOT/.venv/bin/python"
export_local_aws_env

# `cargo lambda watch` exits 0 without a word when its port is taken: check every port first.
for spec in "moto_server:$MOTO_PORT" "wechat-sim:$SIM_PORT" "wechatpay-sim:$PAY_SIM_PORT" "cargo lambda watch:$FN_PORT"; do
    if port_busy "${spec##*:}"; then
        die "port ${spec##*:} (for ${spec%:*}) is already in use on 127.0.0.1 — is another \`make dev\` running? (see $DEV/*.pid)"
    fi
done

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

log "dev: building (the first build takes a few minutes)"
cargo build -q -p wechat-sim -p wechatpay-sim -p wxface-harness \
    -p issue-key -p verify-result -p event-callback -p authinfo

log "dev: starting moto_server on 127.0.0.1:$MOTO_PORT (log: .dev/moto.log)"
start_bg moto_server "$DEV/moto.log" "$PYTHON" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT"
echo "$BG_PID" >"$DEV/moto.pid"
MOTO_PID=$BG_PID

log "dev: starting wechat-sim on 127.0.0.1:$SIM_PORT (log: .dev/sim.log)"
start_bg wechat-sim "$DEV/sim.log" cargo run -q -p wechat-sim -- --listen "127.0.0.1:$SIM_PORT"
echo "$BG_PID" >"$DEV/sim.pid"
SIM_PID=$BG_PID

wait_port moto_server "$MOTO_PORT" "$MOTO_PID" 30 "$DEV/moto.log"
wait_port wechat-sim "$SIM_PORT" "$SIM_PID" 120 "$DEV/sim.log"

log "dev: starting wechatpay-sim on 127.0.0.1:$PAY_SIM_PORT (log: .dev/pay-sim.log)"
start_bg wechatpay-sim "$DEV/pay-sim.log" cargo run -q -p wechatpay-sim -- --listen "127.0.0.1:$PAY_SIM_PORT"
echo "$BG_PID" >"$DEV/pay-sim.pid"
PAY_SIM_PID=$BG_PID
wait_port wechatpay-sim "$PAY_SIM_PORT" "$PAY_SIM_PID" 120 "$DEV/pay-sim.log"

cargo run -q -p wxface-harness --bin wxface-dev -- setup \
    --aws "http://127.0.0.1:$MOTO_PORT" --table "$TABLE" \
    --app-secret-id "$APP_SECRET_ID" --token-secret-id "$TOKEN_SECRET_ID" \
    --merchant-secret-id "$MERCHANT_SECRET_ID"

# The functions' environment (contract §2). cargo lambda watch passes --env-file variables to
# every function process (they win over inherited ones; --env-var wins over both).
write_functions_env "$DEV/functions.env" "$TABLE" "$APP_SECRET_ID" "$TOKEN_SECRET_ID" \
    "http://127.0.0.1:$SIM_PORT" "http://127.0.0.1:$MOTO_PORT" "${RUST_LOG:-info}" \
    "$MERCHANT_SECRET_ID" "http://127.0.0.1:$PAY_SIM_PORT"

log "dev: starting cargo lambda watch on 127.0.0.1:$FN_PORT (log: .dev/lambda-watch.log, also shown below)"
start_bg "cargo lambda watch" "$DEV/lambda-watch.log" \
    cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$FN_PORT" \
    --env-file "$DEV/functions.env"
echo "$BG_PID" >"$DEV/lambda-watch.pid"
WATCH_PID=$BG_PID
wait_port "cargo lambda watch" "$FN_PORT" "$WATCH_PID" 60 "$DEV/lambda-watch.log"

cat >&2 <<MSG

dev: stack ready
  issue-key      POST http://127.0.0.1:$FN_PORT/lambda-url/issue-key/
  verify-result  POST http://127.0.0.1:$FN_PORT/lambda-url/verify-result/
  event-callback GET/POST http://127.0.0.1:$FN_PORT/lambda-url/event-callback/  (WeChat's push)
  authinfo       POST http://127.0.0.1:$FN_PORT/lambda-url/authinfo/ and .../authinfo/real-name
                 (Authorization: Bearer dev-kiosk-001-token-for-local-use-only, device kiosk-001)
  simulator      http://127.0.0.1:$SIM_PORT   (wx.login: POST /__sim/login {"appid","openid"})
  WeChat Pay sim http://127.0.0.1:$PAY_SIM_PORT   (kiosk face SDK: POST /__sim/face/auth, /__sim/face/consent)
  AWS (moto)     http://127.0.0.1:$MOTO_PORT  table $TABLE
  try it:        make demo          (in another terminal)
  stop:          Ctrl-C

MSG

# Show the functions' output here; stop when any service dies.
tail -n +1 -f "$DEV/lambda-watch.log" &
TAIL_PID=$!
PIDS+=("$TAIL_PID")
while kill -0 "$MOTO_PID" 2>/dev/null && kill -0 "$SIM_PID" 2>/dev/null &&
    kill -0 "$PAY_SIM_PID" 2>/dev/null && kill -0 "$WATCH_PID" 2>/dev/null; do
    sleep 1
done
for pid in "$MOTO_PID" "$SIM_PID" "$PAY_SIM_PID" "$WATCH_PID"; do
    kill -0 "$pid" 2>/dev/null || log "ERROR: ${NAMES[$pid]} stopped unexpectedly (see .dev/)"
done
exit 1
