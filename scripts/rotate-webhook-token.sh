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

current=$(aws secretsmanager get-secret-value --secret-id "$secret" --query SecretString --output text)

if [[ "$finish" == yes ]]; then
    value=$(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(json.dumps({"token": s["token"]}))' "$current")
    aws secretsmanager put-secret-value --secret-id "$secret" --secret-string "$value" >/dev/null
    echo "rotate-webhook-token: finished; the previous token is no longer accepted"
    exit 0
fi

# 48 letters and digits, as the template's GenerateSecretString makes the first one.
new=$(python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(48)))')
value=$(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(json.dumps({"token": sys.argv[2], "previous_token": s["token"]}))' "$current" "$new")
aws secretsmanager put-secret-value --secret-id "$secret" --secret-string "$value" >/dev/null
auth=$(python3 -c 'import json, sys; print(json.dumps({"ApiKeyAuthParameters": {"ApiKeyName": "X-Wxface-Webhook-Token", "ApiKeyValue": sys.argv[1]}}))' "$new")
aws events update-connection --name "$connection" --authorization-type API_KEY \
    --auth-parameters "$auth" >/dev/null
echo "rotate-webhook-token: POSTs now carry the new token; the backend accepts the previous one"
if [[ -n "$stack" ]]; then again="--stack $stack"; else again="--secret-id $secret --connection $connection"; fi
echo "until you run (after 24 h): $0 $again --finish"
