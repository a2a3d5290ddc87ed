//! The message-push client (docs/wechat.md §5, §9 "Message push client"): WeChat calling
//! the mini program's server. It pushes the 1.0 `face_identify` event
//! (docs/wechat.md §2.3) when a face run finishes for a user_id_key issued with an
//! `out_seq_no`, performs the GET URL handshake (docs/wechat.md §5.2) on request, and
//! records every attempt for tests.
//!
//! Delivery (SIM-CHOICEs documented in the README): in the background; per
//! attempt a timeout of `push_timeout_ms` (WeChat: 5 s); a timeout, a
//! transport error or a non-2xx status is retried, at once, up to
//! `push_retries` times (default 3, so at most 4 attempts); a 2xx ends the
//! delivery, and is "delivered" only when the reply is exactly `success` or
//! empty, otherwise a counted protocol error. Each attempt of one delivery
//! sends the same bytes; a `duplicate` fault delivers the event a second
//! time, freshly signed and encrypted (same event, same CreateTime).

pub(crate) mod crypto;
mod message;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use sim_kit::{HookError, HookResult, check_delay, parse_hook, random_in};
use std::time::Duration;

use crate::config::{PushFormat, PushMode, validate_push_url};
use crate::state::{PUSH_PROTOCOL_ERROR, PUSH_SENT, Sim};
use crypto::{PushCrypto, sha1_signature};
use message::{FaceIdentifyEvent, PushRequest, PushSigner};

/// Which send produced a log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushKind {
    /// The event's delivery (first attempt and retries).
    Event,
    /// The second delivery a `duplicate` fault adds.
    Duplicate,
    /// A byte-for-byte re-send by `POST /__sim/push/replay`.
    Replay,
}

/// One push attempt, as `GET /__sim/push/log` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAttempt {
    /// Position in the log (what `/__sim/push/replay` takes).
    pub index: usize,
    pub kind: PushKind,
    pub appid: String,
    pub out_seq_no: String,
    /// 1 for the first attempt of a delivery, 2.. for its retries.
    pub attempt: u32,
    /// HTTP status; `None` after a timeout or transport error.
    pub status: Option<u16>,
    /// The reply body; `None` when none was read.
    pub reply: Option<String>,
    /// 2xx with a reply of exactly `success` or empty.
    pub delivered: bool,
    /// 2xx with any other reply (not retried; counted).
    pub protocol_error: bool,
    /// `timeout` or the transport error.
    pub error: Option<String>,
    pub mode: PushMode,
    pub format: PushFormat,
    /// The full URL with its query, as sent.
    pub url: String,
    pub content_type: String,
    pub body: String,
}

/// Push fault knobs (`POST /__sim/push/faults`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PushFaults {
    /// Deliver each event twice.
    #[serde(default)]
    pub duplicate: bool,
    /// Wait this long before each delivery of an event.
    #[serde(default)]
    pub delay_ms: u64,
}

/// Push state inside the simulator's one lock (its counters are the core's).
#[derive(Debug)]
pub(crate) struct PushState {
    pub log: Vec<PushAttempt>,
    pub faults: PushFaults,
    timeout: Duration,
    retries: u32,
    http: reqwest::Client,
}

impl PushState {
    pub(crate) fn new(timeout_ms: u64, retries: u32) -> Self {
        let http = reqwest::Client::builder()
            // Push targets are loopback test servers: no proxy, and WeChat
            // does not follow redirects.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("building the push HTTP client");
        PushState {
            log: Vec::new(),
            faults: PushFaults::default(),
            timeout: Duration::from_millis(timeout_ms),
            retries,
            http,
        }
    }
}

/// A finished face run whose user_id_key carried an out_seq_no.
#[derive(Debug, Clone)]
pub(crate) struct PendingPush {
    pub appid: String,
    pub openid: String,
    pub out_seq_no: String,
    pub verify_result: String,
    pub create_time: i64,
}

