//! The sessions table in memory (`SessionStore`, `TokenLease`, `KioskStore`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::kiosk::{AuditRecord, CachedAuthinfo};
use crate::domain::{FinalResult, OpenId, OutSeqNo, Sealed, Session, SessionState};
use crate::error::{StoreError, WeChatError};
use crate::ports::{Counted, Finalized, IssueSlot, KioskStore, SessionStore, TokenLease};

use super::{Faults, lock};

/// The sessions table in memory: sessions, verify_result claims, rate
/// windows, the token lease, the kiosk cache and audit items.
#[derive(Debug, Default)]
pub struct MemStore {
    sessions: Mutex<HashMap<String, Session>>,
    pub(super) claims: Mutex<HashMap<String, OutSeqNo>>,
    /// The tokens of the slots taken, by (openid, window).
    rate: Mutex<HashMap<(Counted, i64), HashSet<String>>>,
    lease: Mutex<Option<(String, i64)>>,
    authinfo: Mutex<HashMap<String, CachedAuthinfo>>,
    audits: Mutex<Vec<AuditRecord>>,
    /// When each session was last claimed for a check (lookup's limit).
    checked_at: Mutex<HashMap<String, i64>>,
    faults: Faults,
}

impl MemStore {
    /// The next `times` calls of `op` (a trait method's name) fail as if the
    /// table were unavailable.
    pub fn fail(&self, op: &'static str, times: u32) {
        self.faults.fail(op, times);
    }
    fn check(&self, op: &'static str) -> Result<(), StoreError> {
        if self.faults.hit(op) {
            return Err(StoreError::Unavailable(format!("injected fault in {op}")));
        }
        Ok(())
    }
    /// What `then` gives, unless a fault is injected into `op`: a call with
    /// nothing else to decide.
    fn checked<T>(&self, op: &'static str, then: impl FnOnce() -> T) -> Result<T, StoreError> {
        self.check(op)?;
        Ok(then())
    }
    pub fn session(&self, out_seq_no: &OutSeqNo) -> Option<Session> {
        lock(&self.sessions).get(out_seq_no.as_str()).cloned()
    }
    pub fn put_session(&self, session: Session) {
        lock(&self.sessions).insert(session.out_seq_no.as_str().to_owned(), session);
    }
    pub fn claim_owner(&self, digest: &str) -> Option<OutSeqNo> {
        lock(&self.claims).get(digest).cloned()
    }
    pub fn audits(&self) -> Vec<AuditRecord> {
        lock(&self.audits).clone()
    }
}

