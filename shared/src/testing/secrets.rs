//! Secrets and the access token in memory (`AppSecretsSource`, `IdentityKeySource`,
//! `MerchantSecretsSource`, `TokenVault`, `TokenSource`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::config::{AppSecrets, IdentitySecret, MerchantSecrets, WeChatCredentials};
use crate::error::{ConfigError, WeChatError};
use crate::ports::{
    AppSecretsSource, IdentityKeySource, MerchantSecretsSource, StoredToken, TokenSource,
    TokenVault,
};

use super::{Faults, lock};

/// A secret that is always there (or always fails), for the sources' traits.
pub struct StaticSecret<T>(pub Result<Arc<T>, String>);

impl<T> StaticSecret<T> {
    pub fn new(value: T) -> Self {
        Self(Ok(Arc::new(value)))
    }
    fn get(&self, secret: &str) -> Result<Arc<T>, ConfigError> {
        self.0
            .clone()
            .map_err(|detail| ConfigError::SecretUnavailable {
                secret: secret.into(),
                detail,
            })
    }
}

#[async_trait]
impl AppSecretsSource for StaticSecret<AppSecrets> {
    async fn app_secrets(&self) -> Result<Arc<AppSecrets>, ConfigError> {
        self.get("app")
    }
    /// An app secret of the older layout's own; otherwise the tests' credentials.
    async fn wechat_credentials(&self) -> Result<Arc<WeChatCredentials>, ConfigError> {
        let app = self.get("app")?;
        app.legacy_wechat()
            .unwrap_or_else(|| Ok(Arc::new(super::wechat_credentials())))
    }
}

#[async_trait]
impl IdentityKeySource for StaticSecret<IdentitySecret> {
    async fn identity_secret(&self) -> Result<Arc<IdentitySecret>, ConfigError> {
        self.get("identity")
    }
}

#[async_trait]
impl MerchantSecretsSource for StaticSecret<MerchantSecrets> {
    async fn merchant_secrets(&self) -> Result<Arc<MerchantSecrets>, ConfigError> {
        self.get("merchant")
    }
}

/// The token vault in memory.
#[derive(Debug, Default)]
pub struct MemVault(pub Mutex<Option<StoredToken>>);

#[async_trait]
impl TokenVault for MemVault {
    async fn load(&self) -> Result<Option<StoredToken>, WeChatError> {
        Ok(lock(&self.0).clone())
    }
    async fn store(&self, t: &StoredToken) -> Result<(), WeChatError> {
        *lock(&self.0) = Some(t.clone());
        Ok(())
    }
}

/// stable_token in memory: `token-1`, `token-2`, … valid 7200 s; counts
/// fetches and can be made to fail.
#[derive(Debug, Default)]
pub struct CountingSource {
    fetches: Mutex<u32>,
    faults: Faults,
    /// How long each fetch takes, so concurrent callers overlap.
    pub delay_ms: u64,
}

impl CountingSource {
    /// Each fetch takes `delay_ms`, so concurrent callers overlap.
    pub fn slow(delay_ms: u64) -> Self {
        Self {
            delay_ms,
            ..Self::default()
        }
    }
    pub fn fetches(&self) -> u32 {
        *lock(&self.fetches)
    }
    pub fn fail(&self, times: u32) {
        self.faults.fail("fetch", times);
    }
}

#[async_trait]
impl TokenSource for CountingSource {
    async fn fetch(&self) -> Result<(String, i64), WeChatError> {
        tokio::time::sleep(std::time::Duration::from_millis(self.delay_ms)).await;
        if self.faults.hit("fetch") {
            return Err(WeChatError::Unavailable("injected fault in fetch".into()));
        }
        let n = {
            let mut f = lock(&self.fetches);
            *f += 1;
            *f
        };
        Ok((format!("token-{n}"), 7200))
    }
}
