//! verify-result: the server-side answer for a session, from WeChat, never
//! from the phone. Final answers are kept and repeated without calling WeChat.

use tracing::info;

use crate::telemetry::metrics;

use super::event_callback::pushed_verify_result_context;
use super::issue_key::cert_hash_context;
use super::{ServiceError, Services, login_error};
use crate::domain::pii::Purpose;
use crate::domain::{
    FinalResult, Flow, FlowBinding, LoginCode, OutSeqNo, RejectReason, Session, V1Expectation,
    Verdict, VerifyResultToken, judge_v1, judge_v2,
};
use crate::ports::Finalized;

pub struct VerifyInput {
    pub code: LoginCode,
    pub out_seq_no: OutSeqNo,
    pub verify_result: Option<VerifyResultToken>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Final(FinalResult),
    /// 2.0 only: the user has not finished the face check yet.
    Pending {
        verify_ret: i64,
    },
}

pub async fn verify_result(
    svc: &Services,
    input: VerifyInput,
) -> Result<(Flow, Answer), ServiceError> {
    let openid = svc.wechat.login(&input.code).await.map_err(login_error)?;
    let session = svc
        .store
        .get(&input.out_seq_no)
        .await?
        .ok_or(ServiceError::SessionNotFound)?;
    if !session.is_owned_by(&openid) {
        info!(event = "forbidden", out_seq_no = %session.out_seq_no, "caller does not own the session");
        return Err(ServiceError::Forbidden);
    }
    let flow = session.flow();
    if let Some(result) = session.final_result() {
        return Ok((flow, Answer::Final(result.clone())));
    }
    if session.is_expired(svc.clock.now()) {
        return Err(ServiceError::SessionExpired);
    }
    let answer = match &session.binding {
        FlowBinding::V2 { .. } => decide_v2(svc, &session).await?,
        FlowBinding::V1 { .. } => {
            let token = match input.verify_result {
                Some(token) => token,
                None => pushed_verify_result(svc, &session).await?.ok_or_else(|| {
                    ServiceError::InvalidRequest(
                        "verify_result is required for a v1 session".into(),
                    )
                })?,
            };
            Answer::Final(finalize_v1(svc, &session, &token).await?)
        }
    };
    Ok((flow, answer))
}

/// The verify_result WeChat pushed for this session, if any.
async fn pushed_verify_result(
    svc: &Services,
    session: &Session,
) -> Result<Option<VerifyResultToken>, ServiceError> {
    let Some(sealed) = &session.pushed_verify_result else {
        return Ok(None);
    };
    let app = svc.secrets.app_secrets().await?;
    let raw = app
        .data_key
        .open(&pushed_verify_result_context(&session.out_seq_no), sealed)
        .map_err(|_| ServiceError::Internal("pushed verify_result cannot be opened".into()))?;
    VerifyResultToken::parse(&raw)
        .map(Some)
        .map_err(|_| ServiceError::Internal("pushed verify_result is malformed".into()))
}

async fn decide_v2(svc: &Services, session: &Session) -> Result<Answer, ServiceError> {
    let FlowBinding::V2 {
        verify_id,
        cert_hash,
    } = &session.binding
    else {
        return Err(ServiceError::Internal("not a v2 session".into()));
    };
    let app = svc.secrets.app_secrets().await?;
    let cert_hash = app
        .data_key
        .open(&cert_hash_context(&session.out_seq_no), cert_hash)
        .map_err(|_| {
            ServiceError::Internal("cert_hash cannot be opened: was data_key changed?".into())
        })?;
    let verify_ret = svc
        .wechat
        .query_verify_info(verify_id, &session.out_seq_no, &cert_hash, &session.openid)
        .await?;
    let verdict = judge_v2(verify_ret);
    match verdict.into_final(None, Some(verify_ret), svc.clock.now()) {
        None => Ok(Answer::Pending { verify_ret }),
        Some(result) => Ok(Answer::Final(record(svc, session, result, None).await?)),
    }
}

/// Decides a 1.0 session from getinfo. Shared by verify-result and the push
/// handler, so both apply the same rules and the first to write wins.
pub async fn finalize_v1(
    svc: &Services,
    session: &Session,
    token: &VerifyResultToken,
) -> Result<FinalResult, ServiceError> {
    let FlowBinding::V1 {
        user_id_key,
        name_md5_digest,
        id_md5_digest,
    } = &session.binding
    else {
        return Err(ServiceError::Internal("not a v1 session".into()));
    };
    let app = svc.secrets.app_secrets().await?;
    let digest = app.data_key.digest(Purpose::VerifyResult, token.expose());
    // A verify_result another session consumed is refused before asking
    // WeChat; the atomic claim in `record` covers a race between the two.
    if let Some(owner) = svc.store.verify_result_owner(&digest).await?
        && owner != session.out_seq_no
    {
        let result = Verdict::Rejected(RejectReason::VerifyResultReused)
            .into_final(None, None, svc.clock.now())
            .ok_or_else(|| ServiceError::Internal("rejection is final".into()))?;
        return record(svc, session, result, None).await;
    }
    let evidence = svc.wechat.get_info(token).await?;
    let expect = V1Expectation {
        openid: &session.openid,
        user_id_key,
        name_md5_digest,
        id_md5_digest,
    };
    let now = svc.clock.now();
    let verdict = judge_v1(&expect, &evidence, &app.data_key);
    let result = verdict
        .into_final(Some(evidence.identify_ret), None, now)
        .ok_or_else(|| ServiceError::Internal("a 1.0 verdict is never pending".into()))?;
    // A verify_result that belongs to another user or session is refused
    // without being consumed, so nobody can burn someone else's result.
    let belongs_here = !matches!(
        verdict,
        Verdict::Rejected(RejectReason::OpenidMismatch | RejectReason::UserIdKeyMismatch)
    );
    record(
        svc,
        session,
        result,
        belongs_here.then_some(digest.as_str()),
    )
    .await
}

/// Writes the final result once; a loser of a race reports the winner's.
async fn record(
    svc: &Services,
    session: &Session,
    result: FinalResult,
    consume: Option<&str>,
) -> Result<FinalResult, ServiceError> {
    let out_seq_no = &session.out_seq_no;
    let written = match svc.store.finalize(out_seq_no, &result, consume).await? {
        Finalized::Applied => {
            // Counted once per session: by the call that wrote it.
            metrics::verification(session.flow().as_str(), result.status.as_str());
            result
        }
        Finalized::AlreadyFinal(winner) => winner,
        Finalized::VerifyResultTaken => {
            let reused = Verdict::Rejected(RejectReason::VerifyResultReused)
                .into_final(result.identify_ret, None, result.decided_at)
                .ok_or_else(|| ServiceError::Internal("rejection is final".into()))?;
            match svc.store.finalize(out_seq_no, &reused, None).await? {
                Finalized::AlreadyFinal(winner) => winner,
                _ => reused,
            }
        }
    };
    info!(
        event = "session_final",
        out_seq_no = %out_seq_no,
        status = written.status.as_str(),
        reason = written.status.reason().map(RejectReason::as_str),
        "session decided"
    );
    Ok(written)
}
