//! event-callback: WeChat's message push (docs/wechat.md §5). Authenticated
//! (signature, time window, decryption, appid) in the mode the deployment
//! configured, then only a trigger: the result of a 1.0 session still comes
//! from getinfo, under the same rules as verify-result (`finalize`).

use std::time::Duration;

use tracing::{info, warn};

use super::finalize::{judge_token, write_final};
use super::{ServiceError, Services};
use crate::config::{AppSecrets, WeChatCredentials};
use crate::domain::{
    FinalResult, FlowBinding, OpenId, OutSeqNo, Sealing, Session, VerifyResultToken,
};
use crate::error::{ConfigError, WeChatError};
use crate::ports::Finalized;
use crate::push::crypto::{AesKey, Decrypted, signature_matches};
use crate::push::message::{Fields, PushEvent, parse_body};

/// WeChat's window for a push's timestamp (docs/api.md §3).
pub const TIMESTAMP_WINDOW_SECS: u64 = 300;
/// WeChat waits 5 s for the reply; getinfo and the writes get 3 s of them,
/// leaving a margin for the reply itself.
pub const FINALIZE_BUDGET: Duration = Duration::from_millis(3000);
/// WeChat's `echostr` is a short random string of digits and letters.
const MAX_ECHOSTR: usize = 128;

/// The query string of a push or URL check.
#[derive(Debug, Default, Clone)]
pub struct PushQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub echostr: Option<String>,
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
}

/// How an authentic push was handled. Both are answered `success`; a push
/// that could not be handled (WeChat or AWS unavailable, the time budget
/// spent) is answered 503, so WeChat sends it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Ignored(&'static str),
    Finalized(FinalResult),
}

fn push_token(creds: &WeChatCredentials) -> Result<&str, ServiceError> {
    creds.push_token.as_deref().ok_or_else(|| {
        ConfigError::SecretField {
            secret: "WECHAT_CREDENTIALS_SECRET_ID".into(),
            field: "push_token",
            problem: "is missing (needed for the message push)",
        }
        .into()
    })
}

fn refused(why: &'static str) -> ServiceError {
    ServiceError::PushRefused(why)
}

/// `GET /`: the URL check of the admin console. Echoes `echostr` when the
/// signature holds and the timestamp is recent.
pub async fn verify_url(svc: &Services, q: &PushQuery) -> Result<String, ServiceError> {
    let creds = svc.secrets.wechat_credentials().await?;
    let token = push_token(&creds)?;
    let (Some(sig), Some(ts), Some(nonce), Some(echostr)) =
        (&q.signature, &q.timestamp, &q.nonce, &q.echostr)
    else {
        return Err(refused(
            "signature, timestamp, nonce and echostr are required",
        ));
    };
    if echostr.is_empty()
        || echostr.len() > MAX_ECHOSTR
        || !echostr.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(ServiceError::InvalidRequest(
            "echostr must be 1-128 letters and digits".into(),
        ));
    }
    if !signature_matches(sig, &[token, ts, nonce]) {
        return Err(refused("signature does not match"));
    }
    check_window(svc, ts)?;
    Ok(echostr.clone())
}

/// `POST /`: a pushed message, in the mode the deployment accepts.
pub async fn receive(
    svc: &Services,
    q: &PushQuery,
    body: &str,
) -> Result<PushOutcome, ServiceError> {
    let app = svc.secrets.app_secrets().await?;
    let creds = svc.secrets.wechat_credentials().await?;
    let message = authenticate(svc, (&app, &creds), q, body)?;
    match PushEvent::from_fields(&message) {
        PushEvent::FaceIdentify {
            openid,
            out_seq_no,
            verify_result,
        } => face_identify(svc, &app, &openid, &out_seq_no, &verify_result).await,
        PushEvent::MalformedFaceIdentify => {
            warn!(
                event = "push_ignored",
                why = "malformed face_identify",
                "push ignored"
            );
            Ok(PushOutcome::Ignored("malformed face_identify event"))
        }
        PushEvent::Other => Ok(PushOutcome::Ignored("not a face_identify event")),
    }
}

