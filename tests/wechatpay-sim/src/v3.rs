//! `GET /v3/facemch/users/{face_sid}` (docs/wechatpay.md §4, §5, docs/wechatpay.md §8).

use std::collections::HashMap;

use aws_lc_rs::digest;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::config::{ResponseSigner, SubRefusal};
use crate::crypto::{nonce, normalize_serial};
use crate::faults::FaultAction;
use crate::state::{Endpoint, Sim};

const SKEW_SECS: i64 = 300;

/// A non-2xx APIv3 answer: `{"code","message"}`, unsigned (docs/wechatpay.md §4.2).
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            ),
            (
                header::HeaderName::from_static("request-id"),
                HeaderValue::from_str(&nonce()).unwrap_or(HeaderValue::from_static("sim")),
            ),
        ],
        json!({"code": code, "message": message}).to_string(),
    )
        .into_response()
}

fn sign_error(message: &str) -> Response {
    error(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message)
}

/// `WECHATPAY2-SHA256-RSA2048 k="v",…` → its five values (any order).
fn parse_authorization(h: &str) -> Option<HashMap<&str, &str>> {
    let rest = h.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    let mut out = HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.strip_prefix('"')?.strip_suffix('"')?;
        out.insert(k, v);
    }
    ["mchid", "nonce_str", "timestamp", "serial_no", "signature"]
        .iter()
        .all(|k| out.contains_key(k))
        .then_some(out)
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k))
            .or_insert_with(|| percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) async fn users(
    State(sim): State<Sim>,
    Path(face_sid): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = sim.enter(Endpoint::FacemchUsers).await.unwrap_or_default();
    if let Some(status) = fault.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = fault
            .code
            .clone()
            .unwrap_or_else(|| default_code(status).to_owned());
        let message = fault
            .message
            .clone()
            .unwrap_or_else(|| "wechatpay-sim: injected".to_owned());
        return error(status, &code, &message);
    }
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if h("accept").is_none() || h("user-agent").is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "Http头缺少Accept或User-Agent",
        );
    }
    let Some(auth) = h("authorization").and_then(parse_authorization) else {
        return sign_error("Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》");
    };

    let s = sim.lock();
    let now = s.now();
    let c = s.config.clone();
    if auth["mchid"] != c.mch_id {
        return sign_error("商户号不存在或与签名不符");
    }
    if normalize_serial(auth["serial_no"]) != normalize_serial(&c.merchant_serial_no) {
        return sign_error("商户证书序列号有误。请使用签名私钥匹配的证书序列号");
    }
    match auth["timestamp"].parse::<i64>() {
        Ok(ts) if (now - ts).abs() <= SKEW_SECS => {}
        _ => return sign_error("Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"),
    }
    // Rebuilt from the raw request target: exactly what the client signed.
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let message = format!(
        "GET\n{target}\n{}\n{}\n\n",
        auth["timestamp"], auth["nonce_str"]
    );
    if !sim
        .keys
        .verify_merchant(message.as_bytes(), auth["signature"])
    {
        return sign_error("签名错误，请检查后再试");
    }

    let q = query_map(&uri);
    let info_type = match q.get("info_type").map(String::as_str) {
        Some(t @ ("ASK_REAL_NAME" | "ASK_REAL_NAME_TEL" | "ASK_UNIONID")) => t,
        Some("ASK_UNION_ID") if c.accept_ask_union_id => "ASK_UNIONID",
        Some(_) => return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "info_type值无定义"),
        None => return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "缺少参数info_type"),
    };
    if q.get("appid") != Some(&c.appid) {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "appid与商户号不匹配",
        );
    }
    // Partner mode: the provider asks on behalf of `sub_mchid`. Without
    // one, direct mode, where `sub_appid` was never looked at.
    let param_error = |m: &str| error(StatusCode::BAD_REQUEST, "PARAM_ERROR", m);
    let sub_mchid = q.get("sub_mchid").map(String::as_str);
    if sub_mchid == Some("") {
        return param_error("sub_mchid不合法");
    }
    let sub = match c.resolve_sub(sub_mchid, q.get("sub_appid").map(String::as_str)) {
        Ok(sub) => sub,
        Err(SubRefusal::SubMchId) => return param_error("sub_mchid不合法"),
        Err(SubRefusal::SubAppid) => return param_error("sub_appid与sub_mchid不匹配"),
    };
    // Real-name fields go to the sub-merchant's certificate, so it must be named.
    if let Some(sub) = sub
        && info_type != "ASK_UNIONID"
    {
        match q.get("sub_serial_no").filter(|v| !v.is_empty()) {
            None => return param_error("服务商模式下请求实名信息必传sub_serial_no"),
            Some(v) if normalize_serial(v) != normalize_serial(&sub.serial_no) => {
                return param_error("sub_serial_no不合法");
            }
            Some(_) => {}
        }
    }
    let sub_id = sub.map(|s| s.sub_mch_id.as_str());

    // A face_sid is only good for the (sub-)merchant whose kiosk minted it.
    let Some(record) = s
        .face_sids
        .get(&face_sid)
        .filter(|r| r.expires_at > now && r.sub_mch_id.as_deref() == sub_id)
        .cloned()
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "face_sid无效或已过期",
        );
    };
    if !record.consented {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "用户未授权");
    }
    drop(s);

    let mut user = record.user;
    if let Some(sub_appid) = sub.and_then(|s| s.sub_appid.as_deref())
        && user.sub_openid.is_none()
    {
        user.sub_openid = Some(sub_openid(sub_appid, &user.openid));
    }
    let encrypt = |plain: &str| -> Result<String, String> {
        if fault.garble_ciphertext {
            return Ok(sim.keys.garbage_ciphertext(sub_id));
        }
        sim.keys.encrypt(sub_id, c.padding, plain)
    };
    let body = match user_body(&user, info_type, encrypt) {
        Ok(Some(body)) => body,
        Ok(None) => return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "UnionID为空"),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", &e),
    };
    let body = Value::Object(body).to_string();
    signed(&sim, &c, &headers, &fault, body)
}

