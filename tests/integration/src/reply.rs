//! One handler answer, read the way every test reads it, and the checks the
//! tests make on it again and again.

use lambda_http::Body;
use lambda_http::http::{HeaderMap, Method, Request};
use serde_json::Value;

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

/// A JSON request as the function URL hands it over, with an optional
/// `Authorization` header.
pub fn json_request(
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: impl Into<Body>,
) -> lambda_http::Request {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.body(body.into()).expect("request")
}

impl Reply {
    /// Every answer of ours is JSON, errors included.
    pub fn read(resp: lambda_http::Response<Body>) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "every answer is JSON"
        );
        let body = serde_json::from_slice(resp.body().as_ref()).expect("JSON answer");
        Reply {
            status,
            body,
            headers,
        }
    }

    /// The answer without its receipt: a repeated call gives the same answer
    /// and a freshly signed receipt (docs/api.md §6).
    pub fn answer(&self) -> Value {
        let mut v = self.body.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("receipt");
        }
        v
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The status, or a failure that shows the body.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.body);
    }

    /// The status and error code, or a failure that shows the body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        self.assert_error_in(status, code, "");
    }

    /// [`Self::assert_error`] for one case of many, named by `what`.
    #[track_caller]
    pub fn assert_error_in(&self, status: u16, code: &str, what: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "{what}: {}",
            self.body
        );
    }

    /// Upstream trouble: 503 with a Retry-After of at least a second.
    #[track_caller]
    pub fn assert_unavailable(&self) {
        self.assert_error(503, "upstream_unavailable");
        assert!(self.retry_after() >= 1);
    }

    /// The Retry-After header, in seconds.
    pub fn retry_after(&self) -> i64 {
        let header = self.headers["retry-after"].to_str().unwrap();
        header.parse().unwrap()
    }
}
