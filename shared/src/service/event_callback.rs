//! event-callback: WeChat's message push. Authenticated (signature, time
//! window, decryption, appid), then only a trigger: the result of a 1.0
//! session still comes from getinfo, through the same `finalize_v1` as
//! verify-result.

use std::time::Duration;

use tracing::{info, warn};

use super::verify_result::finalize_v1;
use super::{ServiceError, Services};
use crate::config::AppSecrets;
use crate::domain::{FinalResult, FlowBinding, OpenId, OutSeqNo, VerifyResultToken};
use crate::error::ConfigError;
use crate::push::crypto::{AesKey, signature_matches};
use crate::push::message::{Fields, PushEvent, parse_body};

/// WeChat's window for a push's timestamp (contract §3).
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;
/// WeChat waits 5 s for the reply; what is left after recording the event
/// goes to finalizing it, with a margin for the reply itself.
pub const FINALIZE_BUDGET: Duration = Duration::from_millis(3000);

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

/// How an authentic push was handled. All are answered `success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Ignored(&'static str),
    /// Recorded on the session; getinfo could not finish it in time, so
    /// verify-result will.
    Recorded,
    Finalized(FinalResult),
}

/// The key used in the pushed verify_result's sealing: only opens for its session.
pub(crate) fn pushed_verify_result_context(out_seq_no: &OutSeqNo) -> String {
    format!("pushed_verify_result:{out_seq_no}")
}

fn push_token(app: &AppSecrets) -> Result<&str, ServiceError> {
    app.push_token.as_deref().ok_or_else(|| {
        ConfigError::SecretField {
            secret: "WECHAT_APP_SECRET_ID".into(),
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
/// signature holds.
pub async fn verify_url(svc: &Services, q: &PushQuery) -> Result<String, ServiceError> {
    let app = svc.secrets.app_secrets().await?;
    let token = push_token(&app)?;
    let (Some(sig), Some(ts), Some(nonce), Some(echostr)) =
        (&q.signature, &q.timestamp, &q.nonce, &q.echostr)
    else {
        return Err(refused(
            "signature, timestamp, nonce and echostr are required",
        ));
    };
    if !signature_matches(sig, &[token, ts, nonce]) {
        return Err(refused("signature does not match"));
    }
    Ok(echostr.clone())
}

/// `POST /`: a pushed message in plaintext, compatible or safe mode.
pub async fn receive(
    svc: &Services,
    q: &PushQuery,
    body: &str,
) -> Result<PushOutcome, ServiceError> {
    let app = svc.secrets.app_secrets().await?;
    let message = authenticate(svc, &app, q, body)?;
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

/// Checks the push and returns its (decrypted) message fields.
fn authenticate(
    svc: &Services,
    app: &AppSecrets,
    q: &PushQuery,
    body: &str,
) -> Result<Fields, ServiceError> {
    let token = push_token(app)?;
    let (Some(ts), Some(nonce)) = (&q.timestamp, &q.nonce) else {
        return Err(refused("timestamp and nonce are required"));
    };
    let outer = parse_body(body).map_err(|e| ServiceError::InvalidRequest(e.to_string()))?;
    let message = match q.encrypt_type.as_deref() {
        None | Some("raw") => {
            let sig = q
                .signature
                .as_deref()
                .ok_or_else(|| refused("signature is required"))?;
            if !signature_matches(sig, &[token, ts, nonce]) {
                return Err(refused("signature does not match"));
            }
            check_window(svc, ts)?;
            outer
        }
        Some("aes") => {
            // Safe and compatible mode: msg_signature over the ciphertext;
            // `signature` must not be used for these (§5.4).
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
            let decrypted = decrypt(app, encrypt)?;
            if decrypted.appid != app.appid {
                return Err(refused("the message is for another appid"));
            }
            parse_body(&decrypted.message)
                .map_err(|e| ServiceError::InvalidRequest(e.to_string()))?
        }
        Some(_) => return Err(ServiceError::InvalidRequest("unknown encrypt_type".into())),
    };
    Ok(message)
}

fn check_window(svc: &Services, ts: &str) -> Result<(), ServiceError> {
    let ts: i64 = ts
        .parse()
        .map_err(|_| refused("timestamp is not a number"))?;
    if (svc.clock.now() - ts).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(refused("timestamp is outside the 300 s window"));
    }
    Ok(())
}

/// The current EncodingAESKey, then the previous one while keys rotate.
fn decrypt(
    app: &AppSecrets,
    encrypt: &str,
) -> Result<crate::push::crypto::Decrypted, ServiceError> {
    let keys = [
        app.encoding_aes_key.as_deref(),
        app.previous_encoding_aes_key.as_deref(),
    ];
    if keys[0].is_none() {
        return Err(ConfigError::SecretField {
            secret: "WECHAT_APP_SECRET_ID".into(),
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
    let Some(session) = svc.store.get(out_seq_no).await? else {
        return ignore("unknown out_seq_no");
    };
    if !session.is_owned_by(openid) {
        return ignore("the pushed openid does not own the session");
    }
    if session.final_result().is_some() {
        return ignore("the session is already final");
    }
    if !matches!(session.binding, FlowBinding::V1 { .. }) {
        return ignore("not a v1 session");
    }
    if session.is_expired(svc.clock.now()) {
        return ignore("the session expired");
    }
    // Durable first: once this is written, verify-result can finish the
    // session even if getinfo is down now.
    let sealed = app.data_key.seal(
        &pushed_verify_result_context(out_seq_no),
        verify_result.expose(),
    );
    if !svc.store.record_push(out_seq_no, &sealed).await? {
        return ignore("the session is already final");
    }
    info!(event = "push_recorded", out_seq_no = %out_seq_no, "face_identify recorded");
    match tokio::time::timeout(FINALIZE_BUDGET, finalize_v1(svc, &session, verify_result)).await {
        Ok(Ok(result)) => Ok(PushOutcome::Finalized(result)),
        Ok(Err(e)) => {
            warn!(event = "push_not_finalized", out_seq_no = %out_seq_no, detail = %e, "left for verify-result");
            Ok(PushOutcome::Recorded)
        }
        Err(_) => {
            warn!(event = "push_not_finalized", out_seq_no = %out_seq_no, detail = "time budget spent", "left for verify-result");
            Ok(PushOutcome::Recorded)
        }
    }
}
