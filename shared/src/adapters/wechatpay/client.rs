//! The WeChat Pay face-kiosk APIs over HTTPS.
//!
//! Retries: both calls change nothing that matters at WeChat Pay (a second
//! authinfo is as good as the first; the user lookup is a read), so a refused
//! connection, a timeout or a 5xx is retried, at most [`MAX_ATTEMPTS`] times.
//! A 429 is not retried (it would only prolong the overload): it is a 503.

use crate::upstream::Upstream;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, USER_AGENT};
use serde::Deserialize;

use super::v2;
use super::v3::{self, RequestToSign, SignedHeaders};
use crate::adapters::http::{self, Answer, ReadError};
use crate::config::{MerchantSecrets, SubMerchant};
use crate::domain::Clock;
use crate::domain::kiosk::{
    self, Authinfo, AuthinfoRequest, AuthinfoToken, EncryptedRealName, FaceSid, InfoType, RealName,
    RealNameIds, RealNameInfo,
};
use crate::error::WeChatPayError;
use crate::ports::{MerchantSecretsSource, WeChatPay};
use crate::xml::{self, Nested};

pub const MAX_ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(100);
/// WeChat Pay's own example value, for an answer without `expires_in`.
const DEFAULT_AUTHINFO_TTL: i64 = 3600;
/// Longest authinfo lifetime we believe (one day).
const MAX_AUTHINFO_TTL: i64 = 86_400;
const UA: &str = concat!("wxface/", env!("CARGO_PKG_VERSION"), " (aws-lambda; rust)");

pub struct WeChatPayClient {
    http: reqwest::Client,
    face_base: String,
    api_base: String,
    merchant: Arc<dyn MerchantSecretsSource>,
    clock: Arc<dyn Clock>,
}

impl WeChatPayClient {
    pub fn new(
        face_base: &str,
        api_base: &str,
        timeout: Duration,
        merchant: Arc<dyn MerchantSecretsSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, WeChatPayError> {
        let http = http::client(timeout)
            .map_err(|e| WeChatPayError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            face_base: face_base.trim_end_matches('/').to_owned(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            merchant,
            clock,
        })
    }

    /// Sends what `build` makes, retrying transport failures and 5xx; a 429
    /// or a 4xx is returned as it is for the caller to interpret.
    async fn send(
        &self,
        endpoint: Upstream,
        build: impl Fn() -> Result<reqwest::RequestBuilder, WeChatPayError>,
    ) -> Result<Answer, WeChatPayError> {
        let started = std::time::Instant::now();
        let result = self.send_with_retries(endpoint, build).await;
        let reachable = !matches!(result, Err(WeChatPayError::Unavailable(_)));
        crate::telemetry::metrics::upstream_call(endpoint, reachable, started.elapsed());
        result
    }

    async fn send_with_retries(
        &self,
        endpoint: Upstream,
        build: impl Fn() -> Result<reqwest::RequestBuilder, WeChatPayError>,
    ) -> Result<Answer, WeChatPayError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match build()?.send().await {
                Err(e) => WeChatPayError::Unavailable(http::transport_error(&e).into()),
                Ok(resp) => match http::read_answer(resp).await {
                    Ok(a) if a.status >= 500 => {
                        WeChatPayError::Unavailable(format!("HTTP {}", a.status))
                    }
                    Ok(a) if a.status == 429 => {
                        tracing::warn!(
                            endpoint = endpoint.name(),
                            attempt,
                            "WeChat Pay rate limited the call"
                        );
                        return Err(WeChatPayError::Unavailable(
                            "HTTP 429 (rate limited)".into(),
                        ));
                    }
                    Ok(a) => return Ok(a),
                    Err(ReadError::TooLarge) => {
                        return Err(WeChatPayError::Malformed("answer too large".into()));
                    }
                    Err(ReadError::Transport(why)) => WeChatPayError::Unavailable(why.into()),
                },
            };
            tracing::warn!(endpoint = endpoint.name(), attempt, error = %err, "WeChat Pay call failed");
            if attempt >= MAX_ATTEMPTS {
                return Err(err);
            }
            tokio::time::sleep(BACKOFF * attempt).await;
        }
    }
}

