//! The router: WeChat's paths exactly, the `/__sim/` hooks, and a request
//! log of method, path, status and errcode only (queries carry secrets and
//! tokens, bodies carry names and ID numbers).

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodRouter, get, post};

use crate::state::Sim;
use crate::wx::{require_get, require_post, unknown_path};
use crate::{face, hooks, push, session, tokens};

/// A WeChat GET endpoint; other methods answer 43001 like WeChat.
fn wx_get<H: Handler<T, Sim>, T: 'static>(handler: H) -> MethodRouter<Sim> {
    get(handler).fallback(require_get)
}

/// A WeChat POST endpoint; other methods answer 43002 like WeChat.
fn wx_post<H: Handler<T, Sim>, T: 'static>(handler: H) -> MethodRouter<Sim> {
    post(handler).fallback(require_post)
}

pub(crate) fn router(sim: Sim) -> Router {
    let app = wechat_api()
        // Counters, faults, clock, config.
        .merge(sim_kit::hook_routes())
        // The user's device (wx.login, the face jsapis), and jitter.
        .route("/__sim/login", post(hooks::login))
        .route("/__sim/face/v1/run", post(hooks::face_v1_run))
        .route("/__sim/face/v2/run", post(hooks::face_v2_run))
        .route("/__sim/jitter", post(hooks::set_jitter))
        .merge(push::hooks())
        .fallback(unknown_path);
    sim_kit::with_request_log(app, |_| None).with_state(sim)
}

/// WeChat's paths exactly.
fn wechat_api() -> Router<Sim> {
    Router::new()
        .route("/cgi-bin/token", wx_get(tokens::get_token))
        .route("/cgi-bin/stable_token", wx_post(tokens::stable_token))
        .route("/sns/jscode2session", wx_get(session::jscode2session))
        .route(
            "/cityservice/face/identify/getuseridkey",
            wx_post(face::getuseridkey),
        )
        .route("/cityservice/face/identify/getinfo", wx_post(face::getinfo))
        .route(
            "/cityservice/face/identify/getverifyid",
            wx_post(face::getverifyid),
        )
        .route(
            "/cityservice/face/identify/queryverifyinfo",
            wx_post(face::queryverifyinfo),
        )
}
