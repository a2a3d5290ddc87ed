//! Secrets Manager helpers for tests and local stacks.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

/// Creates secret `name`, holding `value` as its `SecretString`, or with no value at all when
/// `value` is `None` (as a fresh deploy leaves the access-token secret: `GetSecretValue` then
/// fails with `ResourceNotFoundException`, on AWS and on moto alike).
///
/// Idempotent: if the secret already exists it is left unchanged and `Ok` is returned (so
/// `wxface-dev setup` can run twice without replacing a `data_key`). Use [`put_secret`] to
/// change a value.
pub async fn create_secret(sm: &Client, name: &str, value: Option<&str>) -> Result<(), String> {
    let mut req = sm.create_secret().name(name);
    if let Some(v) = value {
        req = req.secret_string(v);
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .map(|s| s.is_resource_exists_exception())
                .unwrap_or(false) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("CreateSecret {name}: {}", DisplayErrorContext(&e))),
    }
}

/// Stores `value` as the new current `SecretString` of an existing secret.
pub async fn put_secret(sm: &Client, name: &str, value: &str) -> Result<(), String> {
    sm.put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("PutSecretValue {name}: {}", DisplayErrorContext(&e)))
}

/// The current `SecretString`, `None` when the secret exists but has no value yet.
pub async fn get_secret(sm: &Client, name: &str) -> Result<Option<String>, String> {
    match sm.get_secret_value().secret_id(name).send().await {
        Ok(out) => Ok(out.secret_string().map(String::from)),
        Err(e) => {
            // No value yet: ResourceNotFoundException on a secret that DescribeSecret finds.
            let not_found = e
                .as_service_error()
                .map(|s| s.is_resource_not_found_exception())
                .unwrap_or(false);
            if not_found && sm.describe_secret().secret_id(name).send().await.is_ok() {
                return Ok(None);
            }
            Err(format!(
                "GetSecretValue {name}: {}",
                DisplayErrorContext(&e)
            ))
        }
    }
}

/// 32 random bytes (aws-lc-rs), standard base64: a fresh `data_key` (docs/api.md §2).
pub fn random_data_key() -> String {
    use base64::Engine;
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).expect("system random generator");
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// The app secret (docs/api.md §2.2) for one of the simulator's apps: its
/// appid, a fresh `data_key` and a fresh receipt key (kid `local-1`).
pub fn app_secret_json(app: &wechat_sim::SimApp) -> serde_json::Value {
    serde_json::json!({
        "appid": app.appid,
        "data_key": random_data_key(),
        "receipt_keys": [{"kid": "local-1", "private_key": wxface::crypto::receipt::generate_pem()}],
    })
}

/// The fields of the WeChat credentials secret (docs/api.md §2.2).
pub const WECHAT_FIELDS: [&str; 4] = wxface::config::WeChatCredentials::FIELDS;

/// The WeChat credentials secret (docs/api.md §2.2) of one of the simulator's apps.
pub fn wechat_credentials_json(app: &wechat_sim::SimApp) -> serde_json::Value {
    serde_json::json!({
        "appsecret": app.secret,
        "push_token": app.push_token,
        "encoding_aes_key": app.encoding_aes_key,
    })
}

/// The app secret of the layout before the WeChat credentials had their own
/// secret: both in one (an upgraded deployment that has not moved them yet).
pub fn legacy_app_secret_json(app: &wechat_sim::SimApp) -> serde_json::Value {
    let mut all = app_secret_json(app);
    for (k, v) in wechat_credentials_json(app)
        .as_object()
        .into_iter()
        .flatten()
    {
        all[k] = v.clone();
    }
    all
}

/// The default name of the WeChat credentials secret beside app secret `app_secret_id`.
pub fn wechat_secret_id_for(app_secret_id: &str) -> String {
    format!("{app_secret_id}-credentials")
}

/// A fresh identity secret (docs/api.md §6): `{"identity_key": <base64 of 32 random bytes>}`.
pub fn identity_secret_json() -> serde_json::Value {
    serde_json::json!({ "identity_key": random_data_key() })
}

/// A tenant's secret (docs/api.md §9) for `app`: its WeChat credentials and its `identity_key`.
pub fn tenant_secret_json(app: &wechat_sim::SimApp, identity_key: &str) -> serde_json::Value {
    serde_json::json!({
        "appsecret": app.secret,
        "push_token": app.push_token,
        "encoding_aes_key": app.encoding_aes_key,
        "identity_key": identity_key,
    })
}