/// 16 random bytes as 32 hex characters: `nonce_str` and APIv3 nonces.
fn nonce() -> Result<String, WeChatPayError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| WeChatPayError::Unavailable("no randomness available".into()))?;
    Ok(hex::encode_upper(b))
}

/// An upstream message safe to log and show: no control characters, bounded.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// RFC 3986 unreserved characters pass; everything else is %XX.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The sub-merchant ids a call carries: only a registered sub-merchant's
/// (partner mode), never ids without the serial its answers are sealed to.
pub(crate) fn sub_ids(sub: Option<&SubMerchant>) -> (Option<&str>, Option<&str>) {
    match sub {
        Some(s) => (s.sub_appid.as_deref(), Some(s.sub_mch_id.as_str())),
        None => (None, None),
    }
}

fn authinfo_params(
    m: &MerchantSecrets,
    sub: Option<&SubMerchant>,
    req: &AuthinfoRequest,
    now: i64,
    nonce: String,
) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        p.insert(k.to_owned(), v.to_owned());
    };
    put("appid", &m.appid);
    put("mch_id", &m.mch_id);
    let (sub_appid, sub_mch_id) = sub_ids(sub);
    if let Some(v) = sub_appid {
        put("sub_appid", v);
    }
    if let Some(v) = sub_mch_id {
        put("sub_mch_id", v);
    }
    put("store_id", req.store_id.as_str());
    put("store_name", req.store_name.as_str());
    put("device_id", req.caller.device_id.as_str());
    if let Some(a) = &req.attach {
        put("attach", a.as_str());
    }
    put("rawdata", req.rawdata.as_str());
    put("now", &now.to_string());
    put("version", "1");
    // Always sent, and signed like any other field.
    put("sign_type", m.sign_type.as_str());
    put("nonce_str", &nonce);
    p
}

/// docs/wechatpay.md §2.4: FAIL carries no signature; SUCCESS must be signed with our sign_type.
fn authinfo_answer(
    m: &MerchantSecrets,
    sub: Option<&SubMerchant>,
    fields: &BTreeMap<String, String>,
) -> Result<Authinfo, WeChatPayError> {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
    if get("return_code") != "SUCCESS" {
        let code = match get("return_code") {
            "" => "FAIL".to_owned(),
            c => clean(c),
        };
        return Err(WeChatPayError::V2 {
            code,
            message: clean(get("return_msg")),
        });
    }
    if !v2::verify(fields, &m.api_key, m.sign_type) {
        return Err(WeChatPayError::SignatureInvalid(
            "APIv2 sign missing or wrong".into(),
        ));
    }
    if let Some(result) = fields.get("result_code").filter(|r| *r != "SUCCESS") {
        let code = fields.get("err_code").unwrap_or(result);
        return Err(WeChatPayError::V2 {
            code: clean(code),
            message: clean(
                fields
                    .get("err_code_des")
                    .map(String::as_str)
                    .unwrap_or(get("return_msg")),
            ),
        });
    }
    check_echoes(m, sub, fields)?;
    let authinfo = AuthinfoToken::from_upstream(get("authinfo"))
        .ok_or_else(|| WeChatPayError::Malformed("no usable authinfo".into()))?;
    let expires_in = match fields.get("expires_in").map(|s| s.trim()) {
        None | Some("") => DEFAULT_AUTHINFO_TTL,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n > 0 => n.min(MAX_AUTHINFO_TTL),
            _ => return Err(WeChatPayError::Malformed("bad expires_in".into())),
        },
    };
    Ok(Authinfo {
        authinfo,
        expires_in,
    })
}

