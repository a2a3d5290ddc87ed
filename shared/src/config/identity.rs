//! The `IDENTITY_KEY_SECRET_ID` secret (docs/api.md §2.2, §6):
//! `{"identity_key": "<base64 of 32 random bytes>"}`, kept apart from the app
//! secret so that the business backend may read it and nothing else.

use std::fmt;

use serde::Deserialize;

use crate::domain::receipt::IdentityKey;
use crate::error::ConfigError;

/// The `IDENTITY_KEY_SECRET_ID` secret, parsed and checked.
#[derive(Clone)]
pub struct IdentitySecret {
    pub identity_key: IdentityKey,
}

#[derive(Deserialize)]
struct Raw {
    identity_key: Option<String>,
}

impl IdentitySecret {
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        let raw: Raw = super::secret_json(secret_id, json)?;
        Self::from_field(secret_id, raw.identity_key)
    }

    /// The `identity_key` field of secret `secret_id` (this one, or a tenant's).
    pub(super) fn from_field(secret_id: &str, key: Option<String>) -> Result<Self, ConfigError> {
        let field = super::field_error(secret_id);
        let key = key
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| field("identity_key", "is missing"))?;
        let identity_key = IdentityKey::from_base64(&key)
            .map_err(|_| field("identity_key", "is not base64 of 32 bytes"))?;
        Ok(Self { identity_key })
    }
}

impl fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentitySecret").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_key_is_checked_and_never_shown() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let s = IdentitySecret::from_json("id", &format!(r#"{{"identity_key":"{key}"}}"#)).unwrap();
        assert!(!format!("{s:?}").contains(key));
        for bad in [
            r#"{}"#,
            r#"{"identity_key":""}"#,
            r#"{"identity_key":"AAEC"}"#,
            "[1]",
        ] {
            let e = IdentitySecret::from_json("id", bad)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("identity_key") || e.contains("JSON"),
                "{bad}: {e}"
            );
        }
    }
}
