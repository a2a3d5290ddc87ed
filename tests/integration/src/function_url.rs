//! A function URL on loopback for the in-process handlers, so that the
//! simulator's push client can reach event-callback over real HTTP.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use lambda_http::Body;
use wxface::service::Services;

use crate::world::Function;

#[derive(Clone)]
struct Target {
    svc: Services,
    function: Function,
}

/// Serves `function` at `http://127.0.0.1:<port>/` until the test ends.
pub async fn serve(svc: Services, function: Function) -> String {
    let app = Router::new()
        .fallback(forward)
        .with_state(Target { svc, function });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

async fn forward(State(t): State<Target>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(s) if s.is_empty() => Body::Empty,
        Ok(s) => Body::Text(s),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    let resp = t
        .function
        .call(&t.svc, lambda_http::Request::from_parts(parts, body))
        .await;
    let (parts, body) = resp.into_parts();
    let bytes: Vec<u8> = body.as_ref().to_vec();
    Response::from_parts(parts, AxumBody::from(bytes))
}