/// Everything one event's deliveries need, fixed when the run finished.
struct Plan {
    appid: String,
    url: String,
    token: String,
    crypto: PushCrypto,
    mode: PushMode,
    format: PushFormat,
    faults: PushFaults,
    event: FaceIdentifyEvent,
}

/// Where and what one send goes out as.
struct Target {
    appid: String,
    out_seq_no: String,
    mode: PushMode,
    format: PushFormat,
    url: String,
    content_type: String,
    body: String,
}

/// What one HTTP attempt came back with.
struct Outcome {
    status: Option<u16>,
    reply: Option<String>,
    error: Option<String>,
}

impl Outcome {
    fn is_2xx(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Random decimal nonce, the shape of WeChat's (`415670741`).
fn nonce() -> String {
    random_in(100_000_000, 2_147_483_647).to_string()
}

/// `base` with the query parameters appended (keeping any it has).
fn url_with_query(base: &str, query: &[(&str, String)]) -> Result<String, String> {
    reqwest::Url::parse_with_params(base, query)
        .map(String::from)
        .map_err(|e| format!("push url {base:?}: {e}"))
}

/// Starts the deliveries of a finished face run's event in the background.
/// Without a push URL the event is dropped (logged), as WeChat would.
pub(crate) fn dispatch(sim: &Sim, pending: PendingPush) {
    let plan = {
        let s = sim.lock();
        let Some(app) = s.apps.get(&pending.appid) else {
            return;
        };
        let Some(url) = app.push_url.clone() else {
            tracing::info!(
                "push: app {} has no push_url; face_identify for out_seq_no {} not sent",
                app.appid,
                pending.out_seq_no
            );
            return;
        };
        let crypto = match PushCrypto::new(&app.encoding_aes_key, &app.appid) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("push: app {}: {e}", app.appid);
                return;
            }
        };
        Plan {
            appid: app.appid.clone(),
            url,
            token: app.push_token.clone(),
            crypto,
            mode: app.push_mode,
            format: app.push_format,
            faults: s.push.faults,
            event: FaceIdentifyEvent::new(
                &app.original_id,
                &pending.openid,
                &pending.out_seq_no,
                &pending.verify_result,
                pending.create_time,
            ),
        }
    };
    tokio::spawn(deliver(sim.clone(), plan));
}

async fn deliver(sim: Sim, plan: Plan) {
    let kinds: &[PushKind] = if plan.faults.duplicate {
        &[PushKind::Event, PushKind::Duplicate]
    } else {
        &[PushKind::Event]
    };
    for &kind in kinds {
        if plan.faults.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(plan.faults.delay_ms)).await;
        }
        let timestamp = sim.lock().now().to_string();
        let signer = PushSigner {
            token: &plan.token,
            crypto: &plan.crypto,
            mode: plan.mode,
            format: plan.format,
        };
        let PushRequest {
            query,
            body,
            content_type,
        } = signer.request(&plan.event, &timestamp, &nonce());
        let url = match url_with_query(&plan.url, &query) {
            Ok(url) => url,
            Err(e) => {
                tracing::error!("push: {e}");
                return;
            }
        };
        let target = Target {
            appid: plan.appid.clone(),
            out_seq_no: plan.event.out_seq_no.clone(),
            mode: plan.mode,
            format: plan.format,
            url,
            content_type: content_type.to_owned(),
            body,
        };
        let retries = sim.lock().push.retries;
        for attempt in 1..=retries + 1 {
            let outcome = send(&sim, &target).await;
            let done = outcome.is_2xx();
            record(&sim, &target, kind, attempt, outcome);
            if done {
                break;
            }
        }
    }
}

/// One POST of `target`, after the jitter; counted as `push`.
async fn send(sim: &Sim, target: &Target) -> Outcome {
    let (http, timeout, jitter) = {
        let mut s = sim.lock();
        // Attempts, duplicates and replays.
        s.core.counters.hit(PUSH_SENT);
        (s.push.http.clone(), s.push.timeout, s.jitter.sample())
    };
    if !jitter.is_zero() {
        tokio::time::sleep(jitter).await;
    }
    let request = http
        .post(&target.url)
        .header(CONTENT_TYPE, &target.content_type)
        .body(target.body.clone())
        .timeout(timeout);
    exchange(request).await
}

