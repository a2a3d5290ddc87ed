// wxface.js end to end against a running stack (make dev, or make test's): real wx.request calls
// to the functions, wx.login and the face checks played by the WeChat simulator's hooks, and a
// business backend that verifies the forwarded receipt with examples/backend/verify_receipt.mjs.
//
//   WXFACE_E2E_FUNCTIONS=http://127.0.0.1:9000/lambda-url WXFACE_E2E_SIM=http://127.0.0.1:9100 \
//     WXFACE_E2E_IDENTITY_KEY=<the identity secret's identity_key> node --test test/
const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const { createWxface } = require("../wxface");

const FUNCTIONS = process.env.WXFACE_E2E_FUNCTIONS;
const SIM = process.env.WXFACE_E2E_SIM;
// The deployment's identity_key, as the business backend holds it.
const IDENTITY_KEY = process.env.WXFACE_E2E_IDENTITY_KEY;
const APPID = "wx0123456789abcdef"; // the simulator's test mini-program
const NAME = "张三";
const ID_CARD = "11010519491231002X";
const skip =
  !(FUNCTIONS && SIM && IDENTITY_KEY) &&
  "set WXFACE_E2E_FUNCTIONS, WXFACE_E2E_SIM and WXFACE_E2E_IDENTITY_KEY (make test does)";

async function postJson(url, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let data = text;
  try {
    data = JSON.parse(text);
  } catch {}
  return { statusCode: res.status, data, header: Object.fromEntries(res.headers) };
}

/** The `wx` of a phone whose user is `openid`, played by the simulator. */
function simulatedWx(openid) {
  const done = (promise, success, fail) =>
    promise.then(success, (err) => fail({ errMsg: String(err) }));
  return {
    login({ success, fail }) {
      done(
        postJson(`${SIM}/__sim/login`, { appid: APPID, openid }).then((r) => ({
          code: r.data.code,
        })),
        success,
        fail,
      );
    },
    request({ url, data, success, fail }) {
      done(postJson(url, data), success, fail);
    },
    requestFacialVerify({ verifyId, success, fail }) {
      done(postJson(`${SIM}/__sim/face/v2/run`, { verify_id: verifyId, openid }), success, fail);
    },
    startFacialRecognitionVerify({ userIdKey, success, fail }) {
      const run = postJson(`${SIM}/__sim/face/v1/run`, {
        appid: APPID,
        openid,
        user_id_key: userIdKey,
      });
      done(
        run.then((r) => ({ errCode: 0, verifyResult: r.data.verify_result })),
        success,
        fail,
      );
    },
  };
}

/** The business backend: verifies each receipt against the deployment's JWKS. */
async function backend() {
  const { remoteKeys, verifyReceipt, identityHash } =
    await import("../../backend/verify_receipt.mjs");
  const jwks = remoteKeys(`${FUNCTIONS}/verify-result/.well-known/jwks.json`);
  const accepted = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      try {
        const { out_seq_no, receipt } = JSON.parse(body);
        const claims = await verifyReceipt(receipt, { jwks, audience: APPID });
        assert.equal(claims.out_seq_no, out_seq_no);
        assert.equal(claims.identity_hash, identityHash(IDENTITY_KEY, out_seq_no, NAME, ID_CARD));
        accepted.push(claims);
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ status: claims.status }));
      } catch (err) {
        res
          .writeHead(400, { "content-type": "application/json" })
          .end(JSON.stringify({ error: String(err) }));
      }
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/receipt`,
    accepted,
    close: () => server.close(),
  };
}

for (const flow of ["v2", "v1"]) {
  test(`${flow}: the module verifies a user through the running functions`, { skip }, async () => {
    const shop = await backend();
    try {
      const wxface = createWxface({
        wx: simulatedWx(`o-miniprogram-e2e-${flow}-${Date.now()}`),
        issueKeyUrl: `${FUNCTIONS}/issue-key/`,
        verifyResultUrl: `${FUNCTIONS}/verify-result/`,
        backendUrl: shop.url,
        pendingDelayMs: 300,
      });
      const { answer, backend: said } = await wxface.verify({
        name: NAME,
        idCardNumber: ID_CARD,
        flow,
        bizRef: "e2e-1",
      });
      assert.equal(answer.status, "verified", JSON.stringify(answer));
      assert.equal(answer.flow, flow);
      assert.deepEqual(said, { status: 200, data: { status: "verified" } });
      assert.equal(shop.accepted.length, 1);
      assert.equal(shop.accepted[0].biz_ref, "e2e-1");
    } finally {
      shop.close();
    }
  });
}
