//! Access tokens (docs/wechat.md §4): `/cgi-bin/token` and
//! `/cgi-bin/stable_token`, isolated from each other, and the checks every
//! business endpoint runs.
//!
//! Rules (docs/wechat.md §4.3):
//! - `/cgi-bin/token`: every call issues a new token; the previous one stays
//!   valid for 300 s, then answers 40001.
//! - `stable_token` normal mode: the same token until 300 s before expiry,
//!   then a new one; the old one lives out its own lifetime (old and new
//!   overlap for those 300 s).
//! - `stable_token` force mode: a new token at once, the old one is dead
//!   (40001). At most 20 per day (then 45009); within 30 s of the last
//!   forced refresh the current token is returned unchanged.
//! - Any token past its lifetime answers 42001; an unknown string 40014.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::crypto::random_b64url;
use crate::state::{Endpoint, Inner, Sim};
use crate::wx::{WxError, bare, code, non_empty, parse_body, query_params};

/// Old and new tokens overlap this long after a rotation.
pub(crate) const GRACE_SECS: i64 = 300;
/// Minimum spacing of effective force refreshes.
const FORCE_SPACING_SECS: i64 = 30;
/// Effective force refreshes allowed per day.
const FORCE_PER_DAY: u32 = 20;
/// WeChat's quota days are Beijing days (UTC+8).
const BEIJING_OFFSET_SECS: i64 = 8 * 3600;

#[derive(Debug, Clone)]
struct TokenRecord {
    appid: String,
    expires_at: i64,
    /// From this instant the token answers 40001 (superseded or killed).
    dead_from: Option<i64>,
}

#[derive(Debug, Default)]
struct AppTokens {
    plain: Option<String>,
    stable: Option<String>,
    force_day: i64,
    force_count: u32,
    last_force_at: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    records: HashMap<String, TokenRecord>,
    apps: HashMap<String, AppTokens>,
}

/// A token handed out, with the `expires_in` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    pub access_token: String,
    pub expires_in: i64,
}

impl TokenStore {
    fn mint(&mut self, appid: &str, now: i64, ttl: i64) -> String {
        // Real tokens are ~136 printable characters; clients must store ≥ 512.
        let token = random_b64url(96);
        self.records.insert(
            token.clone(),
            TokenRecord {
                appid: appid.to_owned(),
                expires_at: now + ttl,
                dead_from: None,
            },
        );
        token
    }

    /// Marks `token` dead from `at` unless it already dies earlier.
    fn kill_from(&mut self, token: &str, at: i64) {
        if let Some(r) = self.records.get_mut(token) {
            r.dead_from = Some(r.dead_from.map_or(at, |d| d.min(at)));
        }
    }

    /// A token that is the app's current one and usable at `now`.
    fn live(&self, token: &str, now: i64) -> Option<&TokenRecord> {
        self.records
            .get(token)
            .filter(|r| now < r.expires_at && r.dead_from.is_none_or(|d| now < d))
    }

    /// `GET /cgi-bin/token`: always a new token; the previous one gets 300 s.
    pub(crate) fn issue_plain(&mut self, appid: &str, now: i64, ttl: i64) -> Issued {
        let token = self.mint(appid, now, ttl);
        let previous = self
            .apps
            .entry(appid.to_owned())
            .or_default()
            .plain
            .replace(token.clone());
        if let Some(old) = previous {
            self.kill_from(&old, now + GRACE_SECS);
        }
        Issued {
            access_token: token,
            expires_in: ttl,
        }
    }

