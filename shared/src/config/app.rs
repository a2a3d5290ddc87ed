//! The `WECHAT_APP_SECRET_ID` secret (docs/api.md §2.2): the mini-program's
//! credentials and the key that protects personal data at rest.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::crypto::receipt::ReceiptKeys;
use crate::domain::DataKey;
use crate::error::ConfigError;

/// The `WECHAT_APP_SECRET_ID` secret, parsed and checked.
#[derive(Clone)]
pub struct AppSecrets {
    secret_id: String,
    pub appid: String,
    pub appsecret: String,
    pub push_token: Option<String>,
    pub encoding_aes_key: Option<String>,
    pub previous_encoding_aes_key: Option<String>,
    pub data_key: DataKey,
    /// Parsed at load; only the functions that sign receipts require them,
    /// so a missing or bad list is an error when used, not when loaded.
    receipt_keys: Result<Arc<ReceiptKeys>, &'static str>,
}

#[derive(Deserialize)]
struct RawAppSecrets {
    receipt_keys: Option<serde_json::Value>,
    appid: Option<String>,
    appsecret: Option<String>,
    push_token: Option<String>,
    encoding_aes_key: Option<String>,
    previous_encoding_aes_key: Option<String>,
    data_key: Option<String>,
}

impl AppSecrets {
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        let field = super::field_error(secret_id);
        let raw: RawAppSecrets = super::secret_json(secret_id, json)?;
        let present = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let appid = present(raw.appid).ok_or_else(|| field("appid", "is missing"))?;
        let appsecret = present(raw.appsecret).ok_or_else(|| field("appsecret", "is missing"))?;
        let data_key = present(raw.data_key).ok_or_else(|| field("data_key", "is missing"))?;
        let data_key = DataKey::from_base64(&data_key)
            .map_err(|_| field("data_key", "is not base64 of 32 bytes"))?;
        let aes_key =
            |name: &'static str, v: Option<String>| -> Result<Option<String>, ConfigError> {
                match present(v) {
                    Some(k) if k.len() != 43 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                        Err(field(name, "must be 43 characters of [A-Za-z0-9]"))
                    }
                    other => Ok(other),
                }
            };
        let receipt_keys = match raw.receipt_keys {
            None | Some(serde_json::Value::Null) => Err("is missing (needed to sign receipts)"),
            Some(v) => ReceiptKeys::from_json(&v).map(Arc::new).map_err(|e| e.0),
        };
        Ok(Self {
            secret_id: secret_id.to_owned(),
            receipt_keys,
            appid,
            appsecret,
            push_token: present(raw.push_token),
            encoding_aes_key: aes_key("encoding_aes_key", raw.encoding_aes_key)?,
            previous_encoding_aes_key: aes_key(
                "previous_encoding_aes_key",
                raw.previous_encoding_aes_key,
            )?,
            data_key,
        })
    }
}

impl AppSecrets {
    /// The receipt keys: `500 configuration_error` (field named in the log)
    /// when they are missing or malformed.
    pub fn receipt_keys(&self) -> Result<Arc<ReceiptKeys>, ConfigError> {
        self.receipt_keys
            .clone()
            .map_err(|problem| ConfigError::SecretField {
                secret: self.secret_id.clone(),
                field: "receipt_keys",
                problem,
            })
    }
}

impl fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSecrets")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_secret_fields_are_checked_and_named() {
        let ok = r#"{"appid":"wx1","appsecret":"s","data_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}"#;
        let s = AppSecrets::from_json("sec", ok).unwrap();
        assert_eq!(s.appid, "wx1");
        assert!(!format!("{s:?}").contains("appsecret: "));
        let err = AppSecrets::from_json("sec", r#"{"appid":"wx1","appsecret":"s"}"#).unwrap_err();
        assert!(err.to_string().contains("data_key"), "{err}");
        let err = AppSecrets::from_json("sec", "[1]").unwrap_err();
        assert!(err.to_string().contains("JSON"), "{err}");
        // receipt_keys: an error only when asked for, naming the field.
        let e = s.receipt_keys().unwrap_err().to_string();
        assert!(e.contains("receipt_keys") && e.contains("missing"), "{e}");
        let bad = ok.replace("{", r#"{"receipt_keys":[{"kid":"k1","private_key":"x"}],"#);
        let e = AppSecrets::from_json("sec", &bad)
            .unwrap()
            .receipt_keys()
            .unwrap_err();
        assert!(e.to_string().contains("PKCS#8"), "{e}");
        let pem = crate::crypto::receipt::generate_pem();
        let good = ok.replace(
            "{",
            &format!(
                r#"{{"receipt_keys":[{{"kid":"k1","private_key":{}}}],"#,
                serde_json::Value::from(pem.clone())
            ),
        );
        let s = AppSecrets::from_json("sec", &good).unwrap();
        assert_eq!(s.receipt_keys().unwrap().kids().collect::<Vec<_>>(), ["k1"]);
        assert!(!format!("{s:?}").contains(pem.lines().nth(1).unwrap()));
        let short = ok.replace("ABCDEFG", "ABCDEF");
        let err = AppSecrets::from_json("sec", &short).unwrap_err();
        assert!(err.to_string().contains("encoding_aes_key"), "{err}");
    }
}
