//! The server finishes pending 2.0 sessions itself (docs/api.md §7.4), so a
//! passed face check is never lost when the phone does not come back.
//!
//! Each new 2.0 session gets its first check booked from the table's stream;
//! each check asks `queryverifyinfo` through the same finalization as
//! verify-result (one final state, one event) and, while the session stays
//! pending, books the next: a few over the verify_id's hour, the last just
//! before it expires, after which a session WeChat still calls unfinished is
//! `failed` (`expired`). A WeChat fault books a retry with backoff; WeChat
//! unreachable until the verify_id expires ends it `failed` (`unconfirmed`).
//! A session already final costs no WeChat call.

use std::sync::Arc;

use tracing::{error, info, warn};

use super::finalize::{Answer, finalize_v2, record};
use super::tenant::Named;
use super::{ServiceError, Services};
use crate::domain::reconcile::{Check, CheckPlan};
use crate::domain::session::LapseReason;
use crate::domain::{AppId, FinalResult, FinalStatus, Flow, Session};
use crate::ports::CheckScheduler;

/// What reconcile needs: the mini-program services and the scheduler.
#[derive(Clone)]
pub struct ReconcileServices {
    pub svc: Services,
    pub scheduler: Arc<dyn CheckScheduler>,
}

/// What one check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// No such session (never written, or deleted by the TTL), or a 1.0
    /// one, which only the phone or WeChat's push can finish.
    NothingToDo,
    /// Final already (the phone came back): nothing asked.
    AlreadyFinal,
    /// Final now, by this check.
    Finalized(FinalResult),
    /// Still pending, or WeChat failed: the next check is booked.
    Booked(Check),
}

/// A new session's first check, if it is a pending 2.0 session.
pub async fn book_first(
    rs: &ReconcileServices,
    tenant: Option<AppId>,
    session: &Session,
) -> Result<(), ServiceError> {
    if session.final_result().is_some() || session.flow() != Flow::V2 {
        return Ok(());
    }
    // From now, never in the past: the stream may hand it over late.
    let now = rs.svc.clock.now();
    let plan = CheckPlan::of(session);
    let at = match plan.next_check(now) {
        Some(at) => at,
        // Past the last regular check: one more before the verify_id expires.
        None if now < plan.expiry() => plan.retry_at(now, 0),
        None => return Ok(()),
    };
    book(rs, &tenant, session, at, 0).await.map(|_| ())
}

pub async fn check(rs: &ReconcileServices, check: &Check) -> Result<Checked, ServiceError> {
    let svc = match rs
        .svc
        .for_app(check.appid.as_ref(), Named::Explicitly)
        .await
    {
        Ok(svc) => svc,
        // A tenant removed since: its sessions are no longer the deployment's to check.
        Err(ServiceError::UnknownApp) => return Ok(Checked::NothingToDo),
        Err(e) => return retry_later(rs, check, None, e).await,
    };
    let svc = &*svc;
    let session = match svc.store.get(&check.out_seq_no).await {
        Ok(Some(session)) => session,
        Ok(None) => return Ok(Checked::NothingToDo),
        Err(e) => return retry_later(rs, check, None, e.into()).await,
    };
    if session.final_result().is_some() {
        return Ok(Checked::AlreadyFinal);
    }
    if session.flow() != Flow::V2 {
        return Ok(Checked::NothingToDo);
    }
    let plan = CheckPlan::of(&session);
    let outcome = finalize_v2(svc, &session).await;
    // After the call, which may have taken a while: never book in the past,
    // nor this check again (its schedule exists until it has run).
    let now = svc.clock.now().max(check.at);
    match outcome {
        Ok(Answer::Final(result)) => Ok(Checked::Finalized(result)),
        Ok(Answer::Pending { verify_ret }) => match plan.next_check(now) {
            Some(at) => book(rs, &check.appid, &session, at, 0).await,
            None => lapse(svc, &session, LapseReason::Expired, verify_ret).await,
        },
        // WeChat failed (unreachable, an error, its rate limit): try again
        // later, until the verify_id has expired.
        Err(ServiceError::WeChat(e)) => {
            warn!(event = "reconcile_wechat_failed", out_seq_no = %session.out_seq_no, failures = check.failures + 1, detail = %e, "queryverifyinfo failed");
            if now >= plan.expiry() {
                return lapse(svc, &session, LapseReason::Unconfirmed, None).await;
            }
            book(
                rs,
                &check.appid,
                &session,
                plan.retry_at(now, check.failures),
                check.failures + 1,
            )
            .await
        }
        Err(other) => retry_later(rs, check, Some(&plan), other).await,
    }
}

