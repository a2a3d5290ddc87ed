//! When the server itself asks WeChat about a pending 2.0 session
//! (docs/api.md §7.4): a few checks spread over the verify_id's hour, the
//! last one shortly before it expires, and retries with backoff after a
//! fault. Pure: the times only; `service::reconcile` acts on them.

use serde::{Deserialize, Serialize};

use super::error::ValidationError;
use super::ids::AppId;
use super::ids::OutSeqNo;
use super::session::Session;

/// The regular checks, in seconds after issue: most users finish within minutes.
pub const CHECKS_AFTER_ISSUE: [i64; 3] = [300, 900, 1800];
/// The last check, this long before `valid_until`: still pending then, the
/// session is final `failed` (`expired`). EventBridge Scheduler runs a
/// schedule within the minute after its time, so the last check runs in the
/// verify_id's last minute: a face check finished after it, in the last
/// seconds, is as late for it as for a phone asking after `valid_until`.
pub const LAST_CHECK_BEFORE_EXPIRY: i64 = 60;
/// After a failed check: 30 s, doubling, at most 5 minutes.
const FIRST_RETRY: i64 = 30;
const MAX_RETRY: i64 = 300;

/// The wait after the `failures`-th failed check in a row: 30 s, doubling,
/// at most 5 minutes.
pub fn retry_delay(failures: u32) -> i64 {
    (FIRST_RETRY << failures.min(8)).min(MAX_RETRY)
}

/// One session's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckPlan {
    created_at: i64,
    valid_until: i64,
}

impl CheckPlan {
    pub fn of(session: &Session) -> Self {
        Self {
            created_at: session.created_at,
            valid_until: session.valid_until,
        }
    }

    /// The last check: after it, a session WeChat still calls unfinished is `expired`.
    pub fn deadline(&self) -> i64 {
        (self.valid_until - LAST_CHECK_BEFORE_EXPIRY).max(self.created_at)
    }

    /// When the verify_id expires: after it WeChat can no longer be asked.
    pub fn expiry(&self) -> i64 {
        self.valid_until
    }

    /// The first regular check after `now` (the deadline last); `None` once
    /// the deadline has come.
    pub fn next_check(&self, now: i64) -> Option<i64> {
        if now >= self.deadline() {
            return None;
        }
        let regular = CHECKS_AFTER_ISSUE
            .iter()
            .map(|d| self.created_at + d)
            .find(|&at| at > now && at < self.deadline());
        Some(regular.unwrap_or(self.deadline()))
    }

    /// After the `failures`-th failed check in a row at `now`: when to try
    /// again (never past the verify_id's expiry).
    pub fn retry_at(&self, now: i64, failures: u32) -> i64 {
        (now + retry_delay(failures)).min(self.expiry())
    }
}

/// One scheduled check: what the scheduler hands the reconcile function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub out_seq_no: OutSeqNo,
    /// When it is due (unix seconds).
    pub at: i64,
    /// The failed checks in a row before this one.
    pub failures: u32,
    /// The tenant whose session it is (docs/api.md §9); `None`: the
    /// deployment's own mini-program's.
    pub appid: Option<AppId>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    out_seq_no: String,
    at: i64,
    #[serde(default)]
    failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    appid: Option<String>,
}

impl Check {
    /// The schedule's input: `{"out_seq_no", "at", "failures"}`, and a
    /// tenant's session's `appid`.
    pub fn to_json(&self) -> String {
        let wire = Wire {
            out_seq_no: self.out_seq_no.as_str().to_owned(),
            at: self.at,
            failures: self.failures,
            appid: self.appid.as_ref().map(|a| a.as_str().to_owned()),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    pub fn from_json(v: serde_json::Value) -> Result<Self, ValidationError> {
        let wire: Wire = serde_json::from_value(v).map_err(|_| ValidationError::OutSeqNo)?;
        Ok(Self {
            out_seq_no: OutSeqNo::parse(&wire.out_seq_no)?,
            at: wire.at,
            failures: wire.failures,
            appid: wire.appid.as_deref().map(AppId::parse).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> CheckPlan {
        CheckPlan {
            created_at: 1_000,
            valid_until: 1_000 + 3_600,
        }
    }

    #[test]
    fn checks_are_spread_over_the_hour_the_last_before_expiry() {
        let p = plan();
        let mut at = p.created_at;
        let mut seen = Vec::new();
        while let Some(next) = p.next_check(at) {
            seen.push(next - p.created_at);
            at = next;
        }
        assert_eq!(seen, [300, 900, 1800, 3600 - LAST_CHECK_BEFORE_EXPIRY]);
        // Late (a retry ran on): the next regular one, never past the deadline.
        assert_eq!(p.next_check(p.created_at + 1000), Some(p.created_at + 1800));
        assert_eq!(p.next_check(p.deadline() - 1), Some(p.deadline()));
        assert_eq!(p.next_check(p.deadline()), None);
    }

    #[test]
    fn retries_back_off_and_stop_at_expiry() {
        let p = plan();
        let now = p.created_at + 300;
        let delays: Vec<_> = (0..7).map(|f| p.retry_at(now, f) - now).collect();
        assert_eq!(delays, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(p.retry_at(p.expiry() - 10, 3), p.expiry());
    }

    #[test]
    fn a_check_reads_as_the_scheduler_hands_it_over() {
        let c = Check::from_json(serde_json::json!({"out_seq_no": "abcdef", "at": 5})).unwrap();
        assert_eq!((c.at, c.failures), (5, 0));
        let again = Check::from_json(serde_json::from_str(&c.to_json()).unwrap()).unwrap();
        assert_eq!(again, c);
        assert!(
            !c.to_json().contains("appid"),
            "the own app's checks read as before"
        );
        let tenant = Check {
            appid: Some(AppId::parse("wx0123456789abcdef").unwrap()),
            ..c
        };
        let again = Check::from_json(serde_json::from_str(&tenant.to_json()).unwrap()).unwrap();
        assert_eq!(again, tenant);
        for bad in [
            serde_json::json!({"out_seq_no": "a b", "at": 5}),
            serde_json::json!({"at": 5}),
            serde_json::json!({"out_seq_no": "abcdef", "at": 5, "appid": "wx1"}),
        ] {
            assert!(Check::from_json(bad).is_err());
        }
    }
}