/// The signed echoes of who we are: anything else is not an answer to us.
fn check_echoes(
    m: &MerchantSecrets,
    sub: Option<&SubMerchant>,
    fields: &BTreeMap<String, String>,
) -> Result<(), WeChatPayError> {
    let (sub_appid, sub_mch_id) = sub_ids(sub);
    for (k, ours) in [
        ("appid", Some(m.appid.as_str())),
        ("mch_id", Some(m.mch_id.as_str())),
        ("sub_appid", sub_appid),
        ("sub_mch_id", sub_mch_id),
    ] {
        if let (Some(theirs), Some(ours)) = (fields.get(k), ours)
            && theirs != ours
        {
            return Err(WeChatPayError::Malformed(format!("{k} is not ours")));
        }
    }
    Ok(())
}

/// The real-name URL, and its path and query exactly as signed and sent.
fn real_name_url(
    api_base: &str,
    m: &MerchantSecrets,
    face_sid: &FaceSid,
    info_type: InfoType,
    sub: Option<&SubMerchant>,
) -> Result<(reqwest::Url, String), WeChatPayError> {
    let mut query = vec![
        ("info_type", info_type.as_str()),
        ("appid", m.appid.as_str()),
    ];
    let (sub_appid, sub_mch_id) = sub_ids(sub);
    if let Some(v) = sub_mch_id {
        query.push(("sub_mchid", v));
    }
    if let Some(v) = sub_appid {
        query.push(("sub_appid", v));
    }
    // Partner mode: WeChat Pay encrypts for the sub-merchant's certificate.
    if let Some(s) = sub {
        query.push(("sub_serial_no", s.sub_serial_no.as_str()));
    }
    let query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    // face_sid is [A-Za-z0-9_-] only: the segment is used as it is.
    let path = format!("{}{}", Upstream::FacemchUsers.path(), face_sid.expose());
    let url = format!("{api_base}{path}?{}", query.join("&"));
    let url = reqwest::Url::parse(&url)
        .map_err(|_| WeChatPayError::Malformed("WECHATPAY_API_BASE gives no valid URL".into()))?;
    // What is signed and sent must be the path meant, never a normalized one.
    if !url.path().ends_with(&path) {
        return Err(WeChatPayError::Malformed(
            "the request path would change".into(),
        ));
    }
    // Signed exactly as it goes on the wire (the base may carry a path prefix).
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    Ok((url, path_and_query))
}

/// A non-2xx APIv3 answer: not signed (docs/wechatpay.md §4.2), so only its code is read.
fn v3_refusal(answer: &Answer) -> WeChatPayError {
    let e: Option<V3Error> = serde_json::from_slice(&answer.body).ok();
    let (code, message) = e
        .map(|e| (e.code.unwrap_or_default(), e.message.unwrap_or_default()))
        .unwrap_or_default();
    WeChatPayError::V3 {
        status: answer.status,
        code: if code.is_empty() {
            format!("HTTP_{}", answer.status)
        } else {
            clean(&code)
        },
        message: clean(&message),
    }
}

#[derive(Deserialize)]
struct V3Error {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct RealNameFields {
    encrypted_real_name: Option<String>,
    credential_type: Option<i64>,
    encrypted_credential_id: Option<String>,
    encrypted_phone_number: Option<String>,
}

#[derive(Deserialize)]
struct FacemchUser {
    openid: Option<String>,
    sub_openid: Option<String>,
    union_id: Option<String>,
    real_name_info: Option<RealNameFields>,
    encrypted_phone_number: Option<String>,
}

impl FacemchUser {
    /// The ids, checked alike whether the rest is decrypted or passed through.
    fn ids(&mut self) -> Result<RealNameIds, WeChatPayError> {
        Ok(RealNameIds {
            openid: upstream_id("openid", self.openid.take())?,
            sub_openid: upstream_id("sub_openid", self.sub_openid.take())?,
            union_id: upstream_id("union_id", self.union_id.take())?,
        })
    }
}

fn upstream_id(field: &'static str, v: Option<String>) -> Result<Option<String>, WeChatPayError> {
    match v {
        None => Ok(None),
        Some(s) if !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(s))
        }
        Some(_) => Err(WeChatPayError::Malformed(format!("{field} is not an id"))),
    }
}

