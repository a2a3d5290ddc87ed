//! `wx.login` codes and `GET /sns/jscode2session` (§6): codes are minted by
//! the login hook, live 300 s and work once.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::crypto::{random_b64, random_hex};
use crate::state::{Endpoint, Inner, Sim};
use crate::wx::{WxError, bare_ok, code, param, query_params};

/// "用户登录凭证（有效期五分钟）".
pub(crate) const CODE_TTL_SECS: u64 = 300;

#[derive(Debug, Clone)]
pub(crate) struct LoginCode {
    appid: String,
    openid: String,
    expires_at: u64,
}

impl Inner {
    /// What `wx.login` does on the device: a fresh code for this user.
    pub(crate) fn mint_code(&mut self, appid: &str, openid: &str) -> String {
        let code = random_hex::<16>();
        let expires_at = self.now() + CODE_TTL_SECS;
        self.codes.insert(
            code.clone(),
            LoginCode {
                appid: appid.to_owned(),
                openid: openid.to_owned(),
                expires_at,
            },
        );
        code
    }
}

/// `GET /sns/jscode2session?appid=..&secret=..&js_code=..&grant_type=authorization_code`
pub(crate) async fn jscode2session(State(sim): State<Sim>, uri: Uri) -> Response {
    if let Some(r) = sim.enter(Endpoint::Jscode2Session).await {
        return r;
    }
    let q = query_params(&uri);
    let mut s = sim.lock();
    if param(&q, "grant_type") != Some("authorization_code") {
        return WxError::code(code::INVALID_GRANT_TYPE).into_response();
    }
    let appid = match s.check_credentials(param(&q, "appid"), param(&q, "secret")) {
        Ok(app) => app.appid.clone(),
        Err(e) => return e.into_response(),
    };
    let Some(js_code) = param(&q, "js_code") else {
        return WxError::code(code::CODE_MISSING).into_response();
    };
    // Another app's code is not this app's to consume.
    if s.codes.get(js_code).is_none_or(|c| c.appid != appid) {
        return WxError::code(code::INVALID_CODE).into_response();
    }
    let now = s.now();
    match s.codes.remove(js_code) {
        Some(c) if now < c.expires_at => bare_ok(json!({
            "openid": c.openid,
            "session_key": random_b64::<16>(),
        })),
        _ => WxError::code(code::INVALID_CODE).into_response(),
    }
}
