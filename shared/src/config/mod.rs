//! Configuration: the environment (docs/api.md §2.1) and the secrets, parsed
//! and checked once so that the rest of the code holds only valid values.

mod app;
mod identity;
mod merchant;
mod tenant;
mod wechat;

use std::fmt;
use std::time::Duration;

pub use app::AppSecrets;
pub use identity::IdentitySecret;
#[cfg(test)]
pub(crate) use merchant::tests::{partner_secret_json, secret_json as merchant_test_secret};
pub use merchant::{Device, MerchantSecrets, SignType, SubMerchant};
pub use tenant::{TenantSecret, Webhook};
pub use wechat::WeChatCredentials;

use crate::domain::Flow;
use crate::error::ConfigError;

pub const DEFAULT_WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
pub const DEFAULT_WECHATPAY_FACE_API_BASE: &str = "https://payapp.weixin.qq.com";
pub const DEFAULT_WECHATPAY_API_BASE: &str = "https://api.mch.weixin.qq.com";

/// The error of one field of secret `secret_id`: `field(name, problem)`.
fn field_error(secret_id: &str) -> impl Fn(&'static str, &'static str) -> ConfigError + '_ {
    move |field, problem| ConfigError::SecretField {
        secret: secret_id.to_owned(),
        field,
        problem,
    }
}

/// A secret's JSON read as `R` (fields present and typed right; values are checked after).
pub(crate) fn secret_json<R: serde::de::DeserializeOwned>(
    secret_id: &str,
    json: &str,
) -> Result<R, ConfigError> {
    serde_json::from_str(json).map_err(|_| {
        field_error(secret_id)(
            "(whole secret)",
            "is not a JSON object of the documented shape",
        )
    })
}

fn invalid(name: &'static str, problem: &str) -> ConfigError {
    ConfigError::InvalidEnv {
        name,
        problem: problem.into(),
    }
}

/// Reads variables through `get`, so tests can pass a map instead of the
/// process environment. A blank value counts as unset.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::MissingEnv(name))
    }

    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        self.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| invalid(name, "must be a whole number"))
        })
    }

    fn millis(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.number(name, default)?.max(1)))
    }

    fn secrets_ttl(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.number("SECRETS_TTL_SECONDS", 300)?,
        ))
    }

    /// How long past its TTL a secret's last good value is still served while
    /// re-reads fail (`SECRETS_MAX_STALE_SECONDS`, default 900); then the
    /// function fails closed.
    fn secrets_max_stale(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.number("SECRETS_MAX_STALE_SECONDS", 900)?,
        ))
    }

    /// An http(s) base URL without its trailing slash.
    fn base_url(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        let v = self.get(name).unwrap_or_else(|| default.to_owned());
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            return Err(invalid(name, "must be an http(s) URL"));
        }
        Ok(v.trim_end_matches('/').to_owned())
    }
}

/// Which pushes event-callback accepts (`PUSH_MODE`): the admin console's
/// 消息加密方式. Only `safe` is safe: a plaintext push's `signature` covers no
/// body, so anyone who saw one push URL can forge a body under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// Encrypted pushes only (the default).
    Safe,
    /// Encrypted and plaintext pushes, while the console switches modes.
    Compatible,
    /// Plaintext pushes only.
    Plaintext,
}

impl PushMode {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "safe" => Some(Self::Safe),
            "compatible" => Some(Self::Compatible),
            "plaintext" => Some(Self::Plaintext),
            _ => None,
        }
    }
    pub fn accepts_plaintext(self) -> bool {
        self != Self::Safe
    }
    pub fn accepts_encrypted(self) -> bool {
        self != Self::Plaintext
    }
}

