//! `GET` and `POST` of the event-callback function (WeChat's push), on `/`
//! (function URL) or `/event-callback` (HTTP API).

use lambda_http::{Body, Request, Response};

use super::routes::{EventCallbackRoute, Routes};
use super::{ApiError, Reply, body_bytes, for_app, respond};
use crate::service::Services;
use crate::service::event_callback::{PushOutcome, PushQuery, receive, verify_url};
use crate::service::tenant::Named;

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
    respond(run(svc, req).await)
}

async fn run(svc: &Services, req: Request) -> Result<Reply, ApiError> {
    let route = EventCallbackRoute::parse(&req)?;
    let q = query(&req);
    // Each tenant's push URL names it: `?appid=<appid>` (docs/api.md §9).
    let svc = for_app(svc, &req, Named::Explicitly).await?;
    if route == EventCallbackRoute::UrlCheck {
        return Ok(Reply::text(verify_url(&svc, &q).await?));
    }
    let body = std::str::from_utf8(body_bytes(&req)?)
        .map_err(|_| ApiError::invalid_request("the body is not UTF-8"))?;
    if let PushOutcome::Finalized(r) = receive(&svc, &q, body).await? {
        tracing::info!(
            event = "push_finalized",
            status = r.status.as_str(),
            "push finalized a session"
        );
    }
    Ok(Reply::text("success".into()))
}