/// Checks the push and returns its (decrypted) message fields. An encrypted
/// push is the only kind safe mode accepts: the plaintext `signature` covers
/// no body, and every safe-mode URL carries a valid one.
fn authenticate(
    svc: &Services,
    (app, creds): (&AppSecrets, &WeChatCredentials),
    q: &PushQuery,
    body: &str,
) -> Result<Fields, ServiceError> {
    let token = push_token(creds)?;
    let (Some(ts), Some(nonce)) = (&q.timestamp, &q.nonce) else {
        return Err(refused("timestamp and nonce are required"));
    };
    let mode = svc.settings.push_mode;
    let outer = parse_body(body).map_err(|e| ServiceError::InvalidRequest(e.to_string()))?;
    match q.encrypt_type.as_deref() {
        None | Some("raw") if mode.accepts_plaintext() => {
            let sig = q
                .signature
                .as_deref()
                .ok_or_else(|| refused("signature is required"))?;
            if !signature_matches(sig, &[token, ts, nonce]) {
                return Err(refused("signature does not match"));
            }
            check_window(svc, ts)?;
            Ok(outer)
        }
        None | Some("raw") => Err(refused("this deployment accepts only encrypted pushes")),
        Some("aes") if mode.accepts_encrypted() => {
            // msg_signature over the ciphertext; `signature` must not be
            // used for these (docs/wechat.md §5.4).
            let encrypt = outer
                .get("Encrypt")
                .ok_or_else(|| ServiceError::InvalidRequest("Encrypt is missing".into()))?;
            let sig = q
                .msg_signature
                .as_deref()
                .ok_or_else(|| refused("msg_signature is required"))?;
            if !signature_matches(sig, &[token, ts, nonce, encrypt]) {
                return Err(refused("msg_signature does not match"));
            }
            check_window(svc, ts)?;
            let decrypted = decrypt(creds, encrypt)?;
            if decrypted.appid != app.appid {
                return Err(refused("the message is for another appid"));
            }
            parse_body(&decrypted.message).map_err(|e| ServiceError::InvalidRequest(e.to_string()))
        }
        Some("aes") => Err(refused("this deployment accepts only plaintext pushes")),
        Some(_) => Err(ServiceError::InvalidRequest("unknown encrypt_type".into())),
    }
}

fn check_window(svc: &Services, ts: &str) -> Result<(), ServiceError> {
    let ts: i64 = ts
        .parse()
        .map_err(|_| refused("timestamp is not a number"))?;
    if svc.clock.now().abs_diff(ts) > TIMESTAMP_WINDOW_SECS {
        return Err(refused("timestamp is outside the 300 s window"));
    }
    Ok(())
}

/// The current EncodingAESKey, then the previous one while keys rotate.
fn decrypt(creds: &WeChatCredentials, encrypt: &str) -> Result<Decrypted, ServiceError> {
    let keys = [
        creds.encoding_aes_key.as_deref(),
        creds.previous_encoding_aes_key.as_deref(),
    ];
    if keys[0].is_none() {
        return Err(ConfigError::SecretField {
            secret: "WECHAT_CREDENTIALS_SECRET_ID".into(),
            field: "encoding_aes_key",
            problem: "is missing (needed for safe mode)",
        }
        .into());
    }
    keys.into_iter()
        .flatten()
        .filter_map(|k| AesKey::from_encoding_aes_key(k).ok())
        .find_map(|k| k.decrypt(encrypt).ok())
        .ok_or_else(|| refused("the message does not decrypt"))
}

