//! The simulator's own crypto (written apart from the backend's so each
//! checks the other): APIv2 signatures, RSA for APIv3, field encryption.

use std::collections::{BTreeMap, HashMap};

use aws_lc_rs::hmac;
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sim_kit::{random_bytes, random_hex};
use subtle::ConstantTimeEq;

use crate::config::{Padding, PaySimConfig};

/// APIv2 signature (docs/wechatpay.md §2.1) with `sign_type` `MD5` or `HMAC-SHA256`: what the
/// simulator expects and produces. Public so tests can forge requests.
pub fn v2_sign(params: &BTreeMap<String, String>, api_key: &str, sign_type: &str) -> String {
    let joined: Vec<String> = params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let tmp = format!("{}&key={api_key}", joined.join("&"));
    if sign_type == "HMAC-SHA256" {
        let key = hmac::Key::new(hmac::HMAC_SHA256, api_key.as_bytes());
        hex::encode_upper(hmac::sign(&key, tmp.as_bytes()))
    } else {
        hex::encode_upper(Md5::digest(tmp.as_bytes()))
    }
}

pub(crate) fn v2_verify(params: &BTreeMap<String, String>, api_key: &str, sign_type: &str) -> bool {
    let Some(got) = params.get("sign") else {
        return false;
    };
    v2_sign(params, api_key, sign_type)
        .as_bytes()
        .ct_eq(got.as_bytes())
        .into()
}

pub(crate) struct Keys {
    merchant_spki: Vec<u8>,
    merchant_encrypt: PublicEncryptingKey,
    /// Partner mode: each sub-merchant's certificate key, by sub_mch_id.
    sub_encrypt: HashMap<String, PublicEncryptingKey>,
    platform: RsaKeyPair,
    public_key: RsaKeyPair,
}

/// A certificate serial compared as a number: uppercase hex, no leading zeros.
pub(crate) fn normalize_serial(s: &str) -> String {
    s.trim()
        .to_ascii_uppercase()
        .trim_start_matches('0')
        .to_owned()
}

/// A certificate's subject public key (DER) and serial (normalised).
fn certificate_key(pem: &str, what: &str) -> Result<(Vec<u8>, String), String> {
    let cert =
        CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("{what}: {e}"))?;
    let cert = webpki::EndEntityCert::try_from(&cert).map_err(|e| format!("{what}: {e}"))?;
    let spki = cert.subject_public_key_info().as_ref().to_vec();
    Ok((spki, normalize_serial(&hex::encode_upper(cert.serial()))))
}

fn key_pair(pem: &str, what: &str) -> Result<RsaKeyPair, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("{what}: {e}"))?;
    match der {
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => return Err(format!("{what}: not an RSA key")),
    }
    .map_err(|e| format!("{what}: {e}"))
}

impl Keys {
    pub(crate) fn load(c: &PaySimConfig) -> Result<Self, String> {
        let (spki, _) = certificate_key(&c.merchant_certificate, "merchant_certificate")?;
        let merchant_encrypt = PublicEncryptingKey::from_der(&spki)
            .map_err(|e| format!("merchant_certificate: {e}"))?;
        let mut sub_encrypt = HashMap::new();
        for sub in &c.sub_merchants {
            let what = format!("sub_merchants[{}].certificate", sub.sub_mch_id);
            let (spki, serial) = certificate_key(&sub.certificate, &what)?;
            // A serial that is not the certificate's would make sub_serial_no
            // checks pass for a key nobody holds.
            if serial != normalize_serial(&sub.serial_no) {
                return Err(format!(
                    "sub_merchants[{}].serial_no is not its certificate's serial",
                    sub.sub_mch_id
                ));
            }
            let key = PublicEncryptingKey::from_der(&spki).map_err(|e| format!("{what}: {e}"))?;
            sub_encrypt.insert(sub.sub_mch_id.clone(), key);
        }
        Ok(Keys {
            merchant_spki: spki,
            merchant_encrypt,
            sub_encrypt,
            platform: key_pair(&c.platform_private_key, "platform_private_key")?,
            public_key: key_pair(&c.public_key_private_key, "public_key_private_key")?,
        })
    }

