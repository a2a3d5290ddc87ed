//! Wiring: the adapters a function runs with, built once per container.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::wechat::WeChatHttp;
use crate::adapters::{
    AccessTokens, CachedAppSecrets, DynamoStore, SecretsTokenVault, StableTokenSource, WeChatClient,
};
use crate::config::Settings;
use crate::domain::{Clock, SystemClock};
use crate::error::ConfigError;
use crate::service::Services;

/// Reads the environment and the AWS configuration, as a function does at
/// start. A missing variable is logged by name and fails the start.
pub async fn services_from_env() -> Result<Services, ConfigError> {
    let settings = Settings::from_env().inspect_err(|e| {
        tracing::error!(event = "configuration_error", detail = %e, "cannot start");
    })?;
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    build_services(settings, &aws, Arc::new(SystemClock))
}

pub fn build_services(
    settings: Settings,
    aws: &SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<Services, ConfigError> {
    let ddb = aws_sdk_dynamodb::Client::new(aws);
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let store = Arc::new(DynamoStore::new(ddb, &settings.sessions_table));
    let secrets = Arc::new(CachedAppSecrets::new(
        sm.clone(),
        &settings.wechat_app_secret_id,
    ));
    let http =
        WeChatHttp::new(&settings.wechat_api_base, settings.wechat_timeout).map_err(|e| {
            ConfigError::InvalidEnv {
                name: "WECHAT_API_BASE",
                problem: e.to_string(),
            }
        })?;
    let tokens = Arc::new(AccessTokens::new(
        Arc::new(SecretsTokenVault::new(sm, &settings.access_token_secret_id)),
        store.clone(),
        Arc::new(StableTokenSource::new(http.clone(), secrets.clone())),
        clock.clone(),
    ));
    let wechat = Arc::new(WeChatClient::new(http, secrets.clone(), tokens));
    Ok(Services {
        settings,
        store,
        wechat,
        secrets,
        clock,
    })
}

/// The authinfo (face kiosk) function's wiring: its own settings and secret.
pub async fn kiosk_services_from_env()
-> Result<crate::service::authinfo::KioskServices, ConfigError> {
    let settings = crate::config::KioskSettings::from_env().inspect_err(|e| {
        tracing::error!(event = "configuration_error", detail = %e, "cannot start");
    })?;
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    build_kiosk_services(settings, &aws, Arc::new(SystemClock))
}

pub fn build_kiosk_services(
    settings: crate::config::KioskSettings,
    aws: &SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<crate::service::authinfo::KioskServices, ConfigError> {
    use crate::adapters::wechatpay::{CachedMerchantSecrets, WeChatPayClient};
    let ddb = aws_sdk_dynamodb::Client::new(aws);
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let store = Arc::new(DynamoStore::new(ddb, &settings.sessions_table));
    let merchant = Arc::new(CachedMerchantSecrets::new(sm, &settings.merchant_secret_id));
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
    Ok(crate::service::authinfo::KioskServices {
        settings,
        store,
        wechatpay,
        merchant,
        clock,
    })
}
