//! A client for the `/__sim/` hooks, for tests in other crates. It panics on
//! transport errors and refused hooks: it is test code, and a loud failure
//! with the simulator's explanation is what a test wants.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use serde_with::skip_serializing_none;
use std::time::Duration;

use crate::config::{PushFormat, PushMode};
use crate::push::PushAttempt;

/// Body of `POST /__sim/face/v1/run`: one `wx.startFacialRecognitionVerify`.
#[skip_serializing_none]
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RunV1 {
    pub appid: String,
    pub openid: String,
    /// Use the name/ID stored by getuseridkey (userIdKey mode).
    #[serde(default)]
    pub user_id_key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub id_card_number: Option<String>,
    /// Default 0 (pass).
    #[serde(default)]
    pub identify_ret: Option<i64>,
    /// Name the md5 is computed from, to simulate a mismatch.
    #[serde(default)]
    pub verified_name: Option<String>,
    /// ID the md5 is computed from, to simulate a mismatch.
    #[serde(default)]
    pub verified_id: Option<String>,
}

/// Body of `POST /__sim/faults`.
#[skip_serializing_none]
#[derive(Debug, Default, Clone, Serialize)]
pub struct Fault {
    /// `token`, `stable_token`, `jscode2session`, `getuseridkey`, `getinfo`,
    /// `getverifyid` or `queryverifyinfo`.
    pub endpoint: String,
    /// Answer HTTP 200 with this errcode.
    pub errcode: Option<i64>,
    /// Answer this HTTP status with a plain body.
    pub status: Option<u16>,
    /// Wait this long first (alone: a slow but normal answer).
    pub delay_ms: Option<u64>,
    /// For the next `times` calls; `None` = until cleared.
    pub times: Option<u32>,
}

/// The answer of `POST /__sim/push/verify`: the GET handshake (docs/wechat.md §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushVerification {
    /// 2xx and a body of exactly `echostr`.
    pub ok: bool,
    pub status: Option<u16>,
    pub reply: Option<String>,
    pub echostr: String,
    /// `timeout` or the transport error.
    pub error: Option<String>,
    /// The URL requested, with its query.
    pub url: String,
}

sim_kit::hook_client! {
    /// Client for a running simulator's hooks; the ones every simulator has
    /// (counters, faults, clock) come from [`HookClient`](sim_kit::HookClient).
    pub struct SimClient("wechat-sim");
}

impl SimClient {
    fn string_field(body: &Value, field: &str, path: &str) -> String {
        body.get(field)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("wechat-sim {path}: no {field} in {body}"))
            .to_owned()
    }

    /// What `wx.login` returns on the user's device.
    pub async fn login(&self, appid: &str, openid: &str) -> String {
        let body = self
            .hook("/__sim/login", &json!({"appid": appid, "openid": openid}))
            .await;
        Self::string_field(&body, "code", "/__sim/login")
    }

    /// Runs a 1.0 face check; returns the jsapi's verifyResult.
    pub async fn run_v1(&self, req: &RunV1) -> String {
        let body = self.hook("/__sim/face/v1/run", req).await;
        Self::string_field(&body, "verify_result", "/__sim/face/v1/run")
    }

    /// Runs a 2.0 face check. `Err` carries the simulator's explanation
    /// (e.g. the openid is not the verify_id's).
    pub async fn run_v2(
        &self,
        verify_id: &str,
        openid: &str,
        verify_ret: i64,
    ) -> Result<(), String> {
        let (status, body) = self
            .post(
                "/__sim/face/v2/run",
                &json!({"verify_id": verify_id, "openid": openid, "verify_ret": verify_ret}),
            )
            .await;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            let msg = body
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| body.to_string(), str::to_owned);
            Err(format!("{status}: {msg}"))
        }
    }

    /// A random delay in `min_ms..=max_ms` on every WeChat endpoint; `(0, 0)`
    /// turns it off.
    pub async fn set_jitter(&self, min_ms: u64, max_ms: u64) {
        self.hook(
            "/__sim/jitter",
            &json!({"min_ms": min_ms, "max_ms": max_ms}),
        )
        .await;
    }

    /// Makes a second getinfo on the same verify_result answer 84001.
    pub async fn set_getinfo_single_use(&self, on: bool) {
        self.hook("/__sim/config", &json!({"getinfo_single_use": on}))
            .await;
    }

    /// verify_ret of queryverifyinfo before the face run: 10300 (default)
    /// or 10005.
    pub async fn set_pending_verify_ret(&self, verify_ret: i64) {
        self.hook("/__sim/config", &json!({"pending_verify_ret": verify_ret}))
            .await;
    }

    /// Sets an app's push URL, mode and format (`POST /__sim/push/config`).
    pub async fn configure_push(&self, appid: &str, url: &str, mode: PushMode, format: PushFormat) {
        self.hook(
            "/__sim/push/config",
            &json!({"appid": appid, "url": url, "mode": mode, "format": format}),
        )
        .await;
    }

    /// Clears an app's push URL: face events are no longer pushed.
    pub async fn disable_push(&self, appid: &str) {
        self.hook("/__sim/push/config", &json!({"appid": appid, "url": null}))
            .await;
    }

    /// The GET URL handshake against the app's push URL; true when the
    /// server echoed `echostr`.
    pub async fn verify_push_url(&self, appid: &str) -> bool {
        self.verify_push_url_details(appid).await.ok
    }

    /// The GET URL handshake with everything the simulator saw.
    pub async fn verify_push_url_details(&self, appid: &str) -> PushVerification {
        let path = "/__sim/push/verify";
        self.decode(path, self.hook(path, &json!({"appid": appid})).await)
    }

    /// Every push attempt so far, oldest first.
    pub async fn push_log(&self) -> Vec<PushAttempt> {
        let path = "/__sim/push/log";
        self.decode(path, self.get(path).await)
    }

    /// Polls the push log until it holds at least `n` attempts (pushes run
    /// in the background); panics with the log after `timeout`.
    pub async fn wait_for_push_log(&self, n: usize, timeout: Duration) -> Vec<PushAttempt> {
        sim_kit::poll_until(timeout, || self.push_log(), |log| log.len() >= n)
            .await
            .unwrap_or_else(|log| {
                panic!(
                    "wechat-sim: {} push attempt(s) after {timeout:?}, expected {n}: {log:#?}",
                    log.len()
                )
            })
    }

    /// Re-sends logged push `index` byte for byte, once; returns the new
    /// log entry (kind `Replay`) with the receiver's answer.
    pub async fn replay_push(&self, index: usize) -> PushAttempt {
        let path = "/__sim/push/replay";
        self.decode(path, self.hook(path, &json!({"index": index})).await)
    }

    /// Push faults: deliver every event twice, and/or wait `delay_ms` before
    /// each delivery. `(false, 0)` turns them off.
    pub async fn set_push_faults(&self, duplicate: bool, delay_ms: u64) {
        self.hook(
            "/__sim/push/faults",
            &json!({"duplicate": duplicate, "delay_ms": delay_ms}),
        )
        .await;
    }
}
