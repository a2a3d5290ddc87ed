#!/usr/bin/env bash
# The release build and its size budget (run by `make test`): builds every arm64 bootstrap
# with scripts/build.sh (`cargo lambda build --release --arm64`), then fails if any bootstrap is
# larger than the budget.
#
# Budget: 7 MiB (7,340,032 bytes) per bootstrap; today's sizes are in docs/performance.md
# ("Bootstrap sizes"). The budget leaves a little room for growth; what it is there to catch is a
# dependency that drags in a second HTTP or TLS stack (the SDK's `default-https-client`, or its
# default features' hyper 0.14 + rustls 0.21 + ring), a debug build, or symbols left in, which
# add a megabyte or more at once. Lambda's own limit (250 MB unzipped) is far away; the budget is
# about cold starts (the code is fetched and mapped on each one) and staying lean.
#
# Usage: bash scripts/check-size.sh [--skipped-exit-code N]
#   Where the aarch64 standard library is missing and cannot be installed, the build is skipped:
#   this prints SKIPPED and the reason, and exits 0 (or N, so test.sh can tell a skip apart).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT" || exit 1

BUDGET_BYTES=$((7 * 1024 * 1024))

skipped_code=0
case "${1:-}" in
    "") ;;
    --skipped-exit-code)
        skipped_code="${2:?--skipped-exit-code needs a number}"
        ;;
    *) die "usage: bash scripts/check-size.sh [--skipped-exit-code N]" ;;
esac

started=$SECONDS
ARCH=arm64 bash scripts/build.sh --if-arm64-available
rc=$?
if ((rc == 3)); then
    # build.sh printed "SKIPPED: ..." with the reason.
    echo "check-size: SKIPPED (no arm64 build, so no size to check; this is not a failure)"
    exit "$skipped_code"
fi
if ((rc != 0)); then
    echo "check-size: FAILED: the release arm64 build failed (exit $rc)"
    exit 1
fi

over=0
for f in "${FUNCTIONS[@]}"; do
    bin="target/lambda/$f/bootstrap"
    if [[ ! -f "$bin" ]]; then
        echo "check-size: FAILED: $bin is missing"
        over=1
        continue
    fi
    bytes=$(stat -c %s "$bin")
    if ((bytes > BUDGET_BYTES)); then
        echo "check-size: FAILED: $f is $bytes bytes, over the budget of $BUDGET_BYTES bytes ($((BUDGET_BYTES / 1048576)) MiB)"
        over=1
    fi
done
if ((over)); then
    exit 1
fi
echo "check-size: OK: every bootstrap is within $BUDGET_BYTES bytes ($((BUDGET_BYTES / 1048576)) MiB); build and check took $((SECONDS - started)) s"
