// Checks a wxface receipt on the business's own backend, with `jose`.
//
// A receipt (a compact ES256 JWS) proves that wxface decided this verification on its server:
// verify it against wxface's published keys (the JWKS), check the audience (your mini-program's
// appid) and the issuer, then recompute `identity_hash` from the name and ID number you hold.
//
//     node verify_receipt.mjs JWKS_URL APPID RECEIPT [NAME ID_CARD_NUMBER]

import { createHash } from "node:crypto";
import { createRemoteJWKSet, jwtVerify } from "jose";

// Clock skew tolerated between wxface and this server, in seconds.
export const LEEWAY = 30;

/** The receipt's claims; throws if it must not be trusted. */
export async function verifyReceipt(token, { jwks, audience, issuer = "wxface", currentDate }) {
  const { payload } = await jwtVerify(token, jwks, {
    algorithms: ["ES256"], // never "none", never a symmetric algorithm
    audience,
    issuer,
    clockTolerance: LEEWAY,
    requiredClaims: ["exp", "iat", "jti", "sub", "out_seq_no", "status"],
    currentDate,
  });
  return payload;
}

/** The JWKS of a wxface deployment, fetched and cached as its Cache-Control allows. */
export function remoteKeys(jwksUrl) {
  return createRemoteJWKSet(new URL(jwksUrl));
}

/** What the receipt's identity_hash must be for this person and session. */
export function identityHash(outSeqNo, name, idCardNumber) {
  const id = idCardNumber.trim().replace(/x$/, "X");
  const b64 = (s) => Buffer.from(s, "utf8").toString("base64");
  const text =
    `out_seq_no=${outSeqNo}&cert_type=${b64("IDENTITY_CARD")}` +
    `&cert_name=${b64(name.trim())}&cert_no=${b64(id)}`;
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const [, script, jwksUrl, audience, token, name, id] = process.argv;
if (import.meta.url === `file://${script}`) {
  if (!token) {
    console.error("usage: node verify_receipt.mjs JWKS_URL APPID RECEIPT [NAME ID_CARD_NUMBER]");
    process.exit(2);
  }
  const claims = await verifyReceipt(token, { jwks: remoteKeys(jwksUrl), audience });
  if (name && claims.identity_hash !== identityHash(claims.out_seq_no, name, id)) {
    console.error("the receipt is about another person");
    process.exit(1);
  }
  console.log(claims);
}
