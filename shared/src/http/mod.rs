//! The HTTP edge: routing, the body limit, JSON in and out, and the one
//! mapping from errors to status codes (contract §3).

pub mod authinfo;
pub mod event_callback;
pub mod issue_key;
pub mod verify_result;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{ConfigError, StoreError, WeChatError, WeChatPayError};
use crate::service::ServiceError;

pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECS: i64 = 2;

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<i64>,
    /// Extra fields inside `error`, e.g. WeChat's `errcode`.
    pub extra: Vec<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            extra: Vec::new(),
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    fn retry_after(mut self, secs: i64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra.push((key, value));
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let mut error = json!({ "code": self.code, "message": self.message });
        for (k, v) in self.extra {
            error[k] = v;
        }
        let mut resp = json_response(self.status, &json!({ "error": error }));
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        resp
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use StatusCode as S;
        match e {
            ServiceError::InvalidRequest(m) => Self::invalid_request(m),
            ServiceError::Invalid(v) => Self::new(
                if v.code() == "invalid_code" {
                    S::UNAUTHORIZED
                } else {
                    S::BAD_REQUEST
                },
                v.code(),
                v.to_string(),
            ),
            ServiceError::InvalidCode => Self::new(
                S::UNAUTHORIZED,
                "invalid_code",
                "the wx.login code is invalid, expired or already used",
            ),
            ServiceError::Forbidden => Self::new(
                S::FORBIDDEN,
                "forbidden",
                "this session belongs to another user",
            ),
            ServiceError::SessionNotFound => Self::new(
                S::NOT_FOUND,
                "session_not_found",
                "no session has this out_seq_no",
            ),
            ServiceError::SessionExpired => Self::new(
                S::GONE,
                "session_expired",
                "the session expired before it was completed; start a new one",
            ),
            ServiceError::RateLimited { retry_after } => Self::new(
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many verifications started; try again later",
            )
            .retry_after(retry_after),
            ServiceError::WeChat(WeChatError::Api { errcode, .. }) => Self::new(
                S::BAD_GATEWAY,
                "upstream_error",
                format!("WeChat answered errcode {errcode}"),
            )
            .with("errcode", json!(errcode)),
            ServiceError::WeChat(WeChatError::Malformed(_)) => Self::new(
                S::BAD_GATEWAY,
                "upstream_error",
                "WeChat answered something unexpected",
            ),
            ServiceError::WeChat(WeChatError::Unavailable(_))
            | ServiceError::Config(ConfigError::SecretUnavailable { .. }) => {
                unavailable("WeChat or AWS is unavailable; try again")
            }
            ServiceError::Store(StoreError::Unavailable(_)) => {
                unavailable("storage is unavailable; try again")
            }
            ServiceError::Config(_) | ServiceError::WeChat(WeChatError::Config(_)) => Self::new(
                S::INTERNAL_SERVER_ERROR,
                "configuration_error",
                "the service is not configured correctly",
            ),
            ServiceError::PushRefused(why) => Self::new(S::UNAUTHORIZED, "unauthorized", why),
            ServiceError::Unauthorized => Self::new(
                S::UNAUTHORIZED,
                "unauthorized",
                "a registered device_id and its bearer token are required",
            ),
            ServiceError::WeChatPay(e) => wechatpay_error(e),
            ServiceError::Store(_) | ServiceError::Internal(_) => {
                Self::new(S::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
            }
        }
    }
}

/// WeChat Pay's failures (contract §3 authinfo). The public `code` comes
/// from [`WeChatPayError::public_code`], which the audit trail records too.
fn wechatpay_error(e: WeChatPayError) -> ApiError {
    use StatusCode as S;
    let code = e.public_code();
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

/// Logs what went wrong (never a body) and turns it into a response.
pub fn error_response(e: ServiceError) -> Response<Body> {
    let api = ApiError::from(e.logged());
    api.into_response()
}

impl ServiceError {
    /// Logs the error with its detail, which the client never sees.
    fn logged(self) -> Self {
        match &self {
            Self::Config(c) => {
                tracing::error!(event = "configuration_error", detail = %c, "configuration error")
            }
            Self::Internal(_)
            | Self::Store(StoreError::Corrupt { .. })
            | Self::Store(StoreError::Duplicate) => {
                tracing::error!(event = "internal_error", detail = %self, "internal error")
            }
            Self::WeChat(_) | Self::WeChatPay(_) | Self::Store(_) => {
                tracing::warn!(event = "upstream_failure", detail = %self, "upstream failure")
            }
            _ => tracing::info!(event = "client_error", detail = %self, "request refused"),
        }
        self
    }
}

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Function URLs deliver the path as `/`; anything else is not ours.
pub fn route(req: &Request, allowed: &[Method]) -> Result<(), ApiError> {
    route_to(req, &["/"], allowed).map(|_| ())
}

/// For a function with several paths (authinfo: `/` and `/real-name`): the
/// matched one of `paths`, or `404`; then the method, or `405`.
pub fn route_to(
    req: &Request,
    paths: &[&'static str],
    allowed: &[Method],
) -> Result<&'static str, ApiError> {
    let path = match req.uri().path() {
        "" => "/",
        p => p,
    };
    let Some(matched) = paths.iter().copied().find(|p| *p == path) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route",
        ));
    };
    if !allowed.contains(req.method()) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        ));
    }
    Ok(matched)
}

/// A JSON `POST /`: the route, then the body through `parse`; a refusal is
/// logged with its error code only.
pub(crate) fn accept_post<T>(
    req: &Request,
    parse: impl FnOnce(&Request) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    route(req, &[Method::POST])?;
    parse(req).inspect_err(|e| {
        tracing::info!(event = "client_error", code = e.code, "request refused");
    })
}

/// The body as `T`: size-limited, JSON, with the fields present and typed
/// right. Values are checked later, each with its own error code.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
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
