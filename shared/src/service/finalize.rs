//! The decisions, each in one place: 1.0 (docs/wechat.md §2.7) for
//! verify-result and the push; 2.0 for verify-result, lookup and the
//! server's own checks; and the one write of a final result: the first
//! writer wins, a loser reports the winner's answer.

use tracing::info;

use super::{ServiceError, Services};
use crate::domain::pii::Purpose;
use crate::domain::{
    AppId, FinalResult, FlowBinding, RejectReason, Sealing, Session, V1Expectation, Verdict,
    VerifyResultToken, judge_v1, judge_v2,
};
use crate::error::WeChatError;
use crate::ports::Finalized;
use crate::telemetry::metrics;

/// A session's answer: final, or not yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Final(FinalResult),
    /// Not final yet, with WeChat's verify_ret when it was asked (2.0).
    Pending {
        verify_ret: Option<i64>,
    },
}

/// What getinfo and the rules say about one verify_result for one session.
pub(crate) struct V1Judgement {
    pub verdict: Verdict,
    pub identify_ret: Option<i64>,
    /// The verify_result's keyed digest: what its single-use claim is kept under.
    pub digest: String,
}

impl V1Judgement {
    /// Someone else's result (another user, another user_id_key, or one
    /// another session consumed): it must never consume or be consumed here.
    pub fn is_foreign(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Rejected(
                RejectReason::OpenidMismatch
                    | RejectReason::UserIdKeyMismatch
                    | RejectReason::VerifyResultReused
            )
        )
    }

    pub fn into_final(self, now: i64) -> Result<FinalResult, ServiceError> {
        self.verdict
            .into_final(self.identify_ret, None, now)
            .ok_or_else(|| ServiceError::Internal("a 1.0 verdict is never pending".into()))
    }
}

/// Judges `token` for a 1.0 session: a verify_result another session
/// consumed is refused before asking WeChat (the atomic claim at the write
/// covers a race between the two); then getinfo and the rules, binding
/// checks first.
pub(crate) async fn judge_token(
    svc: &Services,
    session: &Session,
    token: &VerifyResultToken,
) -> Result<V1Judgement, ServiceError> {
    let FlowBinding::V1 {
        user_id_key,
        name_md5_digest,
        id_md5_digest,
    } = &session.binding
    else {
        return Err(ServiceError::Internal("not a v1 session".into()));
    };
    let app = svc.secrets.app_secrets().await?;
    // Claimed under the current key (always the first: a keyring has one);
    // a claim made before a rotation is found under the key of its time.
    let digests = app
        .data_keys
        .lookup_digests(Purpose::VerifyResult, token.expose());
    for earlier in &digests {
        if let Some(owner) = svc.store.verify_result_owner(earlier).await?
            && owner != session.out_seq_no
        {
            return Ok(V1Judgement {
                verdict: Verdict::Rejected(RejectReason::VerifyResultReused),
                identify_ret: None,
                digest: digests[0].clone(),
            });
        }
    }
    let digest = digests[0].clone();
    let evidence = svc.wechat.get_info(token).await.map_err(|e| match e {
        WeChatError::Api {
            errcode: errcode @ (84001..=84003),
            ..
        } => ServiceError::VerifyResultRefused { errcode },
        other => other.into(),
    })?;
    let expect = V1Expectation {
        openid: &session.openid,
        user_id_key,
        name_md5_digest,
        id_md5_digest,
    };
    Ok(V1Judgement {
        verdict: judge_v1(&expect, &evidence, &app.data_keys)?,
        identify_ret: Some(evidence.identify_ret),
        digest,
    })
}

/// 2.0, for verify-result, lookup and the server's own checks alike: WeChat's
/// verify_ret now, and the final write if it is final.
pub(crate) async fn finalize_v2(svc: &Services, session: &Session) -> Result<Answer, ServiceError> {
    let FlowBinding::V2 {
        verify_id,
        cert_hash,
    } = &session.binding
    else {
        return Err(ServiceError::Internal("not a v2 session".into()));
    };
    let app = svc.secrets.app_secrets().await?;
    let cert_hash = (app.data_keys).open_for(Sealing::CertHash, &session.out_seq_no, cert_hash)?;
    let verify_ret = svc
        .wechat
        .query_verify_info(verify_id, &session.out_seq_no, &cert_hash, &session.openid)
        .await?;
    match judge_v2(verify_ret).into_final(None, Some(verify_ret), svc.clock.now()) {
        None => Ok(Answer::Pending {
            verify_ret: Some(verify_ret),
        }),
        Some(result) => Ok(Answer::Final(record(svc, session, result, None).await?)),
    }
}

/// verify-result's 1.0 path: the judgement becomes the session's answer. A
/// foreign verify_result is refused without being consumed, so nobody can
/// burn someone else's result by submitting it to their own session.
pub async fn finalize_v1(
    svc: &Services,
    session: &Session,
    token: &VerifyResultToken,
) -> Result<FinalResult, ServiceError> {
    let judgement = judge_token(svc, session, token).await?;
    let consume = (!judgement.is_foreign()).then(|| judgement.digest.clone());
    let result = judgement.into_final(svc.clock.now())?;
    record(svc, session, result, consume.as_deref()).await
}

/// Writes the final result once; a loser of a race reports the winner's. A
/// verify_result consumed by another session in the meantime turns the
/// answer into `rejected(verify_result_reused)`.
pub(crate) async fn record(
    svc: &Services,
    session: &Session,
    result: FinalResult,
    consume: Option<&str>,
) -> Result<FinalResult, ServiceError> {
    let written = match write_final(svc, session, &result, consume).await? {
        Finalized::Applied => result,
        Finalized::AlreadyFinal(winner) => winner,
        Finalized::VerifyResultTaken => {
            let reused = Verdict::Rejected(RejectReason::VerifyResultReused)
                .into_final(result.identify_ret, None, result.decided_at)
                .ok_or_else(|| ServiceError::Internal("rejection is final".into()))?;
            match write_final(svc, session, &reused, None).await? {
                Finalized::AlreadyFinal(winner) => winner,
                _ => reused,
            }
        }
    };
    Ok(written)
}

/// The conditional write itself, counted and logged once per session, by
/// the call that wrote it.
pub(crate) async fn write_final(
    svc: &Services,
    session: &Session,
    result: &FinalResult,
    consume: Option<&str>,
) -> Result<Finalized, ServiceError> {
    let outcome = svc
        .store
        .finalize(&session.out_seq_no, result, consume)
        .await?;
    if outcome == Finalized::Applied {
        metrics::verification(
            session.flow().as_str(),
            result.status.as_str(),
            svc.tenant.as_ref().map(AppId::as_str),
        );
        info!(
            event = "session_final",
            out_seq_no = %session.out_seq_no,
            status = result.status.as_str(),
            reason = result.status.reason(),
            "session decided"
        );
    }
    Ok(outcome)
}
