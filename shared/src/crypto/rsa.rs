//! RSA for WeChat Pay, on aws-lc-rs (not the `rsa` crate: RUSTSEC-2023-0071,
//! a timing side channel in its private-key operations).
//!
//! - the merchant key signs APIv3 requests (RSASSA-PKCS1-v1_5 / SHA-256) and
//!   decrypts the real-name fields (OAEP-SHA1 first, then PKCS#1 v1.5, docs/wechatpay.md §6.3);
//! - WeChat Pay's public key (`PUB_KEY_ID_…`) or platform certificate
//!   verifies its answers.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPair, OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, Pkcs1PrivateDecryptingKey,
    PrivateDecryptingKey,
};
use aws_lc_rs::signature::{self, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is not a PEM RSA private key (PKCS#8 or PKCS#1) of 2048-8192 bits")]
    PrivateKey,
    #[error("is not a PEM RSA public key (SubjectPublicKeyInfo)")]
    PublicKey,
    #[error("is not a PEM X.509 certificate with an RSA key")]
    Certificate,
}

/// The merchant's API key: signs requests, decrypts answers. `Debug` redacts.
pub struct MerchantKey {
    signing: RsaKeyPair,
    oaep: OaepPrivateDecryptingKey,
    pkcs1: Pkcs1PrivateDecryptingKey,
}

impl MerchantKey {
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8, what `apiclient_key.pem` is) or
    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let der =
            PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| KeyError::PrivateKey)?;
        let pkcs8: Vec<u8> = match der {
            PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
            PrivateKeyDer::Pkcs1(k) => {
                // aws-lc-rs decrypting keys take PKCS#8 only: re-encode.
                let pair =
                    KeyPair::from_der(k.secret_pkcs1_der()).map_err(|_| KeyError::PrivateKey)?;
                pair.as_der()
                    .map_err(|_| KeyError::PrivateKey)?
                    .as_ref()
                    .to_vec()
            }
            _ => return Err(KeyError::PrivateKey),
        };
        let signing = RsaKeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::PrivateKey)?;
        let decrypting =
            PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(|_| KeyError::PrivateKey)?;
        Ok(Self {
            signing,
            oaep: OaepPrivateDecryptingKey::new(decrypting.clone())
                .map_err(|_| KeyError::PrivateKey)?,
            pkcs1: Pkcs1PrivateDecryptingKey::new(decrypting).map_err(|_| KeyError::PrivateKey)?,
        })
    }

    /// Base64 RSASSA-PKCS1-v1_5 / SHA-256 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        let mut sig = vec![0u8; self.signing.public_modulus_len()];
        self.signing
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|_| KeyError::PrivateKey)?;
        Ok(STANDARD.encode(sig))
    }

    /// docs/wechatpay.md §6.3: base64 of exactly one modulus-sized block; OAEP (SHA-1) first,
    /// whose success is authoritative, then PKCS#1 v1.5, whose "success" on
    /// an OAEP block is possible (~1/430), so the caller must validate the
    /// plaintext. The result must be UTF-8. The error never says which step
    /// failed, so a caller cannot be used as a padding oracle.
    pub fn decrypt(&self, b64: &str) -> Result<String, DecryptError> {
        let ct = STANDARD.decode(b64.trim()).map_err(|_| DecryptError)?;
        if ct.len() != self.oaep.key_size_bytes() {
            return Err(DecryptError);
        }
        let mut buf = vec![
            0u8;
            self.oaep
                .min_output_size()
                .max(self.pkcs1.min_output_size())
        ];
        let plain = match self.oaep.decrypt(&OAEP_SHA1_MGF1SHA1, &ct, &mut buf, None) {
            Ok(p) => p.to_vec(),
            Err(_) => self
                .pkcs1
                .decrypt(&ct, &mut buf)
                .map_err(|_| DecryptError)?
                .to_vec(),
        };
        String::from_utf8(plain).map_err(|_| DecryptError)
    }
}