    /// `POST /cgi-bin/stable_token`.
    pub(crate) fn issue_stable(
        &mut self,
        appid: &str,
        now: i64,
        ttl: i64,
        force_refresh: bool,
    ) -> Result<Issued, WxError> {
        let app = self.apps.entry(appid.to_owned()).or_default();
        let current = app.stable.clone();
        let current_live = current
            .as_deref()
            .and_then(|t| self.live(t, now).map(|r| (t.to_owned(), r.expires_at)));

        if force_refresh {
            let app = self.apps.entry(appid.to_owned()).or_default();
            let too_soon = app
                .last_force_at
                .is_some_and(|last| now < last + FORCE_SPACING_SECS);
            if let (true, Some((token, expires_at))) = (too_soon, current_live.as_ref()) {
                // "否则不会刷新": no refresh, the current token comes back.
                return Ok(Issued {
                    access_token: token.clone(),
                    expires_in: expires_at - now,
                });
            }
            let day = (now + BEIJING_OFFSET_SECS) / 86_400;
            if app.force_day != day {
                app.force_day = day;
                app.force_count = 0;
            }
            if app.force_count >= FORCE_PER_DAY {
                return Err(WxError::code(code::DAILY_QUOTA));
            }
            app.force_count += 1;
            app.last_force_at = Some(now);
            if let Some(old) = current {
                self.kill_from(&old, now);
            }
            return Ok(self.replace_stable(appid, now, ttl));
        }

        match current_live {
            // Renewed 300 s early, so a normal call never sees expires_in < 300.
            Some((token, expires_at)) if now + GRACE_SECS < expires_at => Ok(Issued {
                access_token: token,
                expires_in: expires_at - now,
            }),
            // The old token simply lives out its lifetime: no kill here.
            _ => Ok(self.replace_stable(appid, now, ttl)),
        }
    }

    fn replace_stable(&mut self, appid: &str, now: i64, ttl: i64) -> Issued {
        let token = self.mint(appid, now, ttl);
        self.apps.entry(appid.to_owned()).or_default().stable = Some(token.clone());
        Issued {
            access_token: token,
            expires_in: ttl,
        }
    }

    /// The business-endpoint check; returns the owning appid.
    pub(crate) fn check(&self, token: &str, now: i64) -> Result<String, WxError> {
        let r = self
            .records
            .get(token)
            .ok_or(WxError::code(code::INVALID_ACCESS_TOKEN))?;
        if r.dead_from.is_some_and(|d| now >= d) {
            return Err(WxError::code(code::INVALID_CREDENTIAL));
        }
        if now >= r.expires_at {
            return Err(WxError::code(code::ACCESS_TOKEN_EXPIRED));
        }
        Ok(r.appid.clone())
    }
}

/// A token endpoint's success: `{"access_token","expires_in"}` only.
fn issued_json(issued: Issued) -> Value {
    json!({"access_token": issued.access_token, "expires_in": issued.expires_in})
}

#[derive(Debug, Deserialize)]
struct StableTokenRequest {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    force_refresh: Option<bool>,
}

impl Inner {
    fn plain_token(&mut self, query: &HashMap<String, String>) -> Result<Value, WxError> {
        let appid = self.check_query_credentials(query, "client_credential")?;
        let (now, ttl) = (self.now(), self.token_ttl_secs);
        Ok(issued_json(self.tokens.issue_plain(&appid, now, ttl)))
    }

    fn stable_token(&mut self, body: &Bytes) -> Result<Value, WxError> {
        let req: StableTokenRequest = parse_body(body)?;
        if non_empty(&req.grant_type) != Some("client_credential") {
            return Err(WxError::code(code::INVALID_GRANT_TYPE));
        }
        let app = self.check_credentials(non_empty(&req.appid), non_empty(&req.secret))?;
        let appid = app.appid.clone();
        let (now, ttl) = (self.now(), self.token_ttl_secs);
        let force_refresh = req.force_refresh.unwrap_or(false);
        self.tokens
            .issue_stable(&appid, now, ttl, force_refresh)
            .map(issued_json)
    }
}

/// `GET /cgi-bin/token?grant_type=client_credential&appid=..&secret=..`
pub(crate) async fn get_token(State(sim): State<Sim>, uri: Uri) -> Response {
    let query = query_params(&uri);
    sim.serve(Endpoint::Token, |s| bare(s.plain_token(&query)))
        .await
}

