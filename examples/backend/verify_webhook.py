"""Checks a wxface tenant webhook delivery on the hospital's backend, with the reference
`standardwebhooks` library (docs/tenants.md, docs/api.md §9).

Each delivery is a POST whose raw body is `{"type": "verification.finalized", "timestamp": …,
"data": <the Verification Finalized event's detail>}`, with the headers `webhook-id` (the same on
every retry of one event: de-duplicate on it), `webhook-timestamp` and `webhook-signature` (one
`v1,` signature per secret while wxface's secret for you rotates). Verify the raw bytes before
parsing them; then verify `data.receipt` with verify_receipt.py and act on its claims. Answer 2xx
once handled; 410 tells wxface to stop sending until your URL changes.

    python verify_webhook.py --deliveries FILE   (the project's interop test: a JSON list of
                                                  {secret, headers, body}; prints "N verified")
"""

import json
import sys

from standardwebhooks import Webhook, WebhookVerificationError


def verify_webhook(secret: str, raw_body: bytes, headers: dict) -> dict:
    """The delivery's payload (parsed); raises WebhookVerificationError if it does not hold."""
    return Webhook(secret).verify(raw_body, headers)


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        deliveries = json.load(f)
    verified = 0
    for d in deliveries:
        body = d["body"].encode()
        payload = verify_webhook(d["secret"], body, d["headers"])
        if payload["type"] != "verification.finalized" or not isinstance(payload["data"].get("receipt"), str):
            print(f"unexpected payload for {d['headers']['webhook-id']}", file=sys.stderr)
            return 1
        try:
            verify_webhook(d["secret"], body.replace(b"verified", b"verifieD"), d["headers"])
            print("a tampered body verified", file=sys.stderr)
            return 1
        except WebhookVerificationError:
            pass
        verified += 1
    print(f"{verified} verified")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--deliveries":
        sys.exit(main(sys.argv[2]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
