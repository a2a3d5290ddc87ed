//! verify-result: the server-side answer for a session, from WeChat, never
//! from the phone. Final answers are kept and repeated without calling WeChat.

use tracing::info;

pub use super::finalize::Answer;
use super::finalize::{finalize_v1, finalize_v2};
use super::receipt::receipt;
use super::{ServiceError, Services, login_error};
use crate::domain::{
    BizRef, Flow, FlowBinding, LoginCode, OutSeqNo, Sealing, Session, VerifyResultToken,
};

pub struct VerifyInput {
    pub code: LoginCode,
    pub out_seq_no: OutSeqNo,
    pub verify_result: Option<VerifyResultToken>,
}

/// A session's answer, with what goes beside it.
#[derive(Debug, Clone)]
pub struct Verification {
    pub flow: Flow,
    pub answer: Answer,
    pub biz_ref: Option<BizRef>,
    /// Every final answer's, signed for this call; none while pending.
    pub receipt: Option<String>,
}

pub async fn verify_result(
    svc: &Services,
    input: VerifyInput,
) -> Result<Verification, ServiceError> {
    let (session, answer) = decide(svc, input).await?;
    let receipt = match &answer {
        Answer::Final(result) => Some(receipt(svc, &session, result).await?),
        Answer::Pending { .. } => None,
    };
    Ok(Verification {
        flow: session.flow(),
        answer,
        biz_ref: session.biz_ref,
        receipt,
    })
}

