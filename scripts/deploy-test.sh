#!/usr/bin/env bash
# The deploy test (part of make test): template.yaml deployed with the real SAM CLI (.venv) to a
# local AWS emulator (ministack, in its own venv target/deploy/venv from
# tests/deploy/requirements.txt) on a free port, created, read back, updated, one function
# redeployed with scripts/deploy-function.sh, and deleted; and in between a second stack behind
# the HTTP API front with the real x86_64 bootstraps, which the emulator runs as processes, and a
# whole demo through its API (the WeChat and WeChat Pay simulators started here):
# tests/deploy/deploy_test.py. Then the webhook token's rotation (scripts/rotate-webhook-token.sh)
# against the emulator's EventBridge and Secrets Manager: tests/deploy/webhook_rotation_test.py.
# Usage: bash scripts/deploy-test.sh [--build-status FILE]
#   --build-status: redeploy issue-key only once FILE holds the release build's exit code, and
#                   only if it is 0 (make test builds alongside; without it, the step builds)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT"
enter_venv
stop_all_on_exit

WORK="$WXFACE_ROOT/target/deploy"
emulator="$WORK/venv"
side_venv "$emulator" tests/deploy/requirements.txt || die "could not install the emulator"
rm -rf "$WORK/run"
mkdir -p "$WORK/run"

# The simulators and wxface-dev of the HttpApi round: built by make test's e2e already (a cargo
# build here would wait for the release build's lock on target/), else built now.
bins=(wechat-sim wechatpay-sim wxface-dev)
for b in "${bins[@]}"; do
    [[ -x "target/debug/$b" ]] || {
        cargo build -q -p wechat-sim -p wechatpay-sim -p wxface-harness || die "cannot build the simulators"
        break
    }
done
sim_port=$(free_port)
start_bg wechat-sim "$WORK/run/wechat-sim.log" target/debug/wechat-sim --listen "127.0.0.1:$sim_port"
wait_port wechat-sim "$sim_port" "$BG_PID" 60 "$WORK/run/wechat-sim.log" || die "the WeChat simulator did not start"
pay_port=$(free_port)
start_bg wechatpay-sim "$WORK/run/wechatpay-sim.log" target/debug/wechatpay-sim --listen "127.0.0.1:$pay_port"
wait_port wechatpay-sim "$pay_port" "$BG_PID" 60 "$WORK/run/wechatpay-sim.log" || die "the WeChat Pay simulator did not start"

port=$(free_port)
# Bound to loopback; its own temporary folder, so nothing of an earlier run is read. The functions
# it runs as processes inherit its environment: AWS_ENDPOINT_URL sends their AWS calls back to it.
mkdir -p "$WORK/run/tmp"
start_bg ministack "$WORK/run/ministack.log" env GATEWAY_PORT="$port" BIND_HOST=127.0.0.1 \
    TMPDIR="$WORK/run/tmp" S3_DATA_DIR="$WORK/run/tmp/s3" LOG_LEVEL=WARNING \
    AWS_ENDPOINT_URL="http://127.0.0.1:$port" "$emulator/bin/ministack"
wait_port ministack "$port" "$BG_PID" 60 "$WORK/run/ministack.log" || die "the emulator did not start"

# The AWS CLI of deploy-function.sh comes from the emulator's venv: after .venv, before any `aws`
# of the machine's (which might not know AWS_ENDPOINT_URL and reach real AWS).
# What each function reads and may do: the manifest the template tests hold the template to.
# (A wxface-dev older than its `manifest` command is rebuilt.)
target/debug/wxface-dev manifest >"$WORK/run/manifest.json" 2>/dev/null || {
    cargo build -q -p wxface-harness --bin wxface-dev &&
        target/debug/wxface-dev manifest >"$WORK/run/manifest.json"
} || die "wxface-dev manifest failed"
PATH="$WXFACE_ROOT/.venv/bin:$emulator/bin:$PATH" "$PYTHON" tests/deploy/deploy_test.py \
    --endpoint "http://127.0.0.1:$port" --work "$WORK/run" --manifest "$WORK/run/manifest.json" \
    --wechat-sim "http://127.0.0.1:$sim_port" --pay-sim "http://127.0.0.1:$pay_port" "$@"

# The webhook token's rotation, with the same emulator and the same AWS CLI.
PATH="$emulator/bin:$PATH" "$emulator/bin/python" tests/deploy/webhook_rotation_test.py \
    --endpoint "http://127.0.0.1:$port"
