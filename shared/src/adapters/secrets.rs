//! Secrets Manager: the app and merchant secrets (cached, re-read on a short
//! TTL) and the access-token vault.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{AppSecrets, IdentitySecret, MerchantSecrets};
use crate::error::{ConfigError, WeChatError};
use crate::ports::{
    AppSecretsSource, IdentityKeySource, MerchantSecretsSource, StoredToken, TokenVault,
};

/// A secret whose `SecretString` parses into `Self`.
pub trait FromSecret: Sized + Send + Sync + 'static {
    fn from_secret(secret_id: &str, json: &str) -> Result<Self, ConfigError>;
}

impl FromSecret for AppSecrets {
    fn from_secret(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        Self::from_json(secret_id, json)
    }
}

impl FromSecret for IdentitySecret {
    fn from_secret(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        Self::from_json(secret_id, json)
    }
}

impl FromSecret for MerchantSecrets {
    fn from_secret(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        Self::from_json(secret_id, json)
    }
}

/// Reads a secret on first use and again once it is older than `ttl`, so a
/// rotated key or a revoked kiosk token reaches warm containers within the
/// TTL. A failed re-read keeps the last good value; with none, it is an
/// error and the next request tries again.
pub struct CachedSecret<T> {
    client: Client,
    secret_id: String,
    ttl: Duration,
    /// Held across a read: one read at a time per container.
    state: Mutex<Option<(Arc<T>, Instant)>>,
}

impl<T: FromSecret> CachedSecret<T> {
    pub fn new(client: Client, secret_id: impl Into<String>, ttl: Duration) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            ttl,
            state: Mutex::new(None),
        }
    }

    pub async fn get(&self) -> Result<Arc<T>, ConfigError> {
        let mut state = self.state.lock().await;
        if let Some((value, read_at)) = state.as_ref()
            && read_at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        match self.load().await {
            Ok(value) => {
                *state = Some((value.clone(), Instant::now()));
                Ok(value)
            }
            Err(e) => match state.as_ref() {
                Some((last_good, _)) => {
                    tracing::warn!(event = "secret_reload_failed", detail = %e, "keeping the last good value");
                    Ok(last_good.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn load(&self) -> Result<Arc<T>, ConfigError> {
        let json = read_string(&self.client, &self.secret_id)
            .await?
            .ok_or_else(|| ConfigError::SecretEmpty {
                secret: self.secret_id.clone(),
            })?;
        Ok(Arc::new(T::from_secret(&self.secret_id, &json)?))
    }
}

#[async_trait]
impl AppSecretsSource for CachedSecret<AppSecrets> {
    async fn app_secrets(&self) -> Result<Arc<AppSecrets>, ConfigError> {
        self.get().await
    }
}

#[async_trait]
impl IdentityKeySource for CachedSecret<IdentitySecret> {
    async fn identity_secret(&self) -> Result<Arc<IdentitySecret>, ConfigError> {
        self.get().await
    }
}

/// A function given no `IDENTITY_KEY_SECRET_ID` (only issue-key computes
/// `identity_hash`): asking for the key is a configuration error.
pub struct NoIdentityKey;

#[async_trait]
impl IdentityKeySource for NoIdentityKey {
    async fn identity_secret(&self) -> Result<Arc<IdentitySecret>, ConfigError> {
        Err(ConfigError::MissingEnv("IDENTITY_KEY_SECRET_ID"))
    }
}

#[async_trait]
impl MerchantSecretsSource for CachedSecret<MerchantSecrets> {
    async fn merchant_secrets(&self) -> Result<Arc<MerchantSecrets>, ConfigError> {
        self.get().await
    }
}

/// `None` when the secret exists but has no value yet (a fresh deploy).
async fn read_string(client: &Client, secret_id: &str) -> Result<Option<String>, ConfigError> {
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
