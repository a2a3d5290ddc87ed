//! Personal data protection (docs/api.md §5): keyed digests to compare, AES-256-GCM
//! to keep what must be sent to WeChat again, and WeChat's own unkeyed digests
//! (which must never be stored as they are).

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::ids::OutSeqNo;
pub use super::random::random_bytes;

/// What a keyed digest is of; part of the HMAC input so that digests of
/// different kinds never compare equal.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    NameMd5,
    IdCardMd5,
    VerifyResult,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::NameMd5 => b"wxface/v1/name_utf8_md5\0",
            Self::IdCardMd5 => b"wxface/v1/id_card_number_md5\0",
            Self::VerifyResult => b"wxface/v1/verify_result\0",
        }
    }
}

/// What a sealed value is. With the session's out_seq_no it is the AES-GCM
/// associated data, so a sealed value opens only as what it was sealed as,
/// and only for its own session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// 2.0: the cert_hash, sent to queryverifyinfo again.
    CertHash,
    /// 1.0: the verify_result WeChat pushed, for verify-result to finish with.
    PushedVerifyResult,
    /// The receipts' `identity_hash`: a digest of personal data, so never
    /// stored in the clear (docs/api.md §6).
    IdentityHash,
}

impl Sealing {
    pub fn context(self, out_seq_no: &OutSeqNo) -> String {
        let label = match self {
            Self::CertHash => "cert_hash",
            Self::PushedVerifyResult => "pushed_verify_result",
            Self::IdentityHash => "identity_hash",
        };
        format!("{label}:{out_seq_no}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("data_key must be base64 of exactly 32 bytes")]
    BadDataKey,
    #[error("sealed value cannot be opened with this data_key")]
    CannotOpen,
}

/// The `data_key` of the app secret. `Debug` never shows it.
#[derive(Clone)]
pub struct DataKey {
    hmac: hmac::Key,
    aead: [u8; 32],
}

impl DataKey {
    pub fn from_base64(b64: &str) -> Result<Self, KeyError> {
        let raw = STANDARD
            .decode(b64.trim())
            .map_err(|_| KeyError::BadDataKey)?;
        let aead: [u8; 32] = raw.try_into().map_err(|_| KeyError::BadDataKey)?;
        // Separate subkeys, so the HMAC key is never the AES key.
        let derive = |label: &[u8]| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &aead), label);
        let hmac_key = derive(b"wxface hmac subkey");
        let aes_key = derive(b"wxface aes-gcm subkey");
        let mut aes = [0u8; 32];
        aes.copy_from_slice(aes_key.as_ref());
        Ok(Self {
            hmac: hmac::Key::new(hmac::HMAC_SHA256, hmac_key.as_ref()),
            aead: aes,
        })
    }

