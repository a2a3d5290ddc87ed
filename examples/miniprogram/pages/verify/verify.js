// A page that verifies the user with wxface (wxface.js). The three URLs are the stack's outputs
// IssueKeyUrl and VerifyResultUrl, and your own backend's receipt endpoint; add their hosts to
// the mini-program's request domains (开发管理 → 服务器域名 → request合法域名).
const { createWxface } = require("../../wxface");
// backendUrl: your backend's endpoint that takes {out_seq_no, receipt}, verifies the receipt and
// answers what it decided.

const wxface = createWxface({
  wx,
  issueKeyUrl: "https://<issue-key-url-id>.lambda-url.<region>.on.aws/",
  verifyResultUrl: "https://<verify-result-url-id>.lambda-url.<region>.on.aws/",
  backendUrl: "https://backend.example.com/wxface/receipt",
});

// What the page shows for wxface's refusals (docs/api.md §3.2); anything else is "try again".
const MESSAGES = {
  invalid_name: "请检查姓名",
  invalid_id_card_number: "请检查身份证号",
  rate_limited: "尝试次数过多，请稍后再试",
  face_check_failed: "人脸核身未完成",
};

Page({
  data: { name: "", idCardNumber: "", busy: false, message: "" },

  onName(e) {
    this.setData({ name: e.detail.value });
  },

  onIdCardNumber(e) {
    this.setData({ idCardNumber: e.detail.value });
  },

  async onVerify() {
    if (this.data.busy) return;
    this.setData({ busy: true, message: "" });
    try {
      const { answer, backend } = await wxface.verify({
        name: this.data.name,
        idCardNumber: this.data.idCardNumber,
      });
      // The backend's word decides: it checked the receipt and answers the status it read from
      // it (examples/backend/), e.g. {"status": "verified"}. The phone's copy decides nothing.
      const accepted = backend && backend.status === 200 && (backend.data || {}).status === "verified";
      this.setData({
        message: accepted
          ? "核身成功"
          : answer.status === "pending"
            ? "核身结果确认中"
            : "核身未通过",
      });
    } catch (err) {
      this.setData({ message: MESSAGES[err.code] || "服务繁忙，请稍后再试" });
    } finally {
      this.setData({ busy: false });
    }
  },
});