/// AWS (or a configuration) failed: the same check again later, with
/// backoff, so one outage does not end the chain of checks; if even that
/// cannot be booked, the invocation fails (Lambda retries it, then the
/// dead-letter queue keeps it).
async fn retry_later(
    rs: &ReconcileServices,
    check: &Check,
    plan: Option<&CheckPlan>,
    error: ServiceError,
) -> Result<Checked, ServiceError> {
    error!(event = "reconcile_failed", out_seq_no = %check.out_seq_no, failures = check.failures + 1, detail = %error, "check failed: retried later");
    let now = rs.svc.clock.now().max(check.at);
    let at = match plan {
        Some(plan) if now >= plan.expiry() => return Err(error),
        Some(plan) => plan.retry_at(now, check.failures),
        // The session could not be read: its times are unknown.
        None => now + crate::domain::reconcile::retry_delay(check.failures),
    };
    let next = Check {
        out_seq_no: check.out_seq_no.clone(),
        at,
        failures: check.failures + 1,
        appid: check.appid.clone(),
    };
    match rs.scheduler.book(&next).await {
        Ok(()) => Ok(Checked::Booked(next)),
        Err(_) => Err(error),
    }
}

async fn book(
    rs: &ReconcileServices,
    tenant: &Option<AppId>,
    session: &Session,
    at: i64,
    failures: u32,
) -> Result<Checked, ServiceError> {
    let next = Check {
        out_seq_no: session.out_seq_no.clone(),
        at,
        failures,
        appid: tenant.clone(),
    };
    rs.scheduler
        .book(&next)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    info!(event = "check_booked", out_seq_no = %session.out_seq_no, at, failures, "next check booked");
    Ok(Checked::Booked(next))
}

