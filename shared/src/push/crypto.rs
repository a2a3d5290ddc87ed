//! Signatures and the AES envelope of WeChat's message push (docs/wechat.md §5.2-§5.7).
//!
//! `Encrypt` = base64(AES-256-CBC(random(16) ‖ len(4, big-endian) ‖ msg ‖ appid)),
//! padded with PKCS#7 to 32-byte blocks, IV = the key's first 16 bytes.

use std::fmt;

use aws_lc_rs::cipher::{
    AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::digest;
use aws_lc_rs::iv::FixedLength;
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// WeChat pads to 32 bytes, not AES's 16 (docs/wechat.md §5.7 pitfall 2).
const BLOCK: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PushCryptoError {
    #[error("EncodingAESKey must be 43 characters of [A-Za-z0-9]")]
    BadKey,
    #[error("Encrypt is not base64")]
    NotBase64,
    #[error("ciphertext length is not a multiple of the AES block")]
    BadLength,
    #[error("ciphertext does not decrypt")]
    Decrypt,
    #[error("bad padding")]
    BadPadding,
    #[error("decrypted message is malformed")]
    Malformed,
}

/// The 32-byte key behind an EncodingAESKey. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl AesKey {
    /// `base64(EncodingAESKey + "=")`. Real keys often have non-zero trailing
    /// bits in the last character, which a strict decoder refuses (docs/wechat.md §5.7 pitfall 1).
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<Self, PushCryptoError> {
        if encoding_aes_key.len() != 43
            || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(PushCryptoError::BadKey);
        }
        const LENIENT: GeneralPurpose = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let bytes = LENIENT
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| PushCryptoError::BadKey)?;
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| PushCryptoError::BadKey)
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }

    pub fn decrypt(&self, encrypt_b64: &str) -> Result<Decrypted, PushCryptoError> {
        let mut buf = STANDARD
            .decode(encrypt_b64.trim())
            .map_err(|_| PushCryptoError::NotBase64)?;
        if buf.is_empty() || buf.len() % BLOCK != 0 {
            return Err(PushCryptoError::BadLength);
        }
        let key = UnboundCipherKey::new(&AES_256, &self.0).map_err(|_| PushCryptoError::Decrypt)?;
        let key = DecryptingKey::cbc(key).map_err(|_| PushCryptoError::Decrypt)?;
        let plain = key
            .decrypt(
                &mut buf,
                DecryptionContext::Iv128(FixedLength::from(self.iv())),
            )
            .map_err(|_| PushCryptoError::Decrypt)?;
        let pad = usize::from(*plain.last().ok_or(PushCryptoError::BadPadding)?);
        if !(1..=BLOCK).contains(&pad) || pad > plain.len() {
            return Err(PushCryptoError::BadPadding);
        }
        let (body, padding) = plain.split_at(plain.len() - pad);
        if padding.iter().any(|&b| usize::from(b) != pad) {
            return Err(PushCryptoError::BadPadding);
        }
        if body.len() < 20 {
            return Err(PushCryptoError::Malformed);
        }
        let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(PushCryptoError::Malformed);
        }
        let (msg, appid) = rest.split_at(len);
        Ok(Decrypted {
            message: String::from_utf8(msg.to_vec()).map_err(|_| PushCryptoError::Malformed)?,
            appid: String::from_utf8(appid.to_vec()).map_err(|_| PushCryptoError::Malformed)?,
        })
    }

    /// Encrypts with the given 16 random bytes (tests use the vectors' values).
    pub fn encrypt_with(&self, random: [u8; 16], message: &str, appid: &str) -> String {
        let mut buf = Vec::with_capacity(20 + message.len() + appid.len() + BLOCK);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&(message.len() as u32).to_be_bytes());
        buf.extend_from_slice(message.as_bytes());
        buf.extend_from_slice(appid.as_bytes());
        let pad = BLOCK - buf.len() % BLOCK;
        buf.extend(std::iter::repeat_n(pad as u8, pad));
        // A 32-byte key and a whole number of blocks: neither call can fail.
        let key = UnboundCipherKey::new(&AES_256, &self.0).expect("AES-256 key");
        EncryptingKey::cbc(key)
            .and_then(|k| {
                k.less_safe_encrypt(
                    &mut buf,
                    EncryptionContext::Iv128(FixedLength::from(self.iv())),
                )
            })
            .expect("CBC over whole blocks");
        STANDARD.encode(buf)
    }

    pub fn encrypt(&self, message: &str, appid: &str) -> String {
        let mut random = [0u8; 16];
        crate::domain::pii::random_bytes(&mut random);
        self.encrypt_with(random, message, appid)
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// A decrypted push. `Debug` shows the appid and the message's length only:
/// the message carries a user's openid and verify_result.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub message: String,
    pub appid: String,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("appid", &self.appid)
            .field("message_len", &self.message.len())
            .finish()
    }
}

/// `hex(sha1(concat(sort(parts))))`: `signature` over [token, timestamp,
/// nonce], `msg_signature` over [token, timestamp, nonce, Encrypt].
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    for p in sorted {
        ctx.update(p.as_bytes());
    }
    hex::encode(ctx.finish())
}