impl fmt::Debug for MerchantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MerchantKey(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ciphertext cannot be decrypted")]
pub struct DecryptError;

/// An RSA public key (SubjectPublicKeyInfo DER) that verifies WeChat Pay's
/// RSASSA-PKCS1-v1_5 / SHA-256 signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey(Vec<u8>);

impl VerifyingKey {
    /// `-----BEGIN PUBLIC KEY-----`.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| KeyError::PublicKey)?;
        let key = Self(der.as_ref().to_vec());
        key.check().map_err(|_| KeyError::PublicKey)?;
        Ok(key)
    }

    /// The certificate's key and its serial (uppercase hex, no leading zeros).
    /// The certificate's own validity is not checked here: it is configured
    /// by the operator, like the public key, not received from the network.
    pub fn from_certificate_pem(pem: &str) -> Result<(Self, String), KeyError> {
        let der =
            CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| KeyError::Certificate)?;
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| KeyError::Certificate)?;
        let key = Self(cert.subject_public_key_info().as_ref().to_vec());
        key.check().map_err(|_| KeyError::Certificate)?;
        Ok((key, normalize_serial(&hex::encode_upper(cert.serial()))))
    }

    fn check(&self) -> Result<(), ()> {
        aws_lc_rs::rsa::PublicEncryptingKey::from_der(&self.0)
            .map(|_| ())
            .map_err(|_| ())
    }

    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.0)
            .verify(message, &sig)
            .is_ok()
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifyingKey(..)")
    }
}

/// Serials compare as numbers (docs/wechatpay.md §4.1): uppercase hex without leading zeros.
pub fn normalize_serial(serial: &str) -> String {
    let upper = serial.trim().to_ascii_uppercase();
    let trimmed = upper.trim_start_matches('0');
    if trimmed.is_empty() && !upper.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// |now − Wechatpay-Timestamp| must stay below this (Go/Java SDKs: `>=` fails).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The keys WeChat Pay's answers may be signed with, by `Wechatpay-Serial`.
#[derive(Debug, Clone, Default)]
pub struct ResponseKeys {
    /// `PUB_KEY_ID_…` and the WeChat Pay public key.
    pub public_key: Option<(String, VerifyingKey)>,
    /// Platform certificates: (normalized serial, key).
    pub certificates: Vec<(String, VerifyingKey)>,
}

/// The four `Wechatpay-*` headers of an answer.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub serial: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseRejected {
    #[error("a Wechatpay-* signature header is missing")]
    MissingHeader,
    #[error("Wechatpay-Timestamp is not a number")]
    BadTimestamp,
    #[error("Wechatpay-Timestamp is 300 s or more away from now")]
    StaleTimestamp,
    #[error("Wechatpay-Serial names no configured key")]
    UnknownSerial,
    #[error("the signature does not verify")]
    BadSignature,
}

impl ResponseKeys {
    /// The serial to announce in a request's `Wechatpay-Serial` (the key we
    /// can verify with): the public key id if we have one.
    pub fn preferred_serial(&self) -> Option<&str> {
        self.public_key
            .as_ref()
            .map(|(id, _)| id.as_str())
            .or_else(|| self.certificates.first().map(|(s, _)| s.as_str()))
    }

    fn key_for(&self, serial: &str) -> Option<&VerifyingKey> {
        let serial = serial.trim();
        if let Some((id, key)) = &self.public_key
            && id == serial
        {
            return Some(key);
        }
        let wanted = normalize_serial(serial);
        self.certificates
            .iter()
            .find(|(s, _)| *s == wanted)
            .map(|(_, k)| k)
    }

