//! Secrets Manager: the app and merchant secrets (cached, re-read on a short
//! TTL) and the access-token vault.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{
    AppSecrets, IdentitySecret, MerchantSecrets, TenantSecret, WeChatCredentials, Webhook,
};
use crate::domain::AppId;
use crate::error::{ConfigError, WeChatError};
use crate::ports::{
    AppSecretsSource, IdentityKeySource, MerchantSecretsSource, StoredToken, TokenVault,
};

/// A secret whose `SecretString` parses into `Self`.
pub trait FromSecret: Sized + Send + Sync + 'static {
    fn from_secret(secret_id: &str, json: &str) -> Result<Self, ConfigError>;
}

// Each of these already parses its own secret's JSON: that parser is its
// `from_secret`.
macro_rules! from_json_secret {
    ($($t:ty),+) => {$(
        impl FromSecret for $t {
            fn from_secret(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
                Self::from_json(secret_id, json)
            }
        }
    )+};
}

from_json_secret!(
    AppSecrets,
    WeChatCredentials,
    IdentitySecret,
    MerchantSecrets,
    TenantSecret,
    Webhook
);

/// How a [`CachedSecret`] reads its secret's text (`None`: it has no value).
#[async_trait]
pub trait SecretRead: Send + Sync {
    async fn read(&self, secret_id: &str) -> Result<Option<String>, ConfigError>;
}

#[async_trait]
impl SecretRead for Client {
    async fn read(&self, secret_id: &str) -> Result<Option<String>, ConfigError> {
        read_string(self, secret_id).await
    }
}

/// Reads a secret on first use and again once it is older than `ttl`, so a
/// rotated key or a revoked kiosk token reaches warm containers within the
/// TTL.
///
/// A re-read that fails (Secrets Manager unreachable), finds no value, or
/// does not parse keeps the last good value, but only until that value is
/// `max_stale` past its TTL: then the function fails closed (the re-read's
/// error: `503` or `500 configuration_error`) until a re-read succeeds, so a
/// revocation by changing the secret always applies in the end. Each stale
/// answer is logged and counted (metric `SecretReloadFailures`, alarmed).
/// With no last good value, a failed read is an error and the next request
/// tries again.
pub struct CachedSecret<T> {
    reader: Box<dyn SecretRead>,
    secret_id: String,
    ttl: Duration,
    max_stale: Duration,
    /// Held across a read: one read at a time per container. The last good
    /// value, when it was read, and while serving it stale, when to try again.
    state: Mutex<Option<Cached<T>>>,
}

struct Cached<T> {
    value: Arc<T>,
    read_at: Instant,
    /// After a failed re-read: no other until then (a Secrets Manager outage
    /// must not cost every request a full failing read).
    retry_at: Option<Instant>,
}

/// How long a failed re-read holds off the next (at most the TTL).
const RETRY_EVERY: Duration = Duration::from_secs(30);

impl<T: FromSecret> CachedSecret<T> {
    pub fn new(
        reader: impl SecretRead + 'static,
        secret_id: impl Into<String>,
        ttl: Duration,
        max_stale: Duration,
    ) -> Self {
        Self {
            reader: Box::new(reader),
            secret_id: secret_id.into(),
            ttl,
            max_stale,
            state: Mutex::new(None),
        }
    }

    pub async fn get(&self) -> Result<Arc<T>, ConfigError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(c) = state.as_ref() {
            // Judged by the age when this request began, not after a slow failing read.
            let age = now - c.read_at;
            let holding_off = c.retry_at.is_some_and(|at| now < at);
            if age < self.ttl || (holding_off && age < self.ttl + self.max_stale) {
                return Ok(c.value.clone());
            }
        }
        let e = match self.load().await {
            Ok(value) => {
                *state = Some(Cached {
                    value: value.clone(),
                    read_at: Instant::now(),
                    retry_at: None,
                });
                return Ok(value);
            }
            Err(e) => e,
        };
        let Some(c) = state.as_mut() else {
            return Err(e);
        };
        crate::telemetry::metrics::secret_reload_failed();
        if now - c.read_at < self.ttl + self.max_stale {
            tracing::warn!(event = "secret_reload_failed", detail = %e, "keeping the last good value for now");
            c.retry_at = Some(Instant::now() + RETRY_EVERY.min(self.ttl));
            return Ok(c.value.clone());
        }
        tracing::error!(event = "secret_stale_refused", detail = %e, "the last good value is too old: refusing");
        Err(e)
    }

    async fn load(&self) -> Result<Arc<T>, ConfigError> {
        let json = self
            .reader
            .read(&self.secret_id)
            .await?
            .filter(|text| !text.trim().is_empty())
            .ok_or_else(|| ConfigError::SecretEmpty {
                secret: self.secret_id.clone(),
            })?;
        Ok(Arc::new(T::from_secret(&self.secret_id, &json)?))
    }
}

