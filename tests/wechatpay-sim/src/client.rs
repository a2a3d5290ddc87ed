//! A client for the `/__sim/` hooks, for tests in other crates. It panics on
//! transport errors and refused hooks: a loud failure with the simulator's
//! explanation is what a test wants.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use serde_with::skip_serializing_none;

use crate::config::{Padding, ResponseSigner, SimUser};

/// Body of `POST /__sim/faults` (see the fields' docs in the simulator).
#[skip_serializing_none]
#[derive(Debug, Default, Clone, Serialize)]
pub struct Fault {
    /// `authinfo` or `facemch_users`.
    pub endpoint: String,
    pub return_code: Option<String>,
    pub return_msg: Option<String>,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bad_signature: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing_signature: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wrong_serial: bool,
    pub timestamp_skew_secs: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub garble_ciphertext: bool,
    pub delay_ms: Option<u64>,
    pub times: Option<u32>,
}

/// Run-time settings (`POST /__sim/config`); `None` leaves one unchanged.
#[skip_serializing_none]
#[derive(Debug, Default, Clone, Serialize)]
pub struct SimSettings {
    pub authinfo_expires_in: Option<i64>,
    pub face_sid_ttl_secs: Option<i64>,
    pub padding: Option<Padding>,
    pub accept_ask_union_id: Option<bool>,
    pub response_signer: Option<ResponseSigner>,
}

/// What `getWxpayfaceCode(FACE_AUTH)` returns on the kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FaceAuth {
    pub face_sid: String,
    pub openid: String,
}

sim_kit::hook_client! {
    /// Client for a running simulator's hooks; the ones every simulator has
    /// (counters, faults, clock) come from [`HookClient`](sim_kit::HookClient).
    pub struct SimClient("wechatpay-sim");
}

impl SimClient {
    /// `getWxpayfaceCode(FACE_AUTH)` with `authinfo`; `Err` is the SDK's
    /// refusal (e.g. an expired authinfo). The face_sid is not consented yet.
    pub async fn face_auth(&self, authinfo: &str, user: &SimUser) -> Result<FaceAuth, String> {
        let (status, body) = self
            .post(
                "/__sim/face/auth",
                &json!({"authinfo": authinfo, "user": user}),
            )
            .await;
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
        let path = "/__sim/face/mint";
        let body = json!({"user": user, "consented": consented});
        self.decode(path, self.hook(path, &body).await)
    }

    /// Partner mode: a face_sid for `user` at a kiosk of sub-merchant
    /// `sub_mch_id` (one of the configured `sub_merchants`).
    pub async fn mint_face_sid_for(
        &self,
        sub_mch_id: &str,
        user: &SimUser,
        consented: bool,
    ) -> FaceAuth {
        let path = "/__sim/face/mint";
        let body = json!({"user": user, "consented": consented, "sub_mch_id": sub_mch_id});
        self.decode(path, self.hook(path, &body).await)
    }

    /// What `authinfo` is bound to: `{"valid","device_id","store_id",
    /// "expires_at","sub_mch_id"?,"sub_appid"?}`, or `{"valid":false}`.
    pub async fn authinfo_binding(&self, authinfo: &str) -> Value {
        self.hook("/__sim/authinfo/check", &json!({"authinfo": authinfo}))
            .await
    }

    /// Whether the simulator issued `authinfo` and it has not expired.
    pub async fn authinfo_valid(&self, authinfo: &str) -> bool {
        let v = self
            .hook("/__sim/authinfo/check", &json!({"authinfo": authinfo}))
            .await;
        v["valid"].as_bool().unwrap_or(false)
    }

    /// Sets run-time settings; answers all of them.
    pub async fn configure(&self, settings: &SimSettings) -> Value {
        self.hook("/__sim/config", settings).await
    }
}