/// Sends a request and reads its reply within the request's timeout.
async fn exchange(request: reqwest::RequestBuilder) -> Outcome {
    let describe = |e: reqwest::Error| {
        if e.is_timeout() {
            "timeout".to_owned()
        } else {
            format!("{e}")
        }
    };
    match request.send().await {
        Err(e) => Outcome {
            status: None,
            reply: None,
            error: Some(describe(e)),
        },
        Ok(resp) => {
            let status = Some(resp.status().as_u16());
            match resp.text().await {
                Ok(text) => Outcome {
                    status,
                    reply: Some(text),
                    error: None,
                },
                Err(e) => Outcome {
                    status,
                    reply: None,
                    error: Some(describe(e)),
                },
            }
        }
    }
}

/// Appends an attempt to the log and returns it.
fn record(
    sim: &Sim,
    target: &Target,
    kind: PushKind,
    attempt: u32,
    outcome: Outcome,
) -> PushAttempt {
    let ok = outcome.is_2xx();
    let delivered = ok && matches!(outcome.reply.as_deref(), Some("success" | ""));
    let protocol_error = ok && !delivered;
    let mut s = sim.lock();
    let entry = PushAttempt {
        index: s.push.log.len(),
        kind,
        appid: target.appid.clone(),
        out_seq_no: target.out_seq_no.clone(),
        attempt,
        status: outcome.status,
        reply: outcome.reply,
        delivered,
        protocol_error,
        error: outcome.error,
        mode: target.mode,
        format: target.format,
        url: target.url.clone(),
        content_type: target.content_type.clone(),
        body: target.body.clone(),
    };
    if protocol_error {
        s.core.counters.hit(PUSH_PROTOCOL_ERROR);
        tracing::warn!(
            "push {:?} out_seq_no={} attempt={}: protocol error: 2xx reply is neither `success` nor empty",
            kind,
            entry.out_seq_no,
            attempt
        );
    } else {
        tracing::info!(
            "push {:?} out_seq_no={} attempt={} status={:?} delivered={} error={:?}",
            kind,
            entry.out_seq_no,
            attempt,
            entry.status,
            delivered,
            entry.error
        );
    }
    s.push.log.push(entry.clone());
    entry
}

/// The message-push client's `/__sim/push/` hooks.
pub(crate) fn hooks() -> Router<Sim> {
    Router::new()
        .route("/__sim/push/config", post(set_config))
        .route("/__sim/push/verify", post(verify))
        .route("/__sim/push/log", get(log))
        .route("/__sim/push/replay", post(replay))
        .route("/__sim/push/faults", post(set_faults))
}

/// `url: null` (clear) is not the same as no `url` (keep).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushConfigRequest {
    appid: String,
    #[serde(default, deserialize_with = "present")]
    url: Option<Option<String>>,
    mode: Option<PushMode>,
    format: Option<PushFormat>,
}

/// `POST /__sim/push/config {"appid", "url"?, "mode"?, "format"?}`: an
/// absent field is kept, `"url": null` turns pushes off. Answers the app's
/// push settings.
async fn set_config(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: PushConfigRequest = parse_hook(&body)?;
    if let Some(Some(url)) = &req.url {
        validate_push_url(url).map_err(HookError::bad_request)?;
    }
    let mut s = sim.lock();
    let app = s
        .apps
        .get_mut(&req.appid)
        .ok_or_else(|| HookError::bad_request(format!("unknown appid {:?}", req.appid)))?;
    if let Some(url) = req.url {
        app.push_url = url;
    }
    app.push_mode = req.mode.unwrap_or(app.push_mode);
    app.push_format = req.format.unwrap_or(app.push_format);
    Ok(Json(json!({
        "appid": app.appid,
        "url": app.push_url,
        "mode": app.push_mode,
        "format": app.push_format,
    })))
}