    /// Checks an answer: all four headers, the 5-minute rule, a key chosen by
    /// serial, and the signature over `TS\nNONCE\nBODY\n` (exact body bytes).
    pub fn verify(
        &self,
        h: SignedHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<(), ResponseRejected> {
        let (Some(ts), Some(nonce), Some(sig), Some(serial)) =
            (h.timestamp, h.nonce, h.signature, h.serial)
        else {
            return Err(ResponseRejected::MissingHeader);
        };
        let ts_num: i64 = ts
            .trim()
            .parse()
            .map_err(|_| ResponseRejected::BadTimestamp)?;
        if now.abs_diff(ts_num) >= MAX_CLOCK_SKEW_SECS.unsigned_abs() {
            return Err(ResponseRejected::StaleTimestamp);
        }
        let key = self
            .key_for(serial)
            .ok_or(ResponseRejected::UnknownSerial)?;
        let mut message = Vec::with_capacity(ts.len() + nonce.len() + body.len() + 3);
        message.extend_from_slice(ts.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(nonce.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(body);
        message.push(b'\n');
        if key.verify(&message, sig) {
            Ok(())
        } else {
            Err(ResponseRejected::BadSignature)
        }
    }
}

#[cfg(test)]
pub(crate) mod test_keys {
    //! The wechatpay-java test fixtures (tests/testdata/wechatpay-keys/).
    pub const MERCHANT_KEY: &str =
        include_str!("../../../tests/testdata/wechatpay-keys/merchant_private_key.pem");
    pub const MERCHANT_CERT: &str =
        include_str!("../../../tests/testdata/wechatpay-keys/merchant_certificate.pem");
    pub const PLATFORM_KEY: &str =
        include_str!("../../../tests/testdata/wechatpay-keys/wechat_pay_private_key.pem");
    pub const PLATFORM_CERT: &str =
        include_str!("../../../tests/testdata/wechatpay-keys/wechat_pay_certificate.pem");
    pub const PUBLIC_KEY: &str =
        include_str!("../../../tests/testdata/wechatpay-keys/wechat_pay_public_key.pem");
    pub const MERCHANT_SERIAL: &str = "5F1C72E2A8931B72A2E13AF8DEE92471EB397115";
    pub const PLATFORM_SERIAL: &str = "440024045C4A427599D09BB4E3DE0279F2E813FD";
}

#[cfg(test)]
mod tests {
    use super::test_keys::*;
    use super::*;

    /// docs/wechatpay.md §6.4 vectors.
    const PKCS1_NAME: &str = "MSIrPWH5HTKpx4G15r8fPwBQP9R9+IEq7ilGzfiEx81NRqaw+NWAQDfD0+tWnTdDuAGBchAexfa0782mani8t4HlPcMxcuVypdke6gPZcB/0FvzrcpkOh9DAcgrZMHKcjZoAfG/q/RODetQ+2dddJsA7dJtv6Z2hZHMRbxfMNaIfk5+4WdwBUAfbiPweSdI+SQsnUr/QohF+Uj/3kM4ffH0LAnWUrCic4MQ0jU7hEGRViIivbms15BAFQupkVoVaNrZQt/ScI/lgBc+AiflsyvEpnL6L6GyErX3LKZQpMtIJFy/UVW2vhYVAzXZKkdXWhVPSlljev7z71MOy8vCpNQ==";
    const PKCS1_ID: &str = "OtZAxECcK3R2BFLN5pjj6aUYa1IyWui7uifUmv17WDgKRKEvN9AqK1VsVTOSavtfZzehZ1OsohDuA4UTrRV44foR2GWMkrGIxbkfzoG+e+YhYEPelib5aBBub7CAsDlIXSS5XZxPigoZJXRLL/FE/N9D+scse9SOsaxA3gtOXcwsujU7m5nurmq6gX4dNQ/QC4cJQ6O+ybWA8iYZBdvjC2qXg7t1pkbVK6V/ovUpVeGpFDdTphor16/rqYPqtmpiL840PJ3SXExrPfLw1TUCuJaFBkM13IzBdcVoWBQsp9j9yqA+WQBoxbbYxHbZ8LHxo+78/udJjrOsjLerR8zDdQ==";
    const OAEP_NAME: &str = "fdmjWdYy1qGD/HJ2Bmxb6ojB6h9kfp5UiuHMbM2RFRsn8FZQl5c61xwtMOw0is8769bG49zdAEAL3JvHSAz4Ohavw889I2Mzol+eDK1M5nq8QpFNZDkq97Ea5bPsGoM3mZhNrizjoadd/+81cM/BxQMhZnYOsSlElSOSutuIjW3mwrSPvwcRgsn5BsQhrpHsK2IQ6lIEBjmetPsQPkR3rb7KKJdqrsXgr42haQPXZ3auGLutKqK/ulAO/1PybSxd1vPlj0ipjSW43lJbsisxsuixhPZfVVCRYlhdUynMEiaZfTZa21TEXE91R1SPzd6Xylsiv3tqE4QC3LlYXhx9Og==";

    #[test]
    fn decryption_vectors() {
        let key = MerchantKey::from_pem(MERCHANT_KEY).unwrap();
        assert_eq!(key.decrypt(PKCS1_NAME).unwrap(), "张三");
        assert_eq!(key.decrypt(PKCS1_ID).unwrap(), "11010519491231002X");
        assert_eq!(key.decrypt(OAEP_NAME).unwrap(), "张三");
        assert_eq!(key.decrypt("AAAA"), Err(DecryptError));
        assert_eq!(key.decrypt("not base64!"), Err(DecryptError));
        let mut flipped = STANDARD.decode(PKCS1_NAME).unwrap();
        flipped[10] ^= 1;
        // A damaged block fails or decrypts to garbage the caller refuses;
        // it never yields the original.
        assert_ne!(
            key.decrypt(&STANDARD.encode(flipped)).ok().as_deref(),
            Some("张三")
        );
        // Another key cannot decrypt it.
        let other = MerchantKey::from_pem(PLATFORM_KEY).unwrap();
        assert_ne!(other.decrypt(PKCS1_NAME).ok().as_deref(), Some("张三"));
    }

    #[test]
    fn request_signature_vector() {
        // docs/wechatpay.md §4.5 (b).
        let key = MerchantKey::from_pem(MERCHANT_KEY).unwrap();
        let msg = "GET\n/v3/facemch/users/aabbccdd12345?info_type=ASK_REAL_NAME&appid=wx2b029c08a6233333\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n";
        assert_eq!(
            key.sign(msg.as_bytes()).unwrap(),
            "LIILP0huFYuOo6VxvbYcCxzjfL0gudSM2dREbaGEOidO8nYWqK7WsgGIIqwsnhdV6kqt3zkQqx6n7CBxw5FEVWpMAxTJv502ExIsY4rd3cy9HWvFbacnv/4zFzVuNb2tOmY9vdGrbhc3OqOtlmg8aPd8jnx28KzcjihE5JMneqvDr1p2MVg41Nzyzx5ZKl/SgvXMiW14m5aDbwgXS8rhV7mLUwfYaD79R2iKlj/Eryb8Caj6pKmmwQQq258xvsRGvNy6JIari6XWLuQwLwwnhCFNGYD5qdnoOg4X+PbZw3zj2dC/dfmkaJGktjfbz688zcsxgo1ukdkX61sOjSm17Q=="
        );
        // The merchant certificate's key verifies it.
        let (cert_key, serial) = VerifyingKey::from_certificate_pem(MERCHANT_CERT).unwrap();
        assert_eq!(serial, MERCHANT_SERIAL);
        assert!(cert_key.verify(msg.as_bytes(), &key.sign(msg.as_bytes()).unwrap()));
    }

    #[test]
    fn response_signature_vector() {
        // docs/wechatpay.md §4.5 (b): the body carries the two PKCS#1 ciphertexts verbatim.
        let body = format!(
            "{{\"openid\":\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\",\"real_name_info\":{{\"encrypted_real_name\":\"{PKCS1_NAME}\",\"credential_type\":1,\"encrypted_credential_id\":\"{PKCS1_ID}\"}}}}"
        );
        let msg = format!("1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{body}\n");
        let sig = "JMc2Cvpq0HaH5q+oPnlnPZrywT0y2zGx/213ePSc81KG5vOspk/sAX5GLWSrhxbqANvKT+SJkNqLiMO/oGzaTN57k2VceaswZOyxuAqP6lBN8TpkrVaDkb3kcTqvjVNb//HCcp6q9GROgRpgr/A8SFGN72mGji5BfF9ZkpZ8tmeLOwBKtOL0lWsvcWStkqJ6fQf/fFe8OJjZjlnJ/fqguWFqd7yL2aDthKM+xHHUfTZ489l76zOPPXzlmZI9UwxACF3h453SPdMXTNQdKXWcqYU+A15twKBiFLUNDd8v15ia4ONmm/EjtbUtZYIFUBw74Pm9III2b+NnTxvzRrU0/g==";
        let pk = VerifyingKey::from_pem(PUBLIC_KEY).unwrap();
        let (cert, serial) = VerifyingKey::from_certificate_pem(PLATFORM_CERT).unwrap();
        assert_eq!(serial, PLATFORM_SERIAL);
        assert_eq!(
            pk, cert,
            "the public key and the platform cert are one pair"
        );
        assert!(pk.verify(msg.as_bytes(), sig));
        assert!(!pk.verify(msg.replace("1554209980", "1554209981").as_bytes(), sig));
        assert!(!pk.verify(msg.as_bytes(), "AAAA"));
        let merchant = VerifyingKey::from_certificate_pem(MERCHANT_CERT).unwrap().0;
        assert!(!merchant.verify(msg.as_bytes(), sig));
    }

    #[test]
    fn pkcs1_private_keys_are_accepted_and_junk_is_not() {
        let key = MerchantKey::from_pem(MERCHANT_KEY).unwrap();
        // The same key as PKCS#1 (`BEGIN RSA PRIVATE KEY`).
        let pair = KeyPair::from_pkcs8(
            PrivateKeyDer::from_pem_slice(MERCHANT_KEY.as_bytes())
                .unwrap()
                .secret_der(),
        )
        .unwrap();
        let pkcs8 = pair.as_der().unwrap();
        // PKCS#8 for RSA wraps the PKCS#1 key in an OCTET STRING at a fixed
        // offset for this key size: take it back out.
        let pkcs1 = &pkcs8.as_ref()[26..];
        let pem = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            STANDARD.encode(pkcs1)
        );
        let k1 = MerchantKey::from_pem(&pem).unwrap();
        assert_eq!(k1.sign(b"m").unwrap(), key.sign(b"m").unwrap());
        for junk in [
            "",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            MERCHANT_CERT,
            PUBLIC_KEY,
        ] {
            assert!(MerchantKey::from_pem(junk).is_err());
        }
        assert!(VerifyingKey::from_pem(MERCHANT_KEY).is_err());
        assert!(VerifyingKey::from_certificate_pem(PUBLIC_KEY).is_err());
        assert_eq!(format!("{key:?}"), "MerchantKey(<redacted>)");
    }

    #[test]
    fn serials_normalize() {
        assert_eq!(normalize_serial("00ab"), "AB");
        assert_eq!(normalize_serial("000"), "0");
        assert_eq!(normalize_serial(" 5f1c "), "5F1C");
    }
}

#[cfg(test)]
mod response_tests {
    use super::test_keys::*;
    use super::*;

    const BODY: &str = "{\"openid\":\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\",\"real_name_info\":{\"encrypted_real_name\":\"MSIrPWH5HTKpx4G15r8fPwBQP9R9+IEq7ilGzfiEx81NRqaw+NWAQDfD0+tWnTdDuAGBchAexfa0782mani8t4HlPcMxcuVypdke6gPZcB/0FvzrcpkOh9DAcgrZMHKcjZoAfG/q/RODetQ+2dddJsA7dJtv6Z2hZHMRbxfMNaIfk5+4WdwBUAfbiPweSdI+SQsnUr/QohF+Uj/3kM4ffH0LAnWUrCic4MQ0jU7hEGRViIivbms15BAFQupkVoVaNrZQt/ScI/lgBc+AiflsyvEpnL6L6GyErX3LKZQpMtIJFy/UVW2vhYVAzXZKkdXWhVPSlljev7z71MOy8vCpNQ==\",\"credential_type\":1,\"encrypted_credential_id\":\"OtZAxECcK3R2BFLN5pjj6aUYa1IyWui7uifUmv17WDgKRKEvN9AqK1VsVTOSavtfZzehZ1OsohDuA4UTrRV44foR2GWMkrGIxbkfzoG+e+YhYEPelib5aBBub7CAsDlIXSS5XZxPigoZJXRLL/FE/N9D+scse9SOsaxA3gtOXcwsujU7m5nurmq6gX4dNQ/QC4cJQ6O+ybWA8iYZBdvjC2qXg7t1pkbVK6V/ovUpVeGpFDdTphor16/rqYPqtmpiL840PJ3SXExrPfLw1TUCuJaFBkM13IzBdcVoWBQsp9j9yqA+WQBoxbbYxHbZ8LHxo+78/udJjrOsjLerR8zDdQ==\"}}";
    const SIG: &str = "JMc2Cvpq0HaH5q+oPnlnPZrywT0y2zGx/213ePSc81KG5vOspk/sAX5GLWSrhxbqANvKT+SJkNqLiMO/oGzaTN57k2VceaswZOyxuAqP6lBN8TpkrVaDkb3kcTqvjVNb//HCcp6q9GROgRpgr/A8SFGN72mGji5BfF9ZkpZ8tmeLOwBKtOL0lWsvcWStkqJ6fQf/fFe8OJjZjlnJ/fqguWFqd7yL2aDthKM+xHHUfTZ489l76zOPPXzlmZI9UwxACF3h453SPdMXTNQdKXWcqYU+A15twKBiFLUNDd8v15ia4ONmm/EjtbUtZYIFUBw74Pm9III2b+NnTxvzRrU0/g==";
    const TS: i64 = 1554209980;

    fn headers<'a>(serial: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            timestamp: Some(ts),
            nonce: Some("c5ac7061fccab6bf3e254dcf98995b8c"),
            signature: Some(sig),
            serial: Some(serial),
        }
    }

