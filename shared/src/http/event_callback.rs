//! `GET /` and `POST /` of the event-callback function (WeChat's push).

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

use super::{ApiError, MAX_BODY_BYTES, error_response, route};
use crate::service::Services;
use crate::service::event_callback::{PushOutcome, PushQuery, receive, verify_url};

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn query(req: &Request) -> PushQuery {
    let mut q = PushQuery::default();
    let raw = req.uri().query().unwrap_or_default();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let slot = match k.as_ref() {
            "signature" => &mut q.signature,
            "timestamp" => &mut q.timestamp,
            "nonce" => &mut q.nonce,
            "echostr" => &mut q.echostr,
            "encrypt_type" => &mut q.encrypt_type,
            "msg_signature" => &mut q.msg_signature,
            _ => continue,
        };
        // The first value wins; a duplicated parameter cannot override it.
        slot.get_or_insert_with(|| v.into_owned());
    }
    q
}

pub async fn handle(svc: &Services, req: Request) -> Response<Body> {
    if let Err(e) = route(&req, &[Method::GET, Method::POST]) {
        return e.into_response();
    }
    let q = query(&req);
    if req.method() == Method::GET {
        return match verify_url(svc, &q).await {
            Ok(echo) => text(StatusCode::OK, echo),
            Err(e) => error_response(e),
        };
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        )
        .into_response();
    }
    let Ok(body) = std::str::from_utf8(bytes) else {
        return ApiError::invalid_request("the body is not UTF-8").into_response();
    };
    match receive(svc, &q, body).await {
        Ok(outcome) => {
            if let PushOutcome::Finalized(r) = &outcome {
                tracing::info!(
                    event = "push_finalized",
                    status = r.status.as_str(),
                    "push finalized a session"
                );
            }
            text(StatusCode::OK, "success".into())
        }
        Err(e) => error_response(e),
    }
}
