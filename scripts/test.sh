#!/usr/bin/env bash
# make test: the one test command (CI runs it through .ci/run). Works on a fresh clone with no
# stdin: creates .venv, then
#   1. lint:  cargo fmt --check, cargo clippy -D warnings, cargo deny (deny.toml), the workspace's
#             rust-version against the lock (scripts/check-rust-version.py), no function over 60
#             lines (scripts/check-fn-length.py), cfn-lint template.yaml,
#             sam validate --lint (offline: a region, no credentials, no telemetry); the
#             hospital helper; docs/openapi.yaml valid, with its examples; the mini-program
#             module against a stubbed wx
#   2. cargo test --workspace against one shared moto_server (WXFACE_TEST_MOTO_ENDPOINT)
#   3. e2e:   a fresh simulator + `cargo lambda watch` + the HTTP API front on free ports,
#             `wxface-dev setup`, `wxface-dev demo` through the API front (full v2 and v1
#             verifications through the real functions, at a China deployment's routes), the
#             receipts checked by PyJWT and jose, schemathesis from docs/openapi.yaml, and the
#             mini-program module (examples/miniprogram) end to end, through the function URLs
#   4. soak:  `wxface-dev soak`: every kind of flow against several processes per function
#             (some SIGKILLed mid-invocation and replaced, as Lambda does),
#             with random WeChat and AWS faults, then healing; its invariants must hold
#   5. PII:   `wxface-dev scan-pii` over every table of that moto and every file in
#             target/test-logs (what the tests and the functions logged)
#   6. build: the release arm64 build of the four functions within the size budget
#             (scripts/check-size.sh; skipped, saying why, where no aarch64 std can be had)
#   7. deploy: beside the build, template.yaml deployed with the SAM CLI to a local AWS emulator,
#             checked, updated, one function redeployed with scripts/deploy-function.sh (once the
#             build is done), deleted (scripts/deploy-test.sh)
# and prints `tests: N passed, M failed`: the cargo test results, and every other check above
# as one test each (`counted`); a skipped release build counts in neither.
# Exits non-zero if anything failed, lint included.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT"

bash scripts/node.sh || die "could not install examples/backend's Node packages"
# The Python tools install while clippy builds: pip mostly waits on the network. .venv is needed
# from cfn-lint on; the deploy test's emulator venv (step 7) by scripts/deploy-test.sh, which
# installs it again if this failed.
# Both are stopped with the rest if this run is interrupted.
stop_all_on_exit
mkdir -p "$WXFACE_ROOT/target/deploy"
start_bg venv "$WXFACE_ROOT/target/venv.log" bash scripts/venv.sh
VENV_PID=$BG_PID
start_bg "emulator venv" "$WXFACE_ROOT/target/deploy/venv.log" bash -c \
    'source scripts/lib.sh && side_venv target/deploy/venv tests/deploy/requirements.txt'
EMULATOR_VENV_PID=$BG_PID
export PATH="$WXFACE_ROOT/.venv/bin:$PATH"
export PYTHON="$WXFACE_ROOT/.venv/bin/python"
export_local_aws_env
export CARGO_TERM_PROGRESS_WHEN=never

LOGS="$WXFACE_ROOT/target/test-logs"   # scanned for PII
WORK="$WXFACE_ROOT/target/test-run"    # everything else of this run (not scanned)
passed=0
failed=0
problems=()

# A section's header, with the seconds since the run began (where the time goes).
section() { printf '\n==== %s  [%d s]\n' "$*" "$SECONDS"; }
problem() { problems+=("$1"); log "FAILED: $1"; }
# counted WHAT CMD...: runs CMD as one test of the summary; WHAT names it if it fails.
counted() {
    local what="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        problem "$what"
    fi
}

# ---------------------------------------------------------------- 1. lint
section "cargo fmt --all --check"
cargo fmt --all --check || problem "cargo fmt --all --check (run: cargo fmt --all)"

section "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || problem "cargo clippy"

if ! wait "$VENV_PID"; then
    cat "$WXFACE_ROOT/target/venv.log" >&2
    die "could not set up .venv"
fi

# One TLS and HTTP stack, permissive licences, crates.io only (deny.toml). Offline: the crates of
# every target are fetched from crates.io first; no advisory database is read.
section "cargo deny: bans, licences, sources (deny.toml)"
counted "cargo deny check bans licenses sources (deny.toml)" bash -c \
    'cargo fetch --locked -q && cargo-deny --offline check bans licenses sources'

