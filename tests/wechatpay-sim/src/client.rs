//! A client for the `/__sim/` hooks, for tests in other crates. It panics on
//! transport errors and refused hooks: a loud failure with the simulator's
//! explanation is what a test wants.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::config::{Padding, ResponseSigner, SimUser};

/// Body of `POST /__sim/faults` (see the fields' docs in the simulator).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Fault {
    /// `authinfo` or `facemch_users`.
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bad_signature: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing_signature: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wrong_serial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_skew_secs: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub garble_ciphertext: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// Run-time settings (`POST /__sim/config`); `None` leaves one unchanged.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SimSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authinfo_expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_sid_ttl_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub padding: Option<Padding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_ask_union_id: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_signer: Option<ResponseSigner>,
}

/// What `getWxpayfaceCode(FACE_AUTH)` returns on the kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FaceAuth {
    pub face_sid: String,
    pub openid: String,
}

#[derive(Debug, Clone)]
pub struct SimClient {
    base_url: String,
    http: reqwest::Client,
}

impl SimClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        SimClient {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                // Loopback: an HTTP(S)_PROXY must not capture it.
                .no_proxy()
                .build()
                .expect("building the simulator hook client"),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("wechatpay-sim {what}: {e}"));
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .unwrap_or_else(|e| panic!("wechatpay-sim {what}: {e}"));
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn hook(&self, path: &str, body: &impl Serialize) -> Value {
        let req = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body);
        let (status, body) = self.send(req, path).await;
        assert!(
            (200..300).contains(&status),
            "wechatpay-sim {path} refused ({status}): {body}"
        );
        body
    }

    async fn get(&self, path: &str) -> Value {
        let req = self.http.get(format!("{}{path}", self.base_url));
        let (status, body) = self.send(req, path).await;
        assert_eq!(status, 200, "wechatpay-sim {path}: {body}");
        body
    }

    /// `getWxpayfaceCode(FACE_AUTH)` with `authinfo`; `Err` is the SDK's
    /// refusal (e.g. an expired authinfo). The face_sid is not consented yet.
    pub async fn face_auth(&self, authinfo: &str, user: &SimUser) -> Result<FaceAuth, String> {
        let req = self
            .http
            .post(format!("{}/__sim/face/auth", self.base_url))
            .json(&json!({"authinfo": authinfo, "user": user}));
        let (status, body) = self.send(req, "/__sim/face/auth").await;
        if status == 200 {
            serde_json::from_value(body.clone()).map_err(|e| format!("{e}: {body}"))
        } else {
            Err(body.to_string())
        }
    }

    /// `getWxpayAuth`: the user agrees (or refuses) to share real-name data.
    pub async fn consent(&self, face_sid: &str, consent: bool) {
        self.hook(
            "/__sim/face/consent",
            &json!({"face_sid": face_sid, "consent": consent}),
        )
        .await;
    }

    /// A face_sid for `user`, without an authinfo round.
    pub async fn mint_face_sid(&self, user: &SimUser, consented: bool) -> FaceAuth {
        let v = self
            .hook(
                "/__sim/face/mint",
                &json!({"user": user, "consented": consented}),
            )
            .await;
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
    }

    /// Whether the simulator issued `authinfo` and it has not expired.
    pub async fn authinfo_valid(&self, authinfo: &str) -> bool {
        let v = self
            .hook("/__sim/authinfo/check", &json!({"authinfo": authinfo}))
            .await;
        v["valid"].as_bool().unwrap_or(false)
    }

    /// Calls per endpoint (`authinfo`, `facemch_users`).
    pub async fn counters(&self) -> BTreeMap<String, u64> {
        let v = self.get("/__sim/counters").await;
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
    }

    pub async fn count(&self, endpoint: &str) -> u64 {
        self.counters().await.get(endpoint).copied().unwrap_or(0)
    }

    pub async fn reset_counters(&self) {
        self.hook("/__sim/counters/reset", &json!({})).await;
    }

    pub async fn inject(&self, fault: &Fault) {
        self.hook("/__sim/faults", fault).await;
    }

    /// Queues a fault and returns the simulator's refusal instead of panicking.
    pub async fn try_inject(&self, fault: &Value) -> Result<(), String> {
        let req = self
            .http
            .post(format!("{}/__sim/faults", self.base_url))
            .json(fault);
        match self.send(req, "/__sim/faults").await {
            (200, _) => Ok(()),
            (s, body) => Err(format!("{s}: {body}")),
        }
    }

    pub async fn clear_faults(&self) {
        let req = self.http.delete(format!("{}/__sim/faults", self.base_url));
        let (status, body) = self.send(req, "DELETE /__sim/faults").await;
        assert_eq!(status, 200, "wechatpay-sim DELETE /__sim/faults: {body}");
    }

    pub async fn advance_clock(&self, secs: i64) {
        self.hook("/__sim/clock", &json!({"advance_secs": secs}))
            .await;
    }

    pub async fn now(&self) -> i64 {
        let v = self.get("/__sim/clock").await;
        v["now"]
            .as_i64()
            .unwrap_or_else(|| panic!("/__sim/clock: {v}"))
    }

    pub async fn configure(&self, settings: &SimSettings) -> Value {
        self.hook("/__sim/config", settings).await
    }
}
