//! Receipts (docs/api.md §6): what a final answer says, in a form the
//! business's own backend can check without trusting the phone. Pure: the
//! claims and `identity_hash`; signing is `crypto::receipt`.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_with::skip_serializing_none;

use super::identity::{IdCardNumber, PersonName};
use super::ids::{BizRef, Flow, OpenId, OutSeqNo};
use super::session::{FinalResult, FinalStatus};

/// `identity_hash`: binds a receipt to the person without carrying personal
/// data. Lowercase hex SHA-256 of
/// `out_seq_no=<o>&cert_type=<b64>&cert_name=<b64>&cert_no=<b64>` over the
/// normalized name and ID number, exactly as issue-key normalizes them; a
/// backend that holds them recomputes it.
pub fn identity_hash(out_seq_no: &OutSeqNo, name: &PersonName, id: &IdCardNumber) -> String {
    let joined = format!(
        "out_seq_no={out_seq_no}&cert_type={}&cert_name={}&cert_no={}",
        STANDARD.encode("IDENTITY_CARD"),
        STANDARD.encode(name.expose()),
        STANDARD.encode(id.expose())
    );
    hex::encode(digest::digest(&digest::SHA256, joined.as_bytes()))
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
            reason: result.status.reason().map(|r| r.as_str()),
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

    #[test]
    fn identity_hash_follows_the_documented_string() {
        let seq = OutSeqNo::parse("seq_00001").unwrap();
        let name = PersonName::parse(" 李四 ").unwrap();
        let id = IdCardNumber::parse("11010519491231002x").unwrap();
        // sha256("out_seq_no=seq_00001&cert_type=SURFTlRJVFlfQ0FSRA==&cert_name=5p2O5Zub&cert_no=MTEwMTA1MTk0OTEyMzEwMDJY")
        let expected = hex::encode(digest::digest(
            &digest::SHA256,
            b"out_seq_no=seq_00001&cert_type=SURFTlRJVFlfQ0FSRA==&cert_name=5p2O5Zub&cert_no=MTEwMTA1MTk0OTEyMzEwMDJY",
        ));
        assert_eq!(identity_hash(&seq, &name, &id), expected);
        // Another session of the same person: another hash.
        let other = OutSeqNo::parse("seq_00002").unwrap();
        assert_ne!(identity_hash(&other, &name, &id), expected);
    }
}
