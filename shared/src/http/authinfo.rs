//! `POST /` and `POST /real-name` of the authinfo function (the face kiosk).
//!
//! Order of checks: route and method; a `Bearer` token present (else 401);
//! the body's JSON shape and every field's value (400, before anything else
//! is read); the device's token against the merchant secret (401); then
//! WeChat Pay.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ApiError, error_response, json_body, json_response, route_to};
use crate::domain::kiosk::{
    Attach, AuthinfoRequest, DeviceId, DeviceToken, FaceSid, InfoType, KioskFieldError, RawData,
    StoreId, StoreName,
};
use crate::service::ServiceError;
use crate::service::authinfo::{KioskServices, RealNameInput, authinfo, real_name};

const ROUTES: [&str; 2] = ["/", "/real-name"];

#[derive(Deserialize)]
struct AuthinfoBody {
    device_id: String,
    store_id: String,
    store_name: String,
    rawdata: String,
    #[serde(default)]
    attach: Option<String>,
}

#[derive(Deserialize)]
struct RealNameBody {
    device_id: String,
    face_sid: String,
    #[serde(default)]
    info_type: Option<String>,
}

fn invalid(e: KioskFieldError) -> ApiError {
    ApiError::invalid_request(e.to_string())
}

fn parse_authinfo(req: &Request) -> Result<AuthinfoRequest, ApiError> {
    let b: AuthinfoBody = json_body(req)?;
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
    let b: RealNameBody = json_body(req)?;
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

fn refused(e: ApiError) -> Response<Body> {
    tracing::info!(event = "client_error", code = e.code, "request refused");
    e.into_response()
}

pub async fn handle(svc: &KioskServices, req: Request) -> Response<Body> {
    let mut resp = match route_to(&req, &ROUTES, &[Method::POST]) {
        Err(e) => return e.into_response(),
        Ok(path) => match bearer(&req) {
            None => refused(ServiceError::Unauthorized.into()),
            Some(token) if path == "/real-name" => real_name_route(svc, &token, &req).await,
            Some(token) => authinfo_route(svc, &token, &req).await,
        },
    };
    let unauthorized = resp.status() == StatusCode::UNAUTHORIZED;
    let headers = resp.headers_mut();
    if unauthorized {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    // Authinfo is a credential and real-name answers are personal data.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn authinfo_route(svc: &KioskServices, token: &DeviceToken, req: &Request) -> Response<Body> {
    let input = match parse_authinfo(req) {
        Ok(i) => i,
        Err(e) => return refused(e),
    };
    match authinfo(svc, token, input).await {
        Ok(a) => json_response(
            StatusCode::OK,
            &json!({"authinfo": a.authinfo.expose(), "expires_in": a.expires_in}),
        ),
        Err(e) => error_response(e),
    }
}

async fn real_name_route(
    svc: &KioskServices,
    token: &DeviceToken,
    req: &Request,
) -> Response<Body> {
    let input = match parse_real_name(req) {
        Ok(i) => i,
        Err(e) => return refused(e),
    };
    match real_name(svc, token, input).await {
        Ok(info) => {
            let mut out = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    out.insert(k.to_owned(), v);
                }
            };
            put("openid", info.openid.map(Value::from));
            put("sub_openid", info.sub_openid.map(Value::from));
            put("union_id", info.union_id.map(Value::from));
            put("real_name", info.real_name.map(|p| Value::from(p.expose())));
            put("credential_type", info.credential_type.map(Value::from));
            put(
                "credential_id",
                info.credential_id.map(|p| Value::from(p.expose())),
            );
            put(
                "phone_number",
                info.phone_number.map(|p| Value::from(p.expose())),
            );
            json_response(StatusCode::OK, &Value::Object(out))
        }
        Err(e) => error_response(e),
    }
}
