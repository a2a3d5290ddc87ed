// wxface.js against a stubbed `wx`: what it sends, in which order, and how it retries.
const test = require("node:test");
const assert = require("node:assert/strict");
const { createWxface } = require("../wxface");

const URLS = {
  issueKeyUrl: "https://issue-key.example/",
  verifyResultUrl: "https://verify-result.example/",
  backendUrl: "https://backend.example/receipt",
};

/** A `wx` whose wx.request answers from `script[url]` in turn, recording every call. */
function stubWx(script, { faceFails = false } = {}) {
  const calls = [];
  let codes = 0;
  const wx = {
    login({ success }) {
      calls.push({ api: "login" });
      success({ code: `code-${++codes}` });
    },
    request({ url, method, data, header, success }) {
      calls.push({ api: "request", url, method, data, header });
      const next = script[url].shift();
      assert.ok(next, `no answer scripted for ${url}`);
      success({ statusCode: next.status, data: next.data, header: next.header || {} });
    },
    requestFacialVerify({ verifyId, success, fail }) {
      calls.push({ api: "requestFacialVerify", verifyId });
      faceFails ? fail({ errMsg: "requestFacialVerify:fail cancel" }) : success({ errMsg: "ok" });
    },
    startFacialRecognitionVerify({ userIdKey, success }) {
      calls.push({ api: "startFacialRecognitionVerify", userIdKey });
      success({ errCode: 0, verifyResult: "vr-1" });
    },
  };
  return { wx, calls };
}

const v2Issued = { flow: "v2", out_seq_no: "seq-0001", verify_id: "vid-1", expires_in: 3600 };
const verified = {
  out_seq_no: "seq-0001",
  flow: "v2",
  status: "verified",
  verified: true,
  receipt: "h.p.s",
};
const pending = {
  status: 200,
  data: { out_seq_no: "seq-0001", flow: "v2", status: "pending", verified: false },
};
const unavailable = {
  status: 503,
  header: { "Retry-After": "2" },
  data: { error: { code: "upstream_unavailable", message: "busy" } },
};

function wxface(wx, extra = {}) {
  const waits = [];
  const client = createWxface({ wx, ...URLS, sleep: async (ms) => waits.push(ms), ...extra });
  return { client, waits };
}

test("v2: login, issue-key, the face check, verify-result, the receipt to the backend", async () => {
  const { wx, calls } = stubWx({
    [URLS.issueKeyUrl]: [{ status: 200, data: v2Issued }],
    [URLS.verifyResultUrl]: [{ status: 200, data: verified }],
    [URLS.backendUrl]: [{ status: 200, data: { accepted: true } }],
  });
  const { answer, backend } = await wxface(wx).client.verify({
    name: "张三",
    idCardNumber: "11010519491231002X",
    bizRef: "order-42",
  });
  assert.equal(answer.status, "verified");
  assert.deepEqual(backend, { status: 200, data: { accepted: true } });
  assert.deepEqual(
    calls.map((c) => c.api),
    ["login", "request", "requestFacialVerify", "login", "request", "request"],
  );
  const [issue, verify, forward] = calls.filter((c) => c.api === "request");
  assert.deepEqual(issue.data, {
    code: "code-1",
    name: "张三",
    id_card_number: "11010519491231002X",
    biz_ref: "order-42",
  });
  assert.equal(issue.method, "POST");
  assert.equal(issue.header["content-type"], "application/json");
  assert.equal(calls[2].verifyId, "vid-1");
  assert.deepEqual(
    verify.data,
    { code: "code-2", out_seq_no: "seq-0001" },
    "a fresh code, no verify_result for v2",
  );
  assert.deepEqual(forward.data, { out_seq_no: "seq-0001", receipt: "h.p.s" });
});

test("v1: the userIdKey goes to the jsapi and its verifyResult to verify-result", async () => {
  const { wx, calls } = stubWx({
    [URLS.issueKeyUrl]: [
      {
        status: 200,
        data: { flow: "v1", out_seq_no: "seq-0002", user_id_key: "uk-1", expires_in: 3600 },
      },
    ],
    [URLS.verifyResultUrl]: [
      { status: 200, data: { ...verified, flow: "v1", out_seq_no: "seq-0002" } },
    ],
    [URLS.backendUrl]: [{ status: 200, data: {} }],
  });
  await wxface(wx).client.verify({ name: "张三", idCardNumber: "11010519491231002X", flow: "v1" });
  assert.equal(calls.find((c) => c.api === "startFacialRecognitionVerify").userIdKey, "uk-1");
  const verify = calls.filter((c) => c.api === "request")[1];
  assert.deepEqual(verify.data, { code: "code-2", out_seq_no: "seq-0002", verify_result: "vr-1" });
  assert.equal(calls.filter((c) => c.api === "request")[0].data.flow, "v1");
});