# The workspace's rust-version is the least Rust its locked dependencies build with.
section "rust-version is true (scripts/check-rust-version.py)"
"$PYTHON" scripts/check-rust-version.py || problem "rust-version (scripts/check-rust-version.py)"

section "no function over 60 lines in shared/src and functions/ (scripts/check-fn-length.py)"
"$PYTHON" scripts/check-fn-length.py || problem "function length (scripts/check-fn-length.py)"

section "cfn-lint template.yaml"
cfn-lint template.yaml || problem "cfn-lint template.yaml"

# SAM's own transform and lint. It needs a region but no credentials and no network; telemetry
# off, and a time limit in case something still tries to reach out.
section "sam validate --lint --region us-east-1 (Front=FunctionUrls, and a copy with Front=HttpApi)"
counted "sam validate --lint" env SAM_CLI_TELEMETRY=0 \
    timeout 300 sam validate --lint --region us-east-1 --template-file template.yaml
# The other front as the default, so that SAM's transform and lint see that shape too.
mkdir -p "$WXFACE_ROOT/target/lint"
sed 's/^    Default: FunctionUrls$/    Default: HttpApi/' template.yaml >"$WXFACE_ROOT/target/lint/template-httpapi.yaml"
counted "sam validate --lint (Front=HttpApi)" bash -c \
    'grep -q "^    Default: HttpApi$" "$1" && env SAM_CLI_TELEMETRY=0 timeout 300 \
        sam validate --lint --region us-east-1 --template-file "$1"' _ "$WXFACE_ROOT/target/lint/template-httpapi.yaml"

# The hospital's decrypt helper over many ciphertexts: a wrong key must always be refused clearly.
section "hospital helper: right key opens, wrong key refused (tests/interop/hospital_decrypt.py)"
counted "hospital decrypt helper (tests/interop/hospital_decrypt.py)" \
    "$PYTHON" tests/interop/hospital_decrypt.py

section "docs/openapi.yaml: valid OpenAPI 3.1 (openapi-spec-validator), its examples of its schemas"
counted "openapi-spec-validator docs/openapi.yaml" openapi-spec-validator docs/openapi.yaml
counted "docs/openapi.yaml's examples (tests/openapi/test_examples.py)" \
    env PYTHONDONTWRITEBYTECODE=1 \
    "$PYTHON" -m pytest -q -p no:cacheprovider tests/openapi/test_examples.py

section "mini-program module against a stubbed wx (examples/miniprogram/test/wxface.test.js)"
counted "mini-program unit tests (examples/miniprogram/test/wxface.test.js)" \
    node --test examples/miniprogram/test/wxface.test.js

# ---------------------------------------------------------------- 2. cargo test
rm -rf "$LOGS" "$WORK" "$WXFACE_ROOT/target/sim-logs"
mkdir -p "$LOGS" "$WORK"


section "moto_server for the whole run"
MOTO_PORT=$(free_port)
start_bg moto_server "$WORK/moto.log" "$PYTHON" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT"
MOTO_PID=$BG_PID
MOTO_URL="http://127.0.0.1:$MOTO_PORT"
if wait_port moto_server "$MOTO_PORT" "$MOTO_PID" 30 "$WORK/moto.log"; then
    export WXFACE_TEST_MOTO_ENDPOINT="$MOTO_URL"
    log "moto_server at $MOTO_URL"
else
    problem "moto_server did not start (tests spawn their own)"
    MOTO_URL=""
fi

section "cargo test --workspace"
cargo test --workspace 2>&1 | tee "$WORK/cargo-test.log"
test_rc=${PIPESTATUS[0]}
read -r t_passed t_failed < <(
    sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$WORK/cargo-test.log" |
        awk '{p += $1; f += $2} END {print p + 0, f + 0}'
)
passed=$((passed + t_passed))
failed=$((failed + t_failed))
if ((test_rc != 0)); then
    if ((t_failed == 0)); then
        # A build failure or a crashed test binary: count it, the summary must not read green.
        failed=$((failed + 1))
    fi
    problem "cargo test --workspace (exit $test_rc)"
fi

# ---------------------------------------------------------------- 3. e2e under cargo lambda
section "e2e: simulator + cargo lambda watch + wxface-dev demo"

