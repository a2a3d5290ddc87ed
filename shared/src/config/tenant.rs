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
use crate::domain::webhook::WebhookSecret;
use crate::error::ConfigError;

/// `<TENANT_SECRET_PREFIX><appid>`, parsed and checked.
#[derive(Clone)]
pub struct TenantSecret {
    pub credentials: Arc<WeChatCredentials>,
    pub identity: Arc<IdentitySecret>,
    /// issue-key calls (sessions started) allowed per UTC day; `None`: no limit.
    pub daily_limit: Option<u32>,
    /// Where the tenant's events are POSTed, signed (deliver-webhooks).
    pub webhook: Option<Webhook>,
}

/// A tenant's signed webhook: its receiver, and the secrets each delivery is
/// signed with (several while the receiver rotates its secret).
#[derive(Clone, Debug)]
pub struct Webhook {
    pub url: String,
    pub secrets: Vec<WebhookSecret>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(flatten)]
    credentials: RawWeChatCredentials,
    identity_key: Option<String>,
    daily_limit: Option<u32>,
    webhook: Option<RawWebhook>,
}

#[derive(Deserialize)]
struct RawWebhook {
    url: Option<String>,
    #[serde(default)]
    secrets: Vec<String>,
}

impl Webhook {
    fn from_raw(secret_id: &str, raw: RawWebhook) -> Result<Self, ConfigError> {
        let field = super::field_error(secret_id);
        let url = raw
            .url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| field("webhook.url", "must be an http(s) URL"))?;
        let secrets = (raw.secrets.iter())
            .map(|s| WebhookSecret::parse(s))
            .collect::<Option<Vec<_>>>()
            .filter(|s| (1..=3).contains(&s.len()))
            .ok_or_else(|| {
                field(
                    "webhook.secrets",
                    "must be 1-3 secrets, each whsec_ and the base64 of 24-64 bytes",
                )
            })?;
        Ok(Self { url, secrets })
    }
}

impl TenantSecret {
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        let raw: Raw = super::secret_json(secret_id, json)?;
        Ok(Self {
            credentials: Arc::new(WeChatCredentials::from_raw(secret_id, raw.credentials)?),
            identity: Arc::new(IdentitySecret::from_field(secret_id, raw.identity_key)?),
            daily_limit: raw.daily_limit,
            webhook: raw
                .webhook
                .map(|w| Webhook::from_raw(secret_id, w))
                .transpose()?,
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
        let hook = r#""webhook":{"url":"https://h.example/w","secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}"#;
        let with = format!(r#"{{"appsecret":"s","identity_key":"{KEY}",{hook}}}"#);
        let t = TenantSecret::from_json("t", &with).unwrap();
        assert_eq!(
            t.webhook.as_ref().map(|w| w.url.as_str()),
            Some("https://h.example/w")
        );
        assert!(!format!("{t:?}").contains("MfKQ9r8"));
        for (bad, field) in [
            (
                with.replace("https://h.example/w", "ftp://x"),
                "webhook.url",
            ),
            (with.replace("whsec_", "wh_"), "webhook.secrets"),
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
