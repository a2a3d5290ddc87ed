#!/usr/bin/env bash
# Deploys one function's code quickly, without CloudFormation: builds its bootstrap for the
# architecture the deployed function has (the stack's Architecture: arm64 or x86_64) and runs
# `cargo lambda deploy` against the function the stack created, with the stack's role and the
# function's current environment, memory and timeout, so that only the code changes. The
# function's name and role come from the stack's outputs, the rest from
# `aws lambda get-function-configuration`.
#
# The stack does not know about such a deploy: the next `sam deploy` puts the stack's code back
# (and is the way to change configuration, permissions or anything else).
#
# Usage: bash scripts/deploy-function.sh FUNCTION [--stack NAME] [--region REGION]
#                                        [--profile PROFILE] [--dry-run]
#   FUNCTION   a folder of functions/ (issue-key, verify-result, ...)
#   --stack    the stack `sam deploy` created (default: $WXFACE_STACK, else wxface)
#   --dry-run  build and package, read the stack, but do not deploy (cargo lambda deploy --dry)
# Needs the AWS CLI, with credentials for the stack's account.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WXFACE_ROOT"

usage() {
    sed -n '11,16p' "$0" >&2
    exit 2
}

fn=""
stack="${WXFACE_STACK:-wxface}"
aws_args=()
dry=()
while (($#)); do
    case "$1" in
        --stack)
            stack="${2:?--stack needs a name}"
            shift 2
            ;;
        --region | --profile)
            aws_args+=("$1" "${2:?$1 needs a value}")
            shift 2
            ;;
        --dry-run)
            dry=(--dry)
            shift
            ;;
        -h | --help) usage ;;
        -*) die "unknown option $1" ;;
        *)
            [[ -z "$fn" ]] || die "one function at a time"
            fn="$1"
            shift
            ;;
    esac
done

[[ -n "$fn" ]] || usage
[[ " ${FUNCTIONS[*]} " == *" $fn "* ]] || die "unknown function $fn (one of: ${FUNCTIONS[*]})"
# The prefix of the function's outputs in template.yaml: issue-key -> IssueKeyFunctionName.
prefix="$(camel_case "$fn")"

command -v aws >/dev/null 2>&1 || die "the AWS CLI (aws) is needed: https://docs.aws.amazon.com/cli/"
bash scripts/venv.sh || die "could not set up .venv (cargo-lambda, ziglang)"
export PATH="$WXFACE_ROOT/.venv/bin:$PATH"
PYTHON="$WXFACE_ROOT/.venv/bin/python"

output() {
    local value
    value="$(aws cloudformation describe-stacks "${aws_args[@]}" --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text)" ||
        die "cannot read the outputs of stack $stack (wrong --stack, --region or credentials?)"
    [[ -n "$value" && "$value" != None ]] ||
        die "stack $stack has no output $1: deploy the current template.yaml with sam deploy first"
    printf '%s' "$value"
}

name="$(output "${prefix}FunctionName")"
role="$(output "${prefix}RoleArn")"
log "deploy: $fn is $name in stack $stack (role $role)"

config="$(aws lambda get-function-configuration "${aws_args[@]}" --function-name "$name" --output json)" ||
    die "cannot read the configuration of $name"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
env_file="$workdir/function.env"
# The function's environment as it is now, as a dotenv file (KEY="VALUE"), and its memory and
# timeout, so cargo lambda deploy sets them to what they already are.
meta="$(
    printf '%s' "$config" | "$PYTHON" -c '
import json, sys
c = json.load(sys.stdin)
env = (c.get("Environment") or {}).get("Variables") or {}
with open(sys.argv[1], "w") as f:
    for k, v in sorted(env.items()):
        if "\\" in v or "\n" in v:
            sys.exit(f"{k} holds a backslash or a newline, which an env file cannot carry here")
        v = v.replace("\"", "\\\"")
        f.write(f"{k}=\"{v}\"\n")
print(c["MemorySize"], c["Timeout"], ",".join(c.get("Architectures") or ["x86_64"]))
' "$env_file"
)" || die "cannot carry the environment of $name over"
read -r memory timeout arch <<<"$meta"
case "$arch" in
    arm64) arch_flag=--arm64 ;;
    x86_64) arch_flag=--x86-64 ;;
    *) die "$name runs on $arch, which scripts/build.sh does not build for: deploy it with sam deploy" ;;
esac
log "deploy: keeping ${memory} MB, ${timeout} s and its $(wc -l <"$env_file") environment variables"

# --bin from the workspace root, as scripts/build.sh and `sam build` do: the same artefacts.
log "deploy: cargo lambda build --release $arch_flag --bin $fn"
cargo lambda build --release "$arch_flag" --bin "$fn"

log "deploy: cargo lambda deploy ${dry[*]} $name"
cargo lambda deploy "${aws_args[@]}" "${dry[@]}" \
    --binary-name "$fn" \
    --iam-role "$role" \
    --env-file "$env_file" \
    --memory "$memory" \
    --timeout "$timeout" \
    "$name"
