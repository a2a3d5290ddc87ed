//! Wiring: the adapters a function runs with, built once per container
//! (`tenants`: a tenant's, the first time a request names it).

mod tenants;

use std::sync::Arc;

use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, SharedCredentialsProvider, StalledStreamProtectionConfig,
};
use aws_types::SdkConfig;

use crate::adapters::webhook::{HttpWebhookSender, SqsRetryQueue};
use crate::adapters::wechat::WeChatHttp;
use crate::adapters::wechatpay::WeChatPayClient;
use crate::adapters::{
    AccessTokens, AppSecretStore, CachedSecret, DynamoStore, EventBridgeBus, EventBridgeScheduler,
    NoIdentityKey, SecretsTokenVault, StableTokenSource, WeChatClient,
};
use crate::config::{
    AwsSettings, EventSettings, IdentitySecret, KioskSettings, ReconcileSettings, Settings,
    WebhookSettings,
};
use crate::domain::{Clock, SystemClock};
use crate::error::ConfigError;
use crate::ports::{AppSecretsSource, IdentityKeySource, TokenLease, TokenVault};
use crate::service::events::EventServices;
use crate::service::reconcile::ReconcileServices;
use crate::service::webhooks::WebhookServices;
use crate::service::{KioskServices, Services};

type Build<S, T> = fn(S, &SdkConfig, Arc<dyn Clock>) -> Result<T, ConfigError>;
type Read<S> = fn(&dyn Fn(&str) -> Option<String>) -> Result<S, ConfigError>;

/// A function's wiring from the environment: its settings and the AWS
/// configuration (a missing or bad variable logged by name), the system clock.
async fn from_env<S, T>(read: Read<S>, build: Build<S, T>) -> Result<T, ConfigError> {
    let get = |k: &str| std::env::var(k).ok();
    let wiring = read(&get).and_then(|settings| {
        let aws = aws_config(&AwsSettings::from_lookup(get)?)?;
        Ok((settings, aws))
    });
    let (settings, aws) = wiring.inspect_err(|e| {
        tracing::error!(event = "configuration_error", detail = %e, "cannot start");
    })?;
    build(settings, &aws, Arc::new(SystemClock))
}

/// The SDK configuration from what Lambda hands a function, read directly
/// rather than through aws-config's provider chains: they cost init time and
/// put an STS client in every binary. Requests go through the functions' own
/// HTTP client (`adapters::aws_http`); retries and timeouts are the SDK's
/// defaults for this behavior version, as before.
pub fn aws_config(s: &AwsSettings) -> Result<SdkConfig, ConfigError> {
    let credentials = Credentials::new(
        &s.access_key_id,
        &s.secret_access_key,
        s.session_token.clone(),
        None,
        "lambda-environment",
    );
    let http = crate::adapters::aws_http::client().map_err(|e| ConfigError::InvalidEnv {
        name: "AWS_ENDPOINT_URL",
        problem: format!("no HTTP client for AWS: {e}"),
    })?;
    let mut aws = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(s.region.clone()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        // Our connector reads each answer whole before the SDK sees it (aws_http.rs), so the
        // SDK's stalled-stream watch, polled on every request, would only watch memory.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .http_client(http);
    if let Some(endpoint) = &s.endpoint_url {
        aws = aws.endpoint_url(endpoint);
    }
    Ok(aws.build())
}

// Each function's wiring from the environment: the mini-program functions'
// and lookup's (which asks WeChat about a pending 2.0 session too);
// reconcile's (the same, and the scheduler); authinfo's (its own settings and
// the merchant secret); publish-events' (the app secret, for identity_hash,
// and the bus).
pub async fn services_from_env() -> Result<Services, ConfigError> {
    from_env(|get| Settings::from_lookup(get), build_services).await
}
pub async fn reconcile_services_from_env() -> Result<ReconcileServices, ConfigError> {
    from_env(
        |get| ReconcileSettings::from_lookup(get),
        build_reconcile_services,
    )
    .await
}
pub async fn kiosk_services_from_env() -> Result<KioskServices, ConfigError> {
    from_env(|get| KioskSettings::from_lookup(get), build_kiosk_services).await
}
pub async fn event_services_from_env() -> Result<EventServices, ConfigError> {
    from_env(|get| EventSettings::from_lookup(get), build_event_services).await
}
pub async fn webhook_services_from_env() -> Result<WebhookServices, ConfigError> {
    from_env(
        |get| WebhookSettings::from_lookup(get),
        build_webhook_services,
    )
    .await
}

pub fn build_services(
    settings: Settings,
    aws: &SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<Services, ConfigError> {
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        &settings.sessions_table,
    ));
    let (ttl, stale) = (settings.secrets_ttl, settings.secrets_max_stale);
    let secrets = Arc::new(AppSecretStore {
        app: CachedSecret::new(sm.clone(), &settings.wechat_app_secret_id, ttl, stale),
        wechat: (settings.wechat_credentials_secret_id.as_deref())
            .map(|id| CachedSecret::new(sm.clone(), id, ttl, stale)),
    });
    let http =
        WeChatHttp::new(&settings.wechat_api_base, settings.wechat_timeout).map_err(|e| {
            ConfigError::InvalidEnv {
                name: "WECHAT_API_BASE",
                problem: e.to_string(),
            }
        })?;
    let identity: Arc<dyn IdentityKeySource> = match &settings.identity_key_secret_id {
        Some(id) => Arc::new(CachedSecret::<IdentitySecret>::new(
            sm.clone(),
            id,
            ttl,
            stale,
        )),
        None => Arc::new(NoIdentityKey),
    };
    let vault = SecretsTokenVault::new(sm.clone(), &settings.access_token_secret_id);
    let wechat = wechat_client(
        &http,
        secrets.clone(),
        Arc::new(vault),
        store.clone(),
        clock.clone(),
    );
    let tenants = (settings.tenant_secret_prefix.clone()).map(|prefix| {
        let shared = (sm, (*store).clone(), http, secrets.clone() as _);
        tenants::TenantRegistry::start(&settings, prefix, shared, clock.clone())
    });
    Ok(Services {
        settings,
        store,
        wechat,
        secrets,
        identity,
        clock,
        tenants,
        tenant: None,
    })
}

