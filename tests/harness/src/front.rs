//! The two fronts (README "Fronts") for the local stack and the demo.
//!
//! - [`Front`]: where a function's route is, behind function URLs (`cargo lambda watch` serves
//!   them at `<base>/<function>/<path>`) or behind an HTTP API (`<base><route path>`).
//! - [`serve_api`]: an HTTP API-shaped front on loopback for the local stack: exactly the routes
//!   of `wxface::http::routes::api_routes`, each handed to its function under `cargo lambda
//!   watch` with the API's path (as the `$default` stage does), API Gateway's own 404 for
//!   anything else, and its 403 for an unsigned request to an `AWS_IAM` route. The signature
//!   itself is not checked here (the deploy test's emulator and AWS check it).

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wxface::http::routes::{Auth, api_routes};

/// Where callers reach the functions.
#[derive(Debug, Clone)]
pub enum Front {
    /// `<base>/<function>/<path>`: `cargo lambda watch`'s function URLs.
    FunctionUrls(String),
    /// `<base><path>`: an HTTP API's `$default` stage.
    HttpApi(String),
}

impl Front {
    /// The URL of `function`'s route whose function-URL path is `url_path` (`/`, `/real-name`,
    /// `/.well-known/jwks.json`).
    pub fn url(&self, function: &str, url_path: &str) -> String {
        match self {
            Self::FunctionUrls(base) => format!("{base}/{function}{url_path}"),
            Self::HttpApi(base) => {
                let api_path = api_path(function, url_path).unwrap_or(url_path);
                format!("{base}{api_path}")
            }
        }
    }

    pub fn base(&self) -> &str {
        match self {
            Self::FunctionUrls(b) | Self::HttpApi(b) => b,
        }
    }
}

/// The HTTP API path of `function`'s route mounted at `url_path` behind a function URL.
fn api_path(function: &str, url_path: &str) -> Option<&'static str> {
    api_routes()
        .into_iter()
        .find(|r| r.function == function && r.url_path == url_path)
        .map(|r| r.path)
}

/// API Gateway's own answers for what reaches no route, or no signature.
fn gateway(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

#[derive(Clone)]
struct Upstream {
    functions: String,
    http: reqwest::Client,
}

/// Serves the HTTP API front on `listener`, forwarding to the function URLs at `functions`
/// (`http://127.0.0.1:9000/lambda-url`).
pub async fn serve_api(
    listener: tokio::net::TcpListener,
    functions: String,
) -> std::io::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let app = Router::new()
        .fallback(forward)
        .with_state(Upstream { functions, http });
    axum::serve(listener, app).await
}

async fn forward(State(up): State<Upstream>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let Some(route) = api_routes()
        .into_iter()
        .find(|r| r.path == path && r.method == parts.method.as_str())
    else {
        return gateway(StatusCode::NOT_FOUND, "Not Found");
    };
    if route.auth == Auth::AwsIam && !parts.headers.contains_key("authorization") {
        return gateway(StatusCode::FORBIDDEN, "Forbidden");
    }
    let Ok(bytes) = to_bytes(body, 10 << 20).await else {
        return gateway(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    // The function sees the route's own path, as behind the `$default` stage.
    let mut url = format!("{}/{}{}", up.functions, route.function, route.path);
    if let Some(q) = parts.uri.query() {
        url = format!("{url}?{q}");
    }
    let mut out = up.http.request(parts.method.clone(), &url).body(bytes);
    for (k, v) in &parts.headers {
        if k != axum::http::header::HOST {
            out = out.header(k, v);
        }
    }
    let Ok(resp) = out.send().await else {
        return gateway(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let mut answer = Response::new(Body::from(body));
    *answer.status_mut() = status;
    for (k, v) in &headers {
        if k != axum::http::header::TRANSFER_ENCODING && k != axum::http::header::CONNECTION {
            answer.headers_mut().insert(k, v.clone());
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_url_path_has_its_api_path() {
        let api = Front::HttpApi("https://face.example.com".into());
        let urls = Front::FunctionUrls("http://127.0.0.1:9000/lambda-url".into());
        for (function, path, want) in [
            ("issue-key", "/", "https://face.example.com/issue-key"),
            (
                "verify-result",
                "/",
                "https://face.example.com/verify-result",
            ),
            (
                "verify-result",
                "/.well-known/jwks.json",
                "https://face.example.com/.well-known/jwks.json",
            ),
            (
                "event-callback",
                "/",
                "https://face.example.com/event-callback",
            ),
            ("authinfo", "/", "https://face.example.com/authinfo"),
            (
                "authinfo",
                "/real-name",
                "https://face.example.com/authinfo/real-name",
            ),
            ("lookup", "/", "https://face.example.com/lookup"),
        ] {
            assert_eq!(api.url(function, path), want);
        }
        assert_eq!(
            urls.url("authinfo", "/real-name"),
            "http://127.0.0.1:9000/lambda-url/authinfo/real-name"
        );
    }
}
