//! The `/__sim/` hooks every simulator has: counters, faults and the clock.
//! A bad hook request is a test bug, so it gets a 4xx with an explanation.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::state::{Core, FaultSpec};

/// A hook refusing a request: `{"error": message}`.
#[derive(Debug)]
pub struct HookError {
    status: StatusCode,
    message: String,
}

impl HookError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        HookError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
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

pub type HookResult = Result<Json<Value>, HookError>;

/// A hook's JSON body.
pub fn parse_hook<T: DeserializeOwned>(body: &Bytes) -> Result<T, HookError> {
    serde_json::from_slice(body)
        .map_err(|e| HookError::bad_request(format!("invalid hook request body: {e}")))
}

/// A simulator's state handle, as the shared hooks need it.
pub trait Simulator: Clone + Send + Sync + 'static {
    type Faults: FaultSpec;
    /// The body of `POST /__sim/config`: the run-time settings to change.
    type Settings: DeserializeOwned + Send;

    /// Every run-time setting, as `GET /__sim/config` answers.
    fn settings(&self) -> Value;

    /// Applies a `POST /__sim/config` body and answers every setting; the
    /// error explains a refusal.
    fn configure(&self, change: Self::Settings) -> Result<Value, String>;

    /// Runs `f` on the core under the simulator's lock.
    fn with_core<R>(&self, f: impl FnOnce(&mut Core<Self::Faults>) -> R) -> R;
}

/// `GET /__sim/counters`, `POST /__sim/counters/reset`,
/// `POST|DELETE /__sim/faults`, `POST|GET /__sim/clock`,
/// `POST|GET /__sim/config`.
pub fn hook_routes<S: Simulator>() -> Router<S> {
    Router::new()
        .route("/__sim/counters", get(counters::<S>))
        .route("/__sim/counters/reset", post(reset_counters::<S>))
        .route(
            "/__sim/faults",
            post(add_fault::<S>).delete(clear_faults::<S>),
        )
        .route("/__sim/clock", post(advance_clock::<S>).get(get_clock::<S>))
        .route("/__sim/config", post(set_config::<S>).get(get_config::<S>))
}

/// Calls that reached each endpoint (faulted ones included).
async fn counters<S: Simulator>(State(sim): State<S>) -> Json<BTreeMap<&'static str, u64>> {
    Json(sim.with_core(|c| c.counters.snapshot()))
}

async fn reset_counters<S: Simulator>(State(sim): State<S>) -> Json<Value> {
    sim.with_core(|c| c.counters.reset());
    Json(json!({}))
}

/// Queues a fault for one endpoint.
async fn add_fault<S: Simulator>(State(sim): State<S>, body: Bytes) -> HookResult {
    let req = parse_hook(&body)?;
    sim.with_core(|c| c.add_fault(req))
        .map_err(HookError::bad_request)?;
    Ok(Json(json!({})))
}

/// Clears every queued fault.
async fn clear_faults<S: Simulator>(State(sim): State<S>) -> Json<Value> {
    sim.with_core(|c| c.faults.clear());
    Json(json!({}))
}

#[derive(Deserialize)]
struct ClockRequest {
    advance_secs: i64,
}

/// `{"advance_secs"}` → `{"now"}`.
async fn advance_clock<S: Simulator>(State(sim): State<S>, body: Bytes) -> HookResult {
    let req: ClockRequest = parse_hook(&body)?;
    let now = sim
        .with_core(|c| c.clock.advance(req.advance_secs).map(|()| c.now()))
        .map_err(HookError::bad_request)?;
    Ok(Json(json!({"now": now})))
}

/// `{"now"}`: the simulated unix time.
async fn get_clock<S: Simulator>(State(sim): State<S>) -> Json<Value> {
    Json(json!({"now": sim.with_core(|c| c.now())}))
}

async fn set_config<S: Simulator>(State(sim): State<S>, body: Bytes) -> HookResult {
    let change = parse_hook(&body)?;
    let settings = sim.configure(change).map_err(HookError::bad_request)?;
    Ok(Json(settings))
}

async fn get_config<S: Simulator>(State(sim): State<S>) -> Json<Value> {
    Json(sim.settings())
}
