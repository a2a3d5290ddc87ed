//! Static configuration: the mini-programs the simulator knows about.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// Message-push encryption mode (docs/wechat.md §5.1): 明文, 兼容 or 安全.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushMode {
    /// Plaintext body; URL query `signature`, `timestamp`, `nonce` only.
    Plain,
    /// Plaintext fields plus `Encrypt`; `encrypt_type=aes` and `msg_signature` too.
    Compat,
    /// `ToUserName` and `Encrypt` only (the default, as WeChat recommends).
    #[default]
    Safe,
}

/// Message-push data format (docs/wechat.md §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushFormat {
    #[default]
    Json,
    Xml,
}

/// One mini-program registered with the simulated WeChat platform.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimApp {
    pub appid: String,
    pub secret: String,
    /// Message-push `Token`: signs every push and the URL handshake.
    pub push_token: String,
    /// Message-push EncodingAESKey: 43 characters of `[A-Za-z0-9]`.
    pub encoding_aes_key: String,
    /// Original id `gh_…`, the `ToUserName` of pushed events.
    pub original_id: String,
    /// Message-push URL (`http://` or `https://`); `None`: events are not
    /// pushed. Also settable at run time (`POST /__sim/push/config`).
    #[serde(default)]
    pub push_url: Option<String>,
    #[serde(default)]
    pub push_mode: PushMode,
    #[serde(default)]
    pub push_format: PushFormat,
}

/// Simulator configuration (`sim.json` for the binary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    pub apps: Vec<SimApp>,
    /// Lifetime of access tokens from both token endpoints.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_secs: u64,
    /// Per-attempt timeout of message pushes and the URL handshake (WeChat:
    /// 5 s). Tests of slow receivers use a short one.
    #[serde(default = "default_push_timeout_ms")]
    pub push_timeout_ms: u64,
    /// Retries after a push attempt that timed out or was not 2xx, so at
    /// most `1 + push_retries` attempts per event. Default 3, the reading of
    /// "总共重试三次" as three retries (README: "Message push").
    #[serde(default = "default_push_retries")]
    pub push_retries: u32,
}

/// One year: far beyond any real lifetime, small enough for safe arithmetic.
const MAX_TOKEN_TTL_SECS: u64 = 366 * 86_400;

/// Longest push timeout: as long as the longest injected delay.
const MAX_PUSH_TIMEOUT_MS: u64 = 120_000;
const MAX_PUSH_RETRIES: u32 = 10;

fn default_token_ttl() -> u64 {
    7200
}

fn default_push_timeout_ms() -> u64 {
    5000
}

fn default_push_retries() -> u32 {
    3
}

/// A usable push URL: absolute `http://` or `https://` with a host.
pub(crate) fn validate_push_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("push url {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "push url {url:?} must be an http:// or https:// URL"
        ));
    }
    Ok(())
}

impl SimApp {
    /// The test app of [`SimConfig::default`].
    pub fn test_app() -> Self {
        SimApp {
            appid: "wx0123456789abcdef".into(),
            secret: "sim-app-secret-0123456789abcdef0".into(),
            push_token: "simpushtoken".into(),
            encoding_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
            original_id: "gh_0123456789ab".into(),
            push_url: None,
            push_mode: PushMode::default(),
            push_format: PushFormat::default(),
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            apps: vec![SimApp::test_app()],
            token_ttl_secs: default_token_ttl(),
            push_timeout_ms: default_push_timeout_ms(),
            push_retries: default_push_retries(),
        }
    }
}

