//! The WeChat server API over HTTPS (docs/wechat.md §2-§4, §6).
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

use super::http::{self, ReadError};
use super::token::AccessTokens;
use crate::domain::{
    GetInfoEvidence, IdCardNumber, LoginCode, OpenId, OutSeqNo, PersonName, UserIdKey, VerifyId,
    VerifyResultToken,
};
use crate::error::WeChatError;
use crate::ports::{AppSecretsSource, TokenSource, WeChat};
use crate::telemetry::metrics;
use crate::upstream::{Retry, Upstream};

const MAX_ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(100);

/// Plain HTTP to WeChat: one place for timeouts, retries and errcode handling.
#[derive(Clone)]
pub struct WeChatHttp {
    http: reqwest::Client,
    base: String,
}

impl WeChatHttp {
    pub fn new(base: &str, timeout: Duration) -> Result<Self, WeChatError> {
        let http = http::client(timeout)
            .map_err(|e| WeChatError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Sends the request, retries as allowed, and returns the JSON body of an
    /// errcode-0 answer (a missing errcode counts as 0, docs/wechat.md §0; one
    /// that is not an integer makes the answer malformed, never a success).
    async fn call(
        &self,
        upstream: Upstream,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, WeChatError> {
        let started = std::time::Instant::now();
        let result = self.call_with_retries(upstream, query, body).await;
        // A WeChat error answer is not an outage: only unavailability counts.
        let reachable = !matches!(
            result,
            Err(WeChatError::Unavailable(_) | WeChatError::RateLimited(_))
        );
        metrics::upstream_call(upstream, reachable, started.elapsed());
        result
    }

    async fn call_with_retries(
        &self,
        upstream: Upstream,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, WeChatError> {
        let url = format!("{}{}", self.base, upstream.path());
        let retry = upstream.retry();
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
                    WeChatError::Unavailable(http::transport_error(&e).into()),
                ),
                Ok(resp) if resp.status().as_u16() == 429 => (false, WeChatError::RateLimited(429)),
                Ok(resp) if resp.status().is_server_error() => (
                    retry == Retry::Safe,
                    WeChatError::Unavailable(format!("HTTP {}", resp.status().as_u16())),
                ),
                Ok(resp) if !resp.status().is_success() => (
                    false,
                    WeChatError::Malformed(format!("HTTP {}", resp.status().as_u16())),
                ),
                Ok(resp) => match http::read_answer(resp).await {
                    Err(ReadError::Transport(why)) => {
                        (retry == Retry::Safe, WeChatError::Unavailable(why.into()))
                    }
                    Err(ReadError::TooLarge) => {
                        (false, WeChatError::Malformed("answer too large".into()))
                    }
                    Ok(answer) => match judge_answer(&answer.body) {
                        Ok(v) => return Ok(v),
                        Err(e) => (matches!(e, WeChatError::Unavailable(_)), e),
                    },
                },
            };
            tracing::warn!(endpoint = upstream.name(), attempt, error = %err, "WeChat call failed");
            if !retriable || last {
                return Err(err);
            }
            tokio::time::sleep(BACKOFF * attempt).await;
        }
    }
}

/// An errcode-0 answer's JSON; `-1` (busy) is unavailability, any other
/// errcode WeChat's refusal.
fn judge_answer(body: &[u8]) -> Result<Value, WeChatError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| WeChatError::Malformed("body is not JSON".into()))?;
    let errcode = match v.get("errcode") {
        None => 0,
        Some(code) => code
            .as_i64()
            .ok_or_else(|| WeChatError::Malformed("errcode is not an integer".into()))?,
    };
    match errcode {
        0 => Ok(v),
        -1 => Err(WeChatError::Unavailable("errcode -1 (system busy)".into())),
        45009 | 45011 => Err(WeChatError::RateLimited(errcode)),
        errcode => Err(WeChatError::Api {
            errcode,
            errmsg: v
                .get("errmsg")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }),
    }
}

fn parse<T: DeserializeOwned>(endpoint: Upstream, v: Value) -> Result<T, WeChatError> {
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
        let creds = self.secrets.wechat_credentials().await?;
        let body = json!({
            "grant_type": "client_credential",
            "appid": app.appid,
            "secret": creds.appsecret,
            "force_refresh": false,
        });
        let v = self
            .http
            .call(Upstream::StableToken, &[], Some(&body))
            .await?;
        let t: TokenAnswer = parse(Upstream::StableToken, v)?;
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

    /// A face API call (`/cityservice/face/identify/<endpoint>`) with the
    /// access token, its answer as `A`. On a token rejection the token is
    /// replaced and the call sent once more, never more.
    async fn face_call<A: DeserializeOwned>(
        &self,
        endpoint: Upstream,
        body: &Value,
    ) -> Result<A, WeChatError> {
        let send = |token: String| async move {
            let query = [("access_token", token.as_str())];
            self.http.call(endpoint, &query, Some(body)).await
        };
        let token = self.tokens.get().await?;
        let answer = match send(token.clone()).await {
            Err(e) if e.is_token_rejection() => send(self.tokens.replace(&token).await?).await,
            other => other,
        }?;
        parse(endpoint, answer)
    }

    /// A call that issues a handle (never re-sent once it may have arrived:
    /// it would issue another), and the handle with its lifetime.
    async fn issue<T>(
        &self,
        endpoint: Upstream,
        body: &Value,
        from_wechat: fn(&str) -> Option<T>,
    ) -> Result<(T, i64), WeChatError> {
        let a: HandleAnswer = self.face_call(endpoint, body).await?;
        let handle = from_wechat(&a.handle)
            .ok_or_else(|| WeChatError::Malformed(format!("{endpoint}: a malformed handle")))?;
        Ok((handle, a.expires_in))
    }
}