/// The app secret, and the WeChat credentials secret where the function may
/// read it (issue-key, verify-result, event-callback).
pub struct AppSecretStore {
    pub app: CachedSecret<AppSecrets>,
    pub wechat: Option<CachedSecret<WeChatCredentials>>,
}

#[async_trait]
impl AppSecretsSource for AppSecretStore {
    async fn app_secrets(&self) -> Result<Arc<AppSecrets>, ConfigError> {
        self.app.get().await
    }

    /// While an app secret of the older layout still holds them, the WeChat
    /// fields come from there (no second read, and an upgrade works before
    /// the new secret is filled); then from their own secret.
    async fn wechat_credentials(&self) -> Result<Arc<WeChatCredentials>, ConfigError> {
        if let Some(legacy) = self.app.get().await?.legacy_wechat() {
            return legacy;
        }
        match &self.wechat {
            Some(secret) => secret.get().await,
            None => Err(ConfigError::MissingEnv("WECHAT_CREDENTIALS_SECRET_ID")),
        }
    }
}

/// A tenant's secrets (docs/api.md §9): the deployment's app secret under
/// the tenant's appid, and the tenant's own WeChat credentials, identity key
/// and daily limit from its secret.
pub struct TenantSecrets {
    pub appid: AppId,
    pub app: Arc<dyn AppSecretsSource>,
    pub tenant: CachedSecret<TenantSecret>,
    /// The app secret last read, and the tenant's view of it.
    view: std::sync::Mutex<Option<(Arc<AppSecrets>, Arc<AppSecrets>)>>,
}

impl TenantSecrets {
    pub fn new(
        appid: AppId,
        app: Arc<dyn AppSecretsSource>,
        tenant: CachedSecret<TenantSecret>,
    ) -> Self {
        Self {
            appid,
            app,
            tenant,
            view: Default::default(),
        }
    }
}

#[async_trait]
impl AppSecretsSource for TenantSecrets {
    async fn app_secrets(&self) -> Result<Arc<AppSecrets>, ConfigError> {
        let app = self.app.app_secrets().await?;
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, mine)) = view.as_ref().filter(|(read, _)| Arc::ptr_eq(read, &app)) {
            return Ok(mine.clone());
        }
        let mine = Arc::new(app.for_tenant(&self.appid));
        *view = Some((app, mine.clone()));
        Ok(mine)
    }

    async fn wechat_credentials(&self) -> Result<Arc<WeChatCredentials>, ConfigError> {
        Ok(self.tenant.get().await?.credentials.clone())
    }

    async fn daily_limit(&self) -> Result<Option<u32>, ConfigError> {
        Ok(self.tenant.get().await?.daily_limit)
    }
}

#[async_trait]
impl IdentityKeySource for TenantSecrets {
    async fn identity_secret(&self) -> Result<Arc<IdentitySecret>, ConfigError> {
        Ok(self.tenant.get().await?.identity.clone())
    }
}

/// The tenants' directory (docs/api.md §9), from the names of the secrets
/// under the prefix: the appids with a secret `<prefix><appid>` (the
/// tenants), and those with `<prefix><appid>/webhook`. Read like a secret (by
/// [`SecretListing`]) and cached on the same TTL, so an appid that is no
/// tenant's is refused without a call to AWS.
#[derive(Debug, Default)]
pub struct TenantIds {
    pub tenants: HashSet<AppId>,
    pub webhooks: HashSet<AppId>,
}

impl FromSecret for TenantIds {
    /// `json`: the secret names under `prefix`, as [`SecretListing`] reads them.
    fn from_secret(prefix: &str, json: &str) -> Result<Self, ConfigError> {
        let names: Vec<String> = crate::config::secret_json(prefix, json)?;
        let mut ids = Self::default();
        for rest in names.iter().filter_map(|n| n.strip_prefix(prefix)) {
            let (appid, set) = match rest.strip_suffix("/webhook") {
                Some(appid) => (appid, &mut ids.webhooks),
                None => (rest, &mut ids.tenants),
            };
            if let Ok(appid) = AppId::parse(appid) {
                set.insert(appid);
            }
        }
        Ok(ids)
    }
}

/// Reads "the secret `prefix`" as the JSON list of the names under it.
pub struct SecretListing(pub Client);

