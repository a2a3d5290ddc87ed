//! The tenants' directory (docs/api.md §9): each tenant's services, built
//! the first time a request names it, from the secret
//! `<TENANT_SECRET_PREFIX><appid>`. Which appids are tenants is one listing
//! of the prefix, cached on the secrets' TTL: an unknown appid costs no call,
//! and a tenant added or removed counts within the TTL, without a redeploy.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::adapters::secrets::{SecretListing, TenantIds, TenantSecrets};
use crate::adapters::wechat::WeChatHttp;
use crate::adapters::{CachedSecret, DynamoStore, SecretsTokenVault};
use crate::config::{Settings, Webhook};
use crate::domain::{AppId, Clock};
use crate::error::ConfigError;
use crate::ports::{AppSecretsSource, TenantWebhooks};
use crate::service::tenant::Tenants;
use crate::service::{ServiceError, Services};

/// What every tenant's services share with the deployment's own.
pub struct TenantRegistry {
    settings: Settings,
    prefix: String,
    sm: aws_sdk_secretsmanager::Client,
    dynamo: DynamoStore,
    http: WeChatHttp,
    /// The deployment's app secret: its keyring and receipt keys serve every tenant.
    app: Arc<dyn AppSecretsSource>,
    clock: Arc<dyn Clock>,
    directory: CachedSecret<TenantIds>,
    built: Mutex<HashMap<AppId, Arc<Services>>>,
}

/// The clients and the app secret the deployment's own services use.
pub(super) type Shared = (
    aws_sdk_secretsmanager::Client,
    DynamoStore,
    WeChatHttp,
    Arc<dyn AppSecretsSource>,
);

impl TenantRegistry {
    /// The directory of the tenants under `prefix`.
    pub(super) fn start(
        settings: &Settings,
        prefix: String,
        (sm, dynamo, http, app): Shared,
        clock: Arc<dyn Clock>,
    ) -> Arc<dyn Tenants> {
        let (ttl, stale) = (settings.secrets_ttl, settings.secrets_max_stale);
        Arc::new(Self {
            directory: CachedSecret::new(SecretListing(sm.clone()), &prefix, ttl, stale),
            settings: settings.clone(),
            prefix,
            sm,
            dynamo,
            http,
            app,
            clock,
            built: Default::default(),
        })
    }

    /// Tenant `appid`'s services: its secret, its access token (in
    /// `<prefix><appid>/access-token`), its scope of the table.
    fn build(&self, appid: &AppId) -> Arc<Services> {
        let (ttl, stale) = (self.settings.secrets_ttl, self.settings.secrets_max_stale);
        let own = CachedSecret::new(
            self.sm.clone(),
            format!("{}{appid}", self.prefix),
            ttl,
            stale,
        );
        let secrets = Arc::new(TenantSecrets::new(appid.clone(), self.app.clone(), own));
        let store = self.dynamo.for_tenant(appid);
        let vault = SecretsTokenVault::new(
            self.sm.clone(),
            format!("{}{appid}/access-token", self.prefix),
        );
        let wechat = super::wechat_client(
            &self.http,
            secrets.clone(),
            Arc::new(vault),
            Arc::new(store.clone()),
            self.clock.clone(),
        );
        Arc::new(Services {
            settings: self.settings.clone(),
            store: Arc::new(store),
            wechat,
            secrets: secrets.clone(),
            identity: secrets,
            clock: self.clock.clone(),
            tenants: None,
            tenant: Some(appid.clone()),
        })
    }
}

#[async_trait]
impl Tenants for TenantRegistry {
    async fn services(&self, appid: &AppId) -> Result<Option<Arc<Services>>, ServiceError> {
        if !self.directory.get().await?.tenants.contains(appid) {
            return Ok(None);
        }
        let mut built = self.built.lock().await;
        let svc = built
            .entry(appid.clone())
            .or_insert_with(|| self.build(appid));
        Ok(Some(svc.clone()))
    }
}

/// deliver-webhooks' view of the tenants: each one's webhook, from its
/// secret `<prefix><appid>/webhook`, found through the same cached directory.
pub struct TenantWebhookDirectory {
    prefix: String,
    sm: aws_sdk_secretsmanager::Client,
    ttl: std::time::Duration,
    stale: std::time::Duration,
    directory: CachedSecret<TenantIds>,
    secrets: Mutex<HashMap<AppId, Arc<CachedSecret<Webhook>>>>,
}

impl TenantWebhookDirectory {
    pub(super) fn new(
        sm: aws_sdk_secretsmanager::Client,
        prefix: String,
        (ttl, stale): (std::time::Duration, std::time::Duration),
    ) -> Self {
        Self {
            directory: CachedSecret::new(SecretListing(sm.clone()), &prefix, ttl, stale),
            prefix,
            sm,
            ttl,
            stale,
            secrets: Default::default(),
        }
    }
}

#[async_trait]
impl TenantWebhooks for TenantWebhookDirectory {
    async fn webhook(&self, appid: &AppId) -> Result<Option<Webhook>, ConfigError> {
        // A tenant's, and only a tenant's (the own mini-program's webhook is §7.2's).
        let ids = self.directory.get().await?;
        if !(ids.tenants.contains(appid) && ids.webhooks.contains(appid)) {
            return Ok(None);
        }
        let secret = {
            let mut secrets = self.secrets.lock().await;
            let entry = secrets.entry(appid.clone()).or_insert_with(|| {
                let id = format!("{}{appid}/webhook", self.prefix);
                Arc::new(CachedSecret::new(self.sm.clone(), id, self.ttl, self.stale))
            });
            entry.clone()
        };
        Ok(Some(secret.get().await?.as_ref().clone()))
    }
}
