// The mini-program side of a wxface verification, to copy into a mini-program (CommonJS, no
// dependencies):
//
//   wx.login → issue-key → wx.requestFacialVerify (v2) or wx.startFacialRecognitionVerify (v1)
//   → verify-result → the receipt to the business's own backend.
//
// What the phone reports is never the result: verify-result asks WeChat on the server side, and
// only its receipt (an ES256 JWT the backend checks against wxface's JWKS; examples/backend/)
// proves anything. Every call to wxface takes a fresh wx.login code: WeChat accepts each code
// once, and a call that failed may already have used it.

const DEFAULTS = {
  // Attempts per call when wxface answers 503 (WeChat or AWS busy; nothing was lost).
  attempts: 4,
  // How often, and how long apart, verify-result is asked again while the result is pending.
  pendingPolls: 5,
  pendingDelayMs: 1500,
  // Upper bound of a Retry-After wait, so the user is never left waiting long.
  maxRetryAfterMs: 10000,
};

class WxfaceError extends Error {
  /** `status` (HTTP, 0 for no answer) and `code` (wxface's error code, or the jsapi's errMsg). */
  constructor(message, { status = 0, code = "network_error", detail } = {}) {
    super(message);
    this.name = "WxfaceError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** A wx.* API with success/fail callbacks, as a promise. */
function call(wx, api, options = {}) {
  return new Promise((resolve, reject) => {
    wx[api]({ ...options, success: resolve, fail: reject });
  });
}

function header(res, name) {
  const h = res.header || {};
  const key = Object.keys(h).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : h[key];
}

/**
 * createWxface({ wx, issueKeyUrl, verifyResultUrl, backendUrl, sleep?, ...DEFAULTS })
 * `backendUrl`: where the business's backend takes the receipt (POST {out_seq_no, receipt}).
 */
function createWxface(options) {
  const cfg = { ...DEFAULTS, ...options };
  const { wx } = cfg;
  const sleep = cfg.sleep || ((ms) => new Promise((r) => setTimeout(r, ms)));

  async function freshCode() {
    const res = await call(wx, "login");
    if (!res || !res.code) throw new WxfaceError("wx.login gave no code", { code: "login_failed" });
    return res.code;
  }

  async function post(url, data) {
    let res;
    try {
      res = await call(wx, "request", {
        url,
        method: "POST",
        data,
        header: { "content-type": "application/json" },
      });
    } catch (err) {
      throw new WxfaceError(`request to ${url} failed: ${err && err.errMsg}`, { detail: err });
    }
    return res;
  }

  /** POSTs `body(code)` with a fresh code per attempt; retries 503 after its Retry-After. */
  async function callWxface(url, body) {
    for (let attempt = 1; ; attempt++) {
      const res = await post(url, body(await freshCode()));
      if (res.statusCode === 200) return res.data;
      const error = (res.data && res.data.error) || {};
      const failure = new WxfaceError(error.message || `HTTP ${res.statusCode}`, {
        status: res.statusCode,
        code: error.code || "http_error",
        detail: error,
      });
      if (res.statusCode !== 503 || attempt >= cfg.attempts) throw failure;
      const seconds = Number(header(res, "retry-after")) || 1;
      await sleep(Math.min(seconds * 1000, cfg.maxRetryAfterMs));
    }
  }

  /** The face check on the phone; its own answer only says the user went through it. */
  async function faceCheck(issued) {
    try {
      if (issued.flow === "v2") {
        await call(wx, "requestFacialVerify", { verifyId: issued.verify_id });
        return undefined;
      }
      const res = await call(wx, "startFacialRecognitionVerify", { userIdKey: issued.user_id_key });
      return res.verifyResult;
    } catch (err) {
      // Cancelled, or the face check failed on the phone: the session stays pending.
      throw new WxfaceError(`face check did not finish: ${err && err.errMsg}`, {
        code: "face_check_failed",
        detail: err,
      });
    }
  }

  async function result(issued, verifyResult) {
    for (let poll = 0; ; poll++) {
      const answer = await callWxface(cfg.verifyResultUrl, (code) => ({
        code,
        out_seq_no: issued.out_seq_no,
        ...(verifyResult ? { verify_result: verifyResult } : {}),
      }));
      if (answer.status !== "pending" || poll >= cfg.pendingPolls) return answer;
      await sleep(cfg.pendingDelayMs);
    }
  }

  /**
   * verify({ name, idCardNumber, flow?, bizRef? }) → { answer, backend }:
   * `answer` is verify-result's (status verified / failed / rejected, or pending if the user did
   * not finish in time); `backend` is what the business backend answered to the receipt.
   * Throws WxfaceError for a refusal (status + code) or a face check the user did not finish.
   */
  async function verify({ name, idCardNumber, flow, bizRef }) {
    const issued = await callWxface(cfg.issueKeyUrl, (code) => ({
      code,
      name,
      id_card_number: idCardNumber,
      ...(flow ? { flow } : {}),
      ...(bizRef ? { biz_ref: bizRef } : {}),
    }));
    const verifyResult = await faceCheck(issued);
    const answer = await result(issued, verifyResult);
    let backend;
    if (answer.receipt && cfg.backendUrl) {
      // Only the receipt counts there: the backend verifies it and decides.
      const res = await post(cfg.backendUrl, {
        out_seq_no: answer.out_seq_no,
        receipt: answer.receipt,
      });
      backend = { status: res.statusCode, data: res.data };
    }
    return { answer, backend };
  }

  return { verify };
}

module.exports = { createWxface, WxfaceError, DEFAULTS };
