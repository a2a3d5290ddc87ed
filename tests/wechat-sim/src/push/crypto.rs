//! Message-push cryptography (docs/wechat.md §5.2–docs/wechat.md §5.7), written independently of the
//! backend's so that each checks the other: SHA-1 signatures over sorted
//! strings, and the WXBizMsgCrypt envelope
//! `random(16) ‖ msg_len (u32 BE) ‖ msg ‖ appid`, PKCS#7-padded to 32-byte
//! blocks, AES-256-CBC with IV = key[0..16], standard base64.

use aws_lc_rs::cipher::{
    AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

/// PKCS#7 block size of WeChat's envelope: 32, not AES's 16 (docs/wechat.md §5.7.2).
pub const PUSH_BLOCK_SIZE: usize = 32;

/// Why a key or a ciphertext was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushCryptoError {
    #[error("EncodingAESKey must be 43 characters of [A-Za-z0-9]")]
    InvalidKey,
    #[error("Encrypt is not valid base64")]
    Base64,
    #[error("ciphertext length {0} is not a positive multiple of 32")]
    CipherLength(usize),
    #[error("AES-256-CBC failed")]
    Aes,
    #[error("invalid PKCS#7 padding (block size 32)")]
    Padding,
    #[error("msg_len {msg_len} does not fit in {available} bytes")]
    MsgLen { msg_len: usize, available: usize },
    #[error("appid {found:?} in the message is not {expected:?}")]
    AppIdMismatch { expected: String, found: String },
}

/// `lowercase_hex(SHA1(concat(sort(parts))))`: `signature` over
/// `[token, timestamp, nonce]` and `msg_signature` with `Encrypt` added.
/// Sorting is byte-wise (`str` order).
pub fn sha1_signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, sorted.concat().as_bytes()).as_ref())
}

/// `Base64_Decode(EncodingAESKey + "=")`, tolerating the non-zero trailing
/// bits real keys have (docs/wechat.md §5.7.1).
pub fn decode_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], PushCryptoError> {
    if encoding_aes_key.len() != 43 || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(PushCryptoError::InvalidKey);
    }
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = LENIENT
        .decode(format!("{encoding_aes_key}="))
        .map_err(|_| PushCryptoError::InvalidKey)?;
    bytes.try_into().map_err(|_| PushCryptoError::InvalidKey)
}

/// Appends PKCS#7 padding to a multiple of 32 bytes: 1..=32 bytes, each
/// equal to the count (a full block when already aligned).
pub fn pkcs7_pad32(buf: &mut Vec<u8>) {
    let pad = PUSH_BLOCK_SIZE - buf.len() % PUSH_BLOCK_SIZE;
    let byte = u8::try_from(pad).unwrap_or(u8::MAX);
    buf.resize(buf.len() + pad, byte);
}

/// Strips 32-byte-block PKCS#7 padding, checking every pad byte.
pub fn pkcs7_unpad32(buf: &[u8]) -> Result<&[u8], PushCryptoError> {
    let &last = buf.last().ok_or(PushCryptoError::Padding)?;
    let pad = usize::from(last);
    if pad == 0 || pad > PUSH_BLOCK_SIZE || pad > buf.len() {
        return Err(PushCryptoError::Padding);
    }
    let (body, padding) = buf.split_at(buf.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(PushCryptoError::Padding);
    }
    Ok(body)
}

/// The parts of a decrypted envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEnvelope {
    pub random: [u8; 16],
    pub msg: Vec<u8>,
    /// The trailing appid (bytes, as sent).
    pub appid: Vec<u8>,
    /// The PKCS#7 pad byte that was stripped (1..=32).
    pub pad: u8,
}

/// One app's push crypto: its AES key and appid.
#[derive(Clone)]
pub struct PushCrypto {
    key: [u8; 32],
    appid: String,
}

impl std::fmt::Debug for PushCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushCrypto")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