# interop_receipts: PyJWT and Node's jose on the receipts of $WORK/receipts.json; each counts
# as one test.
interop_receipts() {
    section "interop: receipts verified with PyJWT and Node jose"
    counted "receipts interop with PyJWT (tests/interop/receipts.py)" \
        "$PYTHON" tests/interop/receipts.py "$WORK/receipts.json"
    counted "receipts interop with jose (tests/interop/receipts.test.mjs)" \
        env WXFACE_RECEIPTS="$WORK/receipts.json" node --test tests/interop/receipts.test.mjs
}

# api_checks FUNCTIONS_URL SIM_URL: what needs the running functions besides the demo, one test
# each: schemathesis from docs/openapi.yaml (tests/openapi) and the mini-program module end to
# end (examples/miniprogram/test/e2e.test.js).
api_checks() {
    section "OpenAPI: schemathesis from docs/openapi.yaml against the functions"
    counted "OpenAPI property-based tests (tests/openapi)" \
        env PYTHONDONTWRITEBYTECODE=1 WXFACE_FUNCTIONS="$1" WXFACE_SIM="$2" \
        "$PYTHON" -m pytest -q -p no:cacheprovider tests/openapi/test_openapi.py
    section "mini-program module end to end (examples/miniprogram/test/e2e.test.js)"
    # Its backend recomputes identity_hash with the deployment's identity_key, which the demo
    # read from the identity secret (none if the demo failed: then this fails too, not skips).
    local key
    key=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["identity_key"])' \
        "$WORK/receipts.json" 2>/dev/null) || key=""
    counted "mini-program e2e (examples/miniprogram/test/e2e.test.js)" \
        env WXFACE_E2E_FUNCTIONS="$1" WXFACE_E2E_SIM="$2" WXFACE_E2E_IDENTITY_KEY="$key" \
        bash -c '[[ -n "$WXFACE_E2E_IDENTITY_KEY" ]] && node --test examples/miniprogram/test/e2e.test.js'
}

e2e() {
    [[ -n "$MOTO_URL" ]] || { log "no moto_server"; return 1; }
    local sim_port pay_port fn_port api_port
    sim_port=$(free_port)
    pay_port=$(free_port)
    while [[ "$pay_port" == "$sim_port" ]]; do pay_port=$(free_port); done
    fn_port=$(free_port)
    while [[ "$fn_port" == "$sim_port" || "$fn_port" == "$pay_port" ]]; do fn_port=$(free_port); done
    api_port=$(free_port)
    while [[ " $sim_port $pay_port $fn_port " == *" $api_port "* ]]; do api_port=$(free_port); done
    mkdir -p "$WXFACE_ROOT/target/sim-logs"
    # DEBUG for our crates, so the PII scan also covers what they log at debug level; the
    # functions' log goes where the scan reads, the simulators' beside it.
    local debug="info,wxface=debug"
    for f in "${FUNCTIONS[@]}"; do debug+=",${f//-/_}=debug"; done
    STACK_TABLE="wxface-e2e-sessions-$$" STACK_APP_SECRET="wxface/e2e-$$/wechat-app" \
        STACK_TOKEN_SECRET="wxface/e2e-$$/access-token" STACK_MERCHANT_SECRET="wxface/e2e-$$/merchant" \
        STACK_API_PORT="$api_port" STACK_IDENTITY_SECRET="wxface/e2e-$$/identity-key" start_stack "$LOGS" "$MOTO_URL" "$sim_port" "$pay_port" "$fn_port" "$debug" \
        --ignore-changes --env-var NO_COLOR=1 || {
        # The checks that need the stack did not run: they count as failed, not as nothing.
        failed=$((failed + 2))
        problem "OpenAPI and mini-program e2e tests not run: the stack did not start"
        return 1
    }
    mv "$LOGS/sim.log" "$LOGS/pay-sim.log" "$WXFACE_ROOT/target/sim-logs/" 2>/dev/null || true

    # The demo through the HTTP API front (the routes and paths of a China deployment); the
    # OpenAPI and mini-program checks below through the function URLs.
    cargo run -q -p wxface-harness --bin wxface-dev -- demo \
        --api "http://127.0.0.1:$api_port" \
        --functions "http://127.0.0.1:$fn_port/lambda-url" --sim "http://127.0.0.1:$sim_port" \
        --pay-sim "http://127.0.0.1:$pay_port" --receipts "$WORK/receipts.json" \
        --identity-secret-id "wxface/e2e-$$/identity-key" \
        --tenant-prefix "wxface/e2e-$$/wechat-app-tenants/" \
        --aws "$MOTO_URL" --table "wxface-e2e-sessions-$$" --events "$WORK/events.json" \
        --timeout 300 2>&1 | tee "$LOGS/demo.log"
    local demo_rc=${PIPESTATUS[0]}
    # The demo's receipts, checked by independent JOSE libraries against the JWKS the running
    # verify-result publishes (the functions are still up).
    if ((demo_rc == 0)); then
        interop_receipts
    fi
    api_checks "http://127.0.0.1:$fn_port/lambda-url" "http://127.0.0.1:$sim_port"
    # Stop the functions before the scan, so their logs are complete.
    stop_pid "$API_PID"
    stop_pid "$WATCH_PID"
    stop_pid "$SIM_PID"
    stop_pid "$PAY_SIM_PID"
    ((demo_rc == 0))
}
if e2e; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    problem "e2e demo under cargo lambda watch (log: target/test-logs/lambda-watch.log)"
    [[ -f "$LOGS/lambda-watch.log" ]] && tail -n 40 "$LOGS/lambda-watch.log" >&2