/// `POST /cgi-bin/stable_token` with a JSON body.
pub(crate) async fn stable_token(State(sim): State<Sim>, body: Bytes) -> Response {
    sim.serve(Endpoint::StableToken, |s| bare(s.stable_token(&body)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "wxapp";
    const TTL: i64 = 7200;
    const T0: i64 = 1_700_000_000;

    fn errcode(store: &TokenStore, token: &str, now: i64) -> i64 {
        store.check(token, now).err().map_or(0, |e| e.errcode)
    }

    #[test]
    fn plain_tokens_rotate_with_300s_grace() {
        let mut s = TokenStore::default();
        let a = s.issue_plain(APP, T0, TTL).access_token;
        let b = s.issue_plain(APP, T0 + 10, TTL).access_token;
        assert_ne!(a, b);
        assert_eq!(errcode(&s, &a, T0 + 10 + 299), 0);
        assert_eq!(errcode(&s, &a, T0 + 10 + 300), code::INVALID_CREDENTIAL);
        assert_eq!(errcode(&s, &b, T0 + 10 + 300), 0);
        assert_eq!(errcode(&s, &b, T0 + 10 + TTL), code::ACCESS_TOKEN_EXPIRED);
        assert_eq!(errcode(&s, "garbage", T0), code::INVALID_ACCESS_TOKEN);
    }

    #[test]
    fn stable_normal_mode_renews_in_last_300s() {
        let mut s = TokenStore::default();
        let a = s.issue_stable(APP, T0, TTL, false).expect("ok");
        assert_eq!(a.expires_in, TTL);
        let again = s.issue_stable(APP, T0 + 6899, TTL, false).expect("ok");
        assert_eq!(again.access_token, a.access_token);
        assert_eq!(again.expires_in, 301);
        let b = s.issue_stable(APP, T0 + 6900, TTL, false).expect("ok");
        assert_ne!(b.access_token, a.access_token);
        assert_eq!(b.expires_in, TTL);
        // The old one lives out its own lifetime, then 42001.
        assert_eq!(errcode(&s, &a.access_token, T0 + TTL - 1), 0);
        assert_eq!(
            errcode(&s, &a.access_token, T0 + TTL),
            code::ACCESS_TOKEN_EXPIRED
        );
    }

    #[test]
    fn stable_and_plain_are_isolated() {
        let mut s = TokenStore::default();
        let st = s.issue_stable(APP, T0, TTL, false).expect("ok");
        s.issue_plain(APP, T0, TTL);
        s.issue_plain(APP, T0 + 1, TTL);
        assert_eq!(errcode(&s, &st.access_token, T0 + 1000), 0);
        let st2 = s.issue_stable(APP, T0 + 1000, TTL, false).expect("ok");
        assert_eq!(st2.access_token, st.access_token);
    }

    #[test]
    fn force_refresh_spacing_and_daily_limit() {
        let mut s = TokenStore::default();
        // Start of a Beijing day so 21 refreshes 30 s apart fit in it.
        let day_start = (T0 / 86_400 + 1) * 86_400 - BEIJING_OFFSET_SECS;
        let a = s.issue_stable(APP, day_start, TTL, false).expect("ok");
        let b = s.issue_stable(APP, day_start, TTL, true).expect("ok");
        assert_ne!(a.access_token, b.access_token);
        assert_eq!(
            errcode(&s, &a.access_token, day_start),
            code::INVALID_CREDENTIAL
        );
        // Within 30 s: unchanged.
        let c = s.issue_stable(APP, day_start + 29, TTL, true).expect("ok");
        assert_eq!(c.access_token, b.access_token);
        assert_eq!(c.expires_in, TTL - 29);
        let mut t = day_start;
        for _ in 1..FORCE_PER_DAY {
            t += 30;
            s.issue_stable(APP, t, TTL, true).expect("within quota");
        }
        let err = s.issue_stable(APP, t + 30, TTL, true).expect_err("quota");
        assert_eq!(err.errcode, code::DAILY_QUOTA);
        // Normal mode still works, and the next day the quota is back.
        s.issue_stable(APP, t + 30, TTL, false)
            .expect("normal mode");
        s.issue_stable(APP, day_start + 86_400, TTL, true)
            .expect("new day");
    }
}