impl PushCrypto {
    pub fn new(encoding_aes_key: &str, appid: &str) -> Result<Self, PushCryptoError> {
        Ok(PushCrypto {
            key: decode_aes_key(encoding_aes_key)?,
            appid: appid.to_owned(),
        })
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// `Encrypt` for `msg` with a fresh random prefix: 16 lowercase hex
    /// characters, the shape of WeChat's own (see the docs/wechat.md §5.4 vectors).
    pub fn encrypt(&self, msg: &[u8]) -> String {
        let mut random = [0u8; 16];
        random.copy_from_slice(sim_kit::random_hex(8).as_bytes());
        self.encrypt_with_random(msg, &random)
    }

    /// `Encrypt` with a given random prefix (for the official vectors).
    pub fn encrypt_with_random(&self, msg: &[u8], random: &[u8; 16]) -> String {
        let msg_len = u32::try_from(msg.len()).expect("push message below 4 GiB");
        let mut buf = Vec::with_capacity(20 + msg.len() + self.appid.len() + PUSH_BLOCK_SIZE);
        buf.extend_from_slice(random);
        buf.extend_from_slice(&msg_len.to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(self.appid.as_bytes());
        pkcs7_pad32(&mut buf);
        let key = UnboundCipherKey::new(&AES_256, &self.key)
            .and_then(EncryptingKey::cbc)
            .expect("a 32-byte AES-256 key");
        key.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(self.iv().into()))
            .expect("block-aligned CBC input");
        STANDARD.encode(buf)
    }

    /// Decrypts and splits an envelope without checking its appid.
    pub fn open(&self, encrypt: &str) -> Result<PushEnvelope, PushCryptoError> {
        let mut buf = STANDARD
            .decode(encrypt)
            .map_err(|_| PushCryptoError::Base64)?;
        if buf.is_empty() || buf.len() % PUSH_BLOCK_SIZE != 0 {
            return Err(PushCryptoError::CipherLength(buf.len()));
        }
        let key = UnboundCipherKey::new(&AES_256, &self.key)
            .and_then(DecryptingKey::cbc)
            .map_err(|_| PushCryptoError::Aes)?;
        let plain = key
            .decrypt(&mut buf, DecryptionContext::Iv128(self.iv().into()))
            .map_err(|_| PushCryptoError::Aes)?;
        let pad = *plain.last().ok_or(PushCryptoError::Padding)?;
        let body = pkcs7_unpad32(plain)?;
        if body.len() < 20 {
            return Err(PushCryptoError::MsgLen {
                msg_len: 0,
                available: body.len().saturating_sub(20),
            });
        }
        let (random, rest) = body.split_at(16);
        let (len, rest) = rest.split_at(4);
        let msg_len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if msg_len > rest.len() {
            return Err(PushCryptoError::MsgLen {
                msg_len,
                available: rest.len(),
            });
        }
        let (msg, appid) = rest.split_at(msg_len);
        let mut r = [0u8; 16];
        r.copy_from_slice(random);
        Ok(PushEnvelope {
            random: r,
            msg: msg.to_vec(),
            appid: appid.to_vec(),
            pad,
        })
    }

    /// Decrypts `Encrypt` and returns the message, refusing another appid's.
    pub fn decrypt(&self, encrypt: &str) -> Result<Vec<u8>, PushCryptoError> {
        let env = self.open(encrypt)?;
        if env.appid != self.appid.as_bytes() {
            return Err(PushCryptoError::AppIdMismatch {
                expected: self.appid.clone(),
                found: String::from_utf8_lossy(&env.appid).into_owned(),
            });
        }
        Ok(env.msg)
    }
}

#[cfg(test)]
mod tests {
    //! The docs/wechat.md §12 vectors, reproduced by this implementation.
    use super::*;

    const ZERO_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const JSON_APPID: &str = "wxba5fad812f8e6fb9";
    const SAFE_JSON_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    const SAFE_JSON_MSG: &str = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;

