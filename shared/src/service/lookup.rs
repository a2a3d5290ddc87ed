//! lookup (docs/api.md §7.3): a session's state for the business's own
//! backend, which IAM has authenticated: no user, no login code. For a
//! pending 2.0 session it asks WeChat first, through verify-result's own
//! finalization, at most once per session every few seconds however many
//! backends ask (verify-result and reconcile ask on their own terms), so a
//! backend that asks gets the final result at once and one that polls cannot
//! make wxface hammer WeChat. A final state comes with a freshly signed receipt.

use tracing::warn;

use super::finalize::Answer;
use super::finalize::finalize_v2;
use super::receipt::receipt;
use super::verify_result::Verification;
use super::{ServiceError, Services};
use crate::domain::{Flow, OutSeqNo, Session, SessionState};

/// At most one WeChat question from lookup per session in this many seconds, whoever asks.
pub const CHECK_INTERVAL_SECS: i64 = 5;

#[derive(Debug, Clone)]
pub struct LookedUp {
    pub session: Session,
    /// The stored answer (pending without a verify_ret), a final one with
    /// a receipt signed for this call.
    pub verification: Verification,
    /// Pending past `valid_until`: it will never finish.
    pub expired: bool,
}

pub async fn lookup(svc: &Services, out_seq_no: &OutSeqNo) -> Result<LookedUp, ServiceError> {
    let session = svc
        .store
        .get(out_seq_no)
        .await?
        .ok_or(ServiceError::SessionNotFound)?;
    let (session, asked) = ask_wechat(svc, session).await?;
    let (answer, receipt) = match &session.state {
        SessionState::Final(result) => (
            Answer::Final(result.clone()),
            Some(receipt(svc, &session, result).await?),
        ),
        SessionState::Pending => (Answer::Pending { verify_ret: asked }, None),
    };
    Ok(LookedUp {
        expired: session.is_expired(svc.clock.now()),
        verification: Verification {
            flow: session.flow(),
            answer,
            biz_ref: session.biz_ref.clone(),
            receipt,
        },
        session,
    })
}

/// A pending, unexpired 2.0 session: WeChat's answer now, if no one asked
/// in the last few seconds. The session as it is then, and the verify_ret
/// of a still-pending answer. A WeChat failure answers the stored state.
async fn ask_wechat(
    svc: &Services,
    session: Session,
) -> Result<(Session, Option<i64>), ServiceError> {
    let now = svc.clock.now();
    let askable = session.state == SessionState::Pending
        && session.flow() == Flow::V2
        && !session.is_expired(now);
    if !askable
        || !(svc.store)
            .claim_check(&session.out_seq_no, now, now - CHECK_INTERVAL_SECS)
            .await?
    {
        return Ok((session, None));
    }
    match finalize_v2(svc, &session).await {
        Ok(Answer::Final(result)) => Ok((
            Session {
                state: SessionState::Final(result),
                ..session
            },
            None,
        )),
        Ok(Answer::Pending { verify_ret }) => Ok((session, verify_ret)),
        Err(ServiceError::WeChat(e)) => {
            warn!(event = "lookup_wechat_failed", out_seq_no = %session.out_seq_no, detail = %e, "queryverifyinfo failed: the stored state answered");
            Ok((session, None))
        }
        Err(other) => Err(other),
    }
}
