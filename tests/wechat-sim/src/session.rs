//! `wx.login` codes and `GET /sns/jscode2session` (docs/wechat.md §6): codes are minted by
//! the login hook, live 300 s and work once.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde_json::{Value, json};
use sim_kit::random_hex;
use std::collections::HashMap;

use crate::crypto::random_b64;
use crate::state::{Endpoint, Inner, Sim};
use crate::wx::{WxError, bare, code, param, query_params};

/// "用户登录凭证（有效期五分钟）".
pub(crate) const CODE_TTL_SECS: i64 = 300;

#[derive(Debug, Clone)]
pub(crate) struct LoginCode {
    appid: String,
    openid: String,
    expires_at: i64,
}

impl Inner {
    /// What `wx.login` does on the device: a fresh code for this user.
    pub(crate) fn mint_code(&mut self, appid: &str, openid: &str) -> String {
        let code = random_hex(16);
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

    fn jscode2session(&mut self, query: &HashMap<String, String>) -> Result<Value, WxError> {
        let appid = self.check_query_credentials(query, "authorization_code")?;
        let js_code = param(query, "js_code").ok_or(WxError::code(code::CODE_MISSING))?;
        // Another app's code is not this app's to consume.
        if self.codes.get(js_code).is_none_or(|c| c.appid != appid) {
            return Err(WxError::code(code::INVALID_CODE));
        }
        let now = self.now();
        match self.codes.remove(js_code) {
            Some(c) if now < c.expires_at => Ok(json!({
                "openid": c.openid,
                "session_key": random_b64(16),
            })),
            _ => Err(WxError::code(code::INVALID_CODE)),
        }
    }
}

/// `GET /sns/jscode2session?appid=..&secret=..&js_code=..&grant_type=authorization_code`
pub(crate) async fn jscode2session(State(sim): State<Sim>, uri: Uri) -> Response {
    let query = query_params(&uri);
    sim.serve(Endpoint::Jscode2Session, |s| bare(s.jscode2session(&query)))
        .await
}
