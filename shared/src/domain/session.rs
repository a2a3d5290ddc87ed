//! One verification, from issue-key to its final answer.
//!
//! ```text
//! pending ──(WeChat says pass, all checks hold)──▶ verified
//!    │    ──(WeChat says the face check failed)──▶ failed
//!    │    ──(one of our own checks fails)────────▶ rejected(reason)
//!    │    ──(2.0: the server's last check, still unfinished, or WeChat
//!    │       unreachable until the verify_id expired)─▶ failed(expired | unconfirmed)
//!    └────(past valid_until, still pending)──────▶ expired (answered 410, never stored)
//! ```
//! A final state is written once (a conditional write) and never changes.

use serde::{Deserialize, Serialize};

use super::ids::{BizRef, Flow, OpenId, OutSeqNo, UserIdKey, VerifyId};
use super::pii::Sealed;

/// How long WeChat keeps a verify_id / user_id_key usable (both 3600 s).
pub const SESSION_TTL_SECS: i64 = 3600;
/// How long a session is kept after it can no longer be used, so a late
/// verify-result still gets its final answer. Then DynamoDB's TTL deletes it.
pub const RETENTION_SECS: i64 = 24 * 3600;

/// `Debug` shows no credential: the binding's ids redact themselves, the
/// sealed and keyed values show nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub out_seq_no: OutSeqNo,
    pub openid: OpenId,
    pub created_at: i64,
    pub valid_until: i64,
    pub binding: FlowBinding,
    pub state: SessionState,
    /// 1.0: the verify_result WeChat pushed for this session, sealed. Lets
    /// verify-result finish a session the push could not finish itself.
    pub pushed_verify_result: Option<Sealed>,
    /// The business's own reference, echoed in answers and receipts.
    pub biz_ref: Option<BizRef>,
    /// The receipts' `identity_hash`, sealed (docs/api.md §6). Absent only
    /// on sessions issued before receipts existed.
    pub identity_hash: Option<Sealed>,
}

/// What the session is bound to on WeChat's side, without personal data in the clear.
#[derive(Clone, PartialEq, Eq)]
pub enum FlowBinding {
    V2 {
        verify_id: VerifyId,
        /// cert_hash must be sent to WeChat again, so it is sealed, not digested.
        cert_hash: Sealed,
    },
    V1 {
        user_id_key: UserIdKey,
        /// Keyed digests of the MD5s getinfo will report.
        name_md5_digest: String,
        id_md5_digest: String,
    },
}

impl std::fmt::Debug for FlowBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V2 { verify_id, .. } => f
                .debug_struct("V2")
                .field("verify_id", verify_id)
                .finish_non_exhaustive(),
            Self::V1 { user_id_key, .. } => f
                .debug_struct("V1")
                .field("user_id_key", user_id_key)
                .finish_non_exhaustive(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Pending,
    Final(FinalResult),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalResult {
    pub status: FinalStatus,
    pub identify_ret: Option<i64>,
    pub verify_ret: Option<i64>,
    pub decided_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalStatus {
    Verified,
    /// WeChat said the face check failed.
    Failed,
    Rejected(RejectReason),
    /// `failed` too, decided by the server when the verify_id ran out (2.0).
    Lapsed(LapseReason),
}

impl FinalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Failed | Self::Lapsed(_) => "failed",
            Self::Rejected(_) => "rejected",
        }
    }
    /// The `reason` of the answer: why it was rejected, or why the server ended it.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Self::Rejected(r) => Some(r.as_str()),
            Self::Lapsed(r) => Some(r.as_str()),
            Self::Verified | Self::Failed => None,
        }
    }
    pub fn parse(status: &str, reason: Option<&str>) -> Option<Self> {
        match (status, reason) {
            ("verified", _) => Some(Self::Verified),
            ("failed", None) => Some(Self::Failed),
            ("failed", Some(r)) => LapseReason::parse(r).map(Self::Lapsed),
            ("rejected", Some(r)) => RejectReason::parse(r).map(Self::Rejected),
            _ => None,
        }
    }
}

/// Why the server ended a 2.0 session as `failed` itself (docs/api.md §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LapseReason {
    /// At the last check before the verify_id expired, WeChat still said
    /// the face check was not finished (10300, 10005).
    Expired,
    /// WeChat could not be asked (unreachable, or an error) until the
    /// verify_id expired.
    Unconfirmed,
}

