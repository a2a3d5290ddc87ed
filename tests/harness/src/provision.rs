//! One run's AWS side on the emulator (the sessions table as the template
//! declares it, the app, access-token, merchant and identity secrets) and the
//! functions' environment pointing at it: shared by the soak and the
//! cold-start benchmark.

use crate::{kiosk, sdk_config_for, secrets, template};

/// The names one run created.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub app_secret_id: String,
    pub wechat_secret_id: String,
    pub token_secret_id: String,
    pub merchant_secret_id: String,
    pub identity_secret_id: String,
    /// The simulator's app the secrets are for.
    pub app: wechat_sim::SimApp,
}

/// A fresh table and secrets named after `run` on the emulator at `aws`.
pub async fn provision(aws: &str, run: &str) -> Result<Provisioned, String> {
    let config = sdk_config_for(aws).await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let table = format!("wxface-{run}");
    template::create_sessions_table(&ddb, &table).await?;
    let app = wechat_sim::SimConfig::default().apps[0].clone();
    let p = Provisioned {
        table,
        app_secret_id: format!("wxface/{run}/app"),
        wechat_secret_id: format!("wxface/{run}/wechat"),
        token_secret_id: format!("wxface/{run}/token"),
        merchant_secret_id: format!("wxface/{run}/merchant"),
        identity_secret_id: format!("wxface/{run}/identity"),
        app,
    };
    let identity = secrets::identity_secret_json().to_string();
    secrets::create_secret(&sm, &p.identity_secret_id, Some(&identity)).await?;
    let app_secret = secrets::app_secret_json(&p.app);
    secrets::create_secret(&sm, &p.app_secret_id, Some(&app_secret.to_string())).await?;
    let wechat = secrets::wechat_credentials_json(&p.app).to_string();
    secrets::create_secret(&sm, &p.wechat_secret_id, Some(&wechat)).await?;
    secrets::create_secret(&sm, &p.token_secret_id, None).await?;
    let merchant = kiosk::merchant_secret(
        "HMAC-SHA256",
        kiosk::KeyMode::PublicKey,
        &[(kiosk::DEV_DEVICE_ID, kiosk::DEV_DEVICE_TOKEN)],
    );
    secrets::create_secret(&sm, &p.merchant_secret_id, Some(&merchant.to_string())).await?;
    Ok(p)
}

impl Provisioned {
    /// Every function's environment (docs/api.md §2): this run's names,
    /// WeChat at `wechat`, WeChat Pay at `wechatpay`, AWS at `aws`.
    pub fn function_env(&self, wechat: &str, wechatpay: &str, aws: &str) -> Vec<(String, String)> {
        [
            ("SESSIONS_TABLE", self.table.as_str()),
            ("WECHAT_APP_SECRET_ID", &self.app_secret_id),
            ("WECHAT_CREDENTIALS_SECRET_ID", &self.wechat_secret_id),
            ("ACCESS_TOKEN_SECRET_ID", &self.token_secret_id),
            ("MERCHANT_SECRET_ID", &self.merchant_secret_id),
            ("IDENTITY_KEY_SECRET_ID", &self.identity_secret_id),
            ("WECHAT_API_BASE", wechat),
            ("WECHATPAY_FACE_API_BASE", wechatpay),
            ("WECHATPAY_API_BASE", wechatpay),
            ("AWS_ENDPOINT_URL", aws),
            // Both, as Lambda sets them (boto3 reads the second).
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("RUST_LOG", "info"),
            ("NO_COLOR", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}
