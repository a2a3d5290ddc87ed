//! The `WECHAT_APP_SECRET_ID` secret (docs/api.md §2.2): the mini-program's
//! appid, the data keyring that protects personal data at rest, and the
//! receipt keys. No WeChat credential: those are in their own secret
//! (`config::wechat`), which publish-events (it never calls WeChat) cannot read.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use super::wechat::{RawWeChatCredentials, WeChatCredentials, present};
use crate::crypto::receipt::ReceiptKeys;
use crate::domain::keyring::UNNAMED_KEY_ID;
use crate::domain::{DataKey, DataKeyring, KeyId};
use crate::error::ConfigError;

/// The `WECHAT_APP_SECRET_ID` secret, parsed and checked.
#[derive(Clone)]
pub struct AppSecrets {
    secret_id: String,
    pub appid: String,
    pub data_keys: DataKeyring,
    /// Parsed at load; only the functions that sign receipts require them,
    /// so a missing or bad list is an error when used, not when loaded.
    receipt_keys: Result<Arc<ReceiptKeys>, &'static str>,
    /// The WeChat credentials of a secret written before they had their own
    /// secret: used while they are still here (docs/api.md §2.2, upgrading).
    /// A malformed set is an error only where WeChat is called (the field
    /// and problem), so publish-events keeps working.
    legacy_wechat: LegacyWeChat,
}

#[derive(Deserialize)]
struct RawAppSecrets {
    receipt_keys: Option<serde_json::Value>,
    appid: Option<String>,
    data_key: Option<String>,
    data_key_id: Option<String>,
    previous_data_keys: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    legacy: RawWeChatCredentials,
}

/// The WeChat credentials of the older layout, if any are there: parsed,
/// or the field and problem that make them unusable.
type LegacyWeChat = Option<Result<Arc<WeChatCredentials>, (&'static str, &'static str)>>;

impl AppSecrets {
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        let field = super::field_error(secret_id);
        let raw: RawAppSecrets = super::secret_json(secret_id, json)?;
        let appid = present(raw.appid.clone()).ok_or_else(|| field("appid", "is missing"))?;
        let data_keys = keyring(secret_id, &raw)?;
        let receipt_keys = match raw.receipt_keys {
            None | Some(serde_json::Value::Null) => Err("is missing (needed to sign receipts)"),
            Some(v) => ReceiptKeys::from_json(&v).map(Arc::new).map_err(|e| e.0),
        };
        Ok(Self {
            secret_id: secret_id.to_owned(),
            receipt_keys,
            appid,
            data_keys,
            legacy_wechat: legacy_wechat(secret_id, raw.legacy),
        })
    }
}

/// `data_key` (under `data_key_id`, default `k0`) and `previous_data_keys`.
fn keyring(secret_id: &str, raw: &RawAppSecrets) -> Result<DataKeyring, ConfigError> {
    let field = super::field_error(secret_id);
    let key = |name: &'static str, b64: &str| {
        DataKey::from_base64(b64).map_err(|_| field(name, "is not base64 of 32 bytes"))
    };
    let id = |name: &'static str, raw: &str| {
        KeyId::parse(raw).map_err(|_| field(name, "must be 1-32 characters of [A-Za-z0-9_-]"))
    };
    let data_key = present(raw.data_key.clone()).ok_or_else(|| field("data_key", "is missing"))?;
    let current_id = present(raw.data_key_id.clone()).unwrap_or_else(|| UNNAMED_KEY_ID.into());
    let current = (id("data_key_id", &current_id)?, key("data_key", &data_key)?);
    let older = (raw.previous_data_keys.iter().flatten())
        .map(|(k, v)| Ok((id("previous_data_keys", k)?, key("previous_data_keys", v)?)))
        .collect::<Result<Vec<_>, ConfigError>>()?;
    DataKeyring::new(current, older).map_err(|_| {
        field(
            "previous_data_keys",
            "must hold at most 8 keys, none under data_key_id's id",
        )
    })
}

/// The WeChat fields of an app secret written before they had their own secret.
fn legacy_wechat(secret_id: &str, raw: RawWeChatCredentials) -> LegacyWeChat {
    let fields = [
        &raw.appsecret,
        &raw.push_token,
        &raw.encoding_aes_key,
        &raw.previous_encoding_aes_key,
    ];
    if !fields.iter().any(|f| present((*f).clone()).is_some()) {
        return None;
    }
    tracing::warn!(
        event = "wechat_credentials_in_app_secret",
        "the app secret still holds WeChat credentials, which are used from there: move them to the WeChat credentials secret"
    );
    Some(
        WeChatCredentials::from_raw(secret_id, raw)
            .map(Arc::new)
            .map_err(|e| match e {
                ConfigError::SecretField { field, problem, .. } => (field, problem),
                _ => ("(WeChat fields)", "are malformed"),
            }),
    )
}