#[derive(Deserialize)]
struct AppRequest {
    appid: String,
}

/// `POST /__sim/push/verify {"appid"}`: the GET handshake of docs/wechat.md §5.2 against
/// the app's push URL → `{"ok", "status", "reply", "echostr", "error", "url"}`;
/// `ok` when the answer is 2xx and its body is exactly the echostr.
async fn verify(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: AppRequest = parse_hook(&body)?;
    let (base, token, now, http, timeout, jitter) = {
        let s = sim.lock();
        let app = s
            .apps
            .get(&req.appid)
            .ok_or_else(|| HookError::bad_request(format!("unknown appid {:?}", req.appid)))?;
        let base = app
            .push_url
            .clone()
            .ok_or_else(|| HookError::bad_request(format!("app {} has no push url", app.appid)))?;
        (
            base,
            app.push_token.clone(),
            s.now(),
            s.push.http.clone(),
            s.push.timeout,
            s.jitter.sample(),
        )
    };
    let timestamp = now.to_string();
    let nonce = nonce();
    // 19 digits like the official example's `4375120948345356249`.
    let echostr = random_in(1_000_000_000_000_000_000, 9_999_999_999_999_999_999).to_string();
    let signature = sha1_signature(&[&token, &timestamp, &nonce]);
    let url = url_with_query(
        &base,
        &[
            ("signature", signature),
            ("echostr", echostr.clone()),
            ("timestamp", timestamp),
            ("nonce", nonce),
        ],
    )
    .map_err(HookError::bad_request)?;
    if !jitter.is_zero() {
        tokio::time::sleep(jitter).await;
    }
    let outcome = exchange(http.get(&url).timeout(timeout)).await;
    let ok = outcome.is_2xx() && outcome.reply.as_deref() == Some(echostr.as_str());
    tracing::info!(
        "push verify app={} status={:?} ok={ok} error={:?}",
        req.appid,
        outcome.status,
        outcome.error
    );
    Ok(Json(json!({
        "ok": ok,
        "status": outcome.status,
        "reply": outcome.reply,
        "echostr": echostr,
        "error": outcome.error,
        "url": url,
    })))
}

/// `GET /__sim/push/log`: every attempt so far, oldest first.
async fn log(State(sim): State<Sim>) -> Json<Vec<PushAttempt>> {
    Json(sim.lock().push.log.clone())
}

#[derive(Deserialize)]
struct ReplayRequest {
    index: usize,
}

/// `POST /__sim/push/replay {"index"}`: re-sends that logged push byte for
/// byte (URL with query, body, content type) once, waits for the answer,
/// and returns the new log entry (kind `replay`).
async fn replay(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let req: ReplayRequest = parse_hook(&body)?;
    let original = sim
        .lock()
        .push
        .log
        .get(req.index)
        .cloned()
        .ok_or_else(|| HookError::not_found(format!("no push with index {}", req.index)))?;
    let target = Target {
        appid: original.appid,
        out_seq_no: original.out_seq_no,
        mode: original.mode,
        format: original.format,
        url: original.url,
        content_type: original.content_type,
        body: original.body,
    };
    let outcome = send(&sim, &target).await;
    let entry = record(&sim, &target, PushKind::Replay, 1, outcome);
    Ok(Json(json!(entry)))
}

/// `POST /__sim/push/faults {"duplicate"?, "delay_ms"?}`: replaces the push
/// faults (`{}` turns them off) and answers them.
async fn set_faults(State(sim): State<Sim>, body: Bytes) -> HookResult {
    let faults: PushFaults = parse_hook(&body)?;
    check_delay(Some(faults.delay_ms)).map_err(HookError::bad_request)?;
    sim.lock().push.faults = faults;
    Ok(Json(json!(faults)))
}
