//! WeChat's JSON envelope: errcodes, errmsgs with the `rid:` suffix, and
//! request parsing that fails the way WeChat does (44002, 47001).

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, extract::Query};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sim_kit::LogNote;
use std::collections::HashMap;

use crate::crypto::rid;

/// The errcodes the simulator emits, named after their meaning.
pub(crate) mod code {
    pub const SYSTEM_ERROR: i64 = -1;
    pub const INVALID_CREDENTIAL: i64 = 40001;
    pub const INVALID_GRANT_TYPE: i64 = 40002;
    pub const INVALID_APPID: i64 = 40013;
    pub const INVALID_ACCESS_TOKEN: i64 = 40014;
    pub const INVALID_CODE: i64 = 40029;
    pub const INVALID_URL: i64 = 40066;
    pub const INVALID_ARGS: i64 = 40097;
    pub const INVALID_APPSECRET: i64 = 40125;
    pub const ACCESS_TOKEN_MISSING: i64 = 41001;
    pub const APPID_MISSING: i64 = 41002;
    pub const APPSECRET_MISSING: i64 = 41004;
    pub const CODE_MISSING: i64 = 41008;
    pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
    pub const REQUIRE_GET: i64 = 43001;
    pub const REQUIRE_POST: i64 = 43002;
    pub const EMPTY_POST_DATA: i64 = 44002;
    pub const DAILY_QUOTA: i64 = 45009;
    pub const MINUTE_QUOTA: i64 = 45011;
    pub const DATA_FORMAT_ERROR: i64 = 47001;
    pub const API_UNAUTHORIZED: i64 = 48001;
    pub const INVALID_IDENTIFY_ID: i64 = 84001;
    pub const USER_INFO_EXPIRED: i64 = 84002;
    pub const USER_INFO_NOT_EXIST: i64 = 84003;
    pub const NAME_OR_ID_EMPTY: i64 = 84006;
    pub const INVALID_CERT_TYPE: i64 = 84013;
}

/// WeChat's usual errmsg for a code (used by injected faults too).
pub(crate) fn default_errmsg(errcode: i64) -> &'static str {
    match errcode {
        code::SYSTEM_ERROR => "system error",
        code::INVALID_CREDENTIAL => {
            "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r"
        }
        code::INVALID_GRANT_TYPE => "invalid grant_type",
        code::INVALID_APPID => "invalid appid",
        code::INVALID_ACCESS_TOKEN => "invalid access_token",
        code::INVALID_CODE => "invalid code",
        code::INVALID_URL => "invalid url",
        code::INVALID_ARGS => "invalid args",
        code::INVALID_APPSECRET => "invalid appsecret",
        code::ACCESS_TOKEN_MISSING => "access_token missing",
        code::APPID_MISSING => "appid missing",
        code::APPSECRET_MISSING => "appsecret missing",
        code::CODE_MISSING => "missing code",
        code::ACCESS_TOKEN_EXPIRED => "access_token expired",
        code::REQUIRE_GET => "require GET method",
        code::REQUIRE_POST => "require POST method",
        code::EMPTY_POST_DATA => "empty post data",
        code::DAILY_QUOTA => "reach max api daily quota limit",
        code::MINUTE_QUOTA => "api minute-quota reach limit  mustslower  retry next minute",
        code::DATA_FORMAT_ERROR => "data format error",
        code::API_UNAUTHORIZED => "api unauthorized",
        code::INVALID_IDENTIFY_ID => "invalid identify id",
        code::USER_INFO_EXPIRED => "user info expired",
        code::USER_INFO_NOT_EXIST => "user info not exist",
        code::NAME_OR_ID_EMPTY => "name or id_card_number empty",
        code::INVALID_CERT_TYPE => "invalid cert_type, only IDENTITY_CARD allowed",
        _ => "simulated error",
    }
}

/// Appends the diagnostic suffix every real errmsg carries.
pub(crate) fn with_rid(msg: &str) -> String {
    format!("{msg} rid: {}", rid())
}

/// A WeChat business error: HTTP 200 with `{"errcode","errmsg"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WxError {
    pub errcode: i64,
    pub errmsg: String,
}

impl WxError {
    /// An error with WeChat's usual message for `errcode`.
    pub(crate) fn code(errcode: i64) -> Self {
        WxError {
            errcode,
            errmsg: default_errmsg(errcode).to_owned(),
        }
    }

    /// An error whose message explains the simulator's reason (for the
    /// SIM-CHOICE codes whose real wording is unknown).
    pub(crate) fn with_detail(errcode: i64, detail: &str) -> Self {
        WxError {
            errcode,
            errmsg: format!("{}: {detail}", default_errmsg(errcode)),
        }
    }
}

impl IntoResponse for WxError {
    fn into_response(self) -> Response {
        let body = json!({"errcode": self.errcode, "errmsg": with_rid(&self.errmsg)});
        let mut resp = Json(body).into_response();
        // The request log shows the errcode.
        resp.extensions_mut()
            .insert(LogNote(format!("errcode={}", self.errcode)));
        resp
    }
}

/// A business success: the fields plus `errcode: 0` and `errmsg: "ok rid: …"`.
pub(crate) fn business_ok(mut fields: Map<String, Value>) -> Response {
    fields.insert("errcode".into(), json!(0));
    fields.insert("errmsg".into(), json!(with_rid("ok")));
    Json(Value::Object(fields)).into_response()
}

/// The outcome of a handler whose success omits errcode/errmsg (token
/// endpoints, jscode2session).
pub(crate) fn bare(result: Result<Value, WxError>) -> Response {
    match result {
        Ok(fields) => Json(fields).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Turns the outcome of a business handler into a response.
pub(crate) fn business(result: Result<Map<String, Value>, WxError>) -> Response {
    match result {
        Ok(fields) => business_ok(fields),
        Err(e) => e.into_response(),
    }
}

/// Query-string parameters. Undecodable strings count as absent, which
/// yields WeChat's "missing" errcodes rather than a transport error.
pub(crate) fn query_params(uri: &Uri) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|Query(q)| q)
        .unwrap_or_default()
}

/// A parameter that is present and not empty.
pub(crate) fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// Parses a JSON object body: empty → 44002, anything else unparsable or
/// mistyped → 47001.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, WxError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError::code(code::EMPTY_POST_DATA));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| WxError::code(code::DATA_FORMAT_ERROR))?;
    if !value.is_object() {
        return Err(WxError::code(code::DATA_FORMAT_ERROR));
    }
    serde_json::from_value(value).map_err(|_| WxError::code(code::DATA_FORMAT_ERROR))
}

/// A string field that is present and non-empty.
pub(crate) fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// For a wrong HTTP method on a WeChat endpoint.
pub(crate) async fn require_post() -> Response {
    WxError::code(code::REQUIRE_POST).into_response()
}

/// For a wrong HTTP method on a WeChat endpoint.
pub(crate) async fn require_get() -> Response {
    WxError::code(code::REQUIRE_GET).into_response()
}

/// Unknown paths: WeChat answers 40066 on its API host; `/__sim/` typos are
/// plain 404s so a test notices it called a hook that does not exist.
pub(crate) async fn unknown_path(uri: Uri) -> Response {
    if uri.path().starts_with("/__sim/") {
        (StatusCode::NOT_FOUND, "no such simulator hook").into_response()
    } else {
        WxError::code(code::INVALID_URL).into_response()
    }
}