#[async_trait]
impl SecretRead for SecretListing {
    async fn read(&self, prefix: &str) -> Result<Option<String>, ConfigError> {
        use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
        let filter = Filter::builder()
            .key(FilterNameStringType::Name)
            .values(prefix)
            .build();
        let mut pages = (self.0.list_secrets())
            .filters(filter)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ConfigError::SecretUnavailable {
                secret: format!("{prefix}*"),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
            let listed = page.secret_list().iter().filter_map(|s| s.name());
            names.extend(listed.map(str::to_owned));
        }
        Ok(Some(serde_json::Value::from(names).to_string()))
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;

    /// A secret whose value is `{"v": "<text>"}`.
    #[derive(Debug)]
    struct Value(String);

    impl FromSecret for Value {
        fn from_secret(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
            let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
            v["v"]
                .as_str()
                .map(|s| Self(s.to_owned()))
                .ok_or_else(|| ConfigError::SecretField {
                    secret: secret_id.to_owned(),
                    field: "v",
                    problem: "is missing",
                })
        }
    }

    /// Secrets Manager's next answer: a text, no value (`Ok(None)`), or a failure (`Err`).
    type Answer = Result<Option<String>, ()>;

    /// What Secrets Manager answers next; nothing set: a failure. Counts the reads.
    #[derive(Clone)]
    struct Scripted(
        Arc<StdMutex<Option<Answer>>>,
        Arc<std::sync::atomic::AtomicU32>,
    );

    impl Scripted {
        fn set(&self, answer: Result<Option<&str>, ()>) {
            *self.0.lock().unwrap() = Some(answer.map(|t| t.map(str::to_owned)));
        }
    }

    #[async_trait]
    impl SecretRead for Scripted {
        async fn read(&self, secret_id: &str) -> Result<Option<String>, ConfigError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match self.0.lock().unwrap().clone() {
                Some(Ok(v)) => Ok(v),
                _ => Err(ConfigError::SecretUnavailable {
                    secret: secret_id.to_owned(),
                    detail: "down".into(),
                }),
            }
        }
    }

    const TTL: Duration = Duration::from_secs(300);
    const MAX_STALE: Duration = Duration::from_secs(900);

    async fn value(c: &CachedSecret<Value>) -> Result<String, String> {
        c.get()
            .await
            .map(|v| v.0.clone())
            .map_err(|e| e.to_string())
    }

    /// A re-read that fails, finds no value or does not parse serves the last good value
    /// until it is MAX_STALE past its TTL, then fails closed until a re-read succeeds.
    #[tokio::test(start_paused = true)]
    async fn a_failing_reread_serves_the_last_good_value_for_a_bounded_time_only() {
        let sm = Scripted(Arc::new(StdMutex::new(None)), Default::default());
        let reads = || sm.1.load(std::sync::atomic::Ordering::Relaxed);
        let c = CachedSecret::<Value>::new(sm.clone(), "s", TTL, MAX_STALE);
        assert!(
            value(&c).await.is_err(),
            "nothing read yet, nothing to serve"
        );
        sm.set(Ok(Some(r#"{"v":"first"}"#)));
        assert_eq!(value(&c).await.unwrap(), "first");
        for broken in [Err(()), Ok(None), Ok(Some("")), Ok(Some(r#"{"w":1}"#))] {
            sm.set(broken);
            tokio::time::advance(TTL + Duration::from_secs(1)).await;
            // Within the grace: the last good value, counted and logged; the next re-read
            // only after a while, so an outage does not cost every request a failing read.
            assert_eq!(value(&c).await.unwrap(), "first");
            let tried = reads();
            tokio::time::advance(Duration::from_secs(10)).await;
            assert_eq!(value(&c).await.unwrap(), "first");
            assert_eq!(reads(), tried, "held off");
            tokio::time::advance(RETRY_EVERY).await;
            assert_eq!(value(&c).await.unwrap(), "first");
            assert_eq!(reads(), tried + 1, "tried again");
            tokio::time::advance(MAX_STALE).await;
            // Past it: refused with the re-read's own error (503 or configuration_error).
            let refused = value(&c).await.unwrap_err();
            assert!(
                refused.contains("down")
                    || refused.contains("no value")
                    || refused.contains("missing"),
                "{refused}"
            );
            assert!(value(&c).await.is_err(), "still refused");
            // A good re-read heals it at once.
            sm.set(Ok(Some(r#"{"v":"first"}"#)));
            assert_eq!(value(&c).await.unwrap(), "first");
        }
        // Within the TTL nothing is read at all.
        sm.set(Err(()));
        assert_eq!(value(&c).await.unwrap(), "first");
    }
}
