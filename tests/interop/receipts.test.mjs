// Interop: receipts served by the running functions, verified with `jose` (an independent JOSE
// implementation) through the business-backend example, against the JWKS the function publishes.
// Every genuine receipt must verify and name its person; a tampered payload, an unknown kid, an
// expired receipt and an `alg: none` header must all be refused; a genuine receipt of a failed
// verification is refused as a pass unless asked for; identity_hash is computed as the
// documented vector says.
//
//     WXFACE_RECEIPTS=receipts.json node --test tests/interop/receipts.test.mjs

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  NotVerified,
  identityHash,
  remoteKeys,
  verifyReceipt,
} from "../../examples/backend/verify_receipt.mjs";

const record = JSON.parse(readFileSync(process.env.WXFACE_RECEIPTS, "utf8"));
const jwks = remoteKeys(record.jwks_url);
// Every receipt's signature and claims, whatever its status.
const options = { jwks, audience: record.audience, issuer: record.issuer, requireVerified: false };

test("identity_hash: the documented vector (docs/api.md §6)", () => {
  const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  assert.equal(
    identityHash(key, "seq_00001", " 李四 ", "11010519491231002x"),
    "c279218d14bff972f3fa4478e4e14799828673f039a5a05c60a61be232a0e47c",
  );
  assert.throws(() => identityHash("AAEC", "seq_00001", "李四", "11010519491231002X"));
});

test("the demo produced receipts of a pass and of a failure", () => {
  const statuses = new Set(record.receipts.map((r) => r.status));
  assert.ok(statuses.has("verified") && statuses.has("failed"), [...statuses].join());
});

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
const part = (token, i) => JSON.parse(Buffer.from(token.split(".")[i], "base64url"));
const withParts = (token, { header, payload, signature }) => {
  const [h, p, s] = token.split(".");
  return [header ? b64url(header) : h, payload ? b64url(payload) : p, signature ?? s].join(".");
};


for (const r of record.receipts) {
  const what = `${r.status} ${r.out_seq_no.slice(0, 8)}`;
  const token = r.receipt;

  test(`${what}: verifies and names its person`, async () => {
    const claims = await verifyReceipt(token, options);
    assert.equal(claims.out_seq_no, r.out_seq_no);
    assert.equal(claims.identity_hash, r.identity_hash);
  });

  test(`${what}: taken as a pass only if it is one`, async () => {
    const strict = { ...options, requireVerified: true };
    if (r.status === "verified") {
      assert.equal((await verifyReceipt(token, strict)).verified, true);
    } else {
      await assert.rejects(verifyReceipt(token, strict), NotVerified);
    }
  });

  test(`${what}: a tampered payload is refused`, async () => {
    const forged = { ...part(token, 1), identity_hash: "0".repeat(64), status: "verified" };
    await assert.rejects(verifyReceipt(withParts(token, { payload: forged }), options));
  });

  test(`${what}: an unknown kid is refused`, async () => {
    const header = { ...part(token, 0), kid: "not-published" };
    await assert.rejects(verifyReceipt(withParts(token, { header }), options), {
      code: "ERR_JWKS_NO_MATCHING_KEY",
    });
  });

  test(`${what}: an expired receipt is refused`, async () => {
    const { exp } = part(token, 1);
    const currentDate = new Date((exp + 60) * 1000);
    await assert.rejects(verifyReceipt(token, { ...options, currentDate }), {
      code: "ERR_JWT_EXPIRED",
    });
  });

  test(`${what}: alg none is refused`, async () => {
    const header = { alg: "none", typ: "JWT", kid: part(token, 0).kid };
    await assert.rejects(verifyReceipt(withParts(token, { header, signature: "" }), options));
  });
}
