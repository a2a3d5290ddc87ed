//! Static configuration: the mini-programs the simulator knows about.

use serde::{Deserialize, Serialize};

/// One mini-program registered with the simulated WeChat platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimApp {
    pub appid: String,
    pub secret: String,
    /// Message-push `Token` (used by the push client, not yet written).
    pub push_token: String,
    /// Message-push EncodingAESKey: 43 characters of `[A-Za-z0-9]`.
    pub encoding_aes_key: String,
    /// Original id `gh_…`, the `ToUserName` of pushed events.
    pub original_id: String,
}

/// Simulator configuration (`sim.json` for the binary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    pub apps: Vec<SimApp>,
    /// Lifetime of access tokens from both token endpoints.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_secs: u64,
}

/// One year: far beyond any real lifetime, small enough for safe arithmetic.
const MAX_TOKEN_TTL_SECS: u64 = 366 * 86_400;

fn default_token_ttl() -> u64 {
    7200
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
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            apps: vec![SimApp::test_app()],
            token_ttl_secs: default_token_ttl(),
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
        assert_eq!(c.validate(), Ok(()));
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
    }
}
