//! The small traits the services are written against. Adapters implement
//! them for DynamoDB, Secrets Manager and WeChat; tests may use fakes.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::AppSecrets;
use crate::domain::{
    FinalResult, GetInfoEvidence, IdCardNumber, LoginCode, OpenId, OutSeqNo, PersonName, Session,
    UserIdKey, VerifyId, VerifyResultToken,
};
use crate::error::{ConfigError, StoreError, WeChatError};

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
    /// The session that consumed this verify_result digest, if any.
    async fn verify_result_owner(&self, digest: &str) -> Result<Option<OutSeqNo>, StoreError>;
    /// Counts one issue-key call for `openid` in the window starting at
    /// `window_start`; false when `limit` calls were already counted.
    async fn take_issue_slot(
        &self,
        openid: &OpenId,
        window_start: i64,
        limit: u32,
    ) -> Result<bool, StoreError>;
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

/// The mini-program credentials, read once per container.
#[async_trait]
pub trait AppSecretsSource: Send + Sync {
    async fn app_secrets(&self) -> Result<Arc<AppSecrets>, ConfigError>;
}
