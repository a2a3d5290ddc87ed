//! When is a face check accepted? The rules of docs/wechat.md §2.7 (1.0)
//! and docs/wechat.md §3.3 (2.0), in one place for verify-result and event-callback.

use super::ids::{OpenId, UserIdKey};
use super::keyring::{DataKeyring, KeyringError};
use super::pii::Purpose;
use super::session::{FinalResult, FinalStatus, RejectReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    Failed,
    Rejected(RejectReason),
    /// 2.0 only: the user has not finished; ask again.
    Pending,
}

impl Verdict {
    /// The final result this verdict records, or `None` while pending.
    pub fn into_final(
        self,
        identify_ret: Option<i64>,
        verify_ret: Option<i64>,
        now: i64,
    ) -> Option<FinalResult> {
        let status = match self {
            Self::Verified => FinalStatus::Verified,
            Self::Failed => FinalStatus::Failed,
            Self::Rejected(r) => FinalStatus::Rejected(r),
            Self::Pending => return None,
        };
        Some(FinalResult {
            status,
            identify_ret,
            verify_ret,
            decided_at: now,
        })
    }
}

/// What the session expects a 1.0 result to show.
pub struct V1Expectation<'a> {
    pub openid: &'a OpenId,
    pub user_id_key: &'a UserIdKey,
    pub name_md5_digest: &'a str,
    pub id_md5_digest: &'a str,
}

/// The fields of a successful (errcode 0) getinfo answer that the rules read.
/// `Debug` shows `identify_ret` only: the MD5s are unkeyed digests of
/// personal data.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GetInfoEvidence {
    pub identify_ret: i64,
    pub openid: String,
    pub user_id_key: String,
    pub name_utf8_md5: String,
    pub id_card_number_md5: String,
}

impl std::fmt::Debug for GetInfoEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetInfoEvidence")
            .field("identify_ret", &self.identify_ret)
            .finish_non_exhaustive()
    }
}

/// 1.0: accept only when every check of docs/wechat.md §2.7 holds. Binding checks come first,
/// so a result that belongs to someone else is never reported as theirs.
/// Single use of the verify_result (docs/wechat.md §2.7 rule 7) is enforced by the store.
///
/// The digests are compared under the key that made them: a key the keyring
/// no longer holds is an error, never a mismatch (a rotation must not turn
/// the user's own face check into `rejected`).
pub fn judge_v1(
    expect: &V1Expectation<'_>,
    got: &GetInfoEvidence,
    keys: &DataKeyring,
) -> Result<Verdict, KeyringError> {
    if got.openid != expect.openid.as_str() {
        return Ok(Verdict::Rejected(RejectReason::OpenidMismatch));
    }
    if got.user_id_key != expect.user_id_key.as_str() {
        return Ok(Verdict::Rejected(RejectReason::UserIdKeyMismatch));
    }
    if got.identify_ret != 0 {
        return Ok(Verdict::Failed);
    }
    // WeChat's hex is lowercase; compare case-insensitively to be safe.
    let name_md5 = got.name_utf8_md5.to_ascii_lowercase();
    if !keys.matches(Purpose::NameMd5, &name_md5, expect.name_md5_digest)? {
        return Ok(Verdict::Rejected(RejectReason::NameMismatch));
    }
    let id_md5 = got.id_card_number_md5.to_ascii_lowercase();
    if !keys.matches(Purpose::IdCardMd5, &id_md5, expect.id_md5_digest)? {
        return Ok(Verdict::Rejected(RejectReason::IdCardMismatch));
    }
    Ok(Verdict::Verified)
}

