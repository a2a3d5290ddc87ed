//! The HTTP edge: routing (`routes`: the one place that reads a request's
//! method and path, behind either front), the body limit, JSON in and out, and the one
//! mapping from errors to status codes (docs/api.md §3). Every handler is
//! `respond(run(..).await)`: `run` returns `Result<Reply, ApiError>` and
//! uses `?`; `respond` logs a refusal once and builds the response.

pub mod authinfo;
pub mod event_callback;
pub mod issue_key;
pub mod lookup;
pub mod routes;
pub mod verify_result;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::domain::{AppId, ValidationError};
use crate::error::{ConfigError, StoreError, WeChatError, WeChatPayError};
use crate::service::tenant::{ForApp, Named};
use crate::service::{ServiceError, Services};

pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECS: i64 = 2;
/// After WeChat's own rate limit (45011 is per minute).
const RATE_LIMIT_RETRY_AFTER_SECS: i64 = 60;

/// An error as the client sees it, with what only the log may see.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u32>,
    /// The route's methods, for a `405`'s `Allow` header (RFC 9110 §15.5.6).
    allow: Option<Box<str>>,
    /// Extra fields inside `error`, e.g. WeChat's `errcode`.
    pub extra: Vec<(&'static str, Value)>,
    /// The internal detail, logged once by [`respond`], never sent.
    detail: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            allow: None,
            extra: Vec::new(),
            detail: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    fn retry_after(mut self, secs: i64) -> Self {
        self.retry_after = Some(u32::try_from(secs.max(1)).unwrap_or(u32::MAX));
        self
    }

    fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra.push((key, value));
        self
    }

    fn into_response(self) -> Response<Body> {
        let mut error = json!({ "code": self.code, "message": self.message });
        for (k, v) in self.extra {
            error[k] = v;
        }
        let mut resp = Reply::json(self.status, &json!({ "error": error })).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(methods) = self.allow.and_then(|m| HeaderValue::from_str(&m).ok()) {
            resp.headers_mut().insert(header::ALLOW, methods);
        }
        resp
    }

    /// One line per refusal: the code for a client mistake, the detail for
    /// ours or an upstream's.
    fn log(&self) {
        let (code, detail) = (self.code, self.detail.as_deref().unwrap_or(&self.message));
        match (self.status.as_u16(), code) {
            (500.., "configuration_error") => {
                tracing::error!(event = code, code, detail, "configuration error")
            }
            (502.., _) => {
                tracing::warn!(event = "upstream_failure", code, detail, "upstream failure")
            }
            (500.., _) => tracing::error!(event = "internal_error", code, detail, "internal error"),
            // Why a caller was not authenticated (a push's signature, window or key, a
            // kiosk's token): fixed texts, never a request's content.
            (401, _) => tracing::info!(
                event = "client_error",
                code,
                why = detail,
                "request refused"
            ),
            // Other refusals' details may quote what the caller sent: the code only.
            _ => tracing::info!(event = "client_error", code, "request refused"),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ServiceError::from(e).into()
    }
}

/// A successful answer: JSON or plain text, and its caching.
pub struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    cache_control: Option<&'static str>,
}

impl Reply {
    pub fn json(status: StatusCode, body: &impl Serialize) -> Self {
        // Our own response types always serialize.
        let body = serde_json::to_string(body).unwrap_or_default();
        Self::new(status, "application/json", body)
    }

    fn new(status: StatusCode, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            body,
            cache_control: None,
        }
    }

    pub fn ok(body: &impl Serialize) -> Self {
        Self::json(StatusCode::OK, body)
    }

    pub fn text(body: String) -> Self {
        Self::new(StatusCode::OK, "text/plain; charset=utf-8", body)
    }

    pub fn cache(mut self, cache_control: &'static str) -> Self {
        self.cache_control = Some(cache_control);
        self
    }

    fn into_response(self) -> Response<Body> {
        let mut resp = Response::new(Body::Text(self.body));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        // Nothing we answer is meant to be sniffed into another type.
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(cache) = self.cache_control {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        }
        resp
    }
}

/// The one wrapper of every handler.
pub fn respond(result: Result<Reply, ApiError>) -> Response<Body> {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => {
            e.log();
            e.into_response()
        }
    }
}