/// A WeChat client with its own access token: kept in `vault`, refreshed by
/// whoever holds `lease`.
fn wechat_client(
    http: &WeChatHttp,
    secrets: Arc<dyn AppSecretsSource>,
    vault: Arc<dyn TokenVault>,
    lease: Arc<dyn TokenLease>,
    clock: Arc<dyn Clock>,
) -> Arc<WeChatClient> {
    let source = StableTokenSource::new(http.clone(), secrets.clone());
    let tokens = AccessTokens::new(vault, lease, Arc::new(source), clock);
    Arc::new(WeChatClient::new(http.clone(), secrets, Arc::new(tokens)))
}

pub fn build_reconcile_services(
    settings: ReconcileSettings,
    aws: &SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<ReconcileServices, ConfigError> {
    let scheduler = EventBridgeScheduler::new(aws_sdk_scheduler::Client::new(aws), settings.target);
    Ok(ReconcileServices {
        svc: build_services(settings.base, aws, clock)?,
        scheduler: Arc::new(scheduler),
    })
}

pub fn build_kiosk_services(
    settings: KioskSettings,
    aws: &SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<KioskServices, ConfigError> {
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        &settings.sessions_table,
    ));
    let merchant = Arc::new(CachedSecret::new(
        aws_sdk_secretsmanager::Client::new(aws),
        &settings.merchant_secret_id,
        settings.secrets_ttl,
        settings.secrets_max_stale,
    ));
    let wechatpay = Arc::new(
        WeChatPayClient::new(
            &settings.wechatpay_face_api_base,
            &settings.wechatpay_api_base,
            settings.wechatpay_timeout,
            merchant.clone(),
            clock.clone(),
        )
        .map_err(|e| ConfigError::InvalidEnv {
            name: "WECHATPAY_API_BASE",
            problem: e.to_string(),
        })?,
    );
    Ok(KioskServices {
        settings,
        store,
        wechatpay,
        merchant,
        clock,
    })
}