async fn face_identify(
    svc: &Services,
    app: &AppSecrets,
    openid: &OpenId,
    out_seq_no: &OutSeqNo,
    verify_result: &VerifyResultToken,
) -> Result<PushOutcome, ServiceError> {
    let ignore = |why: &'static str| {
        info!(event = "push_ignored", out_seq_no = %out_seq_no, why, "push ignored");
        Ok(PushOutcome::Ignored(why))
    };
    let session = svc.store.get(out_seq_no).await?;
    let session = match not_for_a_push(session, openid, svc.clock.now()) {
        Ok(session) => session,
        Err(why) => return ignore(why),
    };
    // The first pushed verify_result is kept: a later, different one is
    // ignored; WeChat's retry of the same one carries on where it stopped.
    let already_recorded = match &session.pushed_verify_result {
        None => false,
        Some(sealed) => {
            let recorded =
                (app.data_keys).open_for(Sealing::PushedVerifyResult, out_seq_no, sealed)?;
            if recorded != verify_result.expose() {
                return ignore("another verify_result was pushed first");
            }
            true
        }
    };
    let finish = finish_pushed(svc, app, &session, verify_result, already_recorded);
    match tokio::time::timeout(FINALIZE_BUDGET, finish).await {
        Ok(Ok(PushOutcome::Ignored(why))) => ignore(why),
        Ok(result) => result,
        Err(_) => Err(ServiceError::WeChat(WeChatError::Unavailable(
            "the push's time budget was spent".into(),
        ))),
    }
}

/// The pending 1.0 session of the push's openid, or why the push changes nothing.
fn not_for_a_push(
    session: Option<Session>,
    openid: &OpenId,
    now: i64,
) -> Result<Session, &'static str> {
    let session = session.ok_or("unknown out_seq_no")?;
    if !session.is_owned_by(openid) {
        return Err("the pushed openid does not own the session");
    }
    if session.final_result().is_some() {
        return Err("the session is already final");
    }
    if !matches!(session.binding, FlowBinding::V1 { .. }) {
        return Err("not a v1 session");
    }
    if session.is_expired(now) {
        return Err("the session expired");
    }
    Ok(session)
}