fi

# ---------------------------------------------------------------- 4. soak
# Concurrent flows of every kind against three processes per function, random WeChat and AWS
# faults, then healing (wxface-dev soak; WXFACE_SOAK_SECONDS for a longer run). Its containers'
# logs are under $LOGS, so the PII scan reads them too.
section "soak: random WeChat and AWS faults, containers killed mid-invocation, three containers per function"
soak() {
    [[ -n "$MOTO_URL" ]] &&
        cargo run -q -p wxface-harness --bin wxface-dev -- soak --aws "$MOTO_URL" \
            --logs "$LOGS/soak" --seconds "${WXFACE_SOAK_SECONDS:-40}" --containers 3
}
counted "soak (container logs: target/test-logs/soak/)" soak

# ---------------------------------------------------------------- 5. PII scan
section "PII scan: every table and target/test-logs"
scan_pii() {
    [[ -n "$MOTO_URL" ]] &&
        cargo run -q -p wxface-harness --bin wxface-dev -- scan-pii --aws "$MOTO_URL" \
            --logs "$LOGS" --receipts "$WORK/receipts.json" --events "$WORK/events.json"
}
counted "PII scan" scan_pii

section "every upstream the functions called has its alarm (tests/alarms/upstream_pairs.py)"
counted "upstream alarms against the calls of this run (tests/alarms/upstream_pairs.py)" \
    "$PYTHON" tests/alarms/upstream_pairs.py "$LOGS"

stop_all

# ---------------------------------------------------------------- 6. release build, 7. deploy
# Last, so the functional results come first: a clean release build takes minutes (README
# "Performance"); an up-to-date one, seconds. The deploy test (scripts/deploy-test.sh) runs
# beside it: creating, checking and updating the stack on the emulator waits mostly on Python,
# not the CPU; its redeploy of issue-key waits for the build's exit code in $build_status.
wait "$EMULATOR_VENV_PID" ||
    log "the emulator venv failed in the background (target/deploy/venv.log); installing it again"
build_status="$WORK/release-build.status"
rm -f "$build_status"
start_bg "deploy test" "$WORK/deploy-test.log" \
    bash scripts/deploy-test.sh --build-status "$build_status"
DEPLOY_PID=$BG_PID

section "release build (arm64) within the size budget: scripts/check-size.sh"
skipped=()
bash scripts/check-size.sh --skipped-exit-code 3
build_rc=$?
echo "$build_rc" >"$build_status.tmp" && mv "$build_status.tmp" "$build_status"
case $build_rc in
    0) passed=$((passed + 1)) ;;
    3) skipped+=("release arm64 build and size budget (no aarch64 standard library; see above)") ;;
    *)
        failed=$((failed + 1))
        problem "release arm64 build / size budget (scripts/check-size.sh)"
        ;;
esac

section "deploy test: sam deploy to a local AWS emulator (scripts/deploy-test.sh, beside the build)"
deploy_test() {
    local rc=0
    wait "$DEPLOY_PID" || rc=$?
    cat "$WORK/deploy-test.log"
    return "$rc"
}
counted "deploy test (scripts/deploy-test.sh; logs: target/deploy/run/)" deploy_test

section "summary"
if ((${#problems[@]} > 0)); then
    for p in "${problems[@]}"; do log "  failed: $p"; done
fi
for s in "${skipped[@]}"; do log "  skipped: $s"; done
echo "tests: $passed passed, $failed failed"
if ((failed > 0 || ${#problems[@]} > 0)); then
    exit 1
fi
exit 0
