//! `POST /` and `POST /real-name` of the authinfo function (the face kiosk).
//!
//! Order of checks: route and method; a `Bearer` token present (else 401);
//! the body's JSON shape and every field's value (400, before anything else
//! is read); the device's token against the merchant secret (401); then
//! WeChat Pay.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::{ApiError, Reply, json_body, respond, route_to};
use crate::domain::kiosk::{
    Attach, AuthinfoRequest, DeviceId, DeviceToken, FaceSid, InfoType, KioskFieldError, RawData,
    RealNameInfo, StoreId, StoreName,
};
use crate::service::ServiceError;
use crate::service::authinfo::{KioskServices, RealNameInput, authinfo, real_name};

const ROUTES: [&str; 2] = ["/", "/real-name"];

#[derive(Deserialize)]
struct AuthinfoRequestBody {
    device_id: String,
    store_id: String,
    store_name: String,
    rawdata: String,
    #[serde(default)]
    attach: Option<String>,
}

#[derive(Deserialize)]
struct RealNameRequestBody {
    device_id: String,
    face_sid: String,
    #[serde(default)]
    info_type: Option<String>,
}

fn invalid(e: KioskFieldError) -> ApiError {
    ApiError::invalid_request(e.to_string())
}

fn parse_authinfo(req: &Request) -> Result<AuthinfoRequest, ApiError> {
    let b: AuthinfoRequestBody = json_body(req)?;
    Ok(AuthinfoRequest {
        device_id: DeviceId::parse(&b.device_id).map_err(invalid)?,
        store_id: StoreId::parse(&b.store_id).map_err(invalid)?,
        store_name: StoreName::parse(&b.store_name).map_err(invalid)?,
        rawdata: RawData::parse(&b.rawdata).map_err(invalid)?,
        attach: b
            .attach
            .as_deref()
            .map(Attach::parse)
            .transpose()
            .map_err(invalid)?
            .flatten(),
    })
}

fn parse_real_name(req: &Request) -> Result<RealNameInput, ApiError> {
    let b: RealNameRequestBody = json_body(req)?;
    Ok(RealNameInput {
        device_id: DeviceId::parse(&b.device_id).map_err(invalid)?,
        face_sid: FaceSid::parse(&b.face_sid).map_err(invalid)?,
        info_type: b
            .info_type
            .as_deref()
            .map_or(Ok(InfoType::RealName), InfoType::parse)
            .map_err(invalid)?,
    })
}

fn bearer(req: &Request) -> Option<DeviceToken> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(DeviceToken::from_authorization)
}

#[derive(Serialize)]
struct AuthinfoBody<'a> {
    authinfo: &'a str,
    expires_in: i64,
}

/// The consenting user's data, for the kiosk only (never stored or logged).
#[derive(Serialize)]
struct RealNameBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    openid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_openid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    union_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_type: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
}

impl<'a> From<&'a RealNameInfo> for RealNameBody<'a> {
    fn from(i: &'a RealNameInfo) -> Self {
        Self {
            openid: i.openid.as_deref(),
            sub_openid: i.sub_openid.as_deref(),
            union_id: i.union_id.as_deref(),
            real_name: i.real_name.as_ref().map(|p| p.expose()),
            credential_type: i.credential_type,
            credential_id: i.credential_id.as_ref().map(|p| p.expose()),
            phone_number: i.phone_number.as_ref().map(|p| p.expose()),
        }
    }
}

pub async fn handle(svc: &KioskServices, req: Request) -> Response<Body> {
    let mut resp = respond(run(svc, &req).await);
    let unauthorized = resp.status() == StatusCode::UNAUTHORIZED;
    let headers = resp.headers_mut();
    if unauthorized {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    // Authinfo is a credential and real-name answers are personal data.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn run(svc: &KioskServices, req: &Request) -> Result<Reply, ApiError> {
    let path = route_to(req, &ROUTES, &[Method::POST])?;
    let token = bearer(req).ok_or_else(|| ApiError::from(ServiceError::Unauthorized))?;
    if path == "/real-name" {
        let info = real_name(svc, &token, parse_real_name(req)?).await?;
        return Ok(Reply::ok(&RealNameBody::from(&info)));
    }
    let a = authinfo(svc, &token, parse_authinfo(req)?).await?;
    Ok(Reply::ok(&AuthinfoBody {
        authinfo: a.authinfo.expose(),
        expires_in: a.expires_in,
    }))
}

#[cfg(test)]
mod tests {
    use lambda_http::http::Request as HttpRequest;

    use super::*;
    use crate::testing;

    fn post(path: &str, body: &str) -> Request {
        HttpRequest::builder()
            .method(Method::POST)
            .uri(path)
            .header("authorization", "Bearer abc")
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_face_sid_that_would_rewrite_the_signed_path_is_refused_before_any_call() {
        let k = testing::kiosk_services();
        for sid in [
            ".",
            "..",
            "%2e%2e",
            "../../v3/certificates",
            "a/b",
            "sid?x=1",
        ] {
            let body = serde_json::json!({"device_id": "kiosk-001", "face_sid": sid}).to_string();
            let resp = handle(&k.svc, post("/real-name", &body)).await;
            assert_eq!(resp.status(), 400, "{sid}");
        }
        assert_eq!(k.pay.calls("real_name"), 0);
        assert!(k.store.audits().is_empty());
        // A refused face_sid from WeChat Pay is the kiosk's mistake: 400.
        let body =
            serde_json::json!({"device_id": "kiosk-001", "face_sid": "sid-unknown"}).to_string();
        let resp = handle(&k.svc, post("/real-name", &body)).await;
        let v: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(
            (resp.status().as_u16(), v["error"]["code"].as_str()),
            (400, Some("invalid_face_sid")),
            "{v}"
        );
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }

    proptest::proptest! {
        #[test]
        fn kiosk_requests_always_get_a_clear_answer(
            body in proptest::collection::btree_map(
                proptest::prop_oneof![
                    proptest::strategy::Just("device_id".to_owned()),
                    proptest::strategy::Just("face_sid".to_owned()),
                    proptest::strategy::Just("store_id".to_owned()),
                    proptest::strategy::Just("store_name".to_owned()),
                    proptest::strategy::Just("rawdata".to_owned()),
                    proptest::strategy::Just("attach".to_owned()),
                    proptest::strategy::Just("info_type".to_owned()),
                ],
                ".{0,40}",
                0..7,
            ),
            path in proptest::prop_oneof![proptest::strategy::Just("/"), proptest::strategy::Just("/real-name"), proptest::strategy::Just("/x")],
        ) {
            let k = testing::kiosk_services();
            let body = serde_json::to_string(&body).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let resp = rt.block_on(handle(&k.svc, post(path, &body)));
            proptest::prop_assert!(resp.status().as_u16() < 500, "{}", resp.status());
        }
    }
}