    /// Verifies the merchant's request signature (RSASSA-PKCS1-v1_5/SHA-256).
    pub(crate) fn verify_merchant(&self, message: &[u8], sig_b64: &str) -> bool {
        let Ok(sig) = STANDARD.decode(sig_b64) else {
            return false;
        };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.merchant_spki)
            .verify(message, &sig)
            .is_ok()
    }

    /// Signs an answer with the platform key or the public-key-mode key.
    pub(crate) fn sign(&self, public_key_mode: bool, message: &[u8]) -> String {
        let pair = if public_key_mode {
            &self.public_key
        } else {
            &self.platform
        };
        let mut sig = vec![0u8; pair.public_modulus_len()];
        match pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut sig,
        ) {
            Ok(()) => STANDARD.encode(sig),
            // Cannot happen with a loaded key; an unverifiable answer shows it.
            Err(_) => String::new(),
        }
    }

    /// The key real-name fields are encrypted to: the merchant's certificate
    /// (direct mode) or sub-merchant `sub_mch_id`'s (partner mode).
    fn recipient(&self, sub_mch_id: Option<&str>) -> Result<&PublicEncryptingKey, String> {
        match sub_mch_id {
            None => Ok(&self.merchant_encrypt),
            Some(id) => self
                .sub_encrypt
                .get(id)
                .ok_or_else(|| "no certificate for that sub-merchant".to_owned()),
        }
    }

    /// Encrypts a field to the key of [`Keys::recipient`]; standard base64.
    pub(crate) fn encrypt(
        &self,
        sub_mch_id: Option<&str>,
        padding: Padding,
        plaintext: &str,
    ) -> Result<String, String> {
        let key = self.recipient(sub_mch_id)?;
        let mut out = vec![0u8; key.key_size_bytes()];
        let ct = match padding {
            Padding::Pkcs1v15 => Pkcs1PublicEncryptingKey::new(key.clone()).and_then(|k| {
                k.encrypt(plaintext.as_bytes(), &mut out)
                    .map(|c| c.to_vec())
            }),
            Padding::OaepSha1 => OaepPublicEncryptingKey::new(key.clone()).and_then(|k| {
                k.encrypt(&OAEP_SHA1_MGF1SHA1, plaintext.as_bytes(), &mut out, None)
                    .map(|c| c.to_vec())
            }),
        }
        .map_err(|_| "field too long to encrypt".to_owned())?;
        Ok(STANDARD.encode(ct))
    }

    /// A modulus-sized block of random bytes: a ciphertext nobody can decrypt.
    pub(crate) fn garbage_ciphertext(&self, sub_mch_id: Option<&str>) -> String {
        let size = self
            .recipient(sub_mch_id)
            .unwrap_or(&self.merchant_encrypt)
            .key_size_bytes();
        STANDARD.encode(random_bytes(size))
    }
}

/// 32 lowercase hex characters.
pub(crate) fn nonce() -> String {
    random_hex(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_keys;

    #[test]
    fn official_v2_vectors() {
        let p: BTreeMap<String, String> = [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let key = "192006250b4c09247ec02edce69f6a2d";
        assert_eq!(v2_sign(&p, key, "MD5"), "9A0A8659F005D6984697E2CA0A9CF3B7");
        assert_eq!(
            v2_sign(&p, key, "HMAC-SHA256"),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn encryption_round_trips_through_sizes() {
        let k = Keys::load(&PaySimConfig::default()).unwrap();
        for to in [
            None,
            Some(test_keys::SUB_MCH_ID_A),
            Some(test_keys::SUB_MCH_ID_B),
        ] {
            for p in [Padding::Pkcs1v15, Padding::OaepSha1] {
                let c = k.encrypt(to, p, "张三").unwrap();
                assert_eq!(STANDARD.decode(&c).unwrap().len(), 256);
                assert_ne!(k.encrypt(to, p, "张三").unwrap(), c, "randomised");
            }
            assert!(k.encrypt(to, Padding::OaepSha1, &"x".repeat(300)).is_err());
        }
        assert!(k.encrypt(Some("1"), Padding::Pkcs1v15, "x").is_err());
    }

    #[test]
    fn sub_merchant_serials_are_checked_against_their_certificates() {
        // Leading zeros and case do not matter; another certificate's serial does.
        let mut c = PaySimConfig::default();
        c.sub_merchants[0].serial_no =
            format!("00{}", test_keys::SUB_MERCHANT_A_SERIAL).to_ascii_lowercase();
        assert!(Keys::load(&c).is_ok());
        c.sub_merchants[0].serial_no = test_keys::SUB_MERCHANT_B_SERIAL.into();
        assert!(Keys::load(&c).is_err());
        let mut c = PaySimConfig::default();
        c.sub_merchants[1].certificate = "nope".into();
        assert!(Keys::load(&c).is_err());
    }
}
