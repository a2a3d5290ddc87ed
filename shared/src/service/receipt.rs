//! Receipts (docs/api.md §6): every final answer signed afresh, so the
//! business's backend can trust a result the mini-program relays.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{ServiceError, Services};
use crate::config::AppSecrets;
use crate::domain::receipt::{ReceiptClaims, ReceiptSubject};
use crate::domain::{FinalResult, Sealing, Session};

/// A freshly signed receipt for `result`, the final state of `session`.
pub async fn receipt(
    svc: &Services,
    session: &Session,
    result: &FinalResult,
) -> Result<String, ServiceError> {
    let app = svc.secrets.app_secrets().await?;
    let issuer = &svc.settings.receipt_issuer;
    let lifetime = (svc.clock.now(), svc.settings.receipt_ttl_secs);
    let identity_hash = open_identity_hash(&app, session)?;
    let subject = subject(session, identity_hash.as_deref());
    sign(&app, &app.appid, issuer, lifetime, &subject, result)
}

/// A receipt for `result`, the final state of `subject`, for the
/// mini-program `aud`, signed with the first receipt key: issued at `now`,
/// valid `ttl` seconds.
pub(crate) fn sign(
    app: &AppSecrets,
    aud: &str,
    issuer: &str,
    (now, ttl): (i64, i64),
    subject: &ReceiptSubject<'_>,
    result: &FinalResult,
) -> Result<String, ServiceError> {
    let keys = app.receipt_keys()?;
    let claims = ReceiptClaims::new(issuer, aud, subject, result, now, ttl, jti());
    keys.sign(&claims)
        .map_err(|_| ServiceError::Internal("the receipt could not be signed".into()))
}

/// The session's `identity_hash`, opened with the data key.
fn open_identity_hash(app: &AppSecrets, session: &Session) -> Result<Option<String>, ServiceError> {
    session
        .identity_hash
        .as_ref()
        .map(|sealed| {
            (app.data_keys)
                .open_for(Sealing::IdentityHash, &session.out_seq_no, sealed)
                .map_err(ServiceError::from)
        })
        .transpose()
}

/// The session as receipts and events name it.
pub(crate) fn subject<'a>(
    session: &'a Session,
    identity_hash: Option<&'a str>,
) -> ReceiptSubject<'a> {
    ReceiptSubject {
        out_seq_no: &session.out_seq_no,
        openid: &session.openid,
        flow: session.flow(),
        biz_ref: session.biz_ref.as_ref(),
        identity_hash,
    }
}

/// 16 random bytes, base64url: unique per receipt.
fn jti() -> String {
    let mut b = [0u8; 16];
    crate::domain::pii::random_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}
