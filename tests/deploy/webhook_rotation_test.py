"""The webhook token's rotation (docs/operations.md), on the local AWS emulator.

The emulator's CloudFormation has no EventBridge connection or API destination, so the stack's
webhook resources are made here through the EventBridge API, as template.yaml declares them
(WebhookSecret, WebhookConnection, WebhookDestination, WebhookRule on a bus), and the emulator's
EventBridge delivers to a local (plain HTTP) receiver. Then scripts/rotate-webhook-token.sh runs
as an operator would, and every POST is checked against what the backend would accept.

    python webhook_rotation_test.py --endpoint URL
"""

import argparse
import hmac
import http.server
import json
import os
import queue
import secrets
import string
import subprocess
import sys
import threading
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
HEADER = "X-Wxface-Webhook-Token"


def fail(msg):
    print(f"webhook rotation: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print(f"  ok  {msg}")


def receiver():
    """A local webhook endpoint: each POST's token header, in order."""
    got = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            got.put((self.headers.get(HEADER), json.loads(body or b"{}")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/wxface", got


def accepted(header, secret_string):
    """What the backend does (docs/api.md §7.2): the token, or the previous one during a rotation."""
    s = json.loads(secret_string)
    tokens = [t for t in (s.get("token"), s.get("previous_token")) if t]
    return any(hmac.compare_digest(header or "", t) for t in tokens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    args = ap.parse_args()
    env = {**os.environ, "AWS_ENDPOINT_URL": args.endpoint, "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}
    os.environ.update(env)
    sm = boto3.client("secretsmanager", endpoint_url=args.endpoint)
    events = boto3.client("events", endpoint_url=args.endpoint)
    run = secrets.token_hex(4)
    url, got = receiver()

    print("webhook rotation: the stack's webhook resources, as template.yaml declares them")
    first = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(48))
    secret = sm.create_secret(Name=f"wxface-webhook-{run}", SecretString=json.dumps({"token": first}))["ARN"]
    connection = f"wxface-webhook-{run}"
    conn_arn = events.create_connection(
        Name=connection, AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": HEADER, "ApiKeyValue": first}},
    )["ConnectionArn"]
    dest = events.create_api_destination(
        Name=f"wxface-webhook-{run}", ConnectionArn=conn_arn, InvocationEndpoint=url,
        HttpMethod="POST", InvocationRateLimitPerSecond=20,
    )["ApiDestinationArn"]
    bus = f"wxface-{run}-events"
    events.create_event_bus(Name=bus)
    events.put_rule(Name=f"wxface-webhook-{run}", EventBusName=bus,
                    EventPattern=json.dumps({"source": ["wxface"], "detail-type": ["Verification Finalized"]}))
    events.put_targets(Rule=f"wxface-webhook-{run}", EventBusName=bus,
                       Targets=[{"Id": "webhook", "Arn": dest,
                                 "RoleArn": "arn:aws:iam::000000000000:role/wxface-webhook"}])

    def deliver(n):
        events.put_events(Entries=[{"Source": "wxface", "DetailType": "Verification Finalized",
                                    "EventBusName": bus, "Detail": json.dumps({"event_id": f"final-{n}"})}])
        try:
            header, body = got.get(timeout=20)
        except queue.Empty:
            fail(f"event {n} was not POSTed to the webhook")
        check(body["detail"]["event_id"] == f"final-{n}", f"event {n} POSTed")
        return header

    def secret_now():
        return sm.get_secret_value(SecretId=secret)["SecretString"]

    def rotate(*extra):
        cmd = ["bash", str(ROOT / "scripts/rotate-webhook-token.sh"),
               "--secret-id", secret, "--connection", connection, *extra]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        print(done.stdout + done.stderr, end="")
        check(done.returncode == 0, f"rotate-webhook-token.sh {' '.join(extra)} exit code 0")

    header = deliver(1)
    check(header == first and accepted(header, secret_now()), "before: the first token, accepted")

    # What the docs used to say (put a new token in the secret) changes nothing on its own: the
    # connection still sends the one it was given, which a backend reading the secret refuses.
    sm.put_secret_value(SecretId=secret, SecretString=json.dumps({"token": "x" * 48}))
    header = deliver(2)
    check(header == first and not accepted(header, secret_now()), "a token put in the secret alone is not sent")
    sm.put_secret_value(SecretId=secret, SecretString=json.dumps({"token": first}))

    print("webhook rotation: scripts/rotate-webhook-token.sh")
    rotate()
    during = json.loads(secret_now())
    check(during["previous_token"] == first and during["token"] != first, "the secret holds the new token and the previous one")
    header = deliver(3)
    check(header == during["token"], "POSTs carry the new token")
    check(accepted(header, secret_now()) and accepted(first, secret_now()), "the backend accepts both during the rotation")

    # A second start before --finish would drop the token the connection may still send: refused.
    cmd = ["bash", str(ROOT / "scripts/rotate-webhook-token.sh"), "--secret-id", secret, "--connection", connection]
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    check(again.returncode != 0 and "under way" in again.stderr, "a second start before --finish is refused")
    check(json.loads(secret_now()) == during, "and changes nothing")

    rotate("--finish")
    after = json.loads(secret_now())
    check(after == {"token": during["token"]}, "finished: the new token only")
    header = deliver(4)
    check(accepted(header, secret_now()), "the new token is accepted")
    check(not accepted(first, secret_now()), "the old token is refused")
    print("webhook rotation: passed")


if __name__ == "__main__":
    main()