/// What the mini-program functions read from their environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sessions_table: String,
    pub wechat_app_secret_id: String,
    /// The functions that call WeChat: the secret with its credentials.
    pub wechat_credentials_secret_id: Option<String>,
    pub access_token_secret_id: String,
    /// issue-key only: the `identity_key` for receipts' `identity_hash`.
    pub identity_key_secret_id: Option<String>,
    pub wechat_api_base: String,
    pub default_face_flow: Flow,
    /// 0 disables the limit.
    pub issue_key_limit_per_hour: u32,
    /// Per attempt. Not in the contract: lets a deployment tune it.
    pub wechat_timeout: Duration,
    /// How long a secret read is reused (`SECRETS_TTL_SECONDS`, default 300).
    pub secrets_ttl: Duration,
    /// How long past that a failing re-read may still serve it (`SECRETS_MAX_STALE_SECONDS`).
    pub secrets_max_stale: Duration,
    /// event-callback only.
    pub push_mode: PushMode,
    /// The receipts' `iss` (`RECEIPT_ISSUER`).
    pub receipt_issuer: String,
    /// A receipt's lifetime in seconds (`RECEIPT_TTL_SECONDS`, 60-86400).
    pub receipt_ttl_secs: i64,
    /// Where the tenants' secrets are (`TENANT_SECRET_PREFIX`); unset: the
    /// deployment serves its own mini-program only.
    pub tenant_secret_prefix: Option<String>,
}

impl Settings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        let default_face_flow = match env.get("DEFAULT_FACE_FLOW") {
            None => Flow::V2,
            Some(v) => {
                Flow::parse(&v).map_err(|_| invalid("DEFAULT_FACE_FLOW", "must be v1 or v2"))?
            }
        };
        let limit = env.number("ISSUE_KEY_LIMIT_PER_HOUR", 10)?;
        Ok(Self {
            sessions_table: env.required("SESSIONS_TABLE")?,
            wechat_app_secret_id: env.required("WECHAT_APP_SECRET_ID")?,
            wechat_credentials_secret_id: env.get("WECHAT_CREDENTIALS_SECRET_ID"),
            access_token_secret_id: env.required("ACCESS_TOKEN_SECRET_ID")?,
            identity_key_secret_id: env.get("IDENTITY_KEY_SECRET_ID"),
            wechat_api_base: env.base_url("WECHAT_API_BASE", DEFAULT_WECHAT_API_BASE)?,
            default_face_flow,
            issue_key_limit_per_hour: u32::try_from(limit)
                .map_err(|_| invalid("ISSUE_KEY_LIMIT_PER_HOUR", "is too large"))?,
            wechat_timeout: env.millis("WECHAT_HTTP_TIMEOUT_MS", 3000)?,
            secrets_ttl: env.secrets_ttl()?,
            secrets_max_stale: env.secrets_max_stale()?,
            push_mode: match env.get("PUSH_MODE") {
                None => PushMode::Safe,
                Some(v) => PushMode::parse(&v)
                    .ok_or_else(|| invalid("PUSH_MODE", "must be safe, compatible or plaintext"))?,
            },
            receipt_issuer: env.get("RECEIPT_ISSUER").unwrap_or_else(|| "wxface".into()),
            receipt_ttl_secs: match env.number("RECEIPT_TTL_SECONDS", 600)? {
                ttl @ 60..=86_400 => ttl as i64,
                _ => return Err(invalid("RECEIPT_TTL_SECONDS", "must be 60-86400")),
            },
            tenant_secret_prefix: match env.get("TENANT_SECRET_PREFIX") {
                Some(p)
                    if !p
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b)) =>
                {
                    return Err(invalid(
                        "TENANT_SECRET_PREFIX",
                        "must be a secret name's characters",
                    ));
                }
                p => p,
            },
        })
    }
}

/// What the authinfo (face kiosk) function reads from its environment.
#[derive(Debug, Clone)]
pub struct KioskSettings {
    pub sessions_table: String,
    pub merchant_secret_id: String,
    /// Base of `get_wxpayface_authinfo` (APIv2).
    pub wechatpay_face_api_base: String,
    /// Base of APIv3.
    pub wechatpay_api_base: String,
    /// Per attempt. Not in the contract: lets a deployment tune it.
    pub wechatpay_timeout: Duration,
    /// How long a secret read is reused (`SECRETS_TTL_SECONDS`, default 300).
    pub secrets_ttl: Duration,
    /// How long past that a failing re-read may still serve it (`SECRETS_MAX_STALE_SECONDS`).
    pub secrets_max_stale: Duration,
}