pub fn build_event_services(
    settings: EventSettings,
    aws: &SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<EventServices, ConfigError> {
    Ok(EventServices {
        receipt_issuer: settings.receipt_issuer.clone(),
        receipt_ttl_secs: settings.receipt_ttl_secs,
        clock,
        secrets: Arc::new(AppSecretStore {
            app: CachedSecret::new(
                aws_sdk_secretsmanager::Client::new(aws),
                &settings.wechat_app_secret_id,
                settings.secrets_ttl,
                settings.secrets_max_stale,
            ),
            wechat: None,
        }),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(aws),
            &settings.event_bus_name,
        )),
    })
}

pub fn build_webhook_services(
    settings: WebhookSettings,
    aws: &SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<WebhookServices, ConfigError> {
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let lifetimes = (settings.secrets_ttl, settings.secrets_max_stale);
    let sender =
        HttpWebhookSender::new(settings.webhook_timeout).map_err(|e| ConfigError::InvalidEnv {
            name: "WEBHOOK_TIMEOUT_MS",
            problem: format!("no HTTP client for webhooks: {e}"),
        })?;
    let queue = aws_sdk_sqs::Client::new(aws);
    Ok(WebhookServices {
        webhooks: Arc::new(tenants::TenantWebhookDirectory::new(
            sm,
            settings.tenant_secret_prefix,
            lifetimes,
        )),
        sender: Arc::new(sender),
        state: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(aws),
            &settings.sessions_table,
        )),
        queue: Arc::new(SqsRetryQueue::new(queue, settings.webhook_queue_url)),
        clock,
    })
}

/// The `main` of a function binary: logs, the services built once per
/// container (a missing variable fails the start, named in the log), then
/// every request (`stream:` every stream batch) to the handler.
///
/// ```ignore
/// wxface::function_main!(wxface::app::services_from_env, wxface::http::issue_key::handle);
/// wxface::function_main!(stream: wxface::app::event_services_from_env, wxface::stream::handle);
/// ```
#[macro_export]
macro_rules! function_main {
    (stream: $services:path, $handle:path) => {
        $crate::function_main!(@main svc, $services, lambda_http::lambda_runtime::run(
            lambda_http::lambda_runtime::service_fn(
                move |e: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| async move {
                    $handle(svc, e.payload).await
                })));
    };
    ($services:path, $handle:path) => {
        $crate::function_main!(@main svc, $services, lambda_http::run(lambda_http::service_fn(
            move |req: lambda_http::Request| async move {
                Ok::<_, lambda_http::Error>($handle(svc, req).await)
            })));
    };
    (@main $svc:ident, $services:path, $run:expr) => {
        // One thread: a container serves one invocation at a time, and every wait is on the
        // network, so worker threads would only add wake-ups between them (docs/performance.md).
        #[tokio::main(flavor = "current_thread")]
        async fn main() -> Result<(), lambda_http::Error> {
            $crate::telemetry::init();
            let $svc = &$services().await?;
            $run.await
        }
    };
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn aws(vars: &[(&str, &str)]) -> Result<SdkConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        aws_config(&AwsSettings::from_lookup(|k| vars.get(k).cloned())?)
    }

    const LAMBDA: [(&str, &str); 4] = [
        ("AWS_REGION", "ap-shanghai"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    #[test]
    fn aws_configuration_is_lambdas_environment() {
        let c = aws(&LAMBDA).unwrap();
        assert_eq!(c.region().map(|r| r.as_ref()), Some("ap-shanghai"));
        assert!(c.credentials_provider().is_some());
        assert_eq!(c.endpoint_url(), None);
        let mut local = LAMBDA.to_vec();
        local.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:5005"));
        local.retain(|(k, _)| *k != "AWS_SESSION_TOKEN");
        let c = aws(&local).unwrap();
        assert_eq!(c.endpoint_url(), Some("http://127.0.0.1:5005"));
    }

    #[test]
    fn the_credentials_are_redacted() {
        let s = AwsSettings::from_lookup(|k| {
            LAMBDA
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        let shown = format!("{s:?}");
        assert!(shown.contains("ap-shanghai"), "{shown}");
        assert!(
            !shown.contains("AKIDEXAMPLE") && !shown.contains("secret\""),
            "{shown}"
        );
    }

    #[test]
    fn a_missing_aws_variable_is_named() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let vars: Vec<_> = LAMBDA
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            match aws(&vars) {
                Err(ConfigError::MissingEnv(name)) => assert_eq!(name, missing),
                other => panic!("{missing}: {other:?}"),
            }
        }
    }
}
