#!/usr/bin/env bash
# Measures each function's peak memory (VmHWM: peak resident set) and CPU time under
# `cargo lambda watch` while `wxface-dev demo` runs a v2, a v1, a v1-by-push verification and a
# kiosk real-name lookup: every function starts cold and serves several requests. The numbers
# behind MemorySize in template.yaml (docs/performance.md). Not part of `make test`.
#
# Usage: bash scripts/measure-rss.sh [--release]
#   --release: measure the release build (x86_64 here; the arm64 bootstrap cannot run on this
#              machine) instead of the debug build `cargo lambda watch` uses by default.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT" || exit 1

profile=debug
case "${1:-}" in
    "") ;;
    --release) profile=release ;;
    *) die "usage: bash scripts/measure-rss.sh [--release]" ;;
esac

enter_venv

WORK="$WXFACE_ROOT/target/measure-rss"
rm -rf "$WORK"
mkdir -p "$WORK"

stop_all_on_exit

log "measure: building ($profile)"
cargo build -q -p wechat-sim -p wechatpay-sim -p wxface-harness || die "build failed"
if [[ $profile == release ]]; then
    cargo build -q --release $(function_packages) ||
        die "release build failed"
else
    cargo build -q $(function_packages) || die "build failed"
fi

moto_port=$(free_port)
start_bg moto_server "$WORK/moto.log" "$PYTHON" scripts/moto_server.py -H 127.0.0.1 -p "$moto_port"
MOTO_PID=$BG_PID
sim_port=$(free_port)
pay_port=$(free_port)
fn_port=$(free_port)
start_bg wechat-sim "$WORK/sim.log" cargo run -q -p wechat-sim -- --listen "127.0.0.1:$sim_port"
SIM_PID=$BG_PID
start_bg wechatpay-sim "$WORK/pay-sim.log" cargo run -q -p wechatpay-sim -- --listen "127.0.0.1:$pay_port"
PAY_PID=$BG_PID
wait_port moto_server "$moto_port" "$MOTO_PID" 30 "$WORK/moto.log" || exit 1
wait_port wechat-sim "$sim_port" "$SIM_PID" 120 "$WORK/sim.log" || exit 1
wait_port wechatpay-sim "$pay_port" "$PAY_PID" 120 "$WORK/pay-sim.log" || exit 1

table="wxface-measure-$$"
cargo run -q -p wxface-harness --bin wxface-dev -- setup --aws "http://127.0.0.1:$moto_port" \
    --table "$table" --app-secret-id "wxface/measure/wechat-app" \
    --token-secret-id "wxface/measure/access-token" \
    --merchant-secret-id "wxface/measure/merchant" >"$WORK/setup.log" || die "setup failed"
write_functions_env "$WORK/functions.env" "$table" "wxface/measure/wechat-app" \
    "wxface/measure/access-token" "http://127.0.0.1:$sim_port" "http://127.0.0.1:$moto_port" \
    info "wxface/measure/merchant" "http://127.0.0.1:$pay_port"

# The Runtime API and function URLs of `cargo lambda watch`, with the functions started here (not
# by watch: it would rebuild them with its own flags, and restart them when a file changes), so
# each process is known and measured from its first instruction.
start_bg "cargo lambda watch" "$WORK/lambda-watch.log" \
    cargo lambda watch --only-lambda-apis --ignore-changes \
    --invoke-address 127.0.0.1 --invoke-port "$fn_port"
WATCH_PID=$BG_PID
wait_port "cargo lambda watch" "$fn_port" "$WATCH_PID" 60 "$WORK/lambda-watch.log" || exit 1

# The functions' environment: the KEY="VALUE" lines of functions.env.
fn_env=()
while IFS= read -r line; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    value="${line#*=}"
    value="${value#\"}"
    fn_env+=("${line%%=*}=${value%\"}")
done <"$WORK/functions.env"

declare -A FN_PID=()
for f in "${FUNCTIONS[@]}"; do
    bin="target/$profile/$f"
    [[ -x "$bin" ]] || die "$bin is missing"
    start_bg "$f" "$WORK/$f.log" env "${fn_env[@]}" NO_COLOR=1 \
        AWS_LAMBDA_FUNCTION_NAME="$f" AWS_LAMBDA_FUNCTION_VERSION=1 \
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 \
        AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$fn_port/.rt/$f" "$bin"
    FN_PID[$f]=$BG_PID
done

ticks=$(getconf CLK_TCK)
# cpu_seconds PID: user + system CPU time so far (fields 14 and 15 of /proc/PID/stat, counted
# after the command name in parentheses).
cpu_seconds() {
    sed -E 's/^.*\) //' "/proc/$1/stat" | awk -v t="$ticks" '{printf "%.3f", ($12 + $13) / t}'
}
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# Initialised and waiting for their first event.
sleep 2
declare -A INIT_CPU=() INIT_HWM=()
for f in "${FUNCTIONS[@]}"; do
    kill -0 "${FN_PID[$f]}" 2>/dev/null || { tail -n 20 "$WORK/$f.log" >&2; die "$f exited at start"; }
    INIT_CPU[$f]=$(cpu_seconds "${FN_PID[$f]}")
    INIT_HWM[$f]=$(kb "${FN_PID[$f]}" VmHWM)
done

cargo run -q -p wxface-harness --bin wxface-dev -- demo \
    --functions "http://127.0.0.1:$fn_port/lambda-url" --sim "http://127.0.0.1:$sim_port" \
    --pay-sim "http://127.0.0.1:$pay_port" --timeout 300 >"$WORK/demo.log" 2>&1 ||
    { tail -n 20 "$WORK/demo.log" >&2; die "the demo failed (see $WORK/)"; }

printf '\n%s build, %s; invocations from the demo\n' "$profile" "$(uname -m)"
printf '%-16s %11s %11s %11s %11s %10s\n' function "init HWM MB" "peak HWM MB" "init CPU s" "total CPU s" "logged req"
for f in "${FUNCTIONS[@]}"; do
    pid=${FN_PID[$f]}
    awk -v f="$f" -v ih="${INIT_HWM[$f]}" -v h="$(kb "$pid" VmHWM)" -v ic="${INIT_CPU[$f]}" \
        -v c="$(cpu_seconds "$pid")" -v n="$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$WORK/$f.log" | sort -u | wc -l)" \
        'BEGIN { printf "%-16s %11.1f %11.1f %11.3f %11.3f %10s\n", f, ih / 1024, h / 1024, ic, c, n }'
done
echo "(init: started and waiting for its first event; requests: distinct request ids in its log)"
