// Checks a wxface receipt on the business's own backend, with `jose`.
//
// A receipt (a compact ES256 JWS) proves that wxface decided this verification on its server:
// verify it against wxface's published keys (the JWKS), check the audience (your mini-program's
// appid) and the issuer, then recompute `identity_hash` from the name and ID number you hold and
// the deployment's `identity_key`.
//
// The same goes for a `Verification Finalized` event (EventBridge, or the webhook): verify its
// `detail.receipt` with this function and act on the receipt's claims, not on the event's other
// fields, which anyone allowed to put events on the bus could have written.
//
// A receipt is signed for every final state: `failed` and `rejected` receipts verify too. A valid
// signature proves what wxface decided, not that the person passed: `verifyReceipt` throws for
// any receipt whose `status` is not `verified` (and `verified` true) unless `requireVerified:
// false`.
//
//     WXFACE_IDENTITY_KEY=<base64> node verify_receipt.mjs JWKS_URL APPID RECEIPT [NAME ID_CARD_NUMBER]

import { createHmac } from "node:crypto";
import { createRemoteJWKSet, jwtVerify } from "jose";

// Clock skew tolerated between wxface and this server, in seconds.
export const LEEWAY = 30;

/** A genuine receipt of a verification the person did not pass (failed or rejected). */
export class NotVerified extends Error {}

/** The receipt's claims; throws if it must not be trusted, or (unless `requireVerified: false`)
 * if it is not the receipt of a passed verification. */
export async function verifyReceipt(
  token,
  { jwks, audience, issuer = "wxface", currentDate, requireVerified = true },
) {
  const { payload } = await jwtVerify(token, jwks, {
    algorithms: ["ES256"], // never "none", never a symmetric algorithm
    audience,
    issuer,
    clockTolerance: LEEWAY,
    requiredClaims: ["exp", "iat", "jti", "sub", "out_seq_no", "status"],
    currentDate,
  });
  if (requireVerified && (payload.status !== "verified" || payload.verified !== true)) {
    throw new NotVerified(`the verification was not passed (status ${payload.status})`);
  }
  return payload;
}

/** The JWKS of a wxface deployment, fetched and cached as its Cache-Control allows. */
export function remoteKeys(jwksUrl) {
  return createRemoteJWKSet(new URL(jwksUrl));
}

/** What the receipt's identity_hash must be for this person and session: HMAC-SHA256 under the
 * deployment's identity_key (base64 of 32 bytes, from its identity secret). */
export function identityHash(identityKey, outSeqNo, name, idCardNumber) {
  const key = Buffer.from(identityKey.trim(), "base64");
  if (key.length !== 32) throw new Error("identity_key must be base64 of 32 bytes");
  const id = idCardNumber.trim().replace(/x$/, "X");
  const b64 = (s) => Buffer.from(s, "utf8").toString("base64");
  const text =
    `out_seq_no=${outSeqNo}&cert_type=${b64("IDENTITY_CARD")}` +
    `&cert_name=${b64(name.trim())}&cert_no=${b64(id)}`;
  return createHmac("sha256", key).update(text, "utf8").digest("hex");
}

const [, script, jwksUrl, audience, token, name, id] = process.argv;
if (import.meta.url === `file://${script}`) {
  if (!token) {
    console.error("usage: node verify_receipt.mjs JWKS_URL APPID RECEIPT [NAME ID_CARD_NUMBER]");
    process.exit(2);
  }
  const claims = await verifyReceipt(token, { jwks: remoteKeys(jwksUrl), audience });
  const key = process.env.WXFACE_IDENTITY_KEY;
  if (name && claims.identity_hash !== identityHash(key, claims.out_seq_no, name, id)) {
    console.error("the receipt is about another person");
    process.exit(1);
  }
  console.log(claims);
}