    #[test]
    fn response_vector_in_both_key_modes() {
        let (cert, serial) = VerifyingKey::from_certificate_pem(PLATFORM_CERT).unwrap();
        let by_cert = ResponseKeys {
            public_key: None,
            certificates: vec![(serial, cert)],
        };
        let by_pk = ResponseKeys {
            public_key: Some((
                "PUB_KEY_ID_0114232134912410000000000001".into(),
                VerifyingKey::from_pem(PUBLIC_KEY).unwrap(),
            )),
            certificates: vec![],
        };
        let ts = TS.to_string();
        assert_eq!(
            by_cert.verify(headers(PLATFORM_SERIAL, &ts, SIG), BODY.as_bytes(), TS + 10),
            Ok(())
        );
        // Serials compare as numbers: lowercase and a leading zero are the same serial.
        let lower = format!("00{}", PLATFORM_SERIAL.to_lowercase());
        assert_eq!(
            by_cert.verify(headers(&lower, &ts, SIG), BODY.as_bytes(), TS),
            Ok(())
        );
        assert_eq!(
            by_pk.verify(
                headers("PUB_KEY_ID_0114232134912410000000000001", &ts, SIG),
                BODY.as_bytes(),
                TS
            ),
            Ok(())
        );
        // The wrong mode's serial is unknown.
        assert_eq!(
            by_pk.verify(headers(PLATFORM_SERIAL, &ts, SIG), BODY.as_bytes(), TS),
            Err(ResponseRejected::UnknownSerial)
        );
        assert_eq!(
            by_cert.verify(
                headers("PUB_KEY_ID_0114232134912410000000000001", &ts, SIG),
                BODY.as_bytes(),
                TS
            ),
            Err(ResponseRejected::UnknownSerial)
        );
        // One byte of body changed.
        let tampered = BODY.replace("oUpF8", "oUpF9");
        assert_eq!(
            by_cert.verify(headers(PLATFORM_SERIAL, &ts, SIG), tampered.as_bytes(), TS),
            Err(ResponseRejected::BadSignature)
        );
        // The 5-minute rule, both ways, at the boundary.
        assert_eq!(
            by_cert.verify(
                headers(PLATFORM_SERIAL, &ts, SIG),
                BODY.as_bytes(),
                TS + 299
            ),
            Ok(())
        );
        for now in [TS + 300, TS - 300, TS + 100_000] {
            assert_eq!(
                by_cert.verify(headers(PLATFORM_SERIAL, &ts, SIG), BODY.as_bytes(), now),
                Err(ResponseRejected::StaleTimestamp)
            );
        }
        assert_eq!(
            by_cert.verify(headers(PLATFORM_SERIAL, "x", SIG), BODY.as_bytes(), TS),
            Err(ResponseRejected::BadTimestamp)
        );
        let mut missing = headers(PLATFORM_SERIAL, &ts, SIG);
        missing.nonce = None;
        assert_eq!(
            by_cert.verify(missing, BODY.as_bytes(), TS),
            Err(ResponseRejected::MissingHeader)
        );
        assert_eq!(
            by_pk.preferred_serial(),
            Some("PUB_KEY_ID_0114232134912410000000000001")
        );
        assert_eq!(by_cert.preferred_serial(), Some(PLATFORM_SERIAL));
    }
}