    /// Lowercase hex HMAC-SHA256 of `data` for `purpose`.
    pub fn digest(&self, purpose: Purpose, data: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.hmac);
        ctx.update(purpose.label());
        ctx.update(data.as_bytes());
        hex::encode(ctx.sign())
    }

    /// Constant-time check of `data` against a digest made by [`Self::digest`].
    pub fn matches(&self, purpose: Purpose, data: &str, expected_hex: &str) -> bool {
        let actual = self.digest(purpose, data);
        actual.as_bytes().ct_eq(expected_hex.as_bytes()).into()
    }

    /// AES-256-GCM with a random nonce; `context` is bound as associated data
    /// so a sealed value cannot be moved to another record.
    pub fn seal(&self, context: &str, plaintext: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce);
        let mut buf = plaintext.as_bytes().to_vec();
        self.key()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            // Sealing fails only for inputs of many gigabytes.
            .expect("AES-GCM seal of a short value");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Sealed(STANDARD.encode(out))
    }

    /// Seals one of a session's values (see [`Sealing`]).
    pub fn seal_for(&self, what: Sealing, out_seq_no: &OutSeqNo, plaintext: &str) -> Sealed {
        self.seal(&what.context(out_seq_no), plaintext)
    }

    pub fn open_for(
        &self,
        what: Sealing,
        out_seq_no: &OutSeqNo,
        sealed: &Sealed,
    ) -> Result<String, KeyError> {
        self.open(&what.context(out_seq_no), sealed)
    }

    pub fn open(&self, context: &str, sealed: &Sealed) -> Result<String, KeyError> {
        let raw = STANDARD
            .decode(&sealed.0)
            .map_err(|_| KeyError::CannotOpen)?;
        if raw.len() < NONCE_LEN {
            return Err(KeyError::CannotOpen);
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::CannotOpen)?;
        let mut body = body.to_vec();
        let plain = self
            .key()
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| KeyError::CannotOpen)?;
        String::from_utf8(plain.to_vec()).map_err(|_| KeyError::CannotOpen)
    }

    fn key(&self) -> LessSafeKey {
        // 32 bytes is always a valid AES-256 key.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.aead).expect("32-byte AES key"))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Base64 of nonce ‖ ciphertext ‖ tag, as stored in the table.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// Lowercase hex MD5, as WeChat 1.0 reports `name_utf8_md5` / `id_card_number_md5`.
pub fn md5_hex(data: &str) -> String {
    hex::encode(Md5::digest(data.as_bytes()))
}

/// WeChat 2.0 `cert_hash` (docs/wechat.md §3.4) over the exact values sent.
pub fn cert_hash(cert_type: &str, cert_name: &str, cert_no: &str) -> String {
    let joined = format!(
        "cert_type={}&cert_name={}&cert_no={}",
        STANDARD.encode(cert_type),
        STANDARD.encode(cert_name),
        STANDARD.encode(cert_no)
    );
    hex::encode(digest::digest(&digest::SHA256, joined.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn official_cert_hash_vectors() {
        // docs/wechat.md §3.4 / §12.
        assert_eq!(
            cert_hash("IDENTITY_CARD", "张三", "310101199801011234"),
            "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
        );
        assert_eq!(
            cert_hash("IDENTITY_CARD", "李四", "11010519491231002X"),
            "f760f1974c678ec7a11476ae9a2787ac8ba5c833f5e6be755fd3838aa80b6458"
        );
    }

    #[test]
    fn md5_vectors() {
        // docs/wechat.md §2.6: 曾浩 is from a real getinfo response.
        assert_eq!(md5_hex("曾浩"), "ee075aef91ddd81394b6f68d7ff998cb");
        assert_eq!(md5_hex("张三"), "615db57aa314529aaa0fbe95b3e95bd3");
        assert_eq!(
            md5_hex("11010519491231002X"),
            "ae05564031c21338aa8a2e7266e7855c"
        );
        assert_eq!(
            md5_hex("11010519491231002x"),
            "84488d6c78590d326627f5ecf902d3f9"
        );
        assert_eq!(
            md5_hex("310101199801011234"),
            "c54ee6f3f16eba72b9d8781c30bfb655"
        );
    }

    #[test]
    fn digests_are_keyed_and_separated_by_purpose() {
        let k = key();
        let d = k.digest(Purpose::NameMd5, "abc");
        assert_eq!(d.len(), 64);
        assert!(k.matches(Purpose::NameMd5, "abc", &d));
        assert!(!k.matches(Purpose::IdCardMd5, "abc", &d));
        assert!(!k.matches(Purpose::NameMd5, "abd", &d));
        let other = DataKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert_ne!(other.digest(Purpose::NameMd5, "abc"), d);
    }

    #[test]
    fn seal_round_trip_is_bound_to_context() {
        let k = key();
        let s = k.seal("session#a", "secret value");
        assert!(!s.0.contains("secret"));
        assert_eq!(k.open("session#a", &s).unwrap(), "secret value");
        assert_eq!(k.open("session#b", &s), Err(KeyError::CannotOpen));
        assert_ne!(
            k.seal("session#a", "secret value"),
            s,
            "nonce must be fresh"
        );
        assert_eq!(
            k.open("session#a", &Sealed("AAAA".into())),
            Err(KeyError::CannotOpen)
        );
    }

    #[test]
    fn bad_data_keys_are_refused() {
        assert!(DataKey::from_base64("not base64!").is_err());
        assert!(DataKey::from_base64(&STANDARD.encode([1u8; 31])).is_err());
        assert_eq!(format!("{:?}", key()), "DataKey(<redacted>)");
    }
}