/// The user's openid under `sub_appid`: derived from their openid (under
/// the provider's appid), so it stays the same for a user and sub_appid.
fn sub_openid(sub_appid: &str, openid: &str) -> String {
    let d = digest::digest(
        &digest::SHA256,
        format!("sub_openid\n{sub_appid}\n{openid}").as_bytes(),
    );
    format!("oSub{}", hex::encode(&d.as_ref()[..12]))
}

/// The answer's JSON for `info_type`; `None` when the user has no union_id.
fn user_body(
    user: &crate::config::SimUser,
    info_type: &str,
    encrypt: impl Fn(&str) -> Result<String, String>,
) -> Result<Option<Map<String, Value>>, String> {
    let mut body = Map::new();
    if info_type == "ASK_UNIONID" {
        let Some(union_id) = &user.union_id else {
            return Ok(None);
        };
        body.insert("union_id".into(), json!(union_id));
        return Ok(Some(body));
    }
    body.insert("openid".into(), json!(user.openid));
    if let Some(v) = &user.sub_openid {
        body.insert("sub_openid".into(), json!(v));
    }
    body.insert(
        "real_name_info".into(),
        json!({
            "encrypted_real_name": encrypt(&user.name)?,
            "credential_type": user.credential_type,
            "encrypted_credential_id": encrypt(&user.credential_id)?,
        }),
    );
    if info_type == "ASK_REAL_NAME_TEL"
        && let Some(phone) = &user.phone
    {
        body.insert("encrypted_phone_number".into(), json!(encrypt(phone)?));
    }
    Ok(Some(body))
}

fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "PARAM_ERROR",
        401 => "SIGN_ERROR",
        403 => "NO_AUTH",
        404 => "RESOURCE_NOT_EXISTS",
        429 => "RATELIMIT_EXCEEDED",
        500 => "SYSTEM_ERROR",
        _ => "SERVICE_UNAVAILABLE",
    }
}

/// A 200 signed like WeChat Pay signs (docs/wechatpay.md §4.2), faults applied.
fn signed(
    sim: &Sim,
    c: &crate::config::PaySimConfig,
    req_headers: &HeaderMap,
    fault: &FaultAction,
    body: String,
) -> Response {
    let wanted = req_headers
        .get("wechatpay-serial")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let public_key_mode = match c.response_signer {
        ResponseSigner::Auto => wanted == c.public_key_id,
        ResponseSigner::PublicKey => true,
        ResponseSigner::Platform => false,
    };
    let mut serial = if public_key_mode {
        c.public_key_id.clone()
    } else {
        c.platform_serial_no.clone()
    };
    let now = sim.lock().now();
    let ts = (now + fault.timestamp_skew_secs.unwrap_or(0)).to_string();
    let nonce = nonce();
    let message = format!("{ts}\n{nonce}\n{body}\n");
    let mut signature = sim.keys.sign(public_key_mode, message.as_bytes());
    if fault.bad_signature {
        // A real signature, over something else.
        signature = sim.keys.sign(
            public_key_mode,
            format!("{ts}\n{nonce}\n{body} \n").as_bytes(),
        );
    }
    if fault.wrong_serial {
        serial = "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF".into();
    }
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    let mut put = |k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    put("content-type", "application/json; charset=utf-8");
    put("request-id", &crate::crypto::nonce());
    put("wechatpay-nonce", &nonce);
    put("wechatpay-timestamp", &ts);
    put("wechatpay-serial", &serial);
    if !fault.missing_signature {
        put("wechatpay-signature", &signature);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_is_parsed_by_key() {
        let a = parse_authorization(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",serial_no=\"S\",timestamp=\"2\",nonce_str=\"N\",signature=\"x==\"",
        )
        .unwrap();
        assert_eq!((a["mchid"], a["signature"]), ("1", "x=="));
        assert!(parse_authorization("WECHATPAY2-SHA256-RSA2048 mchid=\"1\"").is_none());
        assert!(parse_authorization("Bearer x").is_none());
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
    }

    #[test]
    fn sub_openids_are_stable_per_user_and_sub_appid() {
        let a = sub_openid("wxsub-a", "oSim1");
        assert_eq!(a, sub_openid("wxsub-a", "oSim1"));
        assert_eq!(a.len(), 28);
        assert_ne!(a, sub_openid("wxsub-b", "oSim1"));
        assert_ne!(a, sub_openid("wxsub-a", "oSim2"));
    }
}
