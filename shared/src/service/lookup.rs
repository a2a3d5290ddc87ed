//! lookup (docs/api.md §7): a session's state for the business's own
//! backend, which IAM has authenticated: no user, no login code, no call
//! to WeChat. A final state comes with a freshly signed receipt.

use super::receipt::receipt;
use super::verify_result::{Answer, Verification};
use super::{ServiceError, Services};
use crate::domain::{OutSeqNo, Session, SessionState};

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
    let (answer, receipt) = match &session.state {
        SessionState::Final(result) => (
            Answer::Final(result.clone()),
            Some(receipt(svc, &session, result).await?),
        ),
        SessionState::Pending => (Answer::Pending { verify_ret: None }, None),
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
