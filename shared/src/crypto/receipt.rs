//! The receipt keys (docs/api.md §6): ES256 (ECDSA P-256, SHA-256) on
//! aws-lc-rs; `jsonwebtoken` makes the JWKS. The first key signs; every key is
//! published in the JWKS, so a new key can be published before it signs and
//! an old one kept while receipts it signed are alive. Private parts never
//! leave this module: `Debug` shows the kids only.

use std::fmt;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;

/// One signing key and its public half, as the JWKS shows it.
struct ReceiptKey {
    kid: String,
    /// Parsed once: `jsonwebtoken::encode` would parse the PKCS#8 (and derive the public
    /// point) again for every receipt.
    pair: EcdsaKeyPair,
    jwk: Jwk,
}

pub struct ReceiptKeys(Vec<ReceiptKey>);

/// A receipt could not be signed (claims that do not serialize, or no random source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignFailed;

/// The protected header, in the order `jsonwebtoken` wrote it.
#[derive(Serialize)]
struct JwsHeader<'a> {
    typ: &'static str,
    alg: &'static str,
    kid: &'a str,
}

/// Why `receipt_keys` was refused: which part, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysRefused(pub &'static str);

#[derive(serde::Deserialize)]
struct RawKey {
    kid: Option<String>,
    private_key: Option<String>,
}

fn valid_kid(kid: &str) -> bool {
    crate::domain::ids::is_token(kid, 1..=64, b"._-")
}

impl ReceiptKeys {
    /// `receipt_keys` of the app secret: `[{"kid", "private_key": <PKCS#8 PEM, P-256>}, …]`.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, KeysRefused> {
        let raw: Vec<RawKey> = serde_json::from_value(value.clone())
            .map_err(|_| KeysRefused("must be a list of {kid, private_key}"))?;
        if raw.is_empty() {
            return Err(KeysRefused("must list at least one key"));
        }
        let mut keys: Vec<ReceiptKey> = Vec::with_capacity(raw.len());
        for k in raw {
            let kid = k
                .kid
                .filter(|k| valid_kid(k))
                .ok_or(KeysRefused("kid must be 1-64 characters of [A-Za-z0-9._-]"))?;
            if keys.iter().any(|other| other.kid == kid) {
                return Err(KeysRefused("kids must be distinct"));
            }
            let pem = k.private_key.ok_or(KeysRefused("private_key is missing"))?;
            let der = match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
                Ok(PrivateKeyDer::Pkcs8(der)) => der.secret_pkcs8_der().to_vec(),
                _ => return Err(KeysRefused("private_key must be a PKCS#8 PEM")),
            };
            // Checked here, so a key of another curve is a configuration
            // error at load, never a failure when signing.
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                .map_err(|_| KeysRefused("private_key must be an EC P-256 key"))?;
            let mut jwk = Jwk::from_encoding_key(&EncodingKey::from_ec_der(&der), Algorithm::ES256)
                .map_err(|_| KeysRefused("private_key must be an EC P-256 key"))?;
            jwk.common.key_id = Some(kid.clone());
            jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            keys.push(ReceiptKey { kid, pair, jwk });
        }
        Ok(Self(keys))
    }

    /// A compact JWS of `claims`, signed by the first key (RFC 7515 §7.1: the header and the
    /// claims in base64url, then the ES256 signature, R and S of 32 bytes each).
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, SignFailed> {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        // `from_json` refuses an empty list; a missing key is still an error, not a panic.
        let first = self.0.first().ok_or(SignFailed)?;
        let header = JwsHeader {
            typ: "JWT",
            alg: "ES256",
            kid: &first.kid,
        };
        let mut out = B64.encode(serde_json::to_vec(&header).map_err(|_| SignFailed)?);
        out.push('.');
        out.push_str(&B64.encode(serde_json::to_vec(claims).map_err(|_| SignFailed)?));
        let signature = first
            .pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), out.as_bytes())
            .map_err(|_| SignFailed)?;
        out.push('.');
        out.push_str(&B64.encode(signature.as_ref()));
        Ok(out)
    }

    /// `{"keys": [...]}`: every key's public part.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.0.iter().map(|k| &k.jwk).collect::<Vec<_>>() })
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|k| k.kid.as_str())
    }
}

impl fmt::Debug for ReceiptKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReceiptKeys")
            .field(&self.kids().collect::<Vec<_>>())
            .finish()
    }
}

/// A fresh P-256 key as PKCS#8 PEM: what `wxface-dev setup` puts in a
/// local secret (an operator makes one with openssl, see the README).
pub fn generate_pem() -> String {
    use base64::Engine;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    // Key generation fails only without a system random source.
    .expect("P-256 key generation");
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
    use serde_json::{Value, json};

    use super::*;

    fn keys(n: usize) -> (ReceiptKeys, Vec<String>) {
        let pems: Vec<String> = (0..n).map(|_| generate_pem()).collect();
        let list: Vec<Value> = pems
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"kid": format!("k{i}"), "private_key": p}))
            .collect();
        (ReceiptKeys::from_json(&Value::from(list)).unwrap(), pems)
    }

    #[test]
    fn the_first_key_signs_and_every_key_is_published() {
        let (k, pems) = keys(2);
        let token = k
            .sign(&json!({"sub": "o-1", "exp": 4_000_000_000i64}))
            .unwrap();
        let header = decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref(), header.typ.as_deref()),
            (Algorithm::ES256, Some("k0"), Some("JWT"))
        );
        let jwks = k.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        for (i, jwk) in jwks["keys"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                (
                    jwk["kty"].as_str(),
                    jwk["crv"].as_str(),
                    jwk["alg"].as_str(),
                    jwk["use"].as_str()
                ),
                (Some("EC"), Some("P-256"), Some("ES256"), Some("sig"))
            );
            assert_eq!(jwk["kid"], format!("k{i}"));
            assert!(jwk.get("d").is_none(), "no private part");
        }
        // It verifies with the published key, not the other one.
        let published: Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.validate_aud = false;
        assert!(decode::<Value>(&token, &DecodingKey::from_jwk(&published).unwrap(), &v).is_ok());
        let second: Jwk = serde_json::from_value(jwks["keys"][1].clone()).unwrap();
        assert!(decode::<Value>(&token, &DecodingKey::from_jwk(&second).unwrap(), &v).is_err());
        // Nothing private in Debug or the JWKS.
        let body = pems[0].lines().nth(1).unwrap();
        assert!(!format!("{k:?}").contains(body) && !jwks.to_string().contains(body));
    }

    #[test]
    fn bad_keys_are_refused_by_what_is_wrong() {
        let pem = generate_pem();
        let cases = [
            (json!("x"), "a list"),
            (json!([]), "at least one"),
            (json!([{"private_key": pem}]), "kid"),
            (json!([{"kid": "a b", "private_key": pem}]), "kid"),
            (
                json!([{"kid": "a", "private_key": pem}, {"kid": "a", "private_key": pem}]),
                "distinct",
            ),
            (json!([{"kid": "a"}]), "missing"),
            (
                json!([{"kid": "a", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}]),
                "P-256",
            ),
            (json!([{"kid": "a", "private_key": "not pem"}]), "PKCS#8"),
        ];
        for (value, why) in cases {
            let err = ReceiptKeys::from_json(&value).unwrap_err();
            assert!(err.0.contains(why), "{value}: {err:?}");
        }
        // An RSA key is not an ES256 key.
        let rsa = include_str!("../../../tests/testdata/wechatpay-keys/merchant_private_key.pem");
        assert!(ReceiptKeys::from_json(&json!([{"kid": "a", "private_key": rsa}])).is_err());
    }
}