/// 2.0: pass iff errcode 0 (checked by the caller) and verify_ret 10000.
/// 10300 (not finished) and 10005 (still checking) are not final.
pub fn judge_v2(verify_ret: i64) -> Verdict {
    match verify_ret {
        10000 => Verdict::Verified,
        10300 | 10005 => Verdict::Pending,
        _ => Verdict::Failed,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::domain::pii::{DataKey, md5_hex};

    struct Fixture {
        key: DataKeyring,
        openid: OpenId,
        uik: UserIdKey,
        name_d: String,
        id_d: String,
    }

    fn fixture() -> Fixture {
        let key = DataKeyring::single(data_key(3));
        Fixture {
            name_d: key.digest(Purpose::NameMd5, &md5_hex("曾浩")),
            id_d: key.digest(Purpose::IdCardMd5, &md5_hex("11010519491231002X")),
            key,
            openid: OpenId::from_wechat("o-owner").unwrap(),
            uik: UserIdKey::from_wechat("e96a6009c20156a7147737d041be00a3").unwrap(),
        }
    }

    fn data_key(b: u8) -> DataKey {
        DataKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([b; 32])).unwrap()
    }

    fn good() -> GetInfoEvidence {
        GetInfoEvidence {
            identify_ret: 0,
            openid: "o-owner".into(),
            user_id_key: "e96a6009c20156a7147737d041be00a3".into(),
            name_utf8_md5: "ee075aef91ddd81394b6f68d7ff998cb".into(),
            id_card_number_md5: "AE05564031C21338AA8A2E7266E7855C".into(),
        }
    }

    fn judge(f: &Fixture, got: &GetInfoEvidence) -> Verdict {
        let expect = V1Expectation {
            openid: &f.openid,
            user_id_key: &f.uik,
            name_md5_digest: &f.name_d,
            id_md5_digest: &f.id_d,
        };
        judge_v1(&expect, got, &f.key).unwrap()
    }

    /// After a rotation the session's digests are judged under their own key;
    /// with that key gone the answer is an error, not a `rejected`.
    #[test]
    fn v1_digests_are_judged_under_the_key_that_made_them() {
        use crate::domain::keyring::KeyId;
        let mut f = fixture();
        let id = |s: &str| KeyId::parse(s).unwrap();
        f.key = DataKeyring::new((id("next"), data_key(4)), vec![(id("k0"), data_key(3))]).unwrap();
        assert_eq!(judge(&f, &good()), Verdict::Verified);
        let mut other = good();
        other.name_utf8_md5 = md5_hex("张三");
        assert_eq!(
            judge(&f, &other),
            Verdict::Rejected(RejectReason::NameMismatch)
        );
        f.key = DataKeyring::new((id("next"), data_key(4)), vec![]).unwrap();
        let expect = V1Expectation {
            openid: &f.openid,
            user_id_key: &f.uik,
            name_md5_digest: &f.name_d,
            id_md5_digest: &f.id_d,
        };
        assert_eq!(
            judge_v1(&expect, &good(), &f.key),
            Err(KeyringError::UnknownKey("k0".into()))
        );
        // The binding checks still come first: someone else's result is theirs.
        let mut foreign = good();
        foreign.openid = "o-other".into();
        assert_eq!(
            judge_v1(&expect, &foreign, &f.key),
            Ok(Verdict::Rejected(RejectReason::OpenidMismatch))
        );
    }

    #[test]
    fn v1_rules() {
        let f = fixture();
        assert_eq!(judge(&f, &good()), Verdict::Verified);
        type Case = (fn(&mut GetInfoEvidence), Verdict);
        let cases: [Case; 6] = [
            (
                |g| g.openid = "o-other".into(),
                Verdict::Rejected(RejectReason::OpenidMismatch),
            ),
            (
                |g| g.user_id_key = "e0c6dcce8b7a7dd00713dae81d7e901b".into(),
                Verdict::Rejected(RejectReason::UserIdKeyMismatch),
            ),
            (|g| g.identify_ret = 10003, Verdict::Failed),
            (
                |g| g.name_utf8_md5 = md5_hex("张三"),
                Verdict::Rejected(RejectReason::NameMismatch),
            ),
            // The lowercase-x digest is a different person to WeChat.
            (
                |g| g.id_card_number_md5 = "84488d6c78590d326627f5ecf902d3f9".into(),
                Verdict::Rejected(RejectReason::IdCardMismatch),
            ),
            (
                |g| g.id_card_number_md5 = String::new(),
                Verdict::Rejected(RejectReason::IdCardMismatch),
            ),
        ];
        for (mutate, expected) in cases {
            let mut g = good();
            mutate(&mut g);
            assert_eq!(judge(&f, &g), expected);
        }
    }

    #[test]
    fn evidence_debug_hides_the_digests() {
        let shown = format!("{:?}", good());
        assert!(
            !shown.contains("ee075aef") && !shown.contains("o-owner"),
            "{shown}"
        );
    }

    #[test]
    fn v2_rules() {
        assert_eq!(judge_v2(10000), Verdict::Verified);
        assert_eq!(judge_v2(10300), Verdict::Pending);
        assert_eq!(judge_v2(10005), Verdict::Pending);
        // SKIT's sample uses 0: it is not a pass.
        assert_eq!(judge_v2(0), Verdict::Failed);
        assert_eq!(judge_v2(90004), Verdict::Failed);
        assert_eq!(Verdict::Pending.into_final(None, Some(10300), 5), None);
        let r = Verdict::Failed.into_final(None, Some(10004), 5).unwrap();
        assert_eq!(
            (r.status, r.verify_ret, r.decided_at),
            (FinalStatus::Failed, Some(10004), 5)
        );
    }
}