test("a 503 is retried after its Retry-After, each attempt with a fresh login code", async () => {
  const { wx, calls } = stubWx({
    [URLS.issueKeyUrl]: [unavailable, unavailable, { status: 200, data: v2Issued }],
    [URLS.verifyResultUrl]: [unavailable, { status: 200, data: verified }],
    [URLS.backendUrl]: [{ status: 200, data: {} }],
  });
  const { client, waits } = wxface(wx);
  await client.verify({ name: "张三", idCardNumber: "11010519491231002X" });
  const codes = calls.filter((c) => c.api === "request" && c.data.code).map((c) => c.data.code);
  assert.deepEqual(codes, ["code-1", "code-2", "code-3", "code-4", "code-5"]);
  assert.equal(new Set(codes).size, codes.length, "no code is sent twice");
  assert.deepEqual(waits, [2000, 2000, 2000]);
});

test("a refusal is not retried and reaches the caller with its status and code", async () => {
  const refusal = {
    status: 400,
    data: { error: { code: "invalid_id_card_number", message: "bad" } },
  };
  const { wx, calls } = stubWx({ [URLS.issueKeyUrl]: [refusal] });
  await assert.rejects(wxface(wx).client.verify({ name: "张三", idCardNumber: "123" }), (err) => {
    assert.equal(err.name, "WxfaceError");
    assert.equal(err.status, 400);
    assert.equal(err.code, "invalid_id_card_number");
    return true;
  });
  assert.equal(calls.filter((c) => c.api === "request").length, 1);
});

test("503s stop after the last attempt, with the error", async () => {
  const { wx } = stubWx({ [URLS.issueKeyUrl]: [unavailable, unavailable] });
  await assert.rejects(
    wxface(wx, { attempts: 2 }).client.verify({ name: "张三", idCardNumber: "11010519491231002X" }),
    (err) => err.status === 503 && err.code === "upstream_unavailable",
  );
});

test("pending is asked again, then the final answer's receipt is forwarded", async () => {
  const { wx, calls } = stubWx({
    [URLS.issueKeyUrl]: [{ status: 200, data: v2Issued }],
    [URLS.verifyResultUrl]: [pending, pending, { status: 200, data: verified }],
    [URLS.backendUrl]: [{ status: 200, data: {} }],
  });
  const { client, waits } = wxface(wx, { pendingDelayMs: 700 });
  const { answer } = await client.verify({ name: "张三", idCardNumber: "11010519491231002X" });
  assert.equal(answer.status, "verified");
  assert.deepEqual(waits, [700, 700]);
  assert.equal(calls.filter((c) => c.url === URLS.backendUrl).length, 1);
});

test("a pending answer has no receipt, so nothing goes to the backend", async () => {
  const { wx, calls } = stubWx({
    [URLS.issueKeyUrl]: [{ status: 200, data: v2Issued }],
    [URLS.verifyResultUrl]: [pending, pending],
  });
  const { answer, backend } = await wxface(wx, { pendingPolls: 1 }).client.verify({
    name: "张三",
    idCardNumber: "11010519491231002X",
  });
  assert.equal(answer.status, "pending");
  assert.equal(backend, undefined);
  assert.equal(calls.filter((c) => c.url === URLS.backendUrl).length, 0);
});

test("a face check the user cancels is an error, and verify-result is not asked", async () => {
  const { wx, calls } = stubWx(
    { [URLS.issueKeyUrl]: [{ status: 200, data: v2Issued }] },
    { faceFails: true },
  );
  await assert.rejects(
    wxface(wx).client.verify({ name: "张三", idCardNumber: "11010519491231002X" }),
    (err) => err.code === "face_check_failed",
  );
  assert.equal(calls.filter((c) => c.url === URLS.verifyResultUrl).length, 0);
});