/// The server ends the session: the verify_id is running out.
async fn lapse(
    svc: &Services,
    session: &Session,
    why: LapseReason,
    verify_ret: Option<i64>,
) -> Result<Checked, ServiceError> {
    let result = FinalResult {
        status: FinalStatus::Lapsed(why),
        identify_ret: None,
        verify_ret,
        decided_at: svc.clock.now(),
    };
    Ok(Checked::Finalized(
        record(svc, session, result, None).await?,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::domain::FlowBinding;
    use crate::domain::session::SESSION_TTL_SECS;
    use crate::testing::{self, Fakes, MemScheduler};

    fn services() -> (Fakes, ReconcileServices, Arc<MemScheduler>) {
        let f = testing::services();
        let scheduler = Arc::new(MemScheduler::default());
        let rs = ReconcileServices {
            svc: f.svc.clone(),
            scheduler: scheduler.clone(),
        };
        (f, rs, scheduler)
    }

    fn verify_id(s: &Session) -> crate::domain::VerifyId {
        match &s.binding {
            FlowBinding::V2 { verify_id, .. } => verify_id.clone(),
            FlowBinding::V1 { .. } => panic!("v2"),
        }
    }

    fn due(s: &Session, at: i64, failures: u32) -> Check {
        Check {
            out_seq_no: s.out_seq_no.clone(),
            at,
            failures,
            appid: None,
        }
    }

    #[tokio::test]
    async fn a_passed_face_check_is_finalized_by_the_server_and_a_final_session_costs_nothing() {
        let (f, rs, scheduler) = services();
        let s = f.v2_session("o-user");
        book_first(&rs, None, &s).await.unwrap();
        let first = scheduler.booked.lock().unwrap()[0].clone();
        assert_eq!(first, due(&s, s.created_at + 300, 0));
        // Not finished yet: the next check booked.
        f.clock.advance(300);
        let next = check(&rs, &first).await.unwrap();
        assert_eq!(next, Checked::Booked(due(&s, s.created_at + 900, 0)));
        // Passed: final, verified, by the same write as verify-result's.
        f.wechat.script_verify_ret(&verify_id(&s), 10000);
        f.clock.advance(600);
        let Checked::Finalized(r) = check(&rs, &due(&s, s.created_at + 900, 0)).await.unwrap()
        else {
            panic!("finalized");
        };
        assert_eq!(
            (r.status, r.verify_ret),
            (FinalStatus::Verified, Some(10000))
        );
        assert_eq!(
            f.store.session(&s.out_seq_no).unwrap().final_result(),
            Some(&r)
        );
        // A check of a final session asks WeChat nothing.
        let asked = f.wechat.calls(crate::upstream::Upstream::Queryverifyinfo);
        assert_eq!(check(&rs, &first).await.unwrap(), Checked::AlreadyFinal);
        assert_eq!(
            f.wechat.calls(crate::upstream::Upstream::Queryverifyinfo),
            asked
        );
        // Nothing to ask about a v1 session, or one that is gone.
        let v1 = f.v1_session("o-user");
        assert_eq!(
            check(&rs, &due(&v1, 1, 0)).await.unwrap(),
            Checked::NothingToDo
        );
        book_first(&rs, None, &v1).await.unwrap();
        assert_eq!(scheduler.booked.lock().unwrap().len(), 2, "no check for v1");
        // Handed over late by the stream: booked from now, never in the past.
        let late = f.v2_session("o-user");
        f.clock.advance(3_000);
        book_first(&rs, None, &late).await.unwrap();
        let booked = scheduler.booked.lock().unwrap().last().cloned().unwrap();
        assert_eq!(booked.at, CheckPlan::of(&late).deadline());
        f.clock.advance(560);
        book_first(&rs, None, &late).await.unwrap();
        let booked = scheduler.booked.lock().unwrap().last().cloned().unwrap();
        assert_eq!(booked.at, late.created_at + 3_560 + 30);
        f.clock.advance(100);
        let before = scheduler.booked.lock().unwrap().len();
        book_first(&rs, None, &late).await.unwrap();
        assert_eq!(
            scheduler.booked.lock().unwrap().len(),
            before,
            "expired: nothing to book"
        );
    }

    #[tokio::test]
    async fn unfinished_at_the_last_check_is_failed_expired() {
        let (f, rs, _) = services();
        let s = f.v2_session("o-user");
        f.wechat.script_verify_ret(&verify_id(&s), 10005);
        let plan = CheckPlan::of(&s);
        f.clock.advance(plan.deadline() - s.created_at);
        let Checked::Finalized(r) = check(&rs, &due(&s, plan.deadline(), 0)).await.unwrap() else {
            panic!("finalized");
        };
        assert_eq!(r.status, FinalStatus::Lapsed(LapseReason::Expired));
        assert_eq!(
            (r.status.as_str(), r.status.reason()),
            ("failed", Some("expired"))
        );
        assert_eq!(r.verify_ret, Some(10005));
    }

    #[tokio::test]
    async fn a_wechat_fault_is_retried_with_backoff_until_the_verify_id_expires() {
        let (f, rs, scheduler) = services();
        let s = f.v2_session("o-user");
        f.clock.advance(300);
        f.wechat
            .fail(crate::upstream::Upstream::Queryverifyinfo, 100);
        let mut c = due(&s, s.created_at + 300, 0);
        let mut delays = Vec::new();
        while let Checked::Booked(next) = check(&rs, &c).await.unwrap() {
            delays.push(next.at - c.at);
            f.clock.advance(next.at - c.at);
            c = next;
        }
        assert_eq!(delays[..5], [30, 60, 120, 240, 300]);
        assert!(
            c.at >= s.created_at + SESSION_TTL_SECS,
            "retried until expiry"
        );
        let r = f
            .store
            .session(&s.out_seq_no)
            .unwrap()
            .final_result()
            .cloned()
            .unwrap();
        assert_eq!(r.status, FinalStatus::Lapsed(LapseReason::Unconfirmed));
        assert!(
            f.wechat.calls(crate::upstream::Upstream::Queryverifyinfo) < 20,
            "a bounded number of calls"
        );
        // WeChat back before expiry: a retry finishes it as usual.
        let s = f.v2_session("o-user");
        f.wechat.fail(crate::upstream::Upstream::Queryverifyinfo, 0);
        f.wechat.script_verify_ret(&verify_id(&s), 10000);
        let r = check(&rs, &due(&s, s.created_at + 300, 3)).await.unwrap();
        assert!(matches!(r, Checked::Finalized(ref r) if r.status == FinalStatus::Verified));
        // The table down: the same check booked again later, the chain goes on.
        let s = f.v2_session("o-user");
        f.store.fail("get", 1);
        let again = check(&rs, &due(&s, s.created_at + 300, 0)).await.unwrap();
        assert!(
            matches!(again, Checked::Booked(ref c) if c.failures == 1 && c.at > s.created_at + 300),
            "{again:?}"
        );
        // A check that runs early never books itself again (its schedule still exists).
        f.clock.set(s.created_at + 290);
        let next = check(&rs, &due(&s, s.created_at + 300, 0)).await.unwrap();
        assert_eq!(next, Checked::Booked(due(&s, s.created_at + 900, 0)));
        // The scheduler down: the invocation fails, to be retried.
        let s = f.v2_session("o-user");
        scheduler.down.store(true, Ordering::SeqCst);
        assert!(check(&rs, &due(&s, s.created_at + 300, 0)).await.is_err());
        assert!(book_first(&rs, None, &s).await.is_err());
    }
}