impl SimConfig {
    /// Rejects configurations that would make the simulator misbehave
    /// silently (duplicate appids, keys the push client could not use).
    pub fn validate(&self) -> Result<(), String> {
        if self.apps.is_empty() {
            return Err("config has no apps".into());
        }
        // The stable-token rules need a lifetime longer than the 300 s early renewal.
        if self.token_ttl_secs <= 300 || self.token_ttl_secs > MAX_TOKEN_TTL_SECS {
            return Err(format!(
                "token_ttl_secs must be in 301..={MAX_TOKEN_TTL_SECS}"
            ));
        }
        if self.push_timeout_ms == 0 || self.push_timeout_ms > MAX_PUSH_TIMEOUT_MS {
            return Err(format!(
                "push_timeout_ms must be in 1..={MAX_PUSH_TIMEOUT_MS}"
            ));
        }
        if self.push_retries > MAX_PUSH_RETRIES {
            return Err(format!("push_retries must be at most {MAX_PUSH_RETRIES}"));
        }
        let mut seen = std::collections::HashSet::new();
        for app in &self.apps {
            if app.appid.is_empty() || app.secret.is_empty() {
                return Err("every app needs a non-empty appid and secret".into());
            }
            if !seen.insert(app.appid.as_str()) {
                return Err(format!("duplicate appid {}", app.appid));
            }
            if app.encoding_aes_key.len() != 43
                || !app
                    .encoding_aes_key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format!(
                    "app {}: encoding_aes_key must be 43 characters of [A-Za-z0-9]",
                    app.appid
                ));
            }
            if !app.original_id.starts_with("gh_") {
                return Err(format!(
                    "app {}: original_id must start with gh_",
                    app.appid
                ));
            }
            if let Some(url) = &app.push_url {
                validate_push_url(url).map_err(|e| format!("app {}: {e}", app.appid))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let c = SimConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.token_ttl_secs, 7200);
        assert_eq!(c.apps[0].appid, "wx0123456789abcdef");
    }

    #[test]
    fn config_file_shape_parses_with_default_ttl() {
        let json = r#"{"apps":[{"appid":"wxa","secret":"s","push_token":"t",
            "encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","original_id":"gh_1"}]}"#;
        let c: SimConfig = serde_json::from_str(json).expect("parses");
        assert_eq!(c.token_ttl_secs, 7200);
        assert_eq!(c.push_timeout_ms, 5000);
        assert_eq!(c.push_retries, 3);
        assert_eq!(c.apps[0].push_url, None);
        assert_eq!(c.apps[0].push_mode, PushMode::Safe);
        assert_eq!(c.apps[0].push_format, PushFormat::Json);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn push_settings_parse() {
        let json = r#"{"apps":[{"appid":"wxa","secret":"s","push_token":"t",
            "encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","original_id":"gh_1",
            "push_url":"http://127.0.0.1:8080/push","push_mode":"compat","push_format":"xml"}],
            "push_timeout_ms":300,"push_retries":2}"#;
        let c: SimConfig = serde_json::from_str(json).expect("parses");
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.apps[0].push_mode, PushMode::Compat);
        assert_eq!(c.apps[0].push_format, PushFormat::Xml);
        assert_eq!((c.push_timeout_ms, c.push_retries), (300, 2));
        let bad = json.replace("compat", "encrypted");
        assert!(serde_json::from_str::<SimConfig>(&bad).is_err());
    }

    #[test]
    fn validate_rejects_bad_configs() {
        let mut c = SimConfig::default();
        c.apps.push(SimApp::test_app());
        assert!(c.validate().unwrap_err().contains("duplicate"));

        let mut c = SimConfig::default();
        c.apps[0].encoding_aes_key.pop();
        assert!(c.validate().is_err());

        let c = SimConfig {
            token_ttl_secs: 300,
            ..SimConfig::default()
        };
        assert!(c.validate().is_err());

        for url in ["ftp://example.com/", "/relative", "http://"] {
            let mut c = SimConfig::default();
            c.apps[0].push_url = Some(url.into());
            assert!(c.validate().is_err(), "{url}");
        }
        for (timeout, retries) in [(0, 3), (120_001, 3), (5000, 11)] {
            let c = SimConfig {
                push_timeout_ms: timeout,
                push_retries: retries,
                ..SimConfig::default()
            };
            assert!(c.validate().is_err(), "{timeout} {retries}");
        }
    }
}
