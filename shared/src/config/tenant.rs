//! A tenant's secret (docs/api.md §9): one per mini-program beyond the
//! deployment's own, named `<TENANT_SECRET_PREFIX><appid>`. It holds what is
//! the mini-program's own: its WeChat credentials, its `identity_key`, and an
//! optional daily limit. The data keyring and the receipt keys stay the
//! deployment's (the app secret's).

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use super::IdentitySecret;
use super::wechat::{RawWeChatCredentials, WeChatCredentials};
use crate::error::ConfigError;

/// `<TENANT_SECRET_PREFIX><appid>`, parsed and checked.
#[derive(Clone)]
pub struct TenantSecret {
    pub credentials: Arc<WeChatCredentials>,
    pub identity: Arc<IdentitySecret>,
    /// issue-key calls (sessions started) allowed per UTC day; `None`: no limit.
    pub daily_limit: Option<u32>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(flatten)]
    credentials: RawWeChatCredentials,
    identity_key: Option<String>,
    daily_limit: Option<u32>,
}

impl TenantSecret {
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        let raw: Raw = super::secret_json(secret_id, json)?;
        Ok(Self {
            credentials: Arc::new(WeChatCredentials::from_raw(secret_id, raw.credentials)?),
            identity: Arc::new(IdentitySecret::from_field(secret_id, raw.identity_key)?),
            daily_limit: raw.daily_limit,
        })
    }
}

impl fmt::Debug for TenantSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantSecret")
            .field("daily_limit", &self.daily_limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_tenant_holds_its_credentials_and_key_and_shows_neither() {
        let json = format!(
            r#"{{"appsecret":"s3cr3t","push_token":"tok","identity_key":"{KEY}","daily_limit":500}}"#
        );
        let t = TenantSecret::from_json("wxface/tenants/wx1", &json).unwrap();
        assert_eq!(t.credentials.appsecret, "s3cr3t");
        assert_eq!(t.daily_limit, Some(500));
        let shown = format!("{t:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains(KEY), "{shown}");
        for (bad, field) in [
            (format!(r#"{{"identity_key":"{KEY}"}}"#), "appsecret"),
            (r#"{"appsecret":"s"}"#.to_owned(), "identity_key"),
            (
                format!(r#"{{"appsecret":"s","identity_key":"{KEY}","daily_limit":-1}}"#),
                "JSON",
            ),
        ] {
            let e = TenantSecret::from_json("t", &bad).unwrap_err().to_string();
            assert!(e.contains(field), "{bad}: {e}");
        }
    }
}
