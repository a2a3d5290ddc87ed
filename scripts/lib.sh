# Shared helpers for scripts/*.sh (sourced, not run).
# Background services are started with `setsid`, so each one leads its own process group
# (cargo + the program it runs, cargo lambda + its function processes) and is stopped as a
# group by its pid, never by name.

WXFACE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The functions: one cargo package each under functions/ (docs/api.md §1), the package and its
# binary named alike. Every script takes the list from here, so a new function needs no edit.
FUNCTIONS=()
for _dir in "$WXFACE_ROOT"/functions/*/; do
    [[ -f "$_dir/Cargo.toml" ]] && FUNCTIONS+=("$(basename "$_dir")")
done
unset _dir

# cargo's `-p NAME` for every function, one word per line: cargo build $(function_packages).
function_packages() {
    local f
    for f in "${FUNCTIONS[@]}"; do printf -- '-p\n%s\n' "$f"; done
}

# camel_case NAME: issue-key -> IssueKey, the prefix of the function's logical ids and outputs in
# template.yaml.
camel_case() {
    local part out=""
    IFS=- read -ra parts <<<"$1"
    for part in "${parts[@]}"; do out+="${part^}"; done
    printf '%s' "$out"
}

# The dummy credentials and region every local AWS client uses (the emulator ignores them).
export_local_aws_env() {
    # Never let a developer's real AWS settings leak into a local stack.
    unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
        AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_SECRETS_MANAGER AWS_CONFIG_FILE \
        AWS_SHARED_CREDENTIALS_FILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
}

# enter_venv: the project's Python tools (.venv, made if needed) first on PATH, PYTHON set, and
# the local AWS environment.
enter_venv() {
    bash "$WXFACE_ROOT/scripts/venv.sh" || die "could not set up .venv"
    export PATH="$WXFACE_ROOT/.venv/bin:$PATH"
    export PYTHON="$WXFACE_ROOT/.venv/bin/python"
    export_local_aws_env
}

# side_venv DIR REQUIREMENTS: a venv at DIR (made if missing) with REQUIREMENTS installed.
# Re-running is instant: a stamp records the Python and the requirements that were installed, and
# a change of either installs again. For .venv (scripts/venv.sh) and for tools whose pins cannot
# share it (the deploy test's AWS emulator, the cold-start benchmark's Python peer).
side_venv() {
    local dir="$1" req="$2" want
    want="$( { python3 --version 2>&1; cat "$req"; } | sha256sum | cut -d' ' -f1)"
    [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$want" ]] && return 0
    log "venv: installing $req into $dir (about a minute the first time)"
    rm -f "$dir/.stamp"
    [[ -x "$dir/bin/python" ]] || python3 -m venv "$dir" || return 1
    local pip=("$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q)
    "${pip[@]}" --upgrade pip >&2 && "${pip[@]}" -r "$req" >&2 || return 1
    echo "$want" >"$dir/.stamp"
}

log() { printf '%s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# port_busy PORT: true when something accepts connections on 127.0.0.1:PORT.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    "${PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PIDS: process-group leaders started by start_bg, stopped by stop_all (in reverse order).
PIDS=()
# NAMES: pid -> name, for messages.
declare -A NAMES=()

# start_bg NAME LOGFILE CMD...: runs CMD in its own session (setsid) with stdin from
# /dev/null and output to LOGFILE; sets BG_PID.
start_bg() {
    local name="$1" logfile="$2"
    shift 2
    setsid "$@" </dev/null >"$logfile" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
    NAMES[$BG_PID]="$name"
}

# stop_pid PID: SIGTERM to its process group, SIGKILL after 5 s.
stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[$i]}"
    done
    PIDS=()
}

# stop_all_on_exit: every background service stops when the script ends or is interrupted.
stop_all_on_exit() {
    trap 'trap - EXIT INT TERM; stop_all' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# wait_port NAME PORT PID TIMEOUT_SECS [LOGFILE]: waits until PORT accepts connections;
# fails loudly if PID exits first or the time runs out (showing the log's tail).
wait_port() {
    local name="$1" port="$2" pid="$3" timeout="$4" logfile="${5:-}" waited=0
    while ! port_busy "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "ERROR: $name exited before listening on 127.0.0.1:$port"
            [[ -n "$logfile" && -f "$logfile" ]] && tail -n 30 "$logfile" >&2
            return 1
        fi
        if ((waited >= timeout * 10)); then
            log "ERROR: $name did not listen on 127.0.0.1:$port within ${timeout}s"
            [[ -n "$logfile" && -f "$logfile" ]] && tail -n 30 "$logfile" >&2
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# write_functions_env FILE TABLE APP_SECRET_ID TOKEN_SECRET_ID SIM_URL AWS_URL RUST_LOG
#                     MERCHANT_SECRET_ID PAY_SIM_URL:
# the functions' environment (docs/api.md §2), for `cargo lambda watch --env-file`; start_stack
# holds it to the manifest (`wxface-dev manifest --check-env`).
write_functions_env() {
    # Values are quoted: cargo lambda's env-file parser rejects an unquoted `=` in a value
    # (RUST_LOG=info,wxface=debug).
    cat >"$1" <<ENV
SESSIONS_TABLE="$2"
WECHAT_APP_SECRET_ID="$3"
WECHAT_CREDENTIALS_SECRET_ID="$3-credentials"
TENANT_SECRET_PREFIX="$3-tenants/"
ACCESS_TOKEN_SECRET_ID="$4"
WECHAT_API_BASE="$5"
AWS_ENDPOINT_URL="$6"
AWS_REGION="us-east-1"
AWS_DEFAULT_REGION="us-east-1"
AWS_ACCESS_KEY_ID="testing"
AWS_SECRET_ACCESS_KEY="testing"
AWS_EC2_METADATA_DISABLED="true"
RUST_LOG="$7"
MERCHANT_SECRET_ID="$8"
WECHATPAY_FACE_API_BASE="$9"
WECHATPAY_API_BASE="$9"
EVENT_BUS_NAME="wxface-dev-events"
IDENTITY_KEY_SECRET_ID="${10}"
RECONCILE_SCHEDULE_GROUP="wxface-dev-reconcile"
RECONCILE_FUNCTION_ARN="arn:aws:lambda:us-east-1:123456789012:function:reconcile"
RECONCILE_SCHEDULER_ROLE_ARN="arn:aws:iam::123456789012:role/wxface-dev-scheduler"
WEBHOOK_QUEUE_URL="$6/123456789012/wxface-dev-tenant-webhooks"
ENV
}

# start_stack LOGDIR MOTO_URL SIM_PORT PAY_SIM_PORT FN_PORT RUST_LOG [cargo lambda watch flags...]:
# the local stack of `make dev` and `make test`: builds, starts both simulators, creates the table
# and secrets with `wxface-dev setup` (names from STACK_TABLE, STACK_APP_SECRET,
# STACK_TOKEN_SECRET, STACK_MERCHANT_SECRET, STACK_IDENTITY_SECRET), writes LOGDIR/functions.env and starts every function
# under `cargo lambda watch` (its log: LOGDIR/lambda-watch.log), and the HTTP API front in front
# of them on STACK_API_PORT (`wxface-dev api-front`). Sets SIM_PID, PAY_SIM_PID, WATCH_PID and
# API_PID; returns non-zero if any step fails.
start_stack() {
    local dir="$1" moto="$2" sim_port="$3" pay_port="$4" fn_port="$5" rust_log="$6"
    shift 6
    local spec
    for spec in "wechat-sim:$sim_port" "wechatpay-sim:$pay_port" "cargo lambda watch:$fn_port" \
        "api-front:${STACK_API_PORT:?start_stack needs STACK_API_PORT}"; do
        if port_busy "${spec##*:}"; then
            log "ERROR: port ${spec##*:} (for ${spec%:*}) is already in use on 127.0.0.1"
            return 1
        fi
    done
    mkdir -p "$dir"
    # shellcheck disable=SC2046 # one word per line on purpose
    cargo build -q -p wechat-sim -p wechatpay-sim -p wxface-harness $(function_packages) || return 1
    # The test app and a second mini-program, the demo tenant (docs/tenants.md). Not in LOGDIR:
    # it holds their secrets, and the PII scan reads every log.
    local sim_config="$WXFACE_ROOT/target/wechat-sim-two-apps.json"
    target/debug/wxface-dev sim-config >"$sim_config" || return 1
    start_bg wechat-sim "$dir/sim.log" cargo run -q -p wechat-sim -- --listen "127.0.0.1:$sim_port" \
        --config "$sim_config"
    SIM_PID=$BG_PID
    start_bg wechatpay-sim "$dir/pay-sim.log" \
        cargo run -q -p wechatpay-sim -- --listen "127.0.0.1:$pay_port"
    PAY_SIM_PID=$BG_PID
    wait_port wechat-sim "$sim_port" "$SIM_PID" 120 "$dir/sim.log" || return 1
    wait_port wechatpay-sim "$pay_port" "$PAY_SIM_PID" 120 "$dir/pay-sim.log" || return 1
    cargo run -q -p wxface-harness --bin wxface-dev -- setup --aws "$moto" \
        --table "$STACK_TABLE" --app-secret-id "$STACK_APP_SECRET" \
        --token-secret-id "$STACK_TOKEN_SECRET" --merchant-secret-id "$STACK_MERCHANT_SECRET" \
        --identity-secret-id "${STACK_IDENTITY_SECRET:?start_stack needs STACK_IDENTITY_SECRET}" \
        --tenant-prefix "$STACK_APP_SECRET-tenants/" ||
        return 1
    write_functions_env "$dir/functions.env" "$STACK_TABLE" "$STACK_APP_SECRET" \
        "$STACK_TOKEN_SECRET" "http://127.0.0.1:$sim_port" "$moto" "$rust_log" \
        "$STACK_MERCHANT_SECRET" "http://127.0.0.1:$pay_port" "$STACK_IDENTITY_SECRET"
    # Every variable a function requires, and none that no function reads (the manifest's).
    cargo run -q -p wxface-harness --bin wxface-dev -- manifest --check-env "$dir/functions.env" ||
        return 1
    # `cargo lambda watch` exits 0 without a word when its port is taken: checked above.
    start_bg "cargo lambda watch" "$dir/lambda-watch.log" \
        cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$fn_port" \
        --env-file "$dir/functions.env" "$@"
    WATCH_PID=$BG_PID
    wait_port "cargo lambda watch" "$fn_port" "$WATCH_PID" 60 "$dir/lambda-watch.log" || return 1
    # The HTTP API front (README "Fronts") on STACK_API_PORT: the same functions at the routes a
    # China deployment serves, handed over with the API's paths.
    start_bg "api-front" "$dir/api-front.log" target/debug/wxface-dev api-front \
        --functions "http://127.0.0.1:$fn_port/lambda-url" --listen "127.0.0.1:$STACK_API_PORT"
    API_PID=$BG_PID
    wait_port "api-front" "$STACK_API_PORT" "$API_PID" 30 "$dir/api-front.log"
}