/// The one mapping from errors to what the client sees (docs/api.md §3.2):
/// by where the error came from, each in its own function below.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let detail = e.to_string();
        let mut api = match e {
            ServiceError::WeChat(e) => wechat_error(e),
            ServiceError::WeChatPay(e) => wechatpay_error(e),
            ServiceError::Config(e) => config_error(&e),
            ServiceError::Store(StoreError::Unavailable(_)) => {
                unavailable("storage is unavailable; try again")
            }
            ServiceError::Store(_) | ServiceError::Internal(_) => internal_error(),
            other => caller_error(other),
        };
        api.detail = Some(detail);
        api
    }
}

/// What the caller did or asked: a 4xx, never a 5xx.
fn caller_error(e: ServiceError) -> ApiError {
    use StatusCode as S;
    match e {
        ServiceError::InvalidRequest(m) => ApiError::invalid_request(m),
        ServiceError::Invalid(v) => ApiError::new(S::BAD_REQUEST, v.code(), v.to_string()),
        ServiceError::InvalidCode => ApiError::new(
            S::UNAUTHORIZED,
            "invalid_code",
            "the wx.login code is invalid, expired or already used",
        ),
        ServiceError::NotSessionOwner => ApiError::new(
            S::FORBIDDEN,
            "forbidden",
            "this session belongs to another user",
        ),
        ServiceError::DeviceNotAllowed(what) => ApiError::new(
            S::FORBIDDEN,
            "forbidden",
            format!("this device is not registered for that {what}"),
        ),
        ServiceError::SessionNotFound => ApiError::new(
            S::NOT_FOUND,
            "session_not_found",
            "no session has this out_seq_no",
        ),
        ServiceError::SessionExpired => ApiError::new(
            S::GONE,
            "session_expired",
            "the session expired before it was completed; start a new one",
        ),
        ServiceError::RateLimited { retry_after } => ApiError::new(
            S::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many verifications started; try again later",
        )
        .retry_after(retry_after),
        ServiceError::UnknownApp => ApiError::new(
            S::FORBIDDEN,
            "unknown_appid",
            "this deployment serves no mini-program with that appid",
        ),
        ServiceError::DailyLimit { retry_after } => ApiError::new(
            S::TOO_MANY_REQUESTS,
            "daily_limit_reached",
            "this mini-program has started its daily limit of verifications; try again tomorrow",
        )
        .retry_after(retry_after),
        ServiceError::VerifyResultRefused { errcode } => verify_result_refused(errcode),
        ServiceError::PushRefused(why) => ApiError::new(S::UNAUTHORIZED, "unauthorized", why),
        ServiceError::Unauthorized => ApiError::new(
            S::UNAUTHORIZED,
            "unauthorized",
            "a registered device_id and its bearer token are required",
        ),
        // Every other variant is routed by `From<ServiceError>` above.
        _ => internal_error(),
    }
}

/// WeChat does not know the client's verify_result (84001, 84003), or it expired (84002).
fn verify_result_refused(errcode: i64) -> ApiError {
    let (status, code, message) = match errcode {
        84002 => (
            StatusCode::GONE,
            "verify_result_expired",
            "WeChat says this verify_result has expired; run the face check again",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "verify_result_unknown",
            "WeChat does not know this verify_result",
        ),
    };
    ApiError::new(status, code, message).with("errcode", json!(errcode))
}

/// WeChat failed or refused: a 5xx, with its errcode when it gave one.
fn wechat_error(e: WeChatError) -> ApiError {
    use StatusCode as S;
    match e {
        WeChatError::RateLimited(limit) => ApiError::new(
            S::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            "WeChat's rate limit was reached; try again later",
        )
        .retry_after(RATE_LIMIT_RETRY_AFTER_SECS)
        .with("errcode", json!(limit)),
        WeChatError::Api { errcode, .. } => ApiError::new(
            S::BAD_GATEWAY,
            "upstream_error",
            format!("WeChat answered errcode {errcode}"),
        )
        .with("errcode", json!(errcode)),
        WeChatError::Malformed(_) => ApiError::new(
            S::BAD_GATEWAY,
            "upstream_error",
            "WeChat answered something unexpected",
        ),
        WeChatError::Unavailable(_) => unavailable("WeChat or AWS is unavailable; try again"),
        WeChatError::Config(c) => config_error(&c),
    }
}