    const XML_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const XML_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
    const XML_MSG: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n\
        <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n\
        <CreateTime>1409735668</CreateTime>\n\
        <MsgType><![CDATA[text]]></MsgType>\n\
        <Content><![CDATA[abcdteT]]></Content>\n\
        <MsgId>6054768590064713728</MsgId>\n\
        </xml>";

    // The 32-byte-pad vector's Encrypt: a public Go test of WXBizMsgCrypt
    // (the doc's docs/wechat.md §5.4 "Extra vector"; it gives only key, token, timestamp,
    // nonce and signature). Checked with Python `cryptography` as well.
    const PAD_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const PAD_ENCRYPT: &str = "TYISAfTaVqF97gn22+BQrYOtJcf4GU360iTvjzdLBAp800rTdKFOj+nUhAJKUJ82YA5zbRHPZ/F6P8ok8dYMWhu2zBWwv+xIWlERDlaIKp2CKzbSa5FZ2gl1EWrZzn/GDkKEuDIEY7GyjJaVfiduMg8N6oBlxx6xYz0tuyNlVWoAbgDvIxYYJwkN7CRADuD0IPTE7mkY4fGc56fxFc2D58vnsIOQ8ys28m81fhHZ4g0UjcJKJXofj0N5QTJxO9RmHVP39+b0KcevUacw4Dmi8c72/S0IqIl/eBgZVG4IVVPgpii/7gojmbFDHFi9/RTA4nwQJAe9JxNx+76RvnmXvfCW8PigFlvtsJvY31Nv/ZB97ZxIUiJYk2Y48JoH3wZEs/9NKzDHOaOT+SvRFLaIWeD9DUayXXG5g0vEfugrZPM=";

    fn random(s: &str) -> [u8; 16] {
        s.as_bytes().try_into().expect("16 bytes")
    }