impl KioskSettings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        Ok(Self {
            sessions_table: env.required("SESSIONS_TABLE")?,
            merchant_secret_id: env.required("MERCHANT_SECRET_ID")?,
            wechatpay_face_api_base: env
                .base_url("WECHATPAY_FACE_API_BASE", DEFAULT_WECHATPAY_FACE_API_BASE)?,
            wechatpay_api_base: env.base_url("WECHATPAY_API_BASE", DEFAULT_WECHATPAY_API_BASE)?,
            wechatpay_timeout: env.millis("WECHATPAY_HTTP_TIMEOUT_MS", 3000)?,
            secrets_ttl: env.secrets_ttl()?,
            secrets_max_stale: env.secrets_max_stale()?,
        })
    }
}

/// What every function reads of the AWS environment Lambda gives it: the
/// region and the execution role's credentials, and `AWS_ENDPOINT_URL` for a
/// local emulator. Nothing else (no profiles, SSO, web identity or IMDS): a
/// function never needs them.
#[derive(Clone)]
pub struct AwsSettings {
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub endpoint_url: Option<String>,
}

impl AwsSettings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        Ok(Self {
            access_key_id: env.required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: env.required("AWS_SECRET_ACCESS_KEY")?,
            session_token: env.get("AWS_SESSION_TOKEN"),
            region: env.required("AWS_REGION")?,
            endpoint_url: env.get("AWS_ENDPOINT_URL"),
        })
    }
}

/// The credentials never reach a log.
impl fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("credentials", &"<redacted>")
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

/// Where the schedules go and what they invoke (`RECONCILE_*`, docs/api.md §2.1).
#[derive(Debug, Clone)]
pub struct ScheduleTarget {
    /// The stack's schedule group (its role may create schedules only there).
    pub group: String,
    /// The reconcile function.
    pub function_arn: String,
    /// The role the scheduler invokes it with.
    pub role_arn: String,
    /// Where a check goes that could not be delivered for an hour.
    pub dead_letter_arn: Option<String>,
}

/// What reconcile reads from its environment: the mini-program settings,
/// and where its checks are booked (`RECONCILE_*`).
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub base: Settings,
    pub target: ScheduleTarget,
}

impl ReconcileSettings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&get);
        let target = ScheduleTarget {
            group: env.required("RECONCILE_SCHEDULE_GROUP")?,
            function_arn: env.required("RECONCILE_FUNCTION_ARN")?,
            role_arn: env.required("RECONCILE_SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: env.get("RECONCILE_DEAD_LETTER_ARN"),
        };
        Ok(Self {
            base: Settings::from_lookup(get)?,
            target,
        })
    }
}

/// What publish-events reads from its environment.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// Opens each session's sealed identity_hash (its `data_key`).
    pub wechat_app_secret_id: String,
    /// `EVENT_BUS_NAME`: the bus events are put on (default `default`).
    pub event_bus_name: String,
    pub secrets_ttl: Duration,
    pub secrets_max_stale: Duration,
    /// The receipts' `iss` (`RECEIPT_ISSUER`, as verify-result's).
    pub receipt_issuer: String,
    /// An event's receipt's lifetime (`EVENT_RECEIPT_TTL_SECONDS`, default two days: the stream's
    /// retries and the webhook's may each take a day).
    pub receipt_ttl_secs: i64,
}

impl EventSettings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        let wechat_app_secret_id = env.required("WECHAT_APP_SECRET_ID")?;
        let event_bus_name = env.get("EVENT_BUS_NAME");
        Ok(Self {
            event_bus_name: event_bus_name.unwrap_or_else(|| "default".into()),
            secrets_ttl: env.secrets_ttl()?,
            secrets_max_stale: env.secrets_max_stale()?,
            wechat_app_secret_id,
            receipt_issuer: env.get("RECEIPT_ISSUER").unwrap_or_else(|| "wxface".into()),
            receipt_ttl_secs: match env.number("EVENT_RECEIPT_TTL_SECONDS", 172_800)? {
                ttl @ 60..=604_800 => ttl as i64,
                _ => return Err(invalid("EVENT_RECEIPT_TTL_SECONDS", "must be 60-604800")),
            },
        })
    }
}