/// Secrets Manager unreachable is a 503 (try again); anything else about the
/// configuration is ours to fix: `500 configuration_error`, the detail in the log.
fn config_error(e: &ConfigError) -> ApiError {
    match e {
        ConfigError::SecretUnavailable { .. } => {
            unavailable("WeChat or AWS is unavailable; try again")
        }
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "configuration_error",
            "the service is not configured correctly",
        ),
    }
}

fn internal_error() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error",
    )
}

/// WeChat Pay's failures (docs/api.md §3.6). The public `code` comes
/// from [`WeChatPayError::public_code`], which the audit trail records too.
fn wechatpay_error(e: WeChatPayError) -> ApiError {
    use StatusCode as S;
    let code = e.public_code();
    if e.is_face_sid_refusal() {
        let (wc, message) = match &e {
            WeChatPayError::V3 { code, message, .. } => (code.clone(), message.clone()),
            _ => Default::default(),
        };
        return ApiError::new(
            S::BAD_REQUEST,
            code,
            "WeChat Pay refused the face_sid: unknown, expired, or the user has not consented",
        )
        .with("wechatpay_code", json!(wc))
        .with("wechatpay_message", json!(message));
    }
    match e {
        WeChatPayError::V2 { code: rc, message } => {
            ApiError::new(S::BAD_GATEWAY, code, format!("WeChat Pay answered {rc}"))
                .with("return_code", json!(rc))
                .with("return_msg", json!(message))
        }
        WeChatPayError::V3 {
            status,
            code: wc,
            message,
        } => ApiError::new(
            S::BAD_GATEWAY,
            code,
            format!("WeChat Pay answered HTTP {status} {wc}"),
        )
        .with("wechatpay_code", json!(wc))
        .with("wechatpay_message", json!(message))
        .with("http_status", json!(status)),
        WeChatPayError::SignatureInvalid(_) => ApiError::new(
            S::BAD_GATEWAY,
            code,
            "WeChat Pay's answer failed signature verification",
        ),
        WeChatPayError::DecryptFailed(_) => ApiError::new(
            S::BAD_GATEWAY,
            code,
            "a field WeChat Pay returned could not be decrypted",
        ),
        WeChatPayError::Malformed(_) => ApiError::new(
            S::BAD_GATEWAY,
            code,
            "WeChat Pay answered something unexpected",
        ),
        WeChatPayError::Unavailable(_) => unavailable("WeChat Pay is unavailable; try again"),
        WeChatPayError::Config(_) => ApiError::new(
            S::INTERNAL_SERVER_ERROR,
            code,
            "the service is not configured correctly",
        ),
    }
}

fn unavailable(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
        message,
    )
    .retry_after(RETRY_AFTER_SECS)
}

/// The services of the mini-program `req` is for (docs/api.md §9): named by
/// WeChat's `Referer` (issue-key, verify-result) or by an `appid` query
/// parameter (event-callback, lookup). Kiosk requests name none.
pub async fn for_app<'a>(
    svc: &'a Services,
    req: &Request,
    named: Named,
) -> Result<ForApp<'a>, ApiError> {
    let appid = match named {
        Named::ByReferer => (req.headers().get(header::REFERER))
            .and_then(|r| r.to_str().ok())
            .and_then(AppId::from_referer),
        Named::Explicitly => {
            let query = req.uri().query().unwrap_or_default();
            let raw = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "appid");
            raw.map(|(_, v)| AppId::parse(&v)).transpose()?
        }
    };
    Ok(svc.for_app(appid.as_ref(), named).await?)
}

/// The body's bytes, refused over [`MAX_BODY_BYTES`].
pub fn body_bytes(req: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// The body as `T`: size-limited, JSON, with the fields present and typed
/// right. Values are checked later, each with its own error code.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    serde_json::from_slice(body_bytes(req)?).map_err(|e| {
        // serde's message names the field and the expected type; line and
        // column are noise for a one-line body.
        let msg = e.to_string();
        let msg = msg
            .split(" at line ")
            .next()
            .unwrap_or("the body is not valid JSON");
        ApiError::invalid_request(format!("the body is not the expected JSON: {msg}"))
    })
}

#[cfg(test)]
mod tests {
    use lambda_http::http::{Method, Request as HttpRequest};
    use serde_json::Value;

    use super::*;
    use crate::testing::{self, ID_CARD, NAME};