/// A ciphertext as WeChat Pay sends it: base64, of an RSA block's size.
fn ciphertext(field: &'static str, v: Option<String>) -> Result<Option<String>, WeChatPayError> {
    use base64::Engine;
    match v {
        None => Ok(None),
        Some(b64) => match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            Ok(raw) if (128..=1024).contains(&raw.len()) => Ok(Some(b64)),
            _ => Err(WeChatPayError::Malformed(format!(
                "{field} is not a ciphertext"
            ))),
        },
    }
}

/// Partner mode: the fields checked but left encrypted for the sub-merchant.
fn passed_through(
    sub: &SubMerchant,
    info_type: InfoType,
    mut user: FacemchUser,
) -> Result<RealName, WeChatPayError> {
    let mut out = EncryptedRealName {
        ids: user.ids()?,
        encrypted_phone_number: ciphertext("encrypted_phone_number", user.encrypted_phone_number)?,
        sub_serial_no: sub.sub_serial_no.clone(),
        ..EncryptedRealName::default()
    };
    if let Some(info) = user.real_name_info {
        out.encrypted_real_name = ciphertext("encrypted_real_name", info.encrypted_real_name)?;
        out.encrypted_credential_id =
            ciphertext("encrypted_credential_id", info.encrypted_credential_id)?;
        out.credential_type = info
            .credential_type
            .filter(|t| kiosk::valid_credential_type(*t));
        out.encrypted_phone_number = match out.encrypted_phone_number {
            Some(p) => Some(p),
            None => ciphertext("encrypted_phone_number", info.encrypted_phone_number)?,
        };
    }
    let complete = match info_type {
        InfoType::RealName | InfoType::RealNameTel => {
            out.encrypted_real_name.is_some() && out.credential_type.is_some()
        }
        InfoType::UnionId => out.ids.union_id.is_some(),
    };
    if !complete {
        return Err(WeChatPayError::Malformed(format!(
            "{} answer lacks its fields",
            info_type.as_str()
        )));
    }
    Ok(RealName::PassedThrough(out))
}

/// The user's fields: decrypted and validated for a direct merchant (the
/// error names a field only), passed through for a partner's sub-merchant.
fn real_name_answer(
    m: &MerchantSecrets,
    sub: Option<&SubMerchant>,
    info_type: InfoType,
    body: &[u8],
) -> Result<RealName, WeChatPayError> {
    let user: FacemchUser = serde_json::from_slice(body)
        .map_err(|_| WeChatPayError::Malformed("facemch answer is not the expected JSON".into()))?;
    match sub {
        Some(sub) => passed_through(sub, info_type, user),
        None => decrypted(m, info_type, user).map(RealName::Decrypted),
    }
}

fn decrypted(
    m: &MerchantSecrets,
    info_type: InfoType,
    mut user: FacemchUser,
) -> Result<RealNameInfo, WeChatPayError> {
    let decrypt = |field: &'static str, b64: &str| -> Result<String, WeChatPayError> {
        m.merchant_key
            .decrypt(b64)
            .map_err(|_| WeChatPayError::DecryptFailed(field))
    };
    let mut out = RealNameInfo {
        ids: user.ids()?,
        ..RealNameInfo::default()
    };
    let mut phone = user.encrypted_phone_number;
    if let Some(info) = user.real_name_info {
        let name = info
            .encrypted_real_name
            .ok_or_else(|| WeChatPayError::Malformed("no encrypted_real_name".into()))?;
        out.real_name = Some(
            kiosk::real_name(&decrypt("real_name", &name)?)
                .map_err(|e| WeChatPayError::DecryptFailed(e.0))?,
        );
        let ctype = info
            .credential_type
            .filter(|t| kiosk::valid_credential_type(*t))
            .ok_or_else(|| WeChatPayError::Malformed("no valid credential_type".into()))?;
        out.credential_type = Some(ctype);
        if let Some(id) = info.encrypted_credential_id {
            out.credential_id = Some(
                kiosk::credential_id(ctype, &decrypt("credential_id", &id)?)
                    .map_err(|e| WeChatPayError::DecryptFailed(e.0))?,
            );
        }
        phone = phone.or(info.encrypted_phone_number);
    }
    if let Some(p) = phone {
        out.phone_number = Some(
            kiosk::phone_number(&decrypt("phone_number", &p)?)
                .map_err(|e| WeChatPayError::DecryptFailed(e.0))?,
        );
    }
    let complete = match info_type {
        InfoType::RealName | InfoType::RealNameTel => out.real_name.is_some(),
        InfoType::UnionId => out.ids.union_id.is_some(),
    };
    if !complete {
        return Err(WeChatPayError::Malformed(format!(
            "{} answer lacks its fields",
            info_type.as_str()
        )));
    }
    Ok(out)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[async_trait]
