//! Every trait the services and the token manager are written against.
//! `adapters` implements them on DynamoDB, Secrets Manager, WeChat and
//! WeChat Pay; `testing` implements them in memory for unit tests.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::{
    AppSecrets, IdentitySecret, MerchantSecrets, SubMerchant, WeChatCredentials, Webhook,
};
use crate::domain::event::FinalizedEvent;
use crate::domain::kiosk::{
    AuditRecord, Authinfo, AuthinfoRequest, CachedAuthinfo, FaceSid, InfoType, RealName,
};
use crate::domain::reconcile::Check;
use crate::domain::{
    AppId, FinalResult, GetInfoEvidence, IdCardNumber, LoginCode, OpenId, OutSeqNo, PersonName,
    Sealed, Session, UserIdKey, VerifyId, VerifyResultToken,
};
use crate::error::{
    ConfigError, EventBusError, SchedulerError, StoreError, WeChatError, WeChatPayError,
};

// --- Mini-program sessions -------------------------------------------------

/// How a finalize attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finalized {
    /// This call wrote the final state.
    Applied,
    /// Someone else finalized first; this is what they wrote.
    AlreadyFinal(FinalResult),
    /// The verify_result was already consumed by another session.
    VerifyResultTaken,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Writes a new pending session; fails if the out_seq_no exists.
    async fn insert(&self, session: &Session) -> Result<(), StoreError>;
    async fn get(&self, out_seq_no: &OutSeqNo) -> Result<Option<Session>, StoreError>;
    /// pending → final, once. With `consume`, the verify_result digest is
    /// first claimed for this session (a claim no other session can take).
    async fn finalize(
        &self,
        out_seq_no: &OutSeqNo,
        result: &FinalResult,
        consume: Option<&str>,
    ) -> Result<Finalized, StoreError>;
    /// Keeps the pushed verify_result on a pending session that has none
    /// yet; false if it is no longer pending or another one was kept first.
    async fn record_push(&self, out_seq_no: &OutSeqNo, sealed: &Sealed)
    -> Result<bool, StoreError>;
    /// Takes the right to ask WeChat about a pending session at `now`
    /// (lookup's limit): false when it is no longer pending, or was last
    /// asked after `cutoff`.
    async fn claim_check(
        &self,
        out_seq_no: &OutSeqNo,
        now: i64,
        cutoff: i64,
    ) -> Result<bool, StoreError>;
    /// The session that consumed this verify_result digest, if any.
    async fn verify_result_owner(&self, digest: &str) -> Result<Option<OutSeqNo>, StoreError>;
    /// Counts one issue-key call for `openid` in the window starting at
    /// `window_start`: the slot taken, or none when `limit` calls were
    /// already counted.
    async fn take_issue_slot(
        &self,
        openid: &OpenId,
        window_start: i64,
        limit: u32,
    ) -> Result<Option<IssueSlot>, StoreError>;
    /// Counts one session started by the mini-program on the UTC day
    /// starting at `day_start` (a tenant's `daily_limit`): the slot taken,
    /// or none when `limit` were counted already.
    async fn take_day_slot(
        &self,
        day_start: i64,
        limit: u32,
    ) -> Result<Option<IssueSlot>, StoreError>;
    /// Uncounts a slot WeChat's refusal or failure left unused; a slot given
    /// back already (a retried request) is not given back twice.
    async fn give_back_issue_slot(&self, slot: &IssueSlot) -> Result<(), StoreError>;
}

/// What an issue-key call is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Counted {
    /// Its user's clock hour (`ISSUE_KEY_LIMIT_PER_HOUR`).
    User(OpenId),
    /// The mini-program's UTC day (a tenant's `daily_limit`).
    Day,
}

/// One counted issue-key call: its window, and the call's own token in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueSlot {
    pub counted: Counted,
    pub window_start: i64,
    pub token: String,
}

/// The WeChat server API, typed. Token handling and retries live behind it.
#[async_trait]
pub trait WeChat: Send + Sync {
    /// jscode2session: the caller's openid.
    async fn login(&self, code: &LoginCode) -> Result<OpenId, WeChatError>;
    async fn get_verify_id(
        &self,
        out_seq_no: &OutSeqNo,
        name: &PersonName,
        id: &IdCardNumber,
        openid: &OpenId,
    ) -> Result<(VerifyId, i64), WeChatError>;
    /// The verify_ret of a 2.0 session.
    async fn query_verify_info(
        &self,
        verify_id: &VerifyId,
        out_seq_no: &OutSeqNo,
        cert_hash: &str,
        openid: &OpenId,
    ) -> Result<i64, WeChatError>;
    async fn get_user_id_key(
        &self,
        name: &PersonName,
        id: &IdCardNumber,
        out_seq_no: &OutSeqNo,
    ) -> Result<(UserIdKey, i64), WeChatError>;
    async fn get_info(
        &self,
        verify_result: &VerifyResultToken,
    ) -> Result<GetInfoEvidence, WeChatError>;
}