    fn request(method: Method, path: &str, body: &str) -> Request {
        HttpRequest::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    fn parts(resp: Response<Body>) -> (u16, Value, lambda_http::http::HeaderMap) {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// A body that is not UTF-8 arrives base64-encoded (`Body::Binary`): a clear 400, and the
    /// route's methods on a 405.
    #[tokio::test]
    async fn a_binary_body_is_invalid_and_a_wrong_method_names_the_right_ones() {
        let f = testing::services();
        let req = HttpRequest::builder()
            .method(Method::POST)
            .uri("/")
            .body(Body::Binary(vec![0x1d, 0x4c, 0xff, 0xfe]))
            .unwrap();
        let (s, b, _) = parts(issue_key::handle(&f.svc, req).await);
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (400, Some("invalid_request"))
        );
        let (s, _, h) = parts(issue_key::handle(&f.svc, request(Method::PUT, "/", "{}")).await);
        assert_eq!((s, h[header::ALLOW].to_str().ok()), (405, Some("POST")));
    }

    #[tokio::test]
    async fn requests_are_checked_in_order_and_answered_as_json() {
        let f = testing::services();
        let code = f.wechat.code_for("o-1");
        let good =
            serde_json::json!({"code": code.expose(), "name": NAME, "id_card_number": ID_CARD});
        let cases = [
            (
                Method::GET,
                "/",
                good.to_string(),
                405,
                "method_not_allowed",
            ),
            (Method::POST, "/x", good.to_string(), 404, "not_found"),
            (
                Method::POST,
                "/",
                "x".repeat(MAX_BODY_BYTES + 1),
                413,
                "payload_too_large",
            ),
            (Method::POST, "/", "{}".into(), 400, "invalid_request"),
            (
                Method::POST,
                "/",
                good.to_string().replace(NAME, "张3"),
                400,
                "invalid_name",
            ),
            (
                Method::POST,
                "/",
                good.to_string().replace("002X", "0021"),
                400,
                "invalid_id_card_number",
            ),
            (
                Method::POST,
                "/",
                good.to_string().replace(code.expose(), "bad code"),
                401,
                "invalid_code",
            ),
        ];
        for (method, path, body, status, code) in cases {
            let resp = issue_key::handle(&f.svc, request(method, path, &body)).await;
            let (s, b, h) = parts(resp);
            assert_eq!(
                (s, b["error"]["code"].as_str()),
                (status, Some(code)),
                "{b}"
            );
            assert_eq!(h[header::CONTENT_TYPE], "application/json");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
        assert_eq!(
            f.wechat.calls(crate::upstream::Upstream::Jscode2session),
            0,
            "nothing reached WeChat"
        );
        let (s, b, _) =
            parts(issue_key::handle(&f.svc, request(Method::POST, "/", &good.to_string())).await);
        assert_eq!((s, b["flow"].as_str()), (200, Some("v2")), "{b}");
        assert!(b["verify_id"].is_string() && b.get("user_id_key").is_none());
    }

    #[test]
    fn upstream_failures_map_to_502_and_503_and_ours_to_500() {
        let cases: [(ServiceError, u16, &str); 7] = [
            (
                ServiceError::WeChat(WeChatError::Api {
                    errcode: 40013,
                    errmsg: "x".into(),
                }),
                502,
                "upstream_error",
            ),
            (
                ServiceError::WeChat(WeChatError::Unavailable("x".into())),
                503,
                "upstream_unavailable",
            ),
            (
                ServiceError::Store(StoreError::Unavailable("x".into())),
                503,
                "upstream_unavailable",
            ),
            (
                ServiceError::Config(ConfigError::MissingEnv("X")),
                500,
                "configuration_error",
            ),
            (
                ServiceError::RateLimited { retry_after: 30 },
                429,
                "rate_limited",
            ),
            (ServiceError::UnknownApp, 403, "unknown_appid"),
            (
                ServiceError::DailyLimit { retry_after: 60 },
                429,
                "daily_limit_reached",
            ),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from(e);
            assert_eq!((api.status.as_u16(), api.code), (status, code));
            if status == 503 || status == 429 {
                assert!(api.retry_after.is_some());
            }
            // The detail is for the log: the message never carries it.
            assert!(!api.message.contains("X"), "{}", api.message);
        }
    }
}
