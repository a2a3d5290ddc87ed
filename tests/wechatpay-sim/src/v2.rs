//! `POST /face/get_wxpayface_authinfo` (docs/wechatpay.md §3, §8).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use sim_kit::random_bytes;

use crate::config::SubRefusal;
use crate::crypto::{nonce, v2_sign, v2_verify};
use crate::state::{Endpoint, IssuedAuthinfo, Sim};
use crate::xml;

fn xml_response(fields: &BTreeMap<String, String>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        xml::write(fields),
    )
        .into_response()
}

/// A protocol failure: `return_code` + `return_msg`, unsigned (docs/wechatpay.md §2.4).
fn fail(code: &str, msg: &str) -> Response {
    let fields = BTreeMap::from([
        ("return_code".to_owned(), code.to_owned()),
        ("return_msg".to_owned(), msg.to_owned()),
    ]);
    xml_response(&fields)
}

/// Field limits of docs/wechatpay.md §3.2, in characters.
const LIMITS: [(&str, usize); 10] = [
    ("store_id", 32),
    ("store_name", 128),
    ("device_id", 32),
    ("rawdata", 2048),
    ("appid", 32),
    ("mch_id", 32),
    ("sub_appid", 32),
    ("sub_mch_id", 32),
    ("nonce_str", 32),
    ("now", 10),
];

const REQUIRED: [&str; 10] = [
    "store_id",
    "store_name",
    "device_id",
    "rawdata",
    "appid",
    "mch_id",
    "now",
    "version",
    "nonce_str",
    "sign",
];

pub(crate) async fn authinfo(State(sim): State<Sim>, body: Bytes) -> Response {
    let fault = sim.enter(Endpoint::Authinfo).await.unwrap_or_default();
    if let Some(status) = fault.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            format!("wechatpay-sim: injected HTTP {}", status.as_u16()),
        )
            .into_response();
    }
    if let Some(code) = &fault.return_code {
        return fail(code, fault.return_msg.as_deref().unwrap_or("系统繁忙"));
    }

    let Ok(text) = std::str::from_utf8(&body) else {
        return fail("FAIL", "XML格式错误");
    };
    let req = match xml::parse(text) {
        Ok(r) => r,
        Err(_) => return fail("FAIL", "XML格式错误"),
    };
    let get = |k: &str| req.get(k).map(String::as_str).unwrap_or_default();
    if let Some(missing) = REQUIRED.iter().find(|k| get(k).is_empty()) {
        return fail("FAIL", &format!("缺少参数{missing}"));
    }
    if get("version") != "1" {
        return fail("FAIL", "version错误");
    }
    let sign_type = match get("sign_type") {
        "" => "MD5",
        t @ ("MD5" | "HMAC-SHA256") => t,
        _ => return fail("FAIL", "sign_type错误"),
    };
    for (k, max) in LIMITS {
        if get(k).chars().count() > max {
            return fail("FAIL", &format!("参数{k}长度超限"));
        }
    }
    if !get("now").bytes().all(|b| b.is_ascii_digit()) {
        return fail("FAIL", "now格式错误");
    }

    let mut s = sim.lock();
    let c = &s.config;
    if !v2_verify(&req, &c.api_key, sign_type) {
        return fail("FAIL", "签名错误，请检查后再试");
    }
    if get("appid") != c.appid || get("mch_id") != c.mch_id {
        return fail("FAIL", "商户号与appid不匹配");
    }
    // Partner mode: the provider signs, on behalf of one of its sub-merchants.
    let sub_appid = Some(get("sub_appid").to_owned()).filter(|v| !v.is_empty());
    let sub_mch_id = match c.resolve_sub(Some(get("sub_mch_id")), sub_appid.as_deref()) {
        Ok(sub) => sub.map(|s| s.sub_mch_id.clone()),
        Err(SubRefusal::SubMchId) => return fail("FAIL", "sub_mch_id与mch_id不匹配"),
        Err(SubRefusal::SubAppid) => return fail("FAIL", "sub_appid与sub_mch_id不匹配"),
    };
    if sub_mch_id.is_none() && sub_appid.is_some() {
        // Direct mode has no sub-merchant whose appid it could be.
        return fail("FAIL", "商户号与appid不匹配");
    }

    let authinfo = STANDARD.encode(random_bytes(48));
    let expires_in = c.authinfo_expires_in;
    let mut answer = BTreeMap::from([
        ("return_code".to_owned(), "SUCCESS".to_owned()),
        ("authinfo".to_owned(), authinfo.clone()),
        ("expires_in".to_owned(), expires_in.to_string()),
        ("nonce_str".to_owned(), nonce()),
        ("appid".to_owned(), c.appid.clone()),
        ("mch_id".to_owned(), c.mch_id.clone()),
    ]);
    if let Some(v) = &sub_appid {
        answer.insert("sub_appid".into(), v.clone());
    }
    if let Some(v) = &sub_mch_id {
        answer.insert("sub_mch_id".into(), v.clone());
    }
    let mut sign = v2_sign(&answer, &c.api_key, sign_type);
    if fault.bad_signature {
        sign = v2_sign(&answer, "not-the-merchant-api-key-00000000", sign_type);
    }
    if !fault.missing_signature {
        answer.insert("sign".into(), sign);
    }
    let issued = IssuedAuthinfo {
        device_id: get("device_id").to_owned(),
        store_id: get("store_id").to_owned(),
        sub_mch_id,
        sub_appid,
        expires_at: s.now() + expires_in,
    };
    s.authinfos.insert(authinfo, issued);
    drop(s);
    xml_response(&answer)
}