    #[test]
    fn handshake_and_plaintext_signatures() {
        // docs/wechat.md §5.2 GET handshake, docs/wechat.md §5.3 plaintext push.
        assert_eq!(
            sha1_signature(&["AAAAA", "1714036504", "1514711492"]),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_eq!(
            sha1_signature(&["AAAAA", "1714037059", "486452656"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
        // Order of the inputs does not matter.
        assert_eq!(
            sha1_signature(&["486452656", "AAAAA", "1714037059"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
    }

    #[test]
    fn safe_json_vector_encrypts_to_the_official_ciphertext() {
        let c = PushCrypto::new(ZERO_KEY, JSON_APPID).expect("key");
        assert_eq!(c.key, [0u8; 32]);
        let encrypt = c.encrypt_with_random(SAFE_JSON_MSG.as_bytes(), &random("a8eedb185eb2fecf"));
        assert_eq!(encrypt, SAFE_JSON_ENCRYPT);
        assert_eq!(
            sha1_signature(&["AAAAA", "1714112445", "415670741", &encrypt]),
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
        );
        assert_eq!(
            sha1_signature(&["AAAAA", "1714112445", "415670741"]),
            "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
        );
        let env = c.open(SAFE_JSON_ENCRYPT).expect("decrypts");
        assert_eq!(env.pad, 19);
        assert_eq!(env.msg.len(), 167);
        assert_eq!(env.msg, SAFE_JSON_MSG.as_bytes());
        assert_eq!(
            c.decrypt(SAFE_JSON_ENCRYPT).expect("own appid"),
            SAFE_JSON_MSG.as_bytes()
        );
    }

    #[test]
    fn reply_vector() {
        let c = PushCrypto::new(ZERO_KEY, JSON_APPID).expect("key");
        let encrypt =
            c.encrypt_with_random(br#"{"demo_resp":"good luck"}"#, &random("707722b803182950"));
        assert_eq!(
            encrypt,
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        );
        assert_eq!(STANDARD.decode(&encrypt).expect("b64").len(), 64);
        assert_eq!(
            sha1_signature(&["AAAAA", "1713424427", "415670741", &encrypt]),
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
        );
    }

    #[test]
    fn xml_vector_decrypts_with_a_trailing_bits_key() {
        // The key does not round-trip through strict base64 (docs/wechat.md §5.7.1).
        assert!(STANDARD.decode(format!("{XML_KEY}=")).is_err());
        let c = PushCrypto::new(XML_KEY, "wx2c2769f8efd9abc2").expect("lenient key");
        assert_eq!(
            sha1_signature(&["spamtest", "1409735669", "1320562132", XML_ENCRYPT]),
            "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
        );
        let env = c.open(XML_ENCRYPT).expect("decrypts");
        assert_eq!(env.pad, 2);
        assert_eq!(&env.random, b"89465c840c5f116f");
        assert_eq!(env.msg.len(), 280);
        assert_eq!(String::from_utf8(env.msg).expect("utf-8"), XML_MSG);
        assert_eq!(env.appid, b"wx2c2769f8efd9abc2");
        // Re-encrypting with the same random gives the official bytes back.
        assert_eq!(
            c.encrypt_with_random(XML_MSG.as_bytes(), &env.random),
            XML_ENCRYPT
        );
        // Another app refuses it.
        let other = PushCrypto::new(XML_KEY, "wx0123456789abcdef").expect("key");
        assert!(matches!(
            other.decrypt(XML_ENCRYPT),
            Err(PushCryptoError::AppIdMismatch { .. })
        ));
    }

    #[test]
    fn pad_31_vector() {
        assert_eq!(
            sha1_signature(&["tom00123", "1515926128", "143125540", PAD_ENCRYPT]),
            "2a57bca3d93100e42599d453d97ebde9f5a57eca"
        );
        let c = PushCrypto::new(PAD_KEY, "wx17a727aa81c60f43").expect("key");
        let env = c.open(PAD_ENCRYPT).expect("decrypts");
        assert_eq!(env.pad, 31, "a pad byte above 16: the block is 32 bytes");
        assert_eq!(env.appid, b"wx17a727aa81c60f43");
        let msg = String::from_utf8(env.msg.clone()).expect("utf-8");
        assert!(
            msg.contains("<Content><![CDATA[加密消息应答]]></Content>"),
            "{msg}"
        );
        assert_eq!(c.encrypt_with_random(&env.msg, &env.random), PAD_ENCRYPT);
    }

    #[test]
    fn pkcs7_32() {
        for len in [0usize, 1, 16, 31, 32, 33, 63, 64] {
            let mut buf = vec![7u8; len];
            pkcs7_pad32(&mut buf);
            assert_eq!(buf.len() % 32, 0);
            let pad = buf.len() - len;
            assert!((1..=32).contains(&pad));
            assert!(buf[len..].iter().all(|&b| usize::from(b) == pad));
            assert_eq!(pkcs7_unpad32(&buf).expect("valid").len(), len);
        }
        assert!(pkcs7_unpad32(&[]).is_err());
        assert!(pkcs7_unpad32(&[0u8; 32]).is_err());
        assert!(pkcs7_unpad32(&[33u8; 64]).is_err());
        let mut bad = vec![3u8; 32];
        bad[30] = 4;
        assert!(pkcs7_unpad32(&bad).is_err());
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert_eq!(
            PushCrypto::new("short", "wx").unwrap_err(),
            PushCryptoError::InvalidKey
        );
        assert!(PushCrypto::new(&format!("{}+", "A".repeat(42)), "wx").is_err());
        let c = PushCrypto::new(ZERO_KEY, JSON_APPID).expect("key");
        assert_eq!(c.open("!!!").unwrap_err(), PushCryptoError::Base64);
        assert_eq!(
            c.open(&STANDARD.encode([0u8; 16])).unwrap_err(),
            PushCryptoError::CipherLength(16)
        );
        // Fresh randoms differ but both decrypt.
        let a = c.encrypt(b"{}");
        let b = c.encrypt(b"{}");
        assert_ne!(a, b);
        assert_eq!(c.decrypt(&a).expect("ok"), b"{}");
        let env = c.open(&b).expect("ok");
        assert!(env.random.iter().all(u8::is_ascii_hexdigit));
    }
}
