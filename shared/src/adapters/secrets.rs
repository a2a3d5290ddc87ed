//! Secrets Manager: the app secret (read once per container) and the
//! access-token vault.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::OnceCell;

use super::token::{StoredToken, TokenVault};
use crate::config::AppSecrets;
use crate::error::{ConfigError, WeChatError};
use crate::ports::AppSecretsSource;

/// Reads `WECHAT_APP_SECRET_ID` on first use and keeps it for the life of the
/// container. A failed read is not cached, so the next request tries again.
pub struct CachedAppSecrets {
    client: Client,
    secret_id: String,
    cell: OnceCell<Arc<AppSecrets>>,
}

impl CachedAppSecrets {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            cell: OnceCell::new(),
        }
    }

    async fn load(&self) -> Result<Arc<AppSecrets>, ConfigError> {
        let json = read_string(&self.client, &self.secret_id)
            .await?
            .ok_or_else(|| ConfigError::SecretEmpty {
                secret: self.secret_id.clone(),
            })?;
        Ok(Arc::new(AppSecrets::from_json(&self.secret_id, &json)?))
    }
}

#[async_trait]
impl AppSecretsSource for CachedAppSecrets {
    async fn app_secrets(&self) -> Result<Arc<AppSecrets>, ConfigError> {
        self.cell.get_or_try_init(|| self.load()).await.cloned()
    }
}

/// `None` when the secret exists but has no value yet (a fresh deploy).
pub(crate) async fn read_string(
    client: &Client,
    secret_id: &str,
) -> Result<Option<String>, ConfigError> {
    match client.get_secret_value().secret_id(secret_id).send().await {
        Ok(out) => Ok(out.secret_string),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(ConfigError::SecretUnavailable {
            secret: secret_id.to_owned(),
            detail: DisplayErrorContext(&e).to_string(),
        }),
    }
}

/// The `ACCESS_TOKEN_SECRET_ID` secret: `{"access_token": "…", "expires_at": <unix s>}`.
pub struct SecretsTokenVault {
    client: Client,
    secret_id: String,
}

impl SecretsTokenVault {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait]
impl TokenVault for SecretsTokenVault {
    async fn load(&self) -> Result<Option<StoredToken>, WeChatError> {
        let Some(json) = read_string(&self.client, &self.secret_id).await? else {
            return Ok(None);
        };
        // Anything unreadable (an empty or hand-edited secret) is no token:
        // the manager fetches a new one and overwrites it.
        Ok(serde_json::from_str(&json).ok())
    }

    async fn store(&self, token: &StoredToken) -> Result<(), WeChatError> {
        let json = serde_json::to_string(token)
            .map_err(|e| WeChatError::Unavailable(format!("token serialisation: {e}")))?;
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(json)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                WeChatError::Unavailable(format!(
                    "could not store the access token: {}",
                    DisplayErrorContext(&e)
                ))
            })
    }
}