/// Judges the pushed verify_result, keeps it (durable before the final
/// write: if that fails, WeChat's retry or verify-result finishes the session
/// with it), then writes the final state once.
async fn finish_pushed(
    svc: &Services,
    app: &AppSecrets,
    session: &Session,
    verify_result: &VerifyResultToken,
    already_recorded: bool,
) -> Result<PushOutcome, ServiceError> {
    let out_seq_no = &session.out_seq_no;
    // Judged before anything is written: a result that is not this session's
    // own (another user's, another key's, or one consumed elsewhere) changes nothing.
    let judgement = match judge_token(svc, session, verify_result).await {
        Err(ServiceError::VerifyResultRefused { .. }) => {
            return Ok(PushOutcome::Ignored(
                "WeChat does not know the pushed verify_result",
            ));
        }
        other => other?,
    };
    if judgement.is_foreign() {
        return Ok(PushOutcome::Ignored(
            "the verify_result does not belong to the session",
        ));
    }
    if !already_recorded {
        let sealed = (app.data_keys).seal_for(
            Sealing::PushedVerifyResult,
            out_seq_no,
            verify_result.expose(),
        );
        if !svc.store.record_push(out_seq_no, &sealed).await? {
            return Ok(PushOutcome::Ignored(
                "the session is no longer pending, or another push was recorded",
            ));
        }
        info!(event = "push_recorded", out_seq_no = %out_seq_no, "face_identify recorded");
    }
    let digest = judgement.digest.clone();
    let result = judgement.into_final(svc.clock.now())?;
    Ok(
        match write_final(svc, session, &result, Some(&digest)).await? {
            Finalized::Applied => PushOutcome::Finalized(result),
            Finalized::AlreadyFinal(winner) => PushOutcome::Finalized(winner),
            Finalized::VerifyResultTaken => {
                PushOutcome::Ignored("the verify_result was consumed by another session")
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::PushMode;
    use crate::domain::{Clock, FinalStatus, Session};
    use crate::push::crypto::signature;
    use crate::testing::{self, Fakes, GetInfo};

    /// A face_identify push for `session`, from `openid`, as WeChat sends it
    /// in safe mode (or in plaintext with `encrypted = false`).
    fn push(
        f: &Fakes,
        session: &Session,
        openid: &str,
        vr: &str,
        encrypted: bool,
    ) -> (PushQuery, String) {
        let app = testing::app_secrets();
        let creds = testing::wechat_credentials();
        let token = creds.push_token.clone().unwrap();
        let message = json!({
            "ToUserName": "gh_test", "FromUserName": openid, "CreateTime": 1,
            "MsgType": "event", "Event": "face_identify", "openid": openid,
            "out_seq_no": session.out_seq_no.as_str(), "verify_result": vr,
        })
        .to_string();
        let ts = f.clock.now().to_string();
        let nonce = "12345".to_owned();
        let mut q = PushQuery {
            timestamp: Some(ts.clone()),
            nonce: Some(nonce.clone()),
            signature: Some(signature(&[&token, &ts, &nonce])),
            ..PushQuery::default()
        };
        if !encrypted {
            return (q, message);
        }
        let key =
            AesKey::from_encoding_aes_key(creds.encoding_aes_key.as_deref().unwrap()).unwrap();
        let encrypt = key.encrypt(&message, &app.appid);
        q.encrypt_type = Some("aes".into());
        q.msg_signature = Some(signature(&[&token, &ts, &nonce, &encrypt]));
        (
            q,
            json!({ "ToUserName": "gh_test", "Encrypt": encrypt }).to_string(),
        )
    }

    /// `push`'s push, received: for the tests that send it once.
    async fn deliver(
        f: &Fakes,
        session: &Session,
        openid: &str,
        vr: &str,
        encrypted: bool,
    ) -> Result<PushOutcome, ServiceError> {
        let (q, body) = push(f, session, openid, vr, encrypted);
        receive(&f.svc, &q, &body).await
    }

    /// A new 1.0 session of `openid`, and the verify_result of its passed face check.
    fn passed_v1(f: &Fakes, openid: &str) -> (Session, VerifyResultToken) {
        let s = f.v1_session(openid);
        let vr = f.verify_result(Fakes::evidence(&s, 0));
        (s, vr)
    }

    fn final_status(f: &Fakes, s: &Session) -> Option<FinalStatus> {
        f.store
            .session(&s.out_seq_no)
            .and_then(|s| s.final_result().map(|r| r.status))
    }

    /// Whether a pushed verify_result is kept on the session.
    fn recorded(f: &Fakes, s: &Session) -> bool {
        f.store
            .session(&s.out_seq_no)
            .is_some_and(|s| s.pushed_verify_result.is_some())
    }

    #[tokio::test]
    async fn a_pushed_result_is_recorded_then_finalized() {
        let f = testing::services();
        let (s, vr) = passed_v1(&f, "o-owner");
        let (q, body) = push(&f, &s, "o-owner", vr.expose(), true);
        let outcome = receive(&f.svc, &q, &body).await.unwrap();
        assert!(
            matches!(outcome, PushOutcome::Finalized(ref r) if r.status == FinalStatus::Verified)
        );
        assert!(recorded(&f, &s));
        // WeChat's duplicate changes nothing and asks WeChat nothing.
        let calls = f.wechat.calls(crate::upstream::Upstream::Getinfo);
        let again = receive(&f.svc, &q, &body).await.unwrap();
        assert!(matches!(again, PushOutcome::Ignored(_)));
        assert_eq!(f.wechat.calls(crate::upstream::Upstream::Getinfo), calls);
    }

    #[tokio::test]
    async fn safe_mode_refuses_a_plaintext_push() {
        let f = testing::services();
        let (s, vr) = passed_v1(&f, "o-victim");
        assert!(matches!(
            deliver(&f, &s, "o-victim", vr.expose(), false).await,
            Err(ServiceError::PushRefused(_))
        ));
        assert_eq!(f.wechat.calls(crate::upstream::Upstream::Getinfo), 0);
        // A deployment that chose plaintext mode accepts it, and refuses
        // encrypted ones.
        let plain = testing::services_with(|s| s.push_mode = PushMode::Plaintext);
        let (s, vr) = passed_v1(&plain, "o-victim");
        assert!(matches!(
            deliver(&plain, &s, "o-victim", vr.expose(), false).await,
            Ok(PushOutcome::Finalized(_))
        ));
        assert!(
            deliver(&plain, &s, "o-victim", vr.expose(), true)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_foreign_or_consumed_verify_result_is_ignored_and_never_recorded() {
        let f = testing::services_with(|s| s.push_mode = PushMode::Compatible);
        let victim = f.v1_session("o-victim");
        let attacker = f.v1_session("o-attacker");
        // The attacker's own result, pushed under the victim's out_seq_no.
        let own = f.verify_result(Fakes::evidence(&attacker, 0));
        assert!(matches!(
            deliver(&f, &victim, "o-victim", own.expose(), false).await,
            Ok(PushOutcome::Ignored(_))
        ));
        let after = f.store.session(&victim.out_seq_no).unwrap();
        assert!(after.pushed_verify_result.is_none() && after.final_result().is_none());
        // One that another session consumed.
        let (other, used) = passed_v1(&f, "o-victim");
        super::super::finalize_v1(&f.svc, &other, &used)
            .await
            .unwrap();
        assert!(matches!(
            deliver(&f, &victim, "o-victim", used.expose(), true).await,
            Ok(PushOutcome::Ignored(_))
        ));
        assert_eq!(final_status(&f, &victim), None);
        assert!(!recorded(&f, &victim));
    }

    #[tokio::test]
    async fn the_first_push_is_kept_and_a_failure_is_answered_for_a_retry() {
        let f = testing::services();
        let s = f.v1_session("o-owner");
        let first = f.verify_result(Fakes::evidence(&s, 0));
        // Recorded, then the final write fails: 503 to WeChat, record kept.
        f.store.fail("finalize", 1);
        let (q, body) = push(&f, &s, "o-owner", first.expose(), true);
        assert!(matches!(
            receive(&f.svc, &q, &body).await,
            Err(ServiceError::Store(_))
        ));
        assert!(recorded(&f, &s));
        // A different verify_result for the same session is ignored.
        let second = f.verify_result(Fakes::evidence(&s, 10004));
        assert!(matches!(
            deliver(&f, &s, "o-owner", second.expose(), true).await,
            Ok(PushOutcome::Ignored(_))
        ));
        // WeChat's retry of the first finishes it.
        assert!(matches!(
            receive(&f.svc, &q, &body).await,
            Ok(PushOutcome::Finalized(_))
        ));
        assert_eq!(final_status(&f, &s), Some(FinalStatus::Verified));
        // getinfo down before anything was written: nothing recorded.
        let t = f.v1_session("o-owner");
        f.wechat.script_getinfo("vr-down", GetInfo::Unavailable);
        assert!(deliver(&f, &t, "o-owner", "vr-down", true).await.is_err());
        assert!(!recorded(&f, &t));
    }

    #[tokio::test]
    async fn the_url_check_is_windowed_and_echoes_only_what_wechat_sends() {
        let f = testing::services();
        let token = testing::wechat_credentials().push_token.unwrap();
        let check = |ts: i64, echostr: &str| {
            let ts = ts.to_string();
            PushQuery {
                signature: Some(signature(&[&token, &ts, "n1"])),
                timestamp: Some(ts),
                nonce: Some("n1".into()),
                echostr: Some(echostr.into()),
                ..PushQuery::default()
            }
        };
        let now = f.clock.now();
        assert_eq!(
            verify_url(&f.svc, &check(now, "8731abc")).await.unwrap(),
            "8731abc"
        );
        assert!(
            verify_url(&f.svc, &check(now - 301, "8731abc"))
                .await
                .is_err()
        );
        assert!(matches!(
            verify_url(&f.svc, &check(now, "<script>")).await,
            Err(ServiceError::InvalidRequest(_))
        ));
        // A timestamp far outside i64's range does not overflow.
        let mut q = check(now, "1");
        q.timestamp = Some(i64::MIN.to_string());
        assert!(verify_url(&f.svc, &q).await.is_err());
    }
}
