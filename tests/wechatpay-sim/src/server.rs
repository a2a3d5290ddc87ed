//! The router: WeChat Pay's paths, the `/__sim/` hooks, and a request log of
//! method, path and status only (bodies carry personal data; the facemch
//! path carries a face_sid, so it is logged without it).

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::state::Sim;
use crate::{hooks, v2, v3};

pub(crate) fn router(sim: Sim) -> Router {
    Router::new()
        .route("/face/get_wxpayface_authinfo", post(v2::authinfo))
        .route("/v3/facemch/users/{face_sid}", get(v3::users))
        .route("/__sim/face/auth", post(hooks::face_auth))
        .route("/__sim/face/consent", post(hooks::consent))
        .route("/__sim/face/mint", post(hooks::face_mint))
        .route("/__sim/authinfo/check", post(hooks::authinfo_check))
        .route("/__sim/counters", get(hooks::counters))
        .route("/__sim/counters/reset", post(hooks::reset_counters))
        .route(
            "/__sim/faults",
            post(hooks::add_fault).delete(hooks::clear_faults),
        )
        .route(
            "/__sim/clock",
            post(hooks::advance_clock).get(hooks::get_clock),
        )
        .route(
            "/__sim/config",
            post(hooks::set_config).get(hooks::get_config),
        )
        .fallback(unknown)
        .layer(middleware::from_fn(log_request))
        .with_state(sim)
}

async fn unknown() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"code": "NOT_FOUND", "message": "wechatpay-sim: no such path"})),
    )
        .into_response()
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path();
    let path = if path.starts_with("/v3/facemch/users/") {
        "/v3/facemch/users/{face_sid}".to_owned()
    } else {
        path.to_owned()
    };
    let resp = next.run(req).await;
    tracing::info!("{method} {path} {}", resp.status().as_u16());
    resp
}
