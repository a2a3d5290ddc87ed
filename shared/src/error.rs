//! Errors of the adapters, shared by the services. Each layer has one enum;
//! `service::ServiceError` gathers them and `http` maps that to a status.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    #[error("environment variable {name} is invalid: {problem}")]
    InvalidEnv { name: &'static str, problem: String },
    #[error("secret {secret}: field {field} {problem}")]
    SecretField {
        secret: String,
        field: &'static str,
        problem: &'static str,
    },
    /// A stored value names a data key that the keyring no longer holds.
    #[error("{0}")]
    DataKeyMissing(String),
    #[error("secret {secret} has no value")]
    SecretEmpty { secret: String },
    /// Secrets Manager could not be reached: not a configuration mistake.
    #[error("secret {secret} could not be read: {detail}")]
    SecretUnavailable { secret: String, detail: String },
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("table unavailable: {0}")]
    Unavailable(String),
    #[error("item {pk} is malformed: {problem}")]
    Corrupt { pk: String, problem: String },
    #[error("out_seq_no already exists")]
    Duplicate,
}

/// EventBridge Scheduler could not book a check.
#[derive(Debug, Error)]
#[error("scheduler unavailable: {0}")]
pub struct SchedulerError(pub String);

/// EventBridge could not be reached or refused the whole call.
#[derive(Debug, Error)]
#[error("event bus unavailable: {0}")]
pub struct EventBusError(pub String);

#[derive(Debug, Error)]
pub enum WeChatError {
    /// WeChat answered with a non-zero errcode.
    #[error("WeChat errcode {errcode}")]
    Api { errcode: i64, errmsg: String },
    /// Not reachable, timed out, 5xx, or still busy (-1) after retries.
    #[error("WeChat unavailable: {0}")]
    Unavailable(String),
    /// A 200 answer we cannot read.
    #[error("WeChat answered something unreadable: {0}")]
    Malformed(String),
    /// WeChat's quota or rate limit (45009 daily, 45011 per minute, HTTP
    /// 429): not retried, since an immediate retry only prolongs it.
    #[error("WeChat rate limited the call ({0})")]
    RateLimited(i64),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl WeChatError {
    /// The token is invalid, unknown or expired: drop it and retry once.
    pub fn is_token_rejection(&self) -> bool {
        matches!(
            self,
            Self::Api {
                errcode: 40001 | 40014 | 42001,
                ..
            }
        )
    }
}

/// What went wrong talking to WeChat Pay (the face kiosk APIs).
#[derive(Debug, Error)]
pub enum WeChatPayError {
    /// APIv2 answered `return_code`/`result_code` FAIL: `code` is that code
    /// (or `err_code`), `message` WeChat Pay's `return_msg`.
    #[error("WeChat Pay APIv2 answered {code}: {message}")]
    V2 { code: String, message: String },
    /// APIv3 answered a 4xx with `{"code","message"}`.
    #[error("WeChat Pay APIv3 answered HTTP {status} {code}: {message}")]
    V3 {
        status: u16,
        code: String,
        message: String,
    },
    /// The answer's signature, serial or timestamp does not hold.
    #[error("WeChat Pay answer failed verification: {0}")]
    SignatureInvalid(String),
    /// An encrypted real-name field could not be decrypted or validated.
    #[error("WeChat Pay field could not be decrypted: {0}")]
    DecryptFailed(&'static str),
    /// Not reachable, timed out, 5xx or rate limited after bounded retries.
    #[error("WeChat Pay unavailable: {0}")]
    Unavailable(String),
    /// A signed answer we cannot read.
    #[error("WeChat Pay answered something unreadable: {0}")]
    Malformed(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl WeChatPayError {
    /// WeChat Pay says the face_sid is not usable (unknown, expired, or the
    /// user has not consented): the kiosk's mistake, not ours. WeChat Pay
    /// gives these no codes of their own (docs/wechatpay.md §5.1): a 404, or
    /// an INVALID_REQUEST about the face_sid or the user's authorisation.
    pub fn is_face_sid_refusal(&self) -> bool {
        match self {
            Self::V3 { status: 404, .. } => true,
            Self::V3 {
                status: 400,
                code,
                message,
            } => {
                code == "INVALID_REQUEST"
                    && (message.contains("face_sid") || message.contains("授权"))
            }
            _ => false,
        }
    }

    /// The public error code (docs/api.md §3) this failure is reported as; also
    /// the outcome an audit item records.
    pub fn public_code(&self) -> &'static str {
        if self.is_face_sid_refusal() {
            return "invalid_face_sid";
        }
        match self {
            Self::V2 { .. } | Self::V3 { .. } | Self::Malformed(_) => "upstream_error",
            Self::SignatureInvalid(_) => "upstream_signature_invalid",
            Self::DecryptFailed(_) => "decrypt_failed",
            Self::Unavailable(_) => "upstream_unavailable",
            Self::Config(_) => "configuration_error",
        }
    }
}
