//! Test hooks under `/__sim/`: they play the kiosk SDK (`getWxpayfaceCode`
//! with `FACE_AUTH`, `getWxpayAuth`) and steer the simulator. A bad hook
//! request is a test bug: 4xx with an explanation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::config::{Padding, ResponseSigner, SimUser};
use crate::crypto::random_bytes;
use crate::faults::FaultRequest;
use crate::state::{FaceSid, Sim};

pub(crate) struct HookError(StatusCode, String);

impl IntoResponse for HookError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> HookError {
    HookError(StatusCode::BAD_REQUEST, msg.into())
}

type HookResult = Result<Json<Value>, HookError>;

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, HookError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid hook request body: {e}")))
}

/// A UUID-shaped random face_sid, as observed from the real SDK.
fn new_face_sid() -> String {
    let h = hex::encode(random_bytes(16));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn mint(sim: &Sim, mut user: SimUser, consented: bool) -> Result<Value, HookError> {
    if user.name.is_empty() || user.credential_id.is_empty() {
        return Err(bad("user needs a name and a credential_id"));
    }
    if user.openid.is_empty() {
        user.openid = format!("oSim{}", hex::encode(random_bytes(12)));
    }
    let face_sid = new_face_sid();
    let openid = user.openid.clone();
    let mut s = sim.lock();
    let expires_at = s.now() + s.config.face_sid_ttl_secs;
    s.face_sids.insert(
        face_sid.clone(),
        FaceSid {
            user,
            expires_at,
            consented,
        },
    );
    Ok(json!({"face_sid": face_sid, "openid": openid, "expires_at": expires_at}))
}

#[derive(Deserialize)]
struct FaceAuthRequest {
    authinfo: String,
    user: SimUser,
}

/// `POST /__sim/face/auth {"authinfo","user"}` → `{"face_sid","openid"}`:
/// `getWxpayfaceCode(FACE_AUTH)` recognising `user` on a kiosk that holds a
/// valid authinfo. The SDK answers `ERROR` for an unknown or expired one.
pub(crate) async fn face_auth(State(sim): State<Sim>, body: Bytes) -> Response {
    let req: FaceAuthRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let valid = {
        let s = sim.lock();
        s.authinfos
            .get(&req.authinfo)
            .is_some_and(|a| a.expires_at > s.now())
    };
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"return_code": "ERROR", "return_msg": "authinfo无效或已过期"})),
        )
            .into_response();
    }
    match mint(&sim, req.user, false) {
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
    let req: ConsentRequest = parse(&body)?;
    let mut s = sim.lock();
    let record = s
        .face_sids
        .get_mut(&req.face_sid)
        .ok_or_else(|| HookError(StatusCode::NOT_FOUND, "unknown face_sid".into()))?;
    record.consented = req.consent;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct MintRequest {
    user: SimUser,
    #[serde(default = "yes")]
    consented: bool,
}

/// `POST /__sim/face/mint {"user","consented"?}` → `{"face_sid","openid"}`:
/// a face_sid without going through an authinfo (consented by default).
pub(crate) async fn face_mint(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: MintRequest = parse(&body)?;
    mint(&sim, req.user, req.consented).map(Json)
}

#[derive(Deserialize)]
struct AuthinfoCheck {
    authinfo: String,
}

/// `POST /__sim/authinfo/check {"authinfo"}` → `{"valid","device_id"?,"store_id"?}`.
pub(crate) async fn authinfo_check(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: AuthinfoCheck = parse(&body)?;
    let s = sim.lock();
    Ok(Json(match s.authinfos.get(&req.authinfo) {
        Some(a) => json!({
            "valid": a.expires_at > s.now(),
            "device_id": a.device_id,
            "store_id": a.store_id,
            "expires_at": a.expires_at,
        }),
        None => json!({"valid": false}),
    }))
}

pub(crate) async fn counters(State(sim): State<Sim>) -> Json<BTreeMap<&'static str, u64>> {
    let s = sim.lock();
    Json(s.counters.iter().map(|(e, n)| (e.name(), *n)).collect())
}

pub(crate) async fn reset_counters(State(sim): State<Sim>) -> Json<Value> {
    sim.lock().counters.values_mut().for_each(|n| *n = 0);
    Json(json!({}))
}

pub(crate) async fn add_fault(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: FaultRequest = parse(&body)?;
    sim.lock().faults.push(req).map_err(bad)?;
    Ok(Json(json!({})))
}

pub(crate) async fn clear_faults(State(sim): State<Sim>) -> Json<Value> {
    sim.lock().faults.clear();
    Json(json!({}))
}

#[derive(Deserialize)]
struct ClockRequest {
    advance_secs: i64,
}

pub(crate) async fn advance_clock(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: ClockRequest = parse(&body)?;
    let mut s = sim.lock();
    s.clock.advance(req.advance_secs).map_err(bad)?;
    Ok(Json(json!({"now": s.now()})))
}

pub(crate) async fn get_clock(State(sim): State<Sim>) -> Json<Value> {
    Json(json!({"now": sim.lock().now()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigPatch {
    authinfo_expires_in: Option<i64>,
    face_sid_ttl_secs: Option<i64>,
    padding: Option<Padding>,
    accept_ask_union_id: Option<bool>,
    response_signer: Option<ResponseSigner>,
}

fn settings(s: &crate::state::Inner) -> Value {
    let c = &s.config;
    json!({
        "authinfo_expires_in": c.authinfo_expires_in,
        "face_sid_ttl_secs": c.face_sid_ttl_secs,
        "padding": c.padding,
        "accept_ask_union_id": c.accept_ask_union_id,
        "response_signer": c.response_signer,
    })
}

/// `POST /__sim/config` with any of the run-time settings → all of them.
pub(crate) async fn set_config(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let p: ConfigPatch = parse(&body)?;
    for v in [p.authinfo_expires_in, p.face_sid_ttl_secs]
        .into_iter()
        .flatten()
    {
        if !(1..=86_400).contains(&v) {
            return Err(bad("lifetimes must be in 1..=86400"));
        }
    }
    let mut s = sim.lock();
    let c = &mut s.config;
    if let Some(v) = p.authinfo_expires_in {
        c.authinfo_expires_in = v;
    }
    if let Some(v) = p.face_sid_ttl_secs {
        c.face_sid_ttl_secs = v;
    }
    if let Some(v) = p.padding {
        c.padding = v;
    }
    if let Some(v) = p.accept_ask_union_id {
        c.accept_ask_union_id = v;
    }
    if let Some(v) = p.response_signer {
        c.response_signer = v;
    }
    Ok(Json(settings(&s)))
}

pub(crate) async fn get_config(State(sim): State<Sim>) -> Json<Value> {
    Json(settings(&sim.lock()))
}
