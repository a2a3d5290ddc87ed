//! Test hooks under `/__sim/`: they play the device side (wx.login, the face
//! jsapis) and steer the simulator (faults, clock, jitter, config).
//! Bad hook requests are test bugs, so they get a 4xx with an explanation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::client::RunV1;
use crate::faults::{FaultRequest, Jitter};
use crate::state::Sim;

/// A hook refusing a request.
#[derive(Debug)]
pub(crate) struct HookError {
    status: StatusCode,
    message: String,
}

impl HookError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        HookError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        HookError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl IntoResponse for HookError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

pub(crate) type HookResult = Result<Json<Value>, HookError>;

pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, HookError> {
    serde_json::from_slice(body)
        .map_err(|e| HookError::bad_request(format!("invalid hook request body: {e}")))
}

#[derive(Deserialize)]
struct LoginRequest {
    appid: String,
    openid: String,
}

/// `POST /__sim/login {"appid","openid"}` → `{"code"}`: what wx.login gives.
pub(crate) async fn login(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: LoginRequest = parse(&body)?;
    let mut s = sim.lock();
    if !s.apps.contains_key(&req.appid) {
        return Err(HookError::bad_request(format!(
            "unknown appid {:?}",
            req.appid
        )));
    }
    if req.openid.is_empty() {
        return Err(HookError::bad_request("openid is required"));
    }
    let code = s.mint_code(&req.appid, &req.openid);
    Ok(Json(json!({"code": code})))
}

/// `POST /__sim/face/v1/run` → `{"verify_result"}`.
pub(crate) async fn face_v1_run(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: RunV1 = parse(&body)?;
    let (verify_result, push) = sim.lock().run_v1(&req)?;
    // The face_identify event goes out in the background: the jsapi does
    // not wait for WeChat's push to the developer's server.
    if let Some(push) = push {
        crate::push::dispatch(&sim, push);
    }
    Ok(Json(json!({"verify_result": verify_result})))
}

#[derive(Deserialize)]
struct RunV2Request {
    verify_id: String,
    openid: String,
    verify_ret: Option<i64>,
}

/// `POST /__sim/face/v2/run {"verify_id","openid","verify_ret"?}` → `{}`.
pub(crate) async fn face_v2_run(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: RunV2Request = parse(&body)?;
    sim.lock()
        .run_v2(&req.verify_id, &req.openid, req.verify_ret.unwrap_or(10000))?;
    Ok(Json(json!({})))
}

/// `GET /__sim/counters`: calls that reached each WeChat endpoint, plus
/// `push` (event POSTs the simulator sent) and `push_protocol_error`.
pub(crate) async fn counters(State(sim): State<Sim>) -> Json<BTreeMap<&'static str, u64>> {
    let s = sim.lock();
    let mut out: BTreeMap<&'static str, u64> =
        s.counters.iter().map(|(e, n)| (e.name(), *n)).collect();
    out.insert("push", s.push.sent);
    out.insert("push_protocol_error", s.push.protocol_errors);
    Json(out)
}

/// `POST /__sim/counters/reset`.
pub(crate) async fn reset_counters(State(sim): State<Sim>) -> Json<Value> {
    let mut s = sim.lock();
    s.counters.values_mut().for_each(|n| *n = 0);
    s.push.sent = 0;
    s.push.protocol_errors = 0;
    Json(json!({}))
}

/// `POST /__sim/faults`: queue a fault for one endpoint.
pub(crate) async fn add_fault(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: FaultRequest = parse(&body)?;
    sim.lock()
        .faults
        .push(&req)
        .map_err(HookError::bad_request)?;
    Ok(Json(json!({})))
}

/// `DELETE /__sim/faults`: clear every queued fault.
pub(crate) async fn clear_faults(State(sim): State<Sim>) -> Json<Value> {
    sim.lock().faults.clear();
    Json(json!({}))
}

#[derive(Deserialize)]
struct ClockRequest {
    advance_secs: u64,
}

/// `POST /__sim/clock {"advance_secs"}` → `{"now"}`.
pub(crate) async fn advance_clock(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: ClockRequest = parse(&body)?;
    let mut s = sim.lock();
    s.clock
        .advance(req.advance_secs)
        .map_err(HookError::bad_request)?;
    Ok(Json(json!({"now": s.now()})))
}

/// `GET /__sim/clock` → `{"now"}`: the simulated unix time.
pub(crate) async fn get_clock(State(sim): State<Sim>) -> Json<Value> {
    Json(json!({"now": sim.lock().now()}))
}

/// `POST /__sim/jitter {"min_ms","max_ms"}`; zeros turn it off.
pub(crate) async fn set_jitter(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let jitter: Jitter = parse(&body)?;
    jitter.validate().map_err(HookError::bad_request)?;
    sim.lock().jitter = jitter;
    Ok(Json(json!(jitter)))
}

#[derive(Deserialize)]
struct ConfigRequest {
    getinfo_single_use: Option<bool>,
    pending_verify_ret: Option<i64>,
}

/// `POST /__sim/config {"getinfo_single_use"?, "pending_verify_ret"?}` →
/// the whole run-time config.
pub(crate) async fn set_config(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: ConfigRequest = parse(&body)?;
    if req
        .pending_verify_ret
        .is_some_and(|v| v != 10300 && v != 10005)
    {
        return Err(HookError::bad_request(
            "pending_verify_ret must be 10300 or 10005",
        ));
    }
    let mut s = sim.lock();
    if let Some(v) = req.getinfo_single_use {
        s.config.getinfo_single_use = v;
    }
    if let Some(v) = req.pending_verify_ret {
        s.config.pending_verify_ret = v;
    }
    Ok(Json(json!(s.config)))
}

/// `GET /__sim/config`.
pub(crate) async fn get_config(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.lock().config))
}
