//! Test hooks under `/__sim/` of this simulator: they play the kiosk SDK
//! (`getWxpayfaceCode` with `FACE_AUTH`, `getWxpayAuth`); counters, faults,
//! the clock and the run-time config are sim-kit's, on this simulator's
//! state. A bad hook request is a test bug: 4xx with an explanation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sim_kit::{Core, HookError, HookResult, Simulator, parse_hook, random_hex, random_uuid};

use crate::config::{Padding, PaySimConfig, ResponseSigner, SimUser};
use crate::faults::FaultAction;
use crate::state::{FaceSid, Sim};

/// A face_sid for `user`, for the sub-merchant `sub_mch_id` (partner mode)
/// or the merchant itself (`None`).
fn mint(
    sim: &Sim,
    mut user: SimUser,
    consented: bool,
    sub_mch_id: Option<String>,
) -> Result<Value, HookError> {
    if user.name.is_empty() || user.credential_id.is_empty() {
        return Err(HookError::bad_request(
            "user needs a name and a credential_id",
        ));
    }
    if user.openid.is_empty() {
        user.openid = format!("oSim{}", random_hex(12));
    }
    // UUID-shaped, as observed from the real SDK.
    let face_sid = random_uuid();
    let openid = user.openid.clone();
    let mut s = sim.lock();
    let expires_at = s.now() + s.config.face_sid_ttl_secs;
    let mut answer = json!({"face_sid": face_sid, "openid": openid, "expires_at": expires_at});
    if let Some(id) = &sub_mch_id {
        answer["sub_mch_id"] = json!(id);
    }
    s.face_sids.insert(
        face_sid,
        FaceSid {
            user,
            expires_at,
            consented,
            sub_mch_id,
        },
    );
    Ok(answer)
}

#[derive(Deserialize)]
struct FaceAuthRequest {
    authinfo: String,
    user: SimUser,
}

/// `POST /__sim/face/auth {"authinfo","user"}` → `{"face_sid","openid","sub_mch_id"?}`:
/// `getWxpayfaceCode(FACE_AUTH)` recognising `user` on a kiosk that holds a
/// valid authinfo. The SDK answers `ERROR` for an unknown or expired one.
pub(crate) async fn face_auth(State(sim): State<Sim>, body: Bytes) -> Response {
    let req: FaceAuthRequest = match parse_hook(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // The face_sid belongs to the sub-merchant the authinfo was issued for.
    let issued_for = {
        let s = sim.lock();
        s.authinfos
            .get(&req.authinfo)
            .filter(|a| a.expires_at > s.now())
            .map(|a| a.sub_mch_id.clone())
    };
    let Some(sub_mch_id) = issued_for else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"return_code": "ERROR", "return_msg": "authinfo无效或已过期"})),
        )
            .into_response();
    };
    match mint(&sim, req.user, false, sub_mch_id) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ConsentRequest {
    face_sid: String,
    #[serde(default = "yes")]
    consent: bool,
}

fn yes() -> bool {
    true
}

/// `POST /__sim/face/consent {"face_sid","consent"?}`: `getWxpayAuth`, the
/// user agreeing (or not) to share their real-name information.
pub(crate) async fn consent(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: ConsentRequest = parse_hook(&body)?;
    let mut s = sim.lock();
    let record = s
        .face_sids
        .get_mut(&req.face_sid)
        .ok_or_else(|| HookError::not_found("unknown face_sid"))?;
    record.consented = req.consent;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct MintRequest {
    user: SimUser,
    #[serde(default = "yes")]
    consented: bool,
    /// Partner mode: the sub-merchant the face_sid is for.
    #[serde(default)]
    sub_mch_id: Option<String>,
}

/// `POST /__sim/face/mint {"user","consented"?,"sub_mch_id"?}` →
/// `{"face_sid","openid"}`: a face_sid without going through an authinfo
/// (consented by default), for a configured sub-merchant if one is named.
pub(crate) async fn face_mint(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: MintRequest = parse_hook(&body)?;
    if let Some(id) = &req.sub_mch_id
        && sim.lock().config.sub_merchant(id).is_none()
    {
        return Err(HookError::bad_request(
            "sub_mch_id is not a configured sub-merchant",
        ));
    }
    mint(&sim, req.user, req.consented, req.sub_mch_id).map(Json)
}

#[derive(Deserialize)]
struct AuthinfoCheck {
    authinfo: String,
}

/// `POST /__sim/authinfo/check {"authinfo"}` →
/// `{"valid","device_id"?,"store_id"?,"sub_mch_id"?,"sub_appid"?}`.
pub(crate) async fn authinfo_check(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: AuthinfoCheck = parse_hook(&body)?;
    let s = sim.lock();
    Ok(Json(match s.authinfos.get(&req.authinfo) {
        Some(a) => {
            let mut v = json!({
                "valid": a.expires_at > s.now(),
                "device_id": a.device_id,
                "store_id": a.store_id,
                "expires_at": a.expires_at,
            });
            if let Some(id) = &a.sub_mch_id {
                v["sub_mch_id"] = json!(id);
            }
            if let Some(id) = &a.sub_appid {
                v["sub_appid"] = json!(id);
            }
            v
        }
        None => json!({"valid": false}),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigPatch {
    authinfo_expires_in: Option<i64>,
    face_sid_ttl_secs: Option<i64>,
    padding: Option<Padding>,
    accept_ask_union_id: Option<bool>,
    response_signer: Option<ResponseSigner>,
}

/// The run-time settings, as `/__sim/config` answers them.
fn settings(c: &PaySimConfig) -> Value {
    json!({
        "authinfo_expires_in": c.authinfo_expires_in,
        "face_sid_ttl_secs": c.face_sid_ttl_secs,
        "padding": c.padding,
        "accept_ask_union_id": c.accept_ask_union_id,
        "response_signer": c.response_signer,
    })
}

impl Simulator for Sim {
    type Faults = FaultAction;
    type Settings = ConfigPatch;

    fn settings(&self) -> Value {
        settings(&self.lock().config)
    }

    /// Any of the run-time settings; absent ones are unchanged.
    fn configure(&self, p: ConfigPatch) -> Result<Value, String> {
        let lifetimes = [p.authinfo_expires_in, p.face_sid_ttl_secs];
        if lifetimes
            .into_iter()
            .flatten()
            .any(|v| !(1..=86_400).contains(&v))
        {
            return Err("lifetimes must be in 1..=86400".into());
        }
        let c = &mut self.lock().config;
        c.authinfo_expires_in = p.authinfo_expires_in.unwrap_or(c.authinfo_expires_in);
        c.face_sid_ttl_secs = p.face_sid_ttl_secs.unwrap_or(c.face_sid_ttl_secs);
        c.padding = p.padding.unwrap_or(c.padding);
        c.accept_ask_union_id = p.accept_ask_union_id.unwrap_or(c.accept_ask_union_id);
        c.response_signer = p.response_signer.unwrap_or(c.response_signer);
        Ok(settings(c))
    }

    fn with_core<R>(&self, f: impl FnOnce(&mut Core<FaultAction>) -> R) -> R {
        f(&mut self.lock().core)
    }
}