#[derive(Deserialize)]
struct SessionAnswer {
    openid: String,
}

/// What getverifyid and getuseridkey answer: a short-lived handle.
#[derive(Deserialize)]
struct HandleAnswer {
    #[serde(alias = "verify_id", alias = "user_id_key")]
    handle: String,
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
        let creds = self.secrets.wechat_credentials().await?;
        let query = [
            ("appid", app.appid.as_str()),
            ("secret", creds.appsecret.as_str()),
            ("js_code", code.expose()),
            ("grant_type", "authorization_code"),
        ];
        // A code is single use: a timed-out exchange is not sent again.
        let v = self
            .http
            .call(Upstream::Jscode2session, &query, None)
            .await?;
        let s: SessionAnswer = parse(Upstream::Jscode2session, v)?;
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
        self.issue(Upstream::Getverifyid, &body, VerifyId::from_wechat)
            .await
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
        let a: QueryAnswer = self.face_call(Upstream::Queryverifyinfo, &body).await?;
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
        self.issue(Upstream::Getuseridkey, &body, UserIdKey::from_wechat)
            .await
    }

    async fn get_info(
        &self,
        verify_result: &VerifyResultToken,
    ) -> Result<GetInfoEvidence, WeChatError> {
        let body = json!({ "verify_result": verify_result.expose() });
        let a: GetInfoAnswer = self.face_call(Upstream::Getinfo, &body).await?;
        Ok(GetInfoEvidence {
            identify_ret: a.identify_ret,
            openid: a.openid,
            user_id_key: a.user_id_key,
            name_utf8_md5: a.name_utf8_md5,
            id_card_number_md5: a.id_card_number_md5,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_answer_is_judged_without_panicking(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), code in proptest::prelude::any::<i64>()) {
            let _ = judge_answer(&body);
            let answer = format!(r#"{{"errcode":{code},"verify_ret":1}}"#);
            let judged = judge_answer(answer.as_bytes());
            proptest::prop_assert_eq!(judged.is_ok(), code == 0);
        }
    }

    #[test]
    fn only_an_integer_errcode_of_zero_is_success() {
        assert!(
            judge_answer(br#"{"openid":"o"}"#).is_ok(),
            "absent counts as 0"
        );
        assert!(judge_answer(br#"{"errcode":0,"verify_ret":10000}"#).is_ok());
        for fail_open in [
            r#"{"errcode":"0"}"#,
            r#"{"errcode":0.5}"#,
            r#"{"errcode":null}"#,
            r#"{"errcode":[]}"#,
        ] {
            assert!(
                matches!(
                    judge_answer(fail_open.as_bytes()),
                    Err(WeChatError::Malformed(_))
                ),
                "{fail_open}"
            );
        }
        assert!(matches!(
            judge_answer(b"not json"),
            Err(WeChatError::Malformed(_))
        ));
        assert!(matches!(
            judge_answer(br#"{"errcode":-1}"#),
            Err(WeChatError::Unavailable(_))
        ));
        assert!(matches!(
            judge_answer(br#"{"errcode":45011}"#),
            Err(WeChatError::RateLimited(45011))
        ));
        assert!(matches!(
            judge_answer(br#"{"errcode":40029,"errmsg":"invalid code"}"#),
            Err(WeChatError::Api { errcode: 40029, .. })
        ));
    }

    /// A server that answers every request with `answer`, once per connection.
    async fn answering(answer: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut c, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf).await;
                let _ = c.write_all(answer).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_large_answers_are_refused() {
        let redirect = answering(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/elsewhere\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let http = WeChatHttp::new(&redirect, Duration::from_secs(2)).unwrap();
        let r = http.call(Upstream::Getinfo, &[], None).await;
        assert!(
            matches!(r, Err(WeChatError::Malformed(ref m)) if m == "HTTP 302"),
            "{r:?}"
        );
        let huge = answering(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{",
        )
        .await;
        let http = WeChatHttp::new(&huge, Duration::from_secs(2)).unwrap();
        let r = http.call(Upstream::Getinfo, &[], None).await;
        assert!(
            matches!(r, Err(WeChatError::Malformed(ref m)) if m.contains("too large")),
            "{r:?}"
        );
    }
}