/// The app secret (`WECHAT_APP_SECRET_ID`) and, for the functions that call
/// WeChat, its credentials (`WECHAT_CREDENTIALS_SECRET_ID`).
#[async_trait]
pub trait AppSecretsSource: Send + Sync {
    async fn app_secrets(&self) -> Result<Arc<AppSecrets>, ConfigError>;
    async fn wechat_credentials(&self) -> Result<Arc<WeChatCredentials>, ConfigError>;
    /// Sessions the mini-program may start per UTC day (a tenant's
    /// `daily_limit`, docs/api.md §9); `None`: no limit.
    async fn daily_limit(&self) -> Result<Option<u32>, ConfigError> {
        Ok(None)
    }
}

/// The `identity_key` secret (issue-key computes `identity_hash` with it).
#[async_trait]
pub trait IdentityKeySource: Send + Sync {
    async fn identity_secret(&self) -> Result<Arc<IdentitySecret>, ConfigError>;
}

/// Where the server's own checks of pending 2.0 sessions are booked
/// (EventBridge Scheduler; docs/api.md §7.4).
#[async_trait]
pub trait CheckScheduler: Send + Sync {
    /// Books `check` for its time; booking the same check again books it once.
    async fn book(&self, check: &Check) -> Result<(), SchedulerError>;
}

// --- Verification events (docs/api.md §7) ----------------------------------

/// Where `Verification Finalized` events go (EventBridge).
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Puts every event; per event, whether the bus took it. An `Err` means
    /// none is known to be taken.
    async fn publish(&self, events: &[FinalizedEvent]) -> Result<Vec<bool>, EventBusError>;
}

// --- Signed webhooks per tenant (docs/api.md §9) ----------------------------

/// Each tenant's webhook, from its secret.
#[async_trait]
pub trait TenantWebhooks: Send + Sync {
    /// `None`: `appid` is no tenant's, or the tenant has no webhook.
    async fn webhook(&self, appid: &AppId) -> Result<Option<Webhook>, ConfigError>;
}

/// A receiver's answer: its status, and its `Retry-After` in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverAnswer {
    pub status: u16,
    pub retry_after: Option<u64>,
}

/// POSTs one delivery; `Err`: no answer (refused, timed out, reset).
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<ReceiverAnswer, String>;
}

/// Which tenants' receivers said 410 Gone, by their URL.
#[async_trait]
pub trait WebhookState: Send + Sync {
    async fn disabled(&self, appid: &AppId, url: &str) -> Result<bool, StoreError>;
    async fn disable(&self, appid: &AppId, url: &str) -> Result<(), StoreError>;
}

/// The delivery queue: a message not delivered becomes visible again after `secs`.
#[async_trait]
pub trait RetryQueue: Send + Sync {
    async fn retry_in(&self, receipt_handle: &str, secs: u64) -> Result<(), String>;
}

// --- The access token (docs/api.md §4) -------------------------------------

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Where the token is shared between instances.
#[async_trait]
pub trait TokenVault: Send + Sync {
    async fn load(&self) -> Result<Option<StoredToken>, WeChatError>;
    async fn store(&self, token: &StoredToken) -> Result<(), WeChatError>;
}

/// A lease that lets one instance at a time refresh the token.
#[async_trait]
pub trait TokenLease: Send + Sync {
    async fn try_acquire(&self, holder: &str, now: i64, until: i64) -> Result<bool, WeChatError>;
    async fn release(&self, holder: &str) -> Result<(), WeChatError>;
}

/// WeChat's stable_token in normal mode: (token, expires_in).
#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn fetch(&self) -> Result<(String, i64), WeChatError>;
}

// --- Face kiosk (authinfo function) ----------------------------------------

/// The WeChat Pay merchant credentials (`MERCHANT_SECRET_ID`).
#[async_trait]
pub trait MerchantSecretsSource: Send + Sync {
    async fn merchant_secrets(&self) -> Result<Arc<MerchantSecrets>, ConfigError>;
}

/// WeChat Pay's face-kiosk APIs, typed: signing, verification, decryption
/// and retries live behind it. `sub` is the sub-merchant a partner-mode
/// call acts for; `None` for a direct merchant.
#[async_trait]
pub trait WeChatPay: Send + Sync {
    /// `get_wxpayface_authinfo` (APIv2).
    async fn get_authinfo(
        &self,
        req: &AuthinfoRequest,
        sub: Option<&SubMerchant>,
    ) -> Result<Authinfo, WeChatPayError>;
    /// `GET /v3/facemch/users/{face_sid}` (APIv3), verified; decrypted and
    /// validated for a direct merchant, passed through still encrypted in
    /// partner mode.
    async fn real_name(
        &self,
        face_sid: &FaceSid,
        info_type: InfoType,
        sub: Option<&SubMerchant>,
    ) -> Result<RealName, WeChatPayError>;
}

/// The kiosk's items in the sessions table: the authinfo cache and the
/// real-name audit trail.
#[async_trait]
pub trait KioskStore: Send + Sync {
    /// The authinfo cached under `key` (a digest of device and parameters).
    async fn cached_authinfo(&self, key: &str) -> Result<Option<CachedAuthinfo>, StoreError>;
    async fn cache_authinfo(&self, key: &str, entry: &CachedAuthinfo) -> Result<(), StoreError>;
    async fn audit(&self, record: &AuditRecord) -> Result<(), StoreError>;
}
