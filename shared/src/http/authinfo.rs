//! `POST /` and `POST /real-name` of the authinfo function (the face kiosk);
//! behind the HTTP API, `POST /authinfo` and `POST /authinfo/real-name`.
//!
//! Order of checks: route and method; a `Bearer` token present (else 401);
//! the body's JSON shape and every field's value (400, before anything else
//! is read); the device's token against the merchant secret (401); then
//! WeChat Pay.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::routes::{AuthinfoRoute, Routes};
use super::{ApiError, Reply, json_body, respond};
use crate::domain::kiosk::{
    Attach, AuthinfoRequest, DeviceToken, FaceSid, InfoType, KioskCaller, KioskFieldError, RawData,
    RealName, StoreId, StoreName,
};
use crate::service::ServiceError;
use crate::service::authinfo::{KioskServices, RealNameInput, authinfo, real_name};

/// The fields every kiosk request starts with.
#[derive(Deserialize)]
struct CallerBody {
    device_id: String,
    #[serde(default)]
    sub_mch_id: Option<String>,
}

impl TryFrom<CallerBody> for KioskCaller {
    type Error = ApiError;
    fn try_from(b: CallerBody) -> Result<Self, ApiError> {
        KioskCaller::parse(&b.device_id, b.sub_mch_id.as_deref()).map_err(invalid)
    }
}

#[derive(Deserialize)]
struct AuthinfoRequestBody {
    #[serde(flatten)]
    caller: CallerBody,
    store_id: String,
    store_name: String,
    rawdata: String,
    #[serde(default)]
    attach: Option<String>,
}

#[derive(Deserialize)]
struct RealNameRequestBody {
    #[serde(flatten)]
    caller: CallerBody,
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
        caller: b.caller.try_into()?,
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
        caller: b.caller.try_into()?,
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

/// The consenting user's data, for the kiosk only (never stored or logged):
/// decrypted for a direct merchant; in partner mode still encrypted, as
/// WeChat Pay encrypted it to the sub-merchant's certificate `sub_serial_no`,
/// for the hospital to decrypt with its own key (examples/hospital/). Absent
/// fields are left out.
fn real_name_body(answer: &RealName) -> Value {
    let text = |v: Option<&str>| v.map(Value::from);
    let (credential_type, fields) = match answer {
        RealName::Decrypted(i) => (
            i.credential_type,
            [
                ("real_name", text(i.real_name.as_ref().map(|p| p.expose()))),
                (
                    "credential_id",
                    text(i.credential_id.as_ref().map(|p| p.expose())),
                ),
                (
                    "phone_number",
                    text(i.phone_number.as_ref().map(|p| p.expose())),
                ),
                ("sub_serial_no", None),
            ],
        ),
        RealName::PassedThrough(e) => (
            e.credential_type,
            [
                (
                    "encrypted_real_name",
                    text(e.encrypted_real_name.as_deref()),
                ),
                (
                    "encrypted_credential_id",
                    text(e.encrypted_credential_id.as_deref()),
                ),
                (
                    "encrypted_phone_number",
                    text(e.encrypted_phone_number.as_deref()),
                ),
                ("sub_serial_no", text(Some(&e.sub_serial_no))),
            ],
        ),
    };
    let i = answer.ids();
    let ids = [
        ("openid", text(i.openid.as_deref())),
        ("sub_openid", text(i.sub_openid.as_deref())),
        ("union_id", text(i.union_id.as_deref())),
        ("credential_type", credential_type.map(Value::from)),
    ];
    let body: serde_json::Map<String, Value> = ids
        .into_iter()
        .chain(fields)
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect();
    Value::Object(body)
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
    let route = AuthinfoRoute::parse(req)?;
    let token = bearer(req).ok_or_else(|| ApiError::from(ServiceError::Unauthorized))?;
    if route == AuthinfoRoute::RealName {
        let answer = real_name(svc, &token, parse_real_name(req)?).await?;
        return Ok(Reply::ok(&real_name_body(&answer)));
    }
    let a = authinfo(svc, &token, parse_authinfo(req)?).await?;
    Ok(Reply::ok(&AuthinfoBody {
        authinfo: a.authinfo.expose(),
        expires_in: a.expires_in,
    }))
}

#[cfg(test)]
mod tests {
    use lambda_http::http::{Method, Request as HttpRequest};

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
        assert_eq!(k.pay.calls(crate::upstream::Upstream::FacemchUsers), 0);
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
