//! Shared simulator state. One mutex guards everything and is never held
//! across an await, so every WeChat call is atomic with respect to others
//! (what race tests rely on) and the code stays simple.

use axum::response::Response;
use sim_kit::{Core, HookError, SimEndpoint};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::{SimApp, SimConfig};
use crate::face::{FaceResult, UserIdKey, VerifySession};
use crate::faults::{Jitter, WxFault};
use crate::push::PushState;
use crate::session::LoginCode;
use crate::tokens::TokenStore;
use crate::wx::{WxError, code, param};

/// The WeChat endpoints the simulator serves; names are those of the
/// counters and fault hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    Token,
    StableToken,
    Jscode2Session,
    GetUserIdKey,
    GetInfo,
    GetVerifyId,
    QueryVerifyInfo,
}

impl SimEndpoint for Endpoint {
    const ALL: &'static [Endpoint] = &[
        Endpoint::Token,
        Endpoint::StableToken,
        Endpoint::Jscode2Session,
        Endpoint::GetUserIdKey,
        Endpoint::GetInfo,
        Endpoint::GetVerifyId,
        Endpoint::QueryVerifyInfo,
    ];

    fn name(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::StableToken => "stable_token",
            Endpoint::Jscode2Session => "jscode2session",
            Endpoint::GetUserIdKey => "getuseridkey",
            Endpoint::GetInfo => "getinfo",
            Endpoint::GetVerifyId => "getverifyid",
            Endpoint::QueryVerifyInfo => "queryverifyinfo",
        }
    }
}

/// Counted besides the endpoints: event POSTs the push client sent, and
/// 2xx replies to them other than `success` or empty.
pub(crate) const PUSH_SENT: &str = "push";
pub(crate) const PUSH_PROTOCOL_ERROR: &str = "push_protocol_error";

/// Behaviour switches tests flip at run time (`POST /__sim/config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RuntimeConfig {
    /// A second getinfo on the same verify_result answers 84001.
    pub getinfo_single_use: bool,
    /// verify_ret of queryverifyinfo before the face run: 10300 or 10005.
    pub pending_verify_ret: i64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            getinfo_single_use: false,
            pending_verify_ret: 10300,
        }
    }
}

pub(crate) struct Inner {
    pub apps: HashMap<String, SimApp>,
    pub token_ttl_secs: i64,
    /// Clock, counters (push ones included) and faults.
    pub core: Core<WxFault>,
    pub tokens: TokenStore,
    pub codes: HashMap<String, LoginCode>,
    pub user_id_keys: HashMap<String, UserIdKey>,
    pub verify_results: HashMap<String, FaceResult>,
    pub verify_ids: HashMap<String, VerifySession>,
    /// (appid, out_seq_no) already used by getuseridkey or getverifyid.
    pub out_seq_nos: HashSet<(String, String)>,
    pub jitter: Jitter,
    pub config: RuntimeConfig,
    /// The message-push client's log and faults.
    pub push: PushState,
}

impl Inner {
    pub(crate) fn now(&self) -> i64 {
        self.core.now()
    }

    /// The access-token check every business endpoint starts with; returns
    /// the appid the token belongs to.
    pub(crate) fn authorize(&self, query: &HashMap<String, String>) -> Result<String, WxError> {
        let token =
            param(query, "access_token").ok_or(WxError::code(code::ACCESS_TOKEN_MISSING))?;
        self.tokens.check(token, self.now())
    }

    /// appid + secret check shared by the token endpoints and
    /// jscode2session.
    pub(crate) fn check_credentials(
        &self,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<&SimApp, WxError> {
        let appid = appid.ok_or(WxError::code(code::APPID_MISSING))?;
        let app = self
            .apps
            .get(appid)
            .ok_or(WxError::code(code::INVALID_APPID))?;
        let secret = secret.ok_or(WxError::code(code::APPSECRET_MISSING))?;
        if secret != app.secret {
            return Err(WxError::code(code::INVALID_APPSECRET));
        }
        Ok(app)
    }

    /// The query-string check of `/cgi-bin/token` and jscode2session:
    /// `grant_type`, then appid + secret; returns the appid.
    pub(crate) fn check_query_credentials(
        &self,
        query: &HashMap<String, String>,
        grant_type: &str,
    ) -> Result<String, WxError> {
        if param(query, "grant_type") != Some(grant_type) {
            return Err(WxError::code(code::INVALID_GRANT_TYPE));
        }
        let app = self.check_credentials(param(query, "appid"), param(query, "secret"))?;
        Ok(app.appid.clone())
    }

    /// What the device-side hooks check first: a known app, and a user.
    pub(crate) fn check_device_user(&self, appid: &str, openid: &str) -> Result<(), HookError> {
        if !self.apps.contains_key(appid) {
            return Err(HookError::bad_request(format!("unknown appid {appid:?}")));
        }
        if openid.is_empty() {
            return Err(HookError::bad_request("openid is required"));
        }
        Ok(())
    }
}

/// Cheap handle to the state, shared by every handler.
#[derive(Clone)]
pub(crate) struct Sim {
    inner: Arc<Mutex<Inner>>,
}

impl Sim {
    pub(crate) fn new(config: SimConfig) -> Self {
        let apps = config
            .apps
            .into_iter()
            .map(|a| (a.appid.clone(), a))
            .collect();
        let inner = Inner {
            apps,
            // Validated: at most a year.
            token_ttl_secs: i64::try_from(config.token_ttl_secs).unwrap_or(i64::MAX),
            core: Core::new(&[PUSH_SENT, PUSH_PROTOCOL_ERROR]),
            tokens: TokenStore::default(),
            codes: HashMap::new(),
            user_id_keys: HashMap::new(),
            verify_results: HashMap::new(),
            verify_ids: HashMap::new(),
            out_seq_nos: HashSet::new(),
            jitter: Jitter::default(),
            config: RuntimeConfig::default(),
            push: PushState::new(config.push_timeout_ms, config.push_retries),
        };
        Sim {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// Locks the state. A panic while locked cannot leave it half-updated in
    /// a way that matters to tests, so a poisoned lock is simply reused.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs first in every WeChat endpoint: counts the call, takes its fault
    /// (in arrival order), then waits out jitter and the fault's delay.
    /// `Some` replaces the normal answer.
    async fn enter(&self, endpoint: Endpoint) -> Option<Response> {
        let (jitter, fault) = {
            let mut s = self.lock();
            let fault = s.core.arrive(endpoint);
            (s.jitter.sample(), fault)
        };
        if !jitter.is_zero() {
            tokio::time::sleep(jitter).await;
        }
        let fault = fault?;
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        fault.outcome.response()
    }

    /// An endpoint's whole call: [`Sim::enter`], then `answer` under the
    /// lock unless a fault answered instead.
    pub(crate) async fn serve(
        &self,
        endpoint: Endpoint,
        answer: impl FnOnce(&mut Inner) -> Response,
    ) -> Response {
        match self.enter(endpoint).await {
            Some(faulted) => faulted,
            None => answer(&mut self.lock()),
        }
    }
}
