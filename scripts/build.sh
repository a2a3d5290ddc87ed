#!/usr/bin/env bash
# make build: every function as a Lambda bootstrap for arm64 (provided.al2023; ARCH=x86_64 for
# the template's Architecture=x86_64), release profile, through `cargo lambda build --release
# --arm64` (or --x86-64; zig from .venv links them; no Docker):
#   target/lambda/<function>/bootstrap
# then prints each bootstrap's size (and its size zipped, as Lambda stores it).
#
# Usage: [ARCH=arm64|x86_64] bash scripts/build.sh [--if-arm64-available]
#   --if-arm64-available: on a machine where the aarch64 standard library is missing and cannot
#   be installed (rustup cannot reach its servers, or there is no rustup), print a plain SKIPPED
#   line with the reason and exit 3 instead of failing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT"

ARM64_TARGET=aarch64-unknown-linux-gnu
ARCH="${ARCH:-arm64}"
case "$ARCH" in
    arm64) arch_flag=--arm64 ;;
    x86_64) arch_flag=--x86-64 ;;
    *) die "ARCH is arm64 or x86_64 (the template's Architecture), not $ARCH" ;;
esac

if_available=0
for arg in "$@"; do
    case "$arg" in
        --if-arm64-available) if_available=1 ;;
        -h | --help)
            sed -n '2,10p' "$0"
            exit 0
            ;;
        *) die "unknown argument $arg (see: bash scripts/build.sh --help)" ;;
    esac
done

# arm64_std_ready: true when the aarch64 standard library is installed or could be installed
# now; otherwise sets ARM64_UNAVAILABLE to the reason.
ARM64_UNAVAILABLE=""
arm64_std_ready() {
    local sysroot out
    sysroot="$(rustc --print sysroot)" || {
        ARM64_UNAVAILABLE="rustc --print sysroot failed"
        return 1
    }
    [[ -d "$sysroot/lib/rustlib/$ARM64_TARGET/lib" ]] && return 0
    if ! command -v rustup >/dev/null 2>&1; then
        ARM64_UNAVAILABLE="the $ARM64_TARGET standard library is not installed in $sysroot, and there is no rustup to add it"
        return 1
    fi
    log "build: adding the $ARM64_TARGET standard library (rustup target add $ARM64_TARGET)"
    if out="$(timeout 300 rustup target add "$ARM64_TARGET" 2>&1)"; then
        return 0
    fi
    ARM64_UNAVAILABLE="the $ARM64_TARGET standard library is not installed and \`rustup target add $ARM64_TARGET\` failed: $(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1)"
    return 1
}

if [[ "$ARCH" == arm64 ]] && ! arm64_std_ready; then
    if ((if_available)); then
        echo "SKIPPED: the arm64 release build was not run: $ARM64_UNAVAILABLE"
        exit 3
    fi
    die "cannot build for arm64: $ARM64_UNAVAILABLE"
fi

bash scripts/venv.sh || die "could not set up .venv (cargo-lambda, ziglang)"
# cargo-lambda and the zig it links with (the ziglang wheel) come from .venv.
export PATH="$WXFACE_ROOT/.venv/bin:$PATH"
PYTHON="$WXFACE_ROOT/.venv/bin/python"

# `--bin` from the workspace root, as `sam build` does it (BuildProperties.Binary): cargo then
# resolves features over the whole workspace, so these are the very artifacts `sam build`
# packages (and each reuses the other's build). `-p` would resolve features over the four
# packages only: other fingerprints, a second build, slightly different binaries.
bins=()
for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done

log "build: cargo lambda build --release $arch_flag ${bins[*]}"
started=$SECONDS
cargo lambda build --release "$arch_flag" "${bins[@]}"
elapsed=$((SECONDS - started))

missing=0
printf '\n%-16s %12s %10s %12s\n' function bytes MiB "zipped MiB"
for f in "${FUNCTIONS[@]}"; do
    bin="target/lambda/$f/bootstrap"
    if [[ ! -f "$bin" ]]; then
        printf '%-16s %12s\n' "$f" "MISSING ($bin)"
        missing=1
        continue
    fi
    bytes=$(stat -c %s "$bin")
    zipped=$("$PYTHON" - "$bin" <<'PY'
import io, sys, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(sys.argv[1], "bootstrap")
print(len(buf.getvalue()))
PY
    )
    awk -v f="$f" -v b="$bytes" -v z="$zipped" \
        'BEGIN { printf "%-16s %12d %10.2f %12.2f\n", f, b, b / 1048576, z / 1048576 }'
done
echo "build: ${elapsed}s for cargo lambda build (target/lambda/<function>/bootstrap)"
((missing == 0)) || die "a bootstrap is missing after the build"