/// What deliver-webhooks reads from its environment (docs/api.md §9).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Its item: a tenant's webhook disabled by a 410.
    pub sessions_table: String,
    /// Where the tenants' secrets are (`TENANT_SECRET_PREFIX`).
    pub tenant_secret_prefix: String,
    /// The queue its events come from (`WEBHOOK_QUEUE_URL`): each try's backoff is set there.
    pub webhook_queue_url: String,
    /// One try's timeout (`WEBHOOK_TIMEOUT_MS`, default 15000: Standard Webhooks' 15-30 s).
    pub webhook_timeout: Duration,
    pub secrets_ttl: Duration,
    pub secrets_max_stale: Duration,
}

impl WebhookSettings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        Ok(Self {
            sessions_table: env.required("SESSIONS_TABLE")?,
            tenant_secret_prefix: env.required("TENANT_SECRET_PREFIX")?,
            webhook_queue_url: env.required("WEBHOOK_QUEUE_URL")?,
            webhook_timeout: env.millis("WEBHOOK_TIMEOUT_MS", 15_000)?,
            secrets_ttl: env.secrets_ttl()?,
            secrets_max_stale: env.secrets_max_stale()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("SESSIONS_TABLE", "t"),
        ("WECHAT_APP_SECRET_ID", "a"),
        ("ACCESS_TOKEN_SECRET_ID", "b"),
    ];

    #[test]
    fn defaults_and_required_variables() {
        let s = Settings::from_lookup(env(&BASE)).unwrap();
        assert_eq!(s.wechat_api_base, DEFAULT_WECHAT_API_BASE);
        assert_eq!(s.default_face_flow, Flow::V2);
        assert_eq!(s.issue_key_limit_per_hour, 10);
        for missing in [
            "SESSIONS_TABLE",
            "WECHAT_APP_SECRET_ID",
            "ACCESS_TOKEN_SECRET_ID",
        ] {
            let rest: Vec<_> = BASE
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = Settings::from_lookup(env(&rest)).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
        let mut bad = BASE.to_vec();
        bad.push(("DEFAULT_FACE_FLOW", "v3"));
        assert!(Settings::from_lookup(env(&bad)).is_err());
        assert_eq!(
            (s.receipt_issuer.as_str(), s.receipt_ttl_secs),
            ("wxface", 600)
        );
        for ttl in ["59", "86401", "x"] {
            let mut bad = BASE.to_vec();
            bad.push(("RECEIPT_TTL_SECONDS", ttl));
            let err = Settings::from_lookup(env(&bad)).unwrap_err().to_string();
            assert!(err.contains("RECEIPT_TTL_SECONDS"), "{err}");
        }
    }

    #[test]
    fn event_settings() {
        let s = EventSettings::from_lookup(env(&[("WECHAT_APP_SECRET_ID", "app")])).unwrap();
        assert_eq!(
            (s.event_bus_name.as_str(), s.secrets_ttl.as_secs()),
            ("default", 300)
        );
        let s = EventSettings::from_lookup(env(&[
            ("WECHAT_APP_SECRET_ID", "app"),
            ("EVENT_BUS_NAME", "bus"),
        ]));
        assert_eq!(s.unwrap().event_bus_name, "bus");
        assert!(matches!(
            EventSettings::from_lookup(env(&[])),
            Err(ConfigError::MissingEnv("WECHAT_APP_SECRET_ID"))
        ));
    }

    #[test]
    fn kiosk_settings() {
        let base = [("SESSIONS_TABLE", "t"), ("MERCHANT_SECRET_ID", "m")];
        let s = KioskSettings::from_lookup(env(&base)).unwrap();
        assert_eq!(s.wechatpay_face_api_base, DEFAULT_WECHATPAY_FACE_API_BASE);
        assert_eq!(s.wechatpay_api_base, DEFAULT_WECHATPAY_API_BASE);
        let err = KioskSettings::from_lookup(env(&base[..1])).unwrap_err();
        assert!(err.to_string().contains("MERCHANT_SECRET_ID"), "{err}");
        let mut custom = base.to_vec();
        custom.push(("WECHATPAY_API_BASE", "http://127.0.0.1:9/"));
        let s = KioskSettings::from_lookup(env(&custom)).unwrap();
        assert_eq!(s.wechatpay_api_base, "http://127.0.0.1:9");
        custom.push(("WECHATPAY_FACE_API_BASE", "ftp://x"));
        assert!(KioskSettings::from_lookup(env(&custom)).is_err());
    }
}