impl AppSecrets {
    /// This secret as tenant `appid` uses it (docs/api.md §9): the same data
    /// keyring and receipt keys, the tenant's appid, and none of the
    /// deployment's own WeChat credentials.
    pub fn for_tenant(&self, appid: &crate::domain::AppId) -> Self {
        Self {
            appid: appid.as_str().to_owned(),
            legacy_wechat: None,
            ..self.clone()
        }
    }

    /// The WeChat credentials still in this secret (older layout), if any.
    pub fn legacy_wechat(&self) -> Option<Result<Arc<WeChatCredentials>, ConfigError>> {
        self.legacy_wechat.clone().map(|r| {
            r.map_err(|(field, problem)| ConfigError::SecretField {
                secret: self.secret_id.clone(),
                field,
                problem,
            })
        })
    }

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
            .field("data_keys", &self.data_keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"appid":"wx1","data_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#;

    #[test]
    fn app_secret_fields_are_checked_and_named() {
        let s = AppSecrets::from_json("sec", OK).unwrap();
        assert_eq!(s.appid, "wx1");
        assert_eq!(s.data_keys.current_id().as_str(), "k0");
        assert!(s.legacy_wechat().is_none());
        let err = AppSecrets::from_json("sec", r#"{"appid":"wx1"}"#).unwrap_err();
        assert!(err.to_string().contains("data_key"), "{err}");
        let err = AppSecrets::from_json("sec", "[1]").unwrap_err();
        assert!(err.to_string().contains("JSON"), "{err}");
        // receipt_keys: an error only when asked for, naming the field.
        let e = s.receipt_keys().unwrap_err().to_string();
        assert!(e.contains("receipt_keys") && e.contains("missing"), "{e}");
        let bad = OK.replace("{", r#"{"receipt_keys":[{"kid":"k1","private_key":"x"}],"#);
        let e = AppSecrets::from_json("sec", &bad)
            .unwrap()
            .receipt_keys()
            .unwrap_err();
        assert!(e.to_string().contains("PKCS#8"), "{e}");
        let pem = crate::crypto::receipt::generate_pem();
        let good = OK.replace(
            "{",
            &format!(
                r#"{{"receipt_keys":[{{"kid":"k1","private_key":{}}}],"#,
                serde_json::Value::from(pem.clone())
            ),
        );
        let s = AppSecrets::from_json("sec", &good).unwrap();
        assert_eq!(s.receipt_keys().unwrap().kids().collect::<Vec<_>>(), ["k1"]);
        assert!(!format!("{s:?}").contains(pem.lines().nth(1).unwrap()));
    }

    #[test]
    fn the_keyring_is_read_with_its_ids() {
        let ring = OK.replace(
            "{",
            r#"{"data_key_id":"2027-01","previous_data_keys":{"k0":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="},"#,
        );
        let s = AppSecrets::from_json("sec", &ring).unwrap();
        assert_eq!(s.data_keys.current_id().as_str(), "2027-01");
        assert!(format!("{s:?}").contains("2027-01"));
        for (bad, field) in [
            (r#""data_key_id":"a.b","#, "data_key_id"),
            (
                r#""previous_data_keys":{"k1":"short"},"#,
                "previous_data_keys",
            ),
            (
                r#""previous_data_keys":{"k0":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},"#,
                "previous_data_keys",
            ),
        ] {
            let err =
                AppSecrets::from_json("sec", &OK.replace("{", &format!("{{{bad}"))).unwrap_err();
            assert!(err.to_string().contains(field), "{bad}: {err}");
        }
    }

    #[test]
    fn wechat_fields_of_the_older_layout_are_still_read_and_checked() {
        let legacy = OK.replace(
            "{",
            r#"{"appsecret":"s","encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","#,
        );
        let s = AppSecrets::from_json("sec", &legacy).unwrap();
        assert_eq!(s.legacy_wechat().unwrap().unwrap().appsecret, "s");
        assert!(!format!("{s:?}").contains("appsecret: "));
        // Malformed, or half moved: an error where WeChat is called, not for the whole secret.
        let short = legacy.replace("ABCDEFG", "ABCDEF");
        let s = AppSecrets::from_json("sec", &short).unwrap();
        let err = s.legacy_wechat().unwrap().unwrap_err();
        assert!(err.to_string().contains("encoding_aes_key"), "{err}");
        let half = OK.replace("{", r#"{"push_token":"t","#);
        let err = AppSecrets::from_json("sec", &half)
            .unwrap()
            .legacy_wechat()
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("appsecret"), "{err}");
        // Empty fields are no fields.
        let empty = OK.replace("{", r#"{"appsecret":"","push_token":" ","#);
        assert!(
            AppSecrets::from_json("sec", &empty)
                .unwrap()
                .legacy_wechat()
                .is_none()
        );
    }
}
