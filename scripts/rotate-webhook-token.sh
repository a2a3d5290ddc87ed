#!/usr/bin/env bash
# Rotates the webhook token (docs/operations.md, "Rotating the webhook token"). CloudFormation
# reads the token into the EventBridge connection only when it creates or changes the connection,
# so putting a new value in the secret alone changes nothing: this puts it in both.
#
#   start:  the secret becomes {"token": <new>, "previous_token": <old>} (the backend, which
#           accepts either, is ready before any POST carries the new one), then the connection
#           is given the new token: from then on every POST, and every retry, carries it.
#   finish: (--finish, a day later: EventBridge retries a POST for up to 24 h) the secret keeps
#           the new token only.
#
# Usage: scripts/rotate-webhook-token.sh (--stack NAME | --secret-id ID --connection NAME) [--finish]
# Needs the AWS CLI (credentials and region as usual; AWS_ENDPOINT_URL is honoured) and python3.
set -euo pipefail

stack="" secret="" connection="" finish=no
while (($#)); do
    case "$1" in
    --stack) stack="$2"; shift 2 ;;
    --secret-id) secret="$2"; shift 2 ;;
    --connection) connection="$2"; shift 2 ;;
    --finish) finish=yes; shift ;;
    *) echo "usage: $0 (--stack NAME | --secret-id ID --connection NAME) [--finish]" >&2; exit 2 ;;
    esac
done

output() {
    aws cloudformation describe-stacks --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
if [[ -n "$stack" ]]; then
    secret=$(output WebhookSecretArn)
    connection=$(output WebhookConnectionName)
fi
if [[ -z "$secret" || "$secret" == None || -z "$connection" || "$connection" == None ]]; then
    echo "rotate-webhook-token: no webhook secret or connection (is WebhookUrl set?)" >&2
    exit 1
fi

# The tokens go through files only this user can read, never through a command line (which
# other local users can see in the process list).
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
aws secretsmanager get-secret-value --secret-id "$secret" --query SecretString --output text \
    >"$work/current.json"

if [[ "$finish" == yes ]]; then
    python3 - "$work" <<'PY'
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
s = json.loads((work / "current.json").read_text())
(work / "secret.json").write_text(json.dumps({"token": s["token"]}))
PY
    aws secretsmanager put-secret-value --secret-id "$secret" \
        --secret-string "file://$work/secret.json" >/dev/null
    echo "rotate-webhook-token: finished; the previous token is no longer accepted"
    exit 0
fi

# 48 letters and digits, as the template's GenerateSecretString makes the first one. A rotation
# under way (previous_token set) is finished first: starting another would drop the token the
# connection may still be sending.
if ! python3 - "$work" <<'PY'
import json, pathlib, secrets, string, sys
work = pathlib.Path(sys.argv[1])
s = json.loads((work / "current.json").read_text())
if s.get("previous_token"):
    sys.exit("a rotation is under way: run with --finish first (once EventBridge's 24 h of retries are over)")
alphabet = string.ascii_letters + string.digits
new = "".join(secrets.choice(alphabet) for _ in range(48))
(work / "secret.json").write_text(json.dumps({"token": new, "previous_token": s["token"]}))
auth = {"ApiKeyAuthParameters": {"ApiKeyName": "X-Wxface-Webhook-Token", "ApiKeyValue": new}}
(work / "auth.json").write_text(json.dumps(auth))
PY
then
    echo "rotate-webhook-token: not started" >&2
    exit 1
fi
aws secretsmanager put-secret-value --secret-id "$secret" \
    --secret-string "file://$work/secret.json" >/dev/null
aws events update-connection --name "$connection" --authorization-type API_KEY \
    --auth-parameters "file://$work/auth.json" >/dev/null
echo "rotate-webhook-token: POSTs now carry the new token; the backend accepts the previous one"
if [[ -n "$stack" ]]; then again="--stack $stack"; else again="--secret-id $secret --connection $connection"; fi
echo "until you run (after 24 h): $0 $again --finish"
