//! Test hooks under `/__sim/` of this simulator: they play the device side
//! (wx.login, the face jsapis) and steer jitter; counters, faults, the clock
//! and the config are sim-kit's, on this simulator's state. Bad hook
//! requests are test bugs, so they get a 4xx with an explanation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use sim_kit::{Core, HookError, HookResult, Simulator, parse_hook};

use crate::client::RunV1;
use crate::faults::{Jitter, WxFault};
use crate::state::Sim;

#[derive(Deserialize)]
struct LoginRequest {
    appid: String,
    openid: String,
}

/// `POST /__sim/login {"appid","openid"}` → `{"code"}`: what wx.login gives.
pub(crate) async fn login(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: LoginRequest = parse_hook(&body)?;
    let mut s = sim.lock();
    s.check_device_user(&req.appid, &req.openid)?;
    let code = s.mint_code(&req.appid, &req.openid);
    Ok(Json(json!({"code": code})))
}

/// `POST /__sim/face/v1/run` → `{"verify_result"}`.
pub(crate) async fn face_v1_run(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: RunV1 = parse_hook(&body)?;
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
    let req: RunV2Request = parse_hook(&body)?;
    sim.lock()
        .run_v2(&req.verify_id, &req.openid, req.verify_ret.unwrap_or(10000))?;
    Ok(Json(json!({})))
}

/// `POST /__sim/jitter {"min_ms","max_ms"}`; zeros turn it off.
pub(crate) async fn set_jitter(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let jitter: Jitter = parse_hook(&body)?;
    jitter.validate().map_err(HookError::bad_request)?;
    sim.lock().jitter = jitter;
    Ok(Json(json!(jitter)))
}

#[derive(Deserialize)]
pub(crate) struct ConfigRequest {
    getinfo_single_use: Option<bool>,
    pending_verify_ret: Option<i64>,
}

impl Simulator for Sim {
    type Faults = WxFault;
    type Settings = ConfigRequest;

    fn settings(&self) -> Value {
        json!(self.lock().config)
    }

    /// `{"getinfo_single_use"?, "pending_verify_ret"?}`.
    fn configure(&self, req: ConfigRequest) -> Result<Value, String> {
        if req
            .pending_verify_ret
            .is_some_and(|v| v != 10300 && v != 10005)
        {
            return Err("pending_verify_ret must be 10300 or 10005".into());
        }
        let c = &mut self.lock().config;
        c.getinfo_single_use = req.getinfo_single_use.unwrap_or(c.getinfo_single_use);
        c.pending_verify_ret = req.pending_verify_ret.unwrap_or(c.pending_verify_ret);
        Ok(json!(c))
    }

    fn with_core<R>(&self, f: impl FnOnce(&mut Core<WxFault>) -> R) -> R {
        f(&mut self.lock().core)
    }
}
