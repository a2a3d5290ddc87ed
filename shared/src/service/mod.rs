//! The use cases, written against the ports. One error enum for all of them;
//! `crate::http` turns it into a status and a JSON body.

pub mod authinfo;
pub mod event_callback;
pub mod events;
pub mod finalize;
pub mod issue_key;
pub mod lookup;
pub mod receipt;
pub mod reconcile;
pub mod tenant;
pub mod verify_result;
pub mod webhooks;

use std::sync::Arc;

use thiserror::Error;

use crate::config::Settings;
use crate::domain::{AppId, Clock, KeyringError, ValidationError};
use crate::error::{ConfigError, StoreError, WeChatError, WeChatPayError};
use crate::ports::{AppSecretsSource, IdentityKeySource, SessionStore, WeChat};

pub use authinfo::KioskServices;
pub use finalize::finalize_v1;
pub use issue_key::{IssueKeyInput, Issued, issue_key};
pub use verify_result::{Answer, Verification, VerifyInput, verify_result};

/// Everything a function needs, built once per container.
#[derive(Clone)]
pub struct Services {
    pub settings: Settings,
    pub store: Arc<dyn SessionStore>,
    pub wechat: Arc<dyn WeChat>,
    pub secrets: Arc<dyn AppSecretsSource>,
    pub identity: Arc<dyn IdentityKeySource>,
    pub clock: Arc<dyn Clock>,
    /// The deployment's tenants (docs/api.md §9); `None` in a tenant's own
    /// services, and where `TENANT_SECRET_PREFIX` is unset.
    pub tenants: Option<Arc<dyn tenant::Tenants>>,
    /// Whose services these are: `None` for the deployment's own mini-program.
    pub tenant: Option<AppId>,
}

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A malformed field (not the login code: see `From<ValidationError>`).
    #[error(transparent)]
    Invalid(ValidationError),
    /// The login code is malformed, or WeChat refused it: the caller is not
    /// authenticated.
    #[error("the login code was refused")]
    InvalidCode,
    /// A mini-program user asked about another user's session.
    #[error("the session belongs to another user")]
    NotSessionOwner,
    /// A kiosk asked for a store or sub-merchant it is not registered to.
    #[error("the device is not registered for that: {0}")]
    DeviceNotAllowed(&'static str),
    #[error("no such session")]
    SessionNotFound,
    #[error("the session expired")]
    SessionExpired,
    /// WeChat does not know the client's verify_result (84001, 84003), or
    /// it expired (84002): the client's mistake.
    #[error("WeChat refused the verify_result (errcode {errcode})")]
    VerifyResultRefused { errcode: i64 },
    #[error("too many calls")]
    RateLimited { retry_after: i64 },
    /// The request names a mini-program this deployment does not serve.
    #[error("no mini-program with that appid is served here")]
    UnknownApp,
    /// The mini-program has started its `daily_limit` of sessions today.
    #[error("the daily limit is reached")]
    DailyLimit { retry_after: i64 },
    #[error(transparent)]
    WeChat(WeChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A push failed its signature, time window, decryption or appid check.
    #[error("push refused: {0}")]
    PushRefused(&'static str),
    /// A kiosk without a registered device token.
    #[error("device not authenticated")]
    Unauthorized,
    #[error(transparent)]
    WeChatPay(WeChatPayError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<WeChatPayError> for ServiceError {
    fn from(e: WeChatPayError) -> Self {
        match e {
            WeChatPayError::Config(c) => Self::Config(c),
            other => Self::WeChatPay(other),
        }
    }
}

impl From<WeChatError> for ServiceError {
    fn from(e: WeChatError) -> Self {
        match e {
            WeChatError::Config(c) => Self::Config(c),
            other => Self::WeChat(other),
        }
    }
}

/// A malformed login code is the same refusal as one WeChat refuses.
impl From<ValidationError> for ServiceError {
    fn from(e: ValidationError) -> Self {
        match e {
            ValidationError::LoginCode => Self::InvalidCode,
            other => Self::Invalid(other),
        }
    }
}

/// A key the keyring lost is the operator's to fix (`500 configuration_error`,
/// the key id in the log); a value that does not open is damage.
impl From<KeyringError> for ServiceError {
    fn from(e: KeyringError) -> Self {
        match e {
            KeyringError::UnknownKey(_) => Self::Config(ConfigError::DataKeyMissing(e.to_string())),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// jscode2session's refusals of the code itself are the caller's mistake.
fn login_error(e: WeChatError) -> ServiceError {
    match e {
        // 40029 invalid code, 40163 code been used, 40226 code blocked.
        WeChatError::Api {
            errcode: 40029 | 40163 | 40226,
            ..
        } => ServiceError::InvalidCode,
        other => other.into(),
    }
}
