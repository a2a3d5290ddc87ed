use thiserror::Error;

/// A request field that is present and typed right but whose value is not
/// acceptable. Each variant is its own public error code (docs/api.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    #[error("name {0}")]
    Name(&'static str),
    #[error("id_card_number {0}")]
    IdCardNumber(&'static str),
    #[error("out_seq_no must be 5-32 characters of [A-Za-z0-9_-]")]
    OutSeqNo,
    #[error("flow must be \"v1\" or \"v2\"")]
    Flow,
    #[error("verify_result must be 1-1024 visible ASCII characters")]
    VerifyResult,
    #[error("biz_ref must be 1-64 characters of [A-Za-z0-9._:-]")]
    BizRef,
    /// A login code that cannot be a wx.login code; never sent to WeChat.
    #[error("code must be 1-128 visible ASCII characters")]
    LoginCode,
    #[error("appid must be wx and 16 hex digits")]
    AppId,
}

impl ValidationError {
    /// The public error code of docs/api.md §3.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Name(_) => "invalid_name",
            Self::IdCardNumber(_) => "invalid_id_card_number",
            Self::OutSeqNo => "invalid_out_seq_no",
            Self::Flow => "invalid_flow",
            Self::VerifyResult => "invalid_verify_result",
            Self::BizRef => "invalid_biz_ref",
            Self::LoginCode => "invalid_code",
            Self::AppId => "invalid_appid",
        }
    }
}
