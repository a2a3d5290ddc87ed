//! The router: WeChat Pay's paths, the `/__sim/` hooks, and a request log of
//! method, path and status only (bodies carry personal data; the facemch
//! path carries a face_sid, so it is logged without it).

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::state::Sim;
use crate::{hooks, v2, v3};

pub(crate) fn router(sim: Sim) -> Router {
    let app = Router::new()
        .route("/face/get_wxpayface_authinfo", post(v2::authinfo))
        .route("/v3/facemch/users/{face_sid}", get(v3::users))
        // Counters, faults, clock, config.
        .merge(sim_kit::hook_routes())
        // The kiosk SDK.
        .route("/__sim/face/auth", post(hooks::face_auth))
        .route("/__sim/face/consent", post(hooks::consent))
        .route("/__sim/face/mint", post(hooks::face_mint))
        .route("/__sim/authinfo/check", post(hooks::authinfo_check))
        .fallback(unknown);
    sim_kit::with_request_log(app, redact).with_state(sim)
}

/// The facemch path is logged without its face_sid.
fn redact(path: &str) -> Option<&'static str> {
    path.starts_with("/v3/facemch/users/")
        .then_some("/v3/facemch/users/{face_sid}")
}

async fn unknown() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"code": "NOT_FOUND", "message": "wechatpay-sim: no such path"})),
    )
        .into_response()
}
