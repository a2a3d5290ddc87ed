//! The `WECHAT_CREDENTIALS_SECRET_ID` secret (docs/api.md §2.2): what calls
//! WeChat and reads its pushes. Only the functions that call WeChat may read
//! it (issue-key, verify-result, event-callback, lookup, reconcile); never
//! publish-events.

use std::fmt;

use serde::Deserialize;

use crate::error::ConfigError;

/// The mini-program's WeChat credentials, parsed and checked.
#[derive(Clone)]
pub struct WeChatCredentials {
    pub appsecret: String,
    pub push_token: Option<String>,
    pub encoding_aes_key: Option<String>,
    pub previous_encoding_aes_key: Option<String>,
}

/// The fields, as they appear in this secret (and, before the split, in the app secret).
#[derive(Deserialize, Default)]
pub(super) struct RawWeChatCredentials {
    pub appsecret: Option<String>,
    pub push_token: Option<String>,
    pub encoding_aes_key: Option<String>,
    pub previous_encoding_aes_key: Option<String>,
}

pub(super) fn present(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

impl WeChatCredentials {
    /// The secret's fields (and those an app secret of the older layout may still hold).
    pub const FIELDS: [&'static str; 4] = [
        "appsecret",
        "push_token",
        "encoding_aes_key",
        "previous_encoding_aes_key",
    ];

    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        Self::from_raw(secret_id, super::secret_json(secret_id, json)?)
    }

    pub(super) fn from_raw(
        secret_id: &str,
        raw: RawWeChatCredentials,
    ) -> Result<Self, ConfigError> {
        let field = super::field_error(secret_id);
        let aes_key = |name: &'static str, v: Option<String>| match present(v) {
            Some(k) if k.len() != 43 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Err(field(name, "must be 43 characters of [A-Za-z0-9]"))
            }
            other => Ok(other),
        };
        Ok(Self {
            appsecret: present(raw.appsecret).ok_or_else(|| field("appsecret", "is missing"))?,
            push_token: present(raw.push_token),
            encoding_aes_key: aes_key("encoding_aes_key", raw.encoding_aes_key)?,
            previous_encoding_aes_key: aes_key(
                "previous_encoding_aes_key",
                raw.previous_encoding_aes_key,
            )?,
        })
    }
}

impl fmt::Debug for WeChatCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatCredentials").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_named_and_hidden() {
        let ok = r#"{"appsecret":"s3cr3t","push_token":"t","encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}"#;
        let c = WeChatCredentials::from_json("wx", ok).unwrap();
        assert_eq!(
            (c.appsecret.as_str(), c.push_token.as_deref()),
            ("s3cr3t", Some("t"))
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let err = WeChatCredentials::from_json("wx", r#"{"push_token":"t"}"#).unwrap_err();
        assert!(err.to_string().contains("appsecret"), "{err}");
        let short = ok.replace("ABCDEFG", "ABCDEF");
        let err = WeChatCredentials::from_json("wx", &short).unwrap_err();
        assert!(err.to_string().contains("encoding_aes_key"), "{err}");
    }
}
