// Checks a wxface tenant webhook delivery on the hospital's backend, with the reference
// `standardwebhooks` library (docs/tenants.md, docs/api.md §9).
//
// Each delivery is a POST whose raw body is `{"type": "verification.finalized", "timestamp": …,
// "data": <the Verification Finalized event's detail>}`, with the headers `webhook-id` (the same
// on every retry of one event: de-duplicate on it), `webhook-timestamp` and `webhook-signature`
// (one `v1,` signature per secret while wxface's secret for you rotates). Verify the raw bytes
// before parsing them; then verify `data.receipt` with verify_receipt.mjs and act on its claims.
// Answer 2xx once handled; 410 tells wxface to stop sending until your URL changes.
//
//     node verify_webhook.mjs --deliveries FILE   (the project's interop test: a JSON list of
//                                                  {secret, headers, body}; prints "N verified")

import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

/** The delivery's payload (parsed), or throws if its signature or timestamp does not hold. */
export function verifyWebhook(secret, rawBody, headers) {
  return new Webhook(secret).verify(rawBody, headers);
}

if (process.argv[2] === "--deliveries") {
  const deliveries = JSON.parse(readFileSync(process.argv[3], "utf8"));
  let verified = 0;
  for (const d of deliveries) {
    const payload = verifyWebhook(d.secret, d.body, d.headers);
    if (payload.type !== "verification.finalized" || typeof payload.data?.receipt !== "string") {
      throw new Error(`unexpected payload for ${d.headers["webhook-id"]}`);
    }
    // A body changed by one byte must not verify.
    let refused = false;
    try {
      verifyWebhook(d.secret, d.body.replace("verified", "verifieD"), d.headers);
    } catch {
      refused = true;
    }
    if (!refused) throw new Error("a tampered body verified");
    verified += 1;
  }
  console.log(`${verified} verified`);
}