impl LapseReason {
    pub const ALL: [Self; 2] = [Self::Expired, Self::Unconfirmed];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Unconfirmed => "unconfirmed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Why our own checks refused a result WeChat reported (docs/api.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    OpenidMismatch,
    NameMismatch,
    IdCardMismatch,
    UserIdKeyMismatch,
    VerifyResultReused,
}

impl RejectReason {
    pub const ALL: [Self; 5] = [
        Self::OpenidMismatch,
        Self::NameMismatch,
        Self::IdCardMismatch,
        Self::UserIdKeyMismatch,
        Self::VerifyResultReused,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenidMismatch => "openid_mismatch",
            Self::NameMismatch => "name_mismatch",
            Self::IdCardMismatch => "id_card_mismatch",
            Self::UserIdKeyMismatch => "user_id_key_mismatch",
            Self::VerifyResultReused => "verify_result_reused",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl Session {
    pub fn flow(&self) -> Flow {
        match self.binding {
            FlowBinding::V1 { .. } => Flow::V1,
            FlowBinding::V2 { .. } => Flow::V2,
        }
    }

    pub fn is_owned_by(&self, caller: &OpenId) -> bool {
        &self.openid == caller
    }

    pub fn final_result(&self) -> Option<&FinalResult> {
        match &self.state {
            SessionState::Final(r) => Some(r),
            SessionState::Pending => None,
        }
    }

    /// Only a pending session expires; a final answer outlives the face session.
    pub fn is_expired(&self, now: i64) -> bool {
        self.state == SessionState::Pending && now >= self.valid_until
    }

    /// When the table may delete the item.
    pub fn purge_at(&self) -> i64 {
        self.valid_until + RETENTION_SECS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(state: SessionState) -> Session {
        Session {
            out_seq_no: OutSeqNo::parse("abcdef").unwrap(),
            openid: OpenId::from_wechat("o-user").unwrap(),
            created_at: 100,
            valid_until: 100 + SESSION_TTL_SECS,
            binding: FlowBinding::V2 {
                verify_id: VerifyId::from_wechat("vid").unwrap(),
                cert_hash: Sealed("x".into()),
            },
            state,
            pushed_verify_result: None,
            biz_ref: None,
            identity_hash: None,
        }
    }

    #[test]
    fn only_pending_sessions_expire() {
        let pending = session(SessionState::Pending);
        assert!(!pending.is_expired(100 + SESSION_TTL_SECS - 1));
        assert!(pending.is_expired(100 + SESSION_TTL_SECS));
        let done = session(SessionState::Final(FinalResult {
            status: FinalStatus::Verified,
            identify_ret: None,
            verify_ret: Some(10000),
            decided_at: 200,
        }));
        assert!(!done.is_expired(i64::MAX));
        assert_eq!(done.purge_at(), 100 + SESSION_TTL_SECS + RETENTION_SECS);
    }

    #[test]
    fn debug_shows_no_credential() {
        let mut s = session(SessionState::Pending);
        s.binding = FlowBinding::V1 {
            user_id_key: UserIdKey::from_wechat("e96a6009c20156a7147737d041be00a3").unwrap(),
            name_md5_digest: "hmac-of-name".into(),
            id_md5_digest: "hmac-of-id".into(),
        };
        let shown = format!("{s:?} {:?}", session(SessionState::Pending));
        for secret in ["e96a6009", "vid", "hmac-of-name"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn statuses_round_trip() {
        for r in RejectReason::ALL {
            assert_eq!(
                FinalStatus::parse("rejected", Some(r.as_str())),
                Some(FinalStatus::Rejected(r))
            );
        }
        for r in LapseReason::ALL {
            let status = FinalStatus::Lapsed(r);
            assert_eq!(status.as_str(), "failed");
            assert_eq!(FinalStatus::parse("failed", status.reason()), Some(status));
        }
        assert_eq!(
            FinalStatus::parse("failed", None),
            Some(FinalStatus::Failed)
        );
        assert_eq!(FinalStatus::parse("failed", Some("name_mismatch")), None);
        assert_eq!(FinalStatus::parse("rejected", None), None);
        assert_eq!(FinalStatus::parse("pending", None), None);
    }
}
