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
}

/// A tenant's signed webhook (`<TENANT_SECRET_PREFIX><appid>/webhook`, apart
/// from its credentials: only deliver-webhooks reads it, and a mistake in it
/// never stops the tenant's verifications): its receiver, and the secrets
/// each delivery is signed with (several while the receiver rotates its).
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secrets: Vec<WebhookSecret>,
}

/// The URL may carry the receiver's own token: neither is shown.
impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

/// HTTPS, or plain HTTP to this machine only (tests, a local receiver): a
/// delivery carries an openid and a receipt. Parsed, not prefix-matched:
/// `http://localhost:@elsewhere/` is elsewhere.
fn receiver_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let credentials = !u.username().is_empty() || u.password().is_some();
    let local = matches!(u.host_str(), Some("127.0.0.1" | "localhost"));
    !credentials && (u.scheme() == "https" || (u.scheme() == "http" && local))
}

#[derive(Deserialize)]
struct Raw {
    #[serde(flatten)]
    credentials: RawWeChatCredentials,
    identity_key: Option<String>,
    daily_limit: Option<u32>,
}

#[derive(Deserialize)]
struct RawWebhook {
    url: Option<String>,
    #[serde(default)]
    secrets: Vec<String>,
}

impl Webhook {
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        let raw: RawWebhook = super::secret_json(secret_id, json)?;
        let field = super::field_error(secret_id);
        let url = raw
            .url
            .filter(|u| receiver_url(u))
            .ok_or_else(|| field("url", "must be an https:// URL"))?;
        let secrets = (raw.secrets.iter())
            .map(|s| WebhookSecret::parse(s))
            .collect::<Option<Vec<_>>>()
            .filter(|s| (1..=3).contains(&s.len()))
            .ok_or_else(|| {
                field(
                    "secrets",
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

    #[test]
    fn a_webhook_is_https_and_whsec_secrets_and_shows_neither() {
        let ok =
            r#"{"url":"https://h.example/w","secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}"#;
        let w = Webhook::from_json("t/wx1/webhook", ok).unwrap();
        assert_eq!(
            (w.url.as_str(), w.secrets.len()),
            ("https://h.example/w", 1)
        );
        let shown = format!("{w:?}");
        assert!(
            !shown.contains("h.example") && !shown.contains("MfKQ9r8"),
            "{shown}"
        );
        assert!(
            Webhook::from_json("t", &ok.replace("https://h.example", "http://127.0.0.1:9")).is_ok()
        );
        for (bad, field) in [
            (ok.replace("https://h.example/w", "ftp://x"), "url"),
            (
                ok.replace("https://h.example/w", "http://h.example/w"),
                "url",
            ),
            (
                ok.replace("https://h.example/w", "http://localhost:@h.example/w"),
                "url",
            ),
            (
                ok.replace("https://h.example/w", "http://127.0.0.1:9@h.example/"),
                "url",
            ),
            (
                ok.replace("https://h.example/w", "https://user:pw@h.example/w"),
                "url",
            ),
            (ok.replace("whsec_", "wh_"), "secrets"),
            (
                r#"{"url":"https://h.example/w","secrets":[]}"#.to_owned(),
                "secrets",
            ),
        ] {
            let e = Webhook::from_json("t", &bad).unwrap_err().to_string();
            assert!(e.contains(field), "{bad}: {e}");
        }
    }
}
