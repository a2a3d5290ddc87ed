//! Receipts (docs/api.md §6): what a final answer says, in a form the
//! business's own backend can check without trusting the phone. Pure: the
//! claims and `identity_hash`; signing is `crypto::receipt`.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_with::skip_serializing_none;

use super::identity::{IdCardNumber, PersonName};
use super::ids::{BizRef, Flow, OpenId, OutSeqNo};
use super::session::{FinalResult, FinalStatus};

/// The `identity_key` (docs/api.md §6): 32 random bytes the deployment and
/// the business backend share, so that only they can compute an
/// `identity_hash`. `Debug` never shows it.
#[derive(Clone)]
pub struct IdentityKey(hmac::Key);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("identity_key must be base64 of exactly 32 bytes")]
pub struct BadIdentityKey;

impl IdentityKey {
    pub fn from_base64(b64: &str) -> Result<Self, BadIdentityKey> {
        let raw = STANDARD.decode(b64.trim()).map_err(|_| BadIdentityKey)?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| BadIdentityKey)?;
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &raw)))
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityKey(..)")
    }
}

/// `identity_hash`: binds a receipt to the person without carrying personal
/// data. Lowercase hex HMAC-SHA256, under the `identity_key`, of
/// `out_seq_no=<o>&cert_type=<b64>&cert_name=<b64>&cert_no=<b64>` over the
/// normalized name and ID number, exactly as issue-key normalizes them; a
/// backend that holds them and the key recomputes it. Keyed, so that whoever
/// sees a receipt or an event and knows a name cannot try the ~10^11 ID
/// numbers until one matches.
pub fn identity_hash(
    key: &IdentityKey,
    out_seq_no: &OutSeqNo,
    name: &PersonName,
    id: &IdCardNumber,
) -> String {
    let joined = format!(
        "out_seq_no={out_seq_no}&cert_type={}&cert_name={}&cert_no={}",
        STANDARD.encode("IDENTITY_CARD"),
        STANDARD.encode(name.expose()),
        STANDARD.encode(id.expose())
    );
    hex::encode(hmac::sign(&key.0, joined.as_bytes()))
}

/// What a final state says about its session: the facts a receipt signs
/// and an event carries (docs/api.md §6, §7).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionFacts {
    pub out_seq_no: String,
    pub flow: &'static str,
    pub status: &'static str,
    pub verified: bool,
    /// When the result was decided.
    pub verified_at: i64,
    pub reason: Option<&'static str>,
    pub verify_ret: Option<i64>,
    pub identify_ret: Option<i64>,
    pub biz_ref: Option<String>,
    /// Absent only for sessions issued before receipts existed.
    pub identity_hash: Option<String>,
}

impl SessionFacts {
    pub fn new(subject: &ReceiptSubject<'_>, result: &FinalResult) -> Self {
        Self {
            out_seq_no: subject.out_seq_no.as_str().to_owned(),
            flow: subject.flow.as_str(),
            status: result.status.as_str(),
            verified: result.status == FinalStatus::Verified,
            verified_at: result.decided_at,
            reason: result.status.reason(),
            verify_ret: result.verify_ret,
            identify_ret: result.identify_ret,
            biz_ref: subject.biz_ref.map(|b| b.as_str().to_owned()),
            identity_hash: subject.identity_hash.map(str::to_owned),
        }
    }
}

/// Exactly the claims of a receipt: who issued it for whom, when, and the
/// session's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptClaims {
    pub iss: String,
    /// The mini-program's appid.
    pub aud: String,
    /// The openid the session belongs to.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique per receipt: a backend can refuse one it has seen.
    pub jti: String,
    #[serde(flatten)]
    pub facts: SessionFacts,
}

/// The session a final result belongs to, as the receipt names it.
pub struct ReceiptSubject<'a> {
    pub out_seq_no: &'a OutSeqNo,
    pub openid: &'a OpenId,
    pub flow: Flow,
    pub biz_ref: Option<&'a BizRef>,
    pub identity_hash: Option<&'a str>,
}

impl ReceiptClaims {
    /// The claims of a receipt issued at `now`, valid `ttl` seconds.
    pub fn new(
        issuer: &str,
        appid: &str,
        subject: &ReceiptSubject<'_>,
        result: &FinalResult,
        now: i64,
        ttl: i64,
        jti: String,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            aud: appid.to_owned(),
            sub: subject.openid.as_str().to_owned(),
            iat: now,
            exp: now + ttl,
            jti,
            facts: SessionFacts::new(subject, result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented vector (docs/api.md §6; the interop tests check the Python and Node
    /// examples against the same one).
    pub const VECTOR_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    pub const VECTOR_HASH: &str =
        "c279218d14bff972f3fa4478e4e14799828673f039a5a05c60a61be232a0e47c";

    #[test]
    fn identity_hash_follows_the_documented_string() {
        let key = IdentityKey::from_base64(VECTOR_KEY).unwrap();
        let seq = OutSeqNo::parse("seq_00001").unwrap();
        let name = PersonName::parse(" 李四 ").unwrap();
        let id = IdCardNumber::parse("11010519491231002x").unwrap();
        // HMAC-SHA256(key 00..1f, "out_seq_no=seq_00001&cert_type=SURFTlRJVFlfQ0FSRA==&cert_name=5p2O5Zub&cert_no=MTEwMTA1MTk0OTEyMzEwMDJY")
        assert_eq!(identity_hash(&key, &seq, &name, &id), VECTOR_HASH);
        // Another session of the same person, or another key: another hash.
        let other = OutSeqNo::parse("seq_00002").unwrap();
        assert_ne!(identity_hash(&key, &other, &name, &id), VECTOR_HASH);
        let other_key = IdentityKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert_ne!(identity_hash(&other_key, &seq, &name, &id), VECTOR_HASH);
        assert_eq!(format!("{key:?}"), "IdentityKey(..)");
        for bad in ["", "AAEC", "not base64!", &STANDARD.encode([1u8; 31])] {
            assert!(IdentityKey::from_base64(bad).is_err(), "{bad}");
        }
    }
}
