//! The router: WeChat's paths exactly, the `/__sim/` hooks, and a request
//! log of method, path and status only (queries carry secrets and tokens,
//! bodies carry names and ID numbers).

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::state::Sim;
use crate::wx::{LoggedErrcode, require_get, require_post, unknown_path};
use crate::{face, hooks, push, session, tokens};

pub(crate) fn router(sim: Sim) -> Router {
    Router::new()
        .route(
            "/cgi-bin/token",
            get(tokens::get_token).fallback(require_get),
        )
        .route(
            "/cgi-bin/stable_token",
            post(tokens::stable_token).fallback(require_post),
        )
        .route(
            "/sns/jscode2session",
            get(session::jscode2session).fallback(require_get),
        )
        .route(
            "/cityservice/face/identify/getuseridkey",
            post(face::getuseridkey).fallback(require_post),
        )
        .route(
            "/cityservice/face/identify/getinfo",
            post(face::getinfo).fallback(require_post),
        )
        .route(
            "/cityservice/face/identify/getverifyid",
            post(face::getverifyid).fallback(require_post),
        )
        .route(
            "/cityservice/face/identify/queryverifyinfo",
            post(face::queryverifyinfo).fallback(require_post),
        )
        .route("/__sim/login", post(hooks::login))
        .route("/__sim/face/v1/run", post(hooks::face_v1_run))
        .route("/__sim/face/v2/run", post(hooks::face_v2_run))
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
        .route("/__sim/jitter", post(hooks::set_jitter))
        .route(
            "/__sim/config",
            post(hooks::set_config).get(hooks::get_config),
        )
        .route("/__sim/push/config", post(push::set_config))
        .route("/__sim/push/verify", post(push::verify))
        .route("/__sim/push/log", get(push::log))
        .route("/__sim/push/replay", post(push::replay))
        .route("/__sim/push/faults", post(push::set_faults))
        .fallback(unknown_path)
        .layer(middleware::from_fn(log_request))
        .with_state(sim)
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    match resp.extensions().get::<LoggedErrcode>() {
        Some(LoggedErrcode(errcode)) => {
            tracing::info!("{method} {path} {status} errcode={errcode}")
        }
        None => tracing::info!("{method} {path} {status}"),
    }
    resp
}