#[async_trait]
impl SessionStore for MemStore {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        self.check("insert")?;
        let mut all = lock(&self.sessions);
        if all.contains_key(session.out_seq_no.as_str()) {
            return Err(StoreError::Duplicate);
        }
        all.insert(session.out_seq_no.as_str().to_owned(), session.clone());
        Ok(())
    }

    async fn get(&self, out_seq_no: &OutSeqNo) -> Result<Option<Session>, StoreError> {
        self.checked("get", || self.session(out_seq_no))
    }

    async fn finalize(
        &self,
        out_seq_no: &OutSeqNo,
        result: &FinalResult,
        consume: Option<&str>,
    ) -> Result<Finalized, StoreError> {
        self.check("finalize")?;
        if let Some(digest) = consume {
            let mut claims = lock(&self.claims);
            match claims.get(digest) {
                Some(owner) if owner != out_seq_no => return Ok(Finalized::VerifyResultTaken),
                _ => {
                    claims.insert(digest.to_owned(), out_seq_no.clone());
                }
            }
        }
        let mut all = lock(&self.sessions);
        let session = all
            .get_mut(out_seq_no.as_str())
            .ok_or_else(|| StoreError::Corrupt {
                pk: out_seq_no.to_string(),
                problem: "no such session".into(),
            })?;
        match &session.state {
            SessionState::Final(winner) => Ok(Finalized::AlreadyFinal(winner.clone())),
            SessionState::Pending => {
                session.state = SessionState::Final(result.clone());
                Ok(Finalized::Applied)
            }
        }
    }

    async fn record_push(
        &self,
        out_seq_no: &OutSeqNo,
        sealed: &Sealed,
    ) -> Result<bool, StoreError> {
        self.check("record_push")?;
        let mut all = lock(&self.sessions);
        match all.get_mut(out_seq_no.as_str()) {
            Some(s) if s.state == SessionState::Pending && s.pushed_verify_result.is_none() => {
                s.pushed_verify_result = Some(sealed.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn claim_check(
        &self,
        out_seq_no: &OutSeqNo,
        now: i64,
        cutoff: i64,
    ) -> Result<bool, StoreError> {
        self.check("claim_check")?;
        let pending = lock(&self.sessions)
            .get(out_seq_no.as_str())
            .is_some_and(|s| s.state == SessionState::Pending);
        let mut checked = lock(&self.checked_at);
        let free = checked
            .get(out_seq_no.as_str())
            .is_none_or(|&at| at <= cutoff);
        if pending && free {
            checked.insert(out_seq_no.as_str().to_owned(), now);
        }
        Ok(pending && free)
    }

    async fn verify_result_owner(&self, digest: &str) -> Result<Option<OutSeqNo>, StoreError> {
        self.checked("verify_result_owner", || self.claim_owner(digest))
    }

    async fn take_issue_slot(
        &self,
        openid: &OpenId,
        window_start: i64,
        limit: u32,
    ) -> Result<Option<IssueSlot>, StoreError> {
        self.check("take_issue_slot")?;
        Ok(self.take_slot(Counted::User(openid.clone()), window_start, limit))
    }

    async fn take_day_slot(
        &self,
        day_start: i64,
        limit: u32,
    ) -> Result<Option<IssueSlot>, StoreError> {
        self.check("take_day_slot")?;
        Ok(self.take_slot(Counted::Day, day_start, limit))
    }

    async fn give_back_issue_slot(&self, slot: &IssueSlot) -> Result<(), StoreError> {
        self.check("give_back_issue_slot")?;
        let mut rate = lock(&self.rate);
        if let Some(tokens) = rate.get_mut(&(slot.counted.clone(), slot.window_start)) {
            tokens.remove(&slot.token);
        }
        Ok(())
    }
}

impl MemStore {
    fn take_slot(&self, counted: Counted, window_start: i64, limit: u32) -> Option<IssueSlot> {
        let mut rate = lock(&self.rate);
        let tokens = rate.entry((counted.clone(), window_start)).or_default();
        if tokens.len() >= limit as usize {
            return None;
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let token = format!(
            "slot-{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        tokens.insert(token.clone());
        Some(IssueSlot {
            counted,
            window_start,
            token,
        })
    }
}

#[async_trait]
impl TokenLease for MemStore {
    async fn try_acquire(&self, holder: &str, now: i64, until: i64) -> Result<bool, WeChatError> {
        let mut lease = lock(&self.lease);
        match &*lease {
            Some((_, u)) if *u > now => Ok(false),
            _ => {
                *lease = Some((holder.to_owned(), until));
                Ok(true)
            }
        }
    }

    async fn release(&self, holder: &str) -> Result<(), WeChatError> {
        let mut lease = lock(&self.lease);
        if lease.as_ref().is_some_and(|(h, _)| h == holder) {
            *lease = None;
        }
        Ok(())
    }
}

#[async_trait]
impl KioskStore for MemStore {
    async fn cached_authinfo(&self, key: &str) -> Result<Option<CachedAuthinfo>, StoreError> {
        self.checked("cached_authinfo", || lock(&self.authinfo).get(key).cloned())
    }

    async fn cache_authinfo(&self, key: &str, entry: &CachedAuthinfo) -> Result<(), StoreError> {
        self.checked("cache_authinfo", || {
            lock(&self.authinfo).insert(key.to_owned(), entry.clone());
        })
    }

    async fn audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        self.checked("audit", || lock(&self.audits).push(record.clone()))
    }
}