/// The session's answer: the stored final one, or WeChat's now.
async fn decide(svc: &Services, input: VerifyInput) -> Result<(Session, Answer), ServiceError> {
    // The login and the session read do not depend on each other, so they
    // overlap. Nothing is answered or asked of WeChat before the ownership
    // check below, and a bad code is still the first error reported.
    let (openid, session) = tokio::join!(
        svc.wechat.login(&input.code),
        svc.store.get(&input.out_seq_no)
    );
    let openid = openid.map_err(login_error)?;
    let session = session?.ok_or(ServiceError::SessionNotFound)?;
    if !session.is_owned_by(&openid) {
        info!(event = "forbidden", out_seq_no = %session.out_seq_no, "caller does not own the session");
        return Err(ServiceError::NotSessionOwner);
    }
    if let Some(result) = session.final_result() {
        let answer = Answer::Final(result.clone());
        return Ok((session, answer));
    }
    if session.is_expired(svc.clock.now()) {
        return Err(ServiceError::SessionExpired);
    }
    let answer = match &session.binding {
        FlowBinding::V2 { .. } => finalize_v2(svc, &session).await?,
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
    Ok((session, answer))
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
    let raw = (app.data_keys).open_for(Sealing::PushedVerifyResult, &session.out_seq_no, sealed)?;
    VerifyResultToken::parse(&raw)
        .map(Some)
        .map_err(|_| ServiceError::Internal("pushed verify_result is malformed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FinalStatus, RejectReason, Verdict};
    use crate::testing::{self, Fakes, GetInfo};

    fn input(f: &Fakes, caller: &str, s: &Session, vr: Option<&VerifyResultToken>) -> VerifyInput {
        VerifyInput {
            code: f.wechat.code_for(caller),
            out_seq_no: s.out_seq_no.clone(),
            verify_result: vr.cloned(),
        }
    }

    async fn status(f: &Fakes, caller: &str, s: &Session, vr: &VerifyResultToken) -> FinalStatus {
        match verify_result(&f.svc, input(f, caller, s, Some(vr))).await {
            Ok(Verification {
                answer: Answer::Final(r),
                receipt: Some(_),
                ..
            }) => r.status,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn v1_checks_bindings_before_the_face_result() {
        let f = testing::services();
        // Each case: what getinfo reports, and what the session becomes.
        type Case = (fn(&mut crate::domain::GetInfoEvidence), FinalStatus);
        let cases: [Case; 6] = [
            (|_| {}, FinalStatus::Verified),
            // Someone else's failed check is theirs, not this user's failure.
            (
                |e| {
                    e.openid = "o-other".into();
                    e.identify_ret = 10004;
                },
                FinalStatus::Rejected(RejectReason::OpenidMismatch),
            ),
            (
                |e| {
                    e.user_id_key = "another-key".into();
                    e.identify_ret = 10004;
                },
                FinalStatus::Rejected(RejectReason::UserIdKeyMismatch),
            ),
            (|e| e.identify_ret = 10004, FinalStatus::Failed),
            (
                |e| e.name_utf8_md5 = crate::domain::pii::md5_hex("张三"),
                FinalStatus::Rejected(RejectReason::NameMismatch),
            ),
            (
                |e| e.id_card_number_md5 = "84488d6c78590d326627f5ecf902d3f9".into(),
                FinalStatus::Rejected(RejectReason::IdCardMismatch),
            ),
        ];
        for (tweak, want) in cases {
            let s = f.v1_session("o-owner");
            let mut evidence = Fakes::evidence(&s, 0);
            tweak(&mut evidence);
            let vr = f.verify_result(evidence);
            assert_eq!(status(&f, "o-owner", &s, &vr).await, want);
        }
    }

    #[tokio::test]
    async fn a_foreign_verify_result_is_refused_without_being_consumed() {
        let f = testing::services();
        let victim = f.v1_session("o-victim");
        let vr = f.verify_result(Fakes::evidence(&victim, 0));
        let attacker = f.v1_session("o-attacker");
        assert_eq!(
            status(&f, "o-attacker", &attacker, &vr).await,
            FinalStatus::Rejected(RejectReason::OpenidMismatch)
        );
        assert!(testing::claims_of(&f.store).is_empty(), "nothing consumed");
        // The owner can still use it.
        assert_eq!(
            status(&f, "o-victim", &victim, &vr).await,
            FinalStatus::Verified
        );
    }

    #[tokio::test]
    async fn a_consumed_verify_result_is_reused_without_asking_wechat() {
        let f = testing::services();
        let first = f.v1_session("o-owner");
        let vr = f.verify_result(Fakes::evidence(&first, 0));
        assert_eq!(
            status(&f, "o-owner", &first, &vr).await,
            FinalStatus::Verified
        );
        let second = f.v1_session("o-owner");
        let getinfo_before = f.wechat.calls(crate::upstream::Upstream::Getinfo);
        assert_eq!(
            status(&f, "o-owner", &second, &vr).await,
            FinalStatus::Rejected(RejectReason::VerifyResultReused)
        );
        assert_eq!(
            f.wechat.calls(crate::upstream::Upstream::Getinfo),
            getinfo_before
        );
    }

    #[tokio::test]
    async fn the_overlapped_login_and_read_keep_their_order_of_errors() {
        let f = testing::services();
        let s = f.v1_session("o-owner");
        let bad_code = || crate::domain::LoginCode::parse("never-issued").unwrap();
        // A bad code comes first, whether the session exists or not.
        let unknown = VerifyInput {
            code: bad_code(),
            out_seq_no: OutSeqNo::generate(),
            verify_result: None,
        };
        let r = verify_result(&f.svc, unknown).await;
        assert!(matches!(r, Err(ServiceError::InvalidCode)), "{r:?}");
        let theirs = VerifyInput {
            code: bad_code(),
            ..input(&f, "o-owner", &s, None)
        };
        let r = verify_result(&f.svc, theirs).await;
        assert!(matches!(r, Err(ServiceError::InvalidCode)), "{r:?}");
        // A good code and no such session.
        let missing = VerifyInput {
            out_seq_no: OutSeqNo::generate(),
            ..input(&f, "o-owner", &s, None)
        };
        let r = verify_result(&f.svc, missing).await;
        assert!(matches!(r, Err(ServiceError::SessionNotFound)), "{r:?}");
        // A stranger is refused before WeChat is asked about the session.
        let r = verify_result(&f.svc, input(&f, "o-stranger", &s, None)).await;
        assert!(matches!(r, Err(ServiceError::NotSessionOwner)), "{r:?}");
        assert_eq!(f.wechat.calls(crate::upstream::Upstream::Getinfo), 0);
        assert_eq!(
            f.wechat.calls(crate::upstream::Upstream::Queryverifyinfo),
            0
        );
    }

    #[tokio::test]
    async fn final_answers_repeat_without_wechat_and_only_the_owner_reads_them() {
        let f = testing::services();
        let s = f.v1_session("o-owner");
        let vr = f.verify_result(Fakes::evidence(&s, 0));
        assert_eq!(status(&f, "o-owner", &s, &vr).await, FinalStatus::Verified);
        let calls = f.wechat.calls(crate::upstream::Upstream::Getinfo);
        let again = verify_result(&f.svc, input(&f, "o-owner", &s, None)).await;
        assert!(
            matches!(again, Ok(Verification { flow: Flow::V1, answer: Answer::Final(ref r), .. }) if r.status == FinalStatus::Verified)
        );
        assert_eq!(f.wechat.calls(crate::upstream::Upstream::Getinfo), calls);
        let stranger = verify_result(&f.svc, input(&f, "o-stranger", &s, None)).await;
        assert!(matches!(stranger, Err(ServiceError::NotSessionOwner)));
    }

    #[tokio::test]
    async fn expiry_missing_verify_result_and_outages_change_nothing() {
        let f = testing::services();
        let s = f.v1_session("o-owner");
        let missing = verify_result(&f.svc, input(&f, "o-owner", &s, None)).await;
        assert!(matches!(missing, Err(ServiceError::InvalidRequest(_))));
        let vr = VerifyResultToken::parse("vr-down").unwrap();
        f.wechat.script_getinfo("vr-down", GetInfo::Unavailable);
        let down = verify_result(&f.svc, input(&f, "o-owner", &s, Some(&vr))).await;
        assert!(matches!(down, Err(ServiceError::WeChat(_))));
        f.store.fail("finalize", 1);
        let vr = f.verify_result(Fakes::evidence(&s, 0));
        let lost = verify_result(&f.svc, input(&f, "o-owner", &s, Some(&vr))).await;
        assert!(matches!(lost, Err(ServiceError::Store(_))));
        assert_eq!(f.store.session(&s.out_seq_no).unwrap().state, s.state);
        f.clock.advance(crate::domain::session::SESSION_TTL_SECS);
        let late = verify_result(&f.svc, input(&f, "o-owner", &s, Some(&vr))).await;
        assert!(matches!(late, Err(ServiceError::SessionExpired)));
    }

    #[tokio::test]
    async fn a_race_is_decided_by_the_store_and_both_report_the_winner() {
        let f = testing::services();
        let s = f.v1_session("o-owner");
        let pass = f.verify_result(Fakes::evidence(&s, 0));
        let fail = f.verify_result(Fakes::evidence(&s, 10004));
        // Both judged against the same pending session, then written.
        let a = super::super::finalize::finalize_v1(&f.svc, &s, &pass);
        let b = super::super::finalize::finalize_v1(&f.svc, &s, &fail);
        let (a, b) = tokio::join!(a, b);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "one final state, reported by both");
        // A verify_result another session claimed in between is reused.
        let other = f.v1_session("o-owner");
        let taken = f.verify_result(Fakes::evidence(&other, 0));
        let judged = Verdict::Verified.into_final(Some(0), None, 1).unwrap();
        let digest = testing::app_secrets()
            .data_keys
            .lookup_digests(crate::domain::pii::Purpose::VerifyResult, taken.expose())
            .remove(0);
        super::super::finalize::record(&f.svc, &s, judged.clone(), Some(&digest))
            .await
            .unwrap();
        let r = super::super::finalize::record(&f.svc, &other, judged, Some(&digest))
            .await
            .unwrap();
        assert_eq!(
            r.status,
            FinalStatus::Rejected(RejectReason::VerifyResultReused)
        );
    }

    #[tokio::test]
    async fn v2_pending_then_final() {
        let f = testing::services();
        let code = f.wechat.code_for("o-owner");
        let issued = super::super::issue_key(
            &f.svc,
            super::super::IssueKeyInput {
                code,
                name: crate::domain::PersonName::parse(testing::NAME).unwrap(),
                id_card_number: crate::domain::IdCardNumber::parse(testing::ID_CARD).unwrap(),
                flow: Some(Flow::V2),
                biz_ref: None,
            },
        )
        .await
        .unwrap();
        let super::super::Issued::V2 {
            out_seq_no,
            verify_id,
            ..
        } = issued
        else {
            panic!("v2");
        };
        let s = f.store.session(&out_seq_no).unwrap();
        let pending = verify_result(&f.svc, input(&f, "o-owner", &s, None)).await;
        assert!(matches!(
            pending,
            Ok(Verification {
                answer: Answer::Pending {
                    verify_ret: Some(10300)
                },
                receipt: None,
                ..
            })
        ));
        f.wechat.script_verify_ret(&verify_id, 10000);
        let done = verify_result(&f.svc, input(&f, "o-owner", &s, None)).await;
        assert!(
            matches!(done, Ok(Verification { flow: Flow::V2, answer: Answer::Final(ref r), receipt: Some(_), .. }) if r.status == FinalStatus::Verified)
        );
    }
}
