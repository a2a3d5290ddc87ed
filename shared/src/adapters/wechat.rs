//! The WeChat server API over HTTPS (wechat-face-api.md §2-§4, §6).
//!
//! Retries: a `-1` (system busy) or a refused connection is retried for every
//! call; a timeout or 5xx only for calls that change nothing on WeChat's side,
//! since a second getverifyid / getuseridkey / jscode2session could fail on a
//! first attempt that did in fact succeed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::token::{AccessTokens, TokenSource};
use crate::domain::{
    GetInfoEvidence, IdCardNumber, LoginCode, OpenId, OutSeqNo, PersonName, UserIdKey, VerifyId,
    VerifyResultToken,
};
use crate::error::WeChatError;
use crate::ports::{AppSecretsSource, WeChat};
use crate::telemetry::metrics;

const MAX_ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(100);

/// Whether a timed-out or 5xx call may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Safe,
    OnlyIfNotSent,
}

/// Plain HTTP to WeChat: one place for timeouts, retries and errcode handling.
#[derive(Clone)]
pub struct WeChatHttp {
    http: reqwest::Client,
    base: String,
}

impl WeChatHttp {
    pub fn new(base: &str, timeout: Duration) -> Result<Self, WeChatError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .build()
            .map_err(|e| WeChatError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Sends the request, retries as allowed, and returns the JSON body of an
    /// errcode-0 answer (a missing errcode counts as 0).
    async fn call(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, WeChatError> {
        let started = std::time::Instant::now();
        let result = self
            .call_with_retries(endpoint, path, query, body, retry)
            .await;
        // A WeChat error answer is not an outage: only unavailability counts.
        let reachable = !matches!(result, Err(WeChatError::Unavailable(_)));
        metrics::upstream_call(endpoint, reachable, started.elapsed());
        result
    }

    async fn call_with_retries(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, WeChatError> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= MAX_ATTEMPTS;
            let req = match body {
                Some(b) => self.http.post(&url).json(b),
                None => self.http.get(&url),
            }
            .query(query);
            // (may be retried, error) of a failed attempt.
            let (retriable, err) = match req.send().await {
                Err(e) => (
                    e.is_connect() || retry == Retry::Safe,
                    WeChatError::Unavailable(transport_error(&e)),
                ),
                Ok(resp) if resp.status().is_server_error() => (
                    retry == Retry::Safe,
                    WeChatError::Unavailable(format!("HTTP {}", resp.status().as_u16())),
                ),
                Ok(resp) if !resp.status().is_success() => (
                    false,
                    WeChatError::Malformed(format!("HTTP {}", resp.status().as_u16())),
                ),
                Ok(resp) => match resp.json::<Value>().await {
                    Err(e) if e.is_timeout() => (
                        retry == Retry::Safe,
                        WeChatError::Unavailable("timed out reading the answer".into()),
                    ),
                    Err(_) => (false, WeChatError::Malformed("body is not JSON".into())),
                    Ok(v) => match v.get("errcode").and_then(Value::as_i64).unwrap_or(0) {
                        0 => return Ok(v),
                        -1 => (
                            true,
                            WeChatError::Unavailable("errcode -1 (system busy)".into()),
                        ),
                        errcode => {
                            let errmsg = v
                                .get("errmsg")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned();
                            (false, WeChatError::Api { errcode, errmsg })
                        }
                    },
                },
            };
            tracing::warn!(endpoint, attempt, error = %err, "WeChat call failed");
            if !retriable || last {
                return Err(err);
            }
            tokio::time::sleep(BACKOFF * attempt).await;
        }
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "transport error".into()
    }
}

fn parse<T: DeserializeOwned>(endpoint: &str, v: Value) -> Result<T, WeChatError> {
    serde_json::from_value(v)
        .map_err(|e| WeChatError::Malformed(format!("{endpoint}: unexpected answer ({e})")))
}

/// `POST /cgi-bin/stable_token` in normal mode. `force_refresh` is never sent
/// as true: it has a budget of 20 a day and invalidates every other holder.
pub struct StableTokenSource {
    http: WeChatHttp,
    secrets: Arc<dyn AppSecretsSource>,
}

impl StableTokenSource {
    pub fn new(http: WeChatHttp, secrets: Arc<dyn AppSecretsSource>) -> Self {
        Self { http, secrets }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

#[async_trait]
impl TokenSource for StableTokenSource {
    async fn fetch(&self) -> Result<(String, i64), WeChatError> {
        let app = self.secrets.app_secrets().await?;
        let body = json!({
            "grant_type": "client_credential",
            "appid": app.appid,
            "secret": app.appsecret,
            "force_refresh": false,
        });
        let v = self
            .http
            .call(
                "stable_token",
                "/cgi-bin/stable_token",
                &[],
                Some(&body),
                Retry::Safe,
            )
            .await?;
        let t: TokenAnswer = parse("stable_token", v)?;
        if t.access_token.is_empty() || t.expires_in <= 0 {
            return Err(WeChatError::Malformed("stable_token: empty token".into()));
        }
        Ok((t.access_token, t.expires_in))
    }
}

/// The typed client the services use.
pub struct WeChatClient {
    http: WeChatHttp,
    secrets: Arc<dyn AppSecretsSource>,
    tokens: Arc<AccessTokens>,
}

impl WeChatClient {
    pub fn new(
        http: WeChatHttp,
        secrets: Arc<dyn AppSecretsSource>,
        tokens: Arc<AccessTokens>,
    ) -> Self {
        Self {
            http,
            secrets,
            tokens,
        }
    }

    /// A business call with the access token; on a token rejection the token
    /// is replaced and the call sent once more, never more.
    async fn with_token(
        &self,
        endpoint: &'static str,
        path: &str,
        body: &Value,
        retry: Retry,
    ) -> Result<Value, WeChatError> {
        let token = self.tokens.get().await?;
        match self
            .http
            .call(
                endpoint,
                path,
                &[("access_token", &token)],
                Some(body),
                retry,
            )
            .await
        {
            Err(e) if e.is_token_rejection() => {
                let fresh = self.tokens.replace(&token).await?;
                self.http
                    .call(
                        endpoint,
                        path,
                        &[("access_token", &fresh)],
                        Some(body),
                        retry,
                    )
                    .await
            }
            other => other,
        }
    }
}

#[derive(Deserialize)]
struct SessionAnswer {
    openid: String,
}

#[derive(Deserialize)]
struct VerifyIdAnswer {
    verify_id: String,
    #[serde(default)]
    expires_in: i64,
}

#[derive(Deserialize)]
struct UserIdKeyAnswer {
    user_id_key: String,
    #[serde(default)]
    expires_in: i64,
}

#[derive(Deserialize)]
struct QueryAnswer {
    verify_ret: i64,
}

#[derive(Deserialize)]
struct GetInfoAnswer {
    identify_ret: i64,
    #[serde(default)]
    openid: String,
    #[serde(default)]
    user_id_key: String,
    #[serde(default)]
    name_utf8_md5: String,
    #[serde(default)]
    id_card_number_md5: String,
}

#[async_trait]
impl WeChat for WeChatClient {
    async fn login(&self, code: &LoginCode) -> Result<OpenId, WeChatError> {
        let app = self.secrets.app_secrets().await?;
        let query = [
            ("appid", app.appid.as_str()),
            ("secret", app.appsecret.as_str()),
            ("js_code", code.expose()),
            ("grant_type", "authorization_code"),
        ];
        // A code is single use: a timed-out exchange is not sent again.
        let v = self
            .http
            .call(
                "jscode2session",
                "/sns/jscode2session",
                &query,
                None,
                Retry::OnlyIfNotSent,
            )
            .await?;
        let s: SessionAnswer = parse("jscode2session", v)?;
        OpenId::from_wechat(&s.openid)
            .ok_or_else(|| WeChatError::Malformed("jscode2session: bad openid".into()))
    }

    async fn get_verify_id(
        &self,
        out_seq_no: &OutSeqNo,
        name: &PersonName,
        id: &IdCardNumber,
        openid: &OpenId,
    ) -> Result<(VerifyId, i64), WeChatError> {
        let body = json!({
            "out_seq_no": out_seq_no.as_str(),
            "cert_info": {
                "cert_type": "IDENTITY_CARD",
                "cert_name": name.expose(),
                "cert_no": id.expose(),
            },
            "openid": openid.as_str(),
        });
        let v = self
            .with_token(
                "getverifyid",
                "/cityservice/face/identify/getverifyid",
                &body,
                Retry::OnlyIfNotSent,
            )
            .await?;
        let a: VerifyIdAnswer = parse("getverifyid", v)?;
        let id = VerifyId::from_wechat(&a.verify_id)
            .ok_or_else(|| WeChatError::Malformed("getverifyid: bad verify_id".into()))?;
        Ok((id, a.expires_in))
    }

    async fn query_verify_info(
        &self,
        verify_id: &VerifyId,
        out_seq_no: &OutSeqNo,
        cert_hash: &str,
        openid: &OpenId,
    ) -> Result<i64, WeChatError> {
        let body = json!({
            "verify_id": verify_id.as_str(),
            "out_seq_no": out_seq_no.as_str(),
            "cert_hash": cert_hash,
            "openid": openid.as_str(),
        });
        let v = self
            .with_token(
                "queryverifyinfo",
                "/cityservice/face/identify/queryverifyinfo",
                &body,
                Retry::Safe,
            )
            .await?;
        let a: QueryAnswer = parse("queryverifyinfo", v)?;
        Ok(a.verify_ret)
    }

    async fn get_user_id_key(
        &self,
        name: &PersonName,
        id: &IdCardNumber,
        out_seq_no: &OutSeqNo,
    ) -> Result<(UserIdKey, i64), WeChatError> {
        let body = json!({
            "name": name.expose(),
            "id_card_number": id.expose(),
            "out_seq_no": out_seq_no.as_str(),
        });
        let v = self
            .with_token(
                "getuseridkey",
                "/cityservice/face/identify/getuseridkey",
                &body,
                Retry::OnlyIfNotSent,
            )
            .await?;
        let a: UserIdKeyAnswer = parse("getuseridkey", v)?;
        let key = UserIdKey::from_wechat(&a.user_id_key)
            .ok_or_else(|| WeChatError::Malformed("getuseridkey: bad user_id_key".into()))?;
        Ok((key, a.expires_in))
    }

    async fn get_info(
        &self,
        verify_result: &VerifyResultToken,
    ) -> Result<GetInfoEvidence, WeChatError> {
        let body = json!({ "verify_result": verify_result.expose() });
        let v = self
            .with_token(
                "getinfo",
                "/cityservice/face/identify/getinfo",
                &body,
                Retry::Safe,
            )
            .await?;
        let a: GetInfoAnswer = parse("getinfo", v)?;
        Ok(GetInfoEvidence {
            identify_ret: a.identify_ret,
            openid: a.openid,
            user_id_key: a.user_id_key,
            name_utf8_md5: a.name_utf8_md5,
            id_card_number_md5: a.id_card_number_md5,
        })
    }
}