/// Constant-time check of a received signature (case-insensitive hex).
pub fn signature_matches(received: &str, parts: &[&str]) -> bool {
    let expected = signature(parts);
    let received = received.to_ascii_lowercase();
    expected.as_bytes().ct_eq(received.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // docs/wechat.md §12 vectors.
    const SAFE_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    const SAFE_MSG: &str = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;
    const XML_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";

    fn zero_key() -> AesKey {
        AesKey::from_encoding_aes_key(&"A".repeat(43)).unwrap()
    }

    #[test]
    fn handshake_and_plaintext_signatures() {
        assert_eq!(
            signature(&["AAAAA", "1714036504", "1514711492"]),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_eq!(
            signature(&["AAAAA", "1714037059", "486452656"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
        assert!(signature_matches(
            "F464B24FC39322E44B38AA78F5EDD27BD1441696",
            &["AAAAA", "1714036504", "1514711492"]
        ));
        assert!(!signature_matches(
            "f464",
            &["AAAAA", "1714036504", "1514711492"]
        ));
    }

    #[test]
    fn safe_mode_json_vector() {
        assert_eq!(zero_key().0, [0u8; 32]);
        assert_eq!(
            signature(&["AAAAA", "1714112445", "415670741", SAFE_ENCRYPT]),
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
        );
        assert_eq!(
            signature(&["AAAAA", "1714112445", "415670741"]),
            "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
        );
        let d = zero_key().decrypt(SAFE_ENCRYPT).unwrap();
        assert_eq!(d.message, SAFE_MSG);
        assert!(!format!("{d:?}").contains("o9AgO5Kd"));
        assert_eq!(d.appid, "wxba5fad812f8e6fb9");
        // And back, with the vector's random bytes.
        let random: [u8; 16] = *b"a8eedb185eb2fecf";
        assert_eq!(
            zero_key().encrypt_with(random, SAFE_MSG, "wxba5fad812f8e6fb9"),
            SAFE_ENCRYPT
        );
    }

    #[test]
    fn reply_vector() {
        let random: [u8; 16] = *b"707722b803182950";
        let enc =
            zero_key().encrypt_with(random, r#"{"demo_resp":"good luck"}"#, "wxba5fad812f8e6fb9");
        assert_eq!(
            enc,
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        );
        assert_eq!(
            signature(&["AAAAA", "1713424427", "415670741", &enc]),
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
        );
    }

    #[test]
    fn wxbizmsgcrypt_xml_vector_with_trailing_key_bits() {
        let key =
            AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        assert_eq!(
            signature(&["spamtest", "1409735669", "1320562132", XML_ENCRYPT]),
            "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
        );
        let d = key.decrypt(XML_ENCRYPT).unwrap();
        assert_eq!(d.appid, "wx2c2769f8efd9abc2");
        assert!(
            d.message
                .starts_with("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>")
        );
        assert!(d.message.contains("<Content><![CDATA[abcdteT]]></Content>"));
        assert_eq!(d.message.len(), 280);
    }

    #[test]
    fn thirty_two_byte_padding_vector() {
        const ENC: &str = "TYISAfTaVqF97gn22+BQrYOtJcf4GU360iTvjzdLBAp800rTdKFOj+nUhAJKUJ82YA5zbRHPZ/F6P8ok8dYMWhu2zBWwv+xIWlERDlaIKp2CKzbSa5FZ2gl1EWrZzn/GDkKEuDIEY7GyjJaVfiduMg8N6oBlxx6xYz0tuyNlVWoAbgDvIxYYJwkN7CRADuD0IPTE7mkY4fGc56fxFc2D58vnsIOQ8ys28m81fhHZ4g0UjcJKJXofj0N5QTJxO9RmHVP39+b0KcevUacw4Dmi8c72/S0IqIl/eBgZVG4IVVPgpii/7gojmbFDHFi9/RTA4nwQJAe9JxNx+76RvnmXvfCW8PigFlvtsJvY31Nv/ZB97ZxIUiJYk2Y48JoH3wZEs/9NKzDHOaOT+SvRFLaIWeD9DUayXXG5g0vEfugrZPM=";
        assert_eq!(
            signature(&["tom00123", "1515926128", "143125540", ENC]),
            "2a57bca3d93100e42599d453d97ebde9f5a57eca"
        );
        let key =
            AesKey::from_encoding_aes_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C").unwrap();
        let d = key.decrypt(ENC).unwrap();
        assert_eq!(d.appid, "wx17a727aa81c60f43");
        assert!(d.message.starts_with("<xml>"), "{}", d.message);
        // The pad byte is 31: a 16-byte PKCS#7 unpadder would refuse it.
        let pad = 32 - (20 + d.message.len() + d.appid.len()) % 32;
        assert_eq!(pad, 31);
        // Our own encryption of it pads the same way and round-trips.
        let again = key.encrypt(&d.message, &d.appid);
        assert_eq!(
            STANDARD.decode(&again).unwrap().len(),
            STANDARD.decode(ENC).unwrap().len()
        );
        assert_eq!(key.decrypt(&again).unwrap(), d);
    }

    #[test]
    fn tampering_is_detected() {
        let key = zero_key();
        let mut raw = STANDARD.decode(SAFE_ENCRYPT).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(key.decrypt(&STANDARD.encode(&raw)).is_err());
        assert_eq!(key.decrypt("not base64!"), Err(PushCryptoError::NotBase64));
        assert_eq!(key.decrypt("AAAA"), Err(PushCryptoError::BadLength));
        let other = AesKey::from_encoding_aes_key(&"B".repeat(43)).unwrap();
        assert!(other.decrypt(SAFE_ENCRYPT).is_err());
        assert_eq!(
            AesKey::from_encoding_aes_key("short"),
            Err(PushCryptoError::BadKey)
        );
        assert_eq!(format!("{key:?}"), "AesKey(<redacted>)");
    }
}
