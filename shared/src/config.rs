//! Configuration: environment variables (contract §2) and the app secret's JSON.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::{DataKey, Flow};
use crate::error::ConfigError;

pub const DEFAULT_WECHAT_API_BASE: &str = "https://api.weixin.qq.com";

/// What the mini-program functions read from their environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sessions_table: String,
    pub wechat_app_secret_id: String,
    pub access_token_secret_id: String,
    pub wechat_api_base: String,
    pub default_face_flow: Flow,
    /// 0 disables the limit.
    pub issue_key_limit_per_hour: u32,
    /// Per attempt. Not in the contract: lets a deployment tune it.
    pub wechat_timeout: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::MissingEnv(name))
        };
        let default_face_flow = match get("DEFAULT_FACE_FLOW") {
            None => Flow::V2,
            Some(v) => Flow::parse(v.trim()).map_err(|_| ConfigError::InvalidEnv {
                name: "DEFAULT_FACE_FLOW",
                problem: "must be v1 or v2".into(),
            })?,
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            get(name).map_or(Ok(default), |v| {
                v.trim().parse().map_err(|_| ConfigError::InvalidEnv {
                    name,
                    problem: "must be a whole number".into(),
                })
            })
        };
        let limit = number("ISSUE_KEY_LIMIT_PER_HOUR", 10)?;
        Ok(Self {
            sessions_table: required("SESSIONS_TABLE")?,
            wechat_app_secret_id: required("WECHAT_APP_SECRET_ID")?,
            access_token_secret_id: required("ACCESS_TOKEN_SECRET_ID")?,
            wechat_api_base: get("WECHAT_API_BASE")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_WECHAT_API_BASE.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            default_face_flow,
            issue_key_limit_per_hour: u32::try_from(limit).map_err(|_| {
                ConfigError::InvalidEnv {
                    name: "ISSUE_KEY_LIMIT_PER_HOUR",
                    problem: "is too large".into(),
                }
            })?,
            wechat_timeout: Duration::from_millis(number("WECHAT_HTTP_TIMEOUT_MS", 3000)?.max(1)),
        })
    }
}

/// The `WECHAT_APP_SECRET_ID` secret, parsed and checked.
#[derive(Clone)]
pub struct AppSecrets {
    pub appid: String,
    pub appsecret: String,
    pub push_token: Option<String>,
    pub encoding_aes_key: Option<String>,
    pub previous_encoding_aes_key: Option<String>,
    pub data_key: DataKey,
}

#[derive(Deserialize)]
struct RawAppSecrets {
    appid: Option<String>,
    appsecret: Option<String>,
    push_token: Option<String>,
    encoding_aes_key: Option<String>,
    previous_encoding_aes_key: Option<String>,
    data_key: Option<String>,
}

impl AppSecrets {
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        let field = |field: &'static str, problem: &'static str| ConfigError::SecretField {
            secret: secret_id.to_owned(),
            field,
            problem,
        };
        let raw: RawAppSecrets = serde_json::from_str(json)
            .map_err(|_| field("(whole secret)", "is not a JSON object of strings"))?;
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
        Ok(Self {
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

impl fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSecrets")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_WECHATPAY_FACE_API_BASE: &str = "https://payapp.weixin.qq.com";
pub const DEFAULT_WECHATPAY_API_BASE: &str = "https://api.mch.weixin.qq.com";

/// What the authinfo (face kiosk) function reads from its environment.
#[derive(Debug, Clone)]
pub struct KioskSettings {
    pub sessions_table: String,
    pub merchant_secret_id: String,
    /// Base of `get_wxpayface_authinfo` (APIv2).
    pub wechatpay_face_api_base: String,
    /// Base of APIv3.
    pub wechatpay_api_base: String,
    /// Per attempt. Not in the contract: lets a deployment tune it.
    pub wechatpay_timeout: Duration,
}

impl KioskSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::MissingEnv(name))
        };
        let base = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            let v = get(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned());
            let v = v.trim().trim_end_matches('/').to_owned();
            if !(v.starts_with("https://") || v.starts_with("http://")) {
                return Err(ConfigError::InvalidEnv {
                    name,
                    problem: "must be an http(s) URL".into(),
                });
            }
            Ok(v)
        };
        let timeout_ms = match get("WECHATPAY_HTTP_TIMEOUT_MS") {
            None => 3000,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| ConfigError::InvalidEnv {
                    name: "WECHATPAY_HTTP_TIMEOUT_MS",
                    problem: "must be a whole number".into(),
                })?,
        };
        Ok(Self {
            sessions_table: required("SESSIONS_TABLE")?,
            merchant_secret_id: required("MERCHANT_SECRET_ID")?,
            wechatpay_face_api_base: base(
                "WECHATPAY_FACE_API_BASE",
                DEFAULT_WECHATPAY_FACE_API_BASE,
            )?,
            wechatpay_api_base: base("WECHATPAY_API_BASE", DEFAULT_WECHATPAY_API_BASE)?,
            wechatpay_timeout: Duration::from_millis(timeout_ms.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("SESSIONS_TABLE", "t"),
        ("WECHAT_APP_SECRET_ID", "a"),
        ("ACCESS_TOKEN_SECRET_ID", "b"),
    ];

    #[test]
    fn defaults_and_required_variables() {
        let s = Settings::from_lookup(env(&BASE)).unwrap();
        assert_eq!(s.wechat_api_base, DEFAULT_WECHAT_API_BASE);
        assert_eq!(s.default_face_flow, Flow::V2);
        assert_eq!(s.issue_key_limit_per_hour, 10);
        for missing in [
            "SESSIONS_TABLE",
            "WECHAT_APP_SECRET_ID",
            "ACCESS_TOKEN_SECRET_ID",
        ] {
            let rest: Vec<_> = BASE
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = Settings::from_lookup(env(&rest)).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
        let mut bad = BASE.to_vec();
        bad.push(("DEFAULT_FACE_FLOW", "v3"));
        assert!(Settings::from_lookup(env(&bad)).is_err());
    }

    #[test]
    fn kiosk_settings() {
        let base = [("SESSIONS_TABLE", "t"), ("MERCHANT_SECRET_ID", "m")];
        let s = KioskSettings::from_lookup(env(&base)).unwrap();
        assert_eq!(s.wechatpay_face_api_base, DEFAULT_WECHATPAY_FACE_API_BASE);
        assert_eq!(s.wechatpay_api_base, DEFAULT_WECHATPAY_API_BASE);
        let err = KioskSettings::from_lookup(env(&base[..1])).unwrap_err();
        assert!(err.to_string().contains("MERCHANT_SECRET_ID"), "{err}");
        let mut custom = base.to_vec();
        custom.push(("WECHATPAY_API_BASE", "http://127.0.0.1:9/"));
        let s = KioskSettings::from_lookup(env(&custom)).unwrap();
        assert_eq!(s.wechatpay_api_base, "http://127.0.0.1:9");
        custom.push(("WECHATPAY_FACE_API_BASE", "ftp://x"));
        assert!(KioskSettings::from_lookup(env(&custom)).is_err());
    }

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
        let short = ok.replace("ABCDEFG", "ABCDEF");
        let err = AppSecrets::from_json("sec", &short).unwrap_err();
        assert!(err.to_string().contains("encoding_aes_key"), "{err}");
    }
}