impl WeChatPay for WeChatPayClient {
    async fn get_authinfo(
        &self,
        req: &AuthinfoRequest,
        sub: Option<&SubMerchant>,
    ) -> Result<Authinfo, WeChatPayError> {
        let m = self.merchant.merchant_secrets().await?;
        let url = format!(
            "{}{}",
            self.face_base,
            Upstream::GetWxpayfaceAuthinfo.path()
        );
        let answer = self
            .send(Upstream::GetWxpayfaceAuthinfo, || {
                // A fresh now, nonce and signature per attempt.
                let mut params = authinfo_params(&m, sub, req, self.clock.now(), nonce()?);
                let sign = v2::sign(&params, &m.api_key, m.sign_type);
                params.insert("sign".into(), sign);
                Ok(self
                    .http
                    .post(&url)
                    .header(CONTENT_TYPE, "text/xml; charset=utf-8")
                    .header(USER_AGENT, UA)
                    .body(xml::write(&params)))
            })
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(WeChatPayError::Malformed(format!("HTTP {}", answer.status)));
        }
        let text = std::str::from_utf8(&answer.body)
            .map_err(|_| WeChatPayError::Malformed("answer is not UTF-8".into()))?;
        let fields = xml::parse(text, Nested::Refuse)
            .map_err(|e| WeChatPayError::Malformed(e.to_string()))?;
        authinfo_answer(&m, sub, &fields)
    }

    async fn real_name(
        &self,
        face_sid: &FaceSid,
        info_type: InfoType,
        sub: Option<&SubMerchant>,
    ) -> Result<RealName, WeChatPayError> {
        let m = self.merchant.merchant_secrets().await?;
        let (url, path_and_query) = real_name_url(&self.api_base, &m, face_sid, info_type, sub)?;
        let answer = self
            .send(Upstream::FacemchUsers, || {
                let nonce = nonce()?;
                let auth = v3::authorization(
                    &m.merchant_key,
                    &m.mch_id,
                    &m.merchant_serial_no,
                    &RequestToSign {
                        method: "GET",
                        path_and_query: &path_and_query,
                        timestamp: self.clock.now(),
                        nonce: &nonce,
                        body: "",
                    },
                )
                .map_err(|_| {
                    WeChatPayError::Malformed("cannot sign with the merchant key".into())
                })?;
                let mut r = self
                    .http
                    .get(url.clone())
                    .header(AUTHORIZATION, auth)
                    .header(ACCEPT, "application/json")
                    .header(USER_AGENT, UA);
                // The key we can verify with: WeChat Pay signs its answer with it.
                if let Some(serial) = m.response_keys.preferred_serial() {
                    r = r.header("Wechatpay-Serial", serial);
                }
                Ok(r)
            })
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(v3_refusal(&answer));
        }
        let h = &answer.headers;
        let signed = SignedHeaders {
            timestamp: header(h, "Wechatpay-Timestamp"),
            nonce: header(h, "Wechatpay-Nonce"),
            signature: header(h, "Wechatpay-Signature"),
            serial: header(h, "Wechatpay-Serial"),
        };
        (m.response_keys)
            .verify(signed, &answer.body, self.clock.now())
            .map_err(|e| WeChatPayError::SignatureInvalid(e.to_string()))?;
        real_name_answer(&m, sub, info_type, &answer.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::merchant_test_secret as secret_json;
    use crate::crypto::rsa::test_keys::*;
    use crate::domain::kiosk::StoreName;
    use serde_json::Value;

    fn merchant(sign_type: &str) -> MerchantSecrets {
        let mut v = secret_json();
        v["sign_type"] = sign_type.into();
        MerchantSecrets::from_json("m", &v.to_string()).unwrap()
    }

    fn request() -> AuthinfoRequest {
        AuthinfoRequest {
            store_name: StoreName::parse("爱马哥南山店").unwrap(),
            ..crate::testing::authinfo_request(
                "DEV001",
                "IMG001",
                "H0kvnUgGHKuqflNwtNqCdOVpbO4FPSowudTG",
            )
        }
    }

    #[test]
    fn request_params_carry_and_sign_every_required_field() {
        let m = merchant("MD5");
        let p = authinfo_params(&m, None, &request(), 1239878956, "N".repeat(32));
        for k in [
            "appid",
            "mch_id",
            "store_id",
            "store_name",
            "device_id",
            "rawdata",
            "now",
            "version",
            "sign_type",
            "nonce_str",
        ] {
            assert!(p.contains_key(k), "{k}");
        }
        assert_eq!(p["sign_type"], "MD5");
        assert_eq!(p["version"], "1");
        assert!(!p.contains_key("attach") && !p.contains_key("sub_mch_id"));
        assert!(v2::string_to_sign(&p, &m.api_key).contains("sign_type=MD5"));
    }

    fn signed(m: &MerchantSecrets, pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s = v2::sign(&p, &m.api_key, m.sign_type);
        p.insert("sign".into(), s);
        p
    }

    #[test]
    fn authinfo_answers() {
        for st in ["MD5", "HMAC-SHA256"] {
            let m = merchant(st);
            let ok = [
                ("return_code", "SUCCESS"),
                ("authinfo", "AUTHINFO_SIM_0001"),
                ("expires_in", "3600"),
                ("appid", "wx0123456789abcdef"),
                ("mch_id", "1234567891"),
                ("nonce_str", "abc"),
            ];
            let a = authinfo_answer(&m, None, &signed(&m, &ok)).unwrap();
            assert_eq!(
                (a.authinfo.expose(), a.expires_in),
                ("AUTHINFO_SIM_0001", 3600)
            );
            let mut tampered = signed(&m, &ok);
            tampered.insert("authinfo".into(), "OTHER".into());
            assert!(matches!(
                authinfo_answer(&m, None, &tampered),
                Err(WeChatPayError::SignatureInvalid(_))
            ));
            let mut unsigned = signed(&m, &ok);
            unsigned.remove("sign");
            assert!(matches!(
                authinfo_answer(&m, None, &unsigned),
                Err(WeChatPayError::SignatureInvalid(_))
            ));
            let fail: BTreeMap<String, String> = [
                ("return_code", "FAIL"),
                ("return_msg", "签名错误，请检查后再试"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            match authinfo_answer(&m, None, &fail) {
                Err(WeChatPayError::V2 { code, message }) => {
                    assert_eq!(
                        (code.as_str(), message.as_str()),
                        ("FAIL", "签名错误，请检查后再试")
                    )
                }
                other => panic!("{other:?}"),
            }
            let mut wrong_mch = ok.to_vec();
            wrong_mch[4] = ("mch_id", "999");
            assert!(matches!(
                authinfo_answer(&m, None, &signed(&m, &wrong_mch)),
                Err(WeChatPayError::Malformed(_))
            ));
            let mut no_ttl = ok.to_vec();
            no_ttl.remove(2);
            assert_eq!(
                authinfo_answer(&m, None, &signed(&m, &no_ttl))
                    .unwrap()
                    .expires_in,
                DEFAULT_AUTHINFO_TTL
            );
            let mut bad_ttl = ok.to_vec();
            bad_ttl[2] = ("expires_in", "-5");
            assert!(authinfo_answer(&m, None, &signed(&m, &bad_ttl)).is_err());
            let mut result_fail = ok.to_vec();
            result_fail.push(("result_code", "FAIL"));
            result_fail.push(("err_code", "PARAM_ERROR"));
            assert!(
                matches!(authinfo_answer(&m, None, &signed(&m, &result_fail)), Err(WeChatPayError::V2 { code, .. }) if code == "PARAM_ERROR")
            );
        }
        // The other sign type's signature does not pass.
        let md5 = merchant("MD5");
        let hmac = merchant("HMAC-SHA256");
        let p = signed(&md5, &[("return_code", "SUCCESS"), ("authinfo", "A")]);
        assert!(authinfo_answer(&hmac, None, &p).is_err());
    }

    #[test]
    fn facemch_answer_vector_decrypts_and_validates() {
        let m = merchant("MD5");
        let body = include_str!("testdata/facemch_answer.json").trim();
        let RealName::Decrypted(info) =
            real_name_answer(&m, None, InfoType::RealName, body.as_bytes()).unwrap()
        else {
            panic!("a direct merchant decrypts");
        };
        assert_eq!(
            info.ids.openid.as_deref(),
            Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
        );
        assert_eq!(info.real_name.as_ref().map(|p| p.expose()), Some("张三"));
        assert_eq!(info.credential_type, Some(1));
        assert_eq!(
            info.credential_id.as_ref().map(|p| p.expose()),
            Some("11010519491231002X")
        );
        assert!(!format!("{info:?}").contains("张三"));
        // The name's ciphertext in the ID's place: decrypts, fails validation.
        let v: Value = serde_json::from_str(body).unwrap();
        let mut swapped = v.clone();
        swapped["real_name_info"]["encrypted_credential_id"] =
            v["real_name_info"]["encrypted_real_name"].clone();
        assert!(matches!(
            real_name_answer(&m, None, InfoType::RealName, swapped.to_string().as_bytes()),
            Err(WeChatPayError::DecryptFailed("credential_id"))
        ));
        let mut garbled = v.clone();
        garbled["real_name_info"]["encrypted_real_name"] = "AAAA".into();
        assert!(matches!(
            real_name_answer(&m, None, InfoType::RealName, garbled.to_string().as_bytes()),
            Err(WeChatPayError::DecryptFailed("real_name"))
        ));
        // ASK_UNIONID needs a union_id.
        assert!(real_name_answer(&m, None, InfoType::UnionId, body.as_bytes()).is_err());
        assert!(real_name_answer(&m, None, InfoType::UnionId, br#"{"union_id":"u-1"}"#).is_ok());
        assert!(real_name_answer(&m, None, InfoType::RealName, br#"{"openid":"o"}"#).is_err());
        assert!(real_name_answer(&m, None, InfoType::RealName, b"not json").is_err());
        let _ = (PLATFORM_SERIAL, MERCHANT_CERT);
    }

    proptest::proptest! {
        #[test]
        fn any_answer_is_read_without_panicking(
            fields in proptest::collection::btree_map("[a-z_]{1,12}", ".{0,30}", 0..8),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let m = merchant("HMAC-SHA256");
            let mut fields = fields;
            let _ = authinfo_answer(&m, None, &fields);
            fields.insert("return_code".into(), "SUCCESS".into());
            // Unsigned or wrongly signed: never accepted.
            proptest::prop_assert!(authinfo_answer(&m, None, &fields).is_err());
            for info_type in [InfoType::RealName, InfoType::RealNameTel, InfoType::UnionId] {
                let _ = real_name_answer(&m, None, info_type, &body);
            }
        }
    }

    #[test]
    fn face_sid_is_percent_encoded() {
        assert_eq!(percent_encode("ab-_.~9"), "ab-_.~9");
        assert_eq!(percent_encode("a/b?c=d&e%"), "a%2Fb%3Fc%3Dd%26e%25");
    }
}
