//! Face verification: the legacy 1.0 flow (getuseridkey → jsapi → getinfo,
//! docs/wechat.md §2) and the 2.0 flow (getverifyid → jsapi → queryverifyinfo, docs/wechat.md §3). The
//! jsapi step is played by the `/__sim/face/*/run` hooks.
//!
//! SIM-CHOICEs (docs/wechat.md §9): verify_result and verify_id live 3600 s; getinfo may be
//! repeated unless `getinfo_single_use` is on; the 2.0 errors whose real
//! codes are unknown all answer 40097 with an explanatory errmsg.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sim_kit::{HookError, random_hex};

use crate::client::RunV1;
use crate::crypto::{cert_hash, id_card_number_md5, name_utf8_md5, random_b64url};
use crate::push::PendingPush;
use crate::state::{Endpoint, Inner, Sim};
use crate::wx::{WxError, business, code, non_empty, parse_body, query_params};

/// Lifetime of user_id_key, verify_result and verify_id.
pub(crate) const FACE_TTL_SECS: i64 = 3600;
/// The only cert_type getverifyid accepts.
const IDENTITY_CARD: &str = "IDENTITY_CARD";
/// Observed in a real getinfo response; meaning undocumented.
const CHECK_ALIVE_TYPE: i64 = 4;

/// A key from getuseridkey.
#[derive(Debug, Clone)]
pub(crate) struct UserIdKey {
    appid: String,
    name: String,
    id_card_number: String,
    out_seq_no: Option<String>,
    expires_at: i64,
}

/// The outcome of one 1.0 face run, keyed by its verify_result.
#[derive(Debug, Clone)]
pub(crate) struct FaceResult {
    appid: String,
    openid: String,
    user_id_key: Option<String>,
    /// From the user_id_key: the `face_identify` push carries it.
    out_seq_no: Option<String>,
    identify_ret: i64,
    identify_time: i64,
    name_utf8_md5: String,
    id_card_number_md5: String,
    expires_at: i64,
    fetched: bool,
}

/// A 2.0 session from getverifyid.
#[derive(Debug, Clone)]
pub(crate) struct VerifySession {
    appid: String,
    out_seq_no: String,
    openid: String,
    cert_hash: String,
    expires_at: i64,
    /// `None` until the run hook fires.
    verify_ret: Option<i64>,
}

/// `^[A-Za-z0-9_-]{5,32}$`, the getverifyid rule (applied to getuseridkey
/// as well: the pure-liveness sibling documents the same 5–32 limit).
pub(crate) fn valid_out_seq_no(s: &str) -> bool {
    (5..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn invalid_args(detail: &str) -> WxError {
    WxError::with_detail(code::INVALID_ARGS, detail)
}

impl Inner {
    /// out_seq_no format and per-appid uniqueness; does not reserve it.
    fn check_out_seq_no(&self, appid: &str, out_seq_no: Option<&str>) -> Result<(), WxError> {
        let Some(seq) = out_seq_no else {
            return Err(invalid_args("out_seq_no missing"));
        };
        if !valid_out_seq_no(seq) {
            return Err(invalid_args("out_seq_no must match ^[A-Za-z0-9_-]{5,32}$"));
        }
        if self
            .out_seq_nos
            .contains(&(appid.to_owned(), seq.to_owned()))
        {
            return Err(invalid_args("out_seq_no already used by this appid"));
        }
        Ok(())
    }

    fn getuseridkey(
        &mut self,
        appid: &str,
        req: GetUserIdKeyRequest,
    ) -> Result<Map<String, Value>, WxError> {
        let (Some(name), Some(id)) = (non_empty(&req.name), non_empty(&req.id_card_number)) else {
            return Err(WxError::code(code::NAME_OR_ID_EMPTY));
        };
        if req.out_seq_no.is_some() {
            self.check_out_seq_no(appid, req.out_seq_no.as_deref())?;
        }
        let key = random_hex(16);
        let record = UserIdKey {
            appid: appid.to_owned(),
            name: name.to_owned(),
            id_card_number: id.to_owned(),
            out_seq_no: req.out_seq_no.clone(),
            expires_at: self.now() + FACE_TTL_SECS,
        };
        if let Some(seq) = req.out_seq_no {
            self.out_seq_nos.insert((appid.to_owned(), seq));
        }
        self.user_id_keys.insert(key.clone(), record);
        Ok(fields(
            json!({"user_id_key": key, "expires_in": FACE_TTL_SECS}),
        ))
    }

    fn getinfo(&mut self, appid: &str, req: GetInfoRequest) -> Result<Map<String, Value>, WxError> {
        let single_use = self.config.getinfo_single_use;
        let now = self.now();
        let result = non_empty(&req.verify_result)
            .and_then(|vr| self.verify_results.get_mut(vr))
            // Another app's result is indistinguishable from a wrong one.
            .filter(|r| r.appid == appid)
            .ok_or(WxError::code(code::INVALID_IDENTIFY_ID))?;
        if now >= result.expires_at {
            return Err(WxError::code(code::USER_INFO_EXPIRED));
        }
        if single_use && result.fetched {
            return Err(WxError::with_detail(
                code::INVALID_IDENTIFY_ID,
                "verify_result already fetched (getinfo_single_use)",
            ));
        }
        result.fetched = true;
        let mut out = fields(json!({
            "identify_ret": result.identify_ret,
            "identify_time": result.identify_time,
            "validate_data": "",
            "openid": result.openid,
            "finish_time": result.identify_time,
            "id_card_number_md5": result.id_card_number_md5,
            "name_utf8_md5": result.name_utf8_md5,
            "check_alive_type": CHECK_ALIVE_TYPE,
        }));
        if let Some(key) = &result.user_id_key {
            out.insert("user_id_key".into(), json!(key));
        }
        Ok(out)
    }

    fn getverifyid(
        &mut self,
        appid: &str,
        req: GetVerifyIdRequest,
    ) -> Result<Map<String, Value>, WxError> {
        self.check_out_seq_no(appid, non_empty(&req.out_seq_no))?;
        let cert = req
            .cert_info
            .ok_or_else(|| invalid_args("cert_info missing"))?;
        if cert.cert_type.as_deref() != Some(IDENTITY_CARD) {
            return Err(WxError::code(code::INVALID_CERT_TYPE));
        }
        let (Some(name), Some(no)) = (non_empty(&cert.cert_name), non_empty(&cert.cert_no)) else {
            return Err(invalid_args(
                "cert_info.cert_name or cert_info.cert_no empty",
            ));
        };
        let openid = non_empty(&req.openid).ok_or_else(|| invalid_args("openid missing"))?;
        let out_seq_no = req.out_seq_no.clone().unwrap_or_default();
        // The hash over exactly what was sent: queryverifyinfo must match it.
        let session = VerifySession {
            appid: appid.to_owned(),
            out_seq_no: out_seq_no.clone(),
            openid: openid.to_owned(),
            cert_hash: cert_hash(IDENTITY_CARD, name, no),
            expires_at: self.now() + FACE_TTL_SECS,
            verify_ret: None,
        };
        // ≤ 256 characters per the doc.
        let verify_id = format!("simvid_{}", random_b64url(48));
        self.out_seq_nos.insert((appid.to_owned(), out_seq_no));
        self.verify_ids.insert(verify_id.clone(), session);
        Ok(fields(
            json!({"verify_id": verify_id, "expires_in": FACE_TTL_SECS}),
        ))
    }

    fn queryverifyinfo(
        &self,
        appid: &str,
        req: QueryVerifyInfoRequest,
    ) -> Result<Map<String, Value>, WxError> {
        let verify_id =
            non_empty(&req.verify_id).ok_or_else(|| invalid_args("verify_id missing"))?;
        let session = self
            .verify_ids
            .get(verify_id)
            .ok_or_else(|| invalid_args("verify_id not found"))?;
        if session.appid != appid {
            return Err(invalid_args("verify_id belongs to another appid"));
        }
        if self.now() >= session.expires_at {
            return Err(invalid_args("verify_id expired"));
        }
        if req.out_seq_no.as_deref() != Some(session.out_seq_no.as_str()) {
            return Err(invalid_args("out_seq_no does not match getverifyid"));
        }
        if req.openid.as_deref() != Some(session.openid.as_str()) {
            return Err(invalid_args("openid does not match getverifyid"));
        }
        if req.cert_hash.as_deref() != Some(session.cert_hash.as_str()) {
            return Err(invalid_args(
                "cert_hash does not match the cert_info of getverifyid",
            ));
        }
        let verify_ret = session.verify_ret.unwrap_or(self.config.pending_verify_ret);
        Ok(fields(json!({"verify_ret": verify_ret})))
    }

    /// The 1.0 jsapi (`wx.startFacialRecognitionVerify`) finishing a face
    /// check: records the result and returns its verify_result, plus the
    /// `face_identify` event to push when the user_id_key had an out_seq_no.
    pub(crate) fn run_v1(
        &mut self,
        req: &RunV1,
    ) -> Result<(String, Option<PendingPush>), HookError> {
        self.check_device_user(&req.appid, &req.openid)?;
        let now = self.now();
        let (name, id, user_id_key, out_seq_no) = match &req.user_id_key {
            Some(key) => {
                if req.name.is_some() || req.id_card_number.is_some() {
                    return Err(HookError::bad_request(
                        "give user_id_key or name/id_card_number, not both \
                         (use verified_name/verified_id to simulate a mismatch)",
                    ));
                }
                let rec = self
                    .user_id_keys
                    .get(key)
                    .ok_or_else(|| HookError::bad_request("unknown user_id_key"))?;
                if rec.appid != req.appid {
                    return Err(HookError::bad_request(
                        "user_id_key belongs to another appid",
                    ));
                }
                if now >= rec.expires_at {
                    return Err(HookError::bad_request("user_id_key expired"));
                }
                (
                    rec.name.clone(),
                    rec.id_card_number.clone(),
                    Some(key.clone()),
                    rec.out_seq_no.clone(),
                )
            }
            None => match (&req.name, &req.id_card_number) {
                (Some(n), Some(i)) if !n.is_empty() && !i.is_empty() => {
                    (n.clone(), i.clone(), None, None)
                }
                _ => {
                    return Err(HookError::bad_request(
                        "name and id_card_number are required without user_id_key",
                    ));
                }
            },
        };
        let hashed_name = req.verified_name.as_deref().unwrap_or(&name);
        let hashed_id = req.verified_id.as_deref().unwrap_or(&id);
        // Real ones are ~128 characters of base64url.
        let verify_result = random_b64url(96);
        let result = FaceResult {
            appid: req.appid.clone(),
            openid: req.openid.clone(),
            user_id_key,
            out_seq_no,
            identify_ret: req.identify_ret.unwrap_or(0),
            identify_time: now,
            name_utf8_md5: name_utf8_md5(hashed_name),
            id_card_number_md5: id_card_number_md5(hashed_id),
            expires_at: now + FACE_TTL_SECS,
            fetched: false,
        };
        let push = result.out_seq_no.clone().map(|out_seq_no| PendingPush {
            appid: result.appid.clone(),
            openid: result.openid.clone(),
            out_seq_no,
            verify_result: verify_result.clone(),
            create_time: now,
        });
        self.verify_results.insert(verify_result.clone(), result);
        Ok((verify_result, push))
    }

    /// The 2.0 jsapi (`wx.requestFacialVerify`) finishing a face check.
    pub(crate) fn run_v2(
        &mut self,
        verify_id: &str,
        openid: &str,
        verify_ret: i64,
    ) -> Result<(), HookError> {
        let now = self.now();
        let session = self
            .verify_ids
            .get_mut(verify_id)
            .ok_or_else(|| HookError::not_found("unknown verify_id"))?;
        if now >= session.expires_at {
            return Err(HookError::bad_request(
                "verify_id expired: the face flow can no longer start",
            ));
        }
        if session.openid != openid {
            return Err(HookError::bad_request(
                "openid differs from the one given to getverifyid: \
                 wx.requestFacialVerify would fail for this user",
            ));
        }
        session.verify_ret = Some(verify_ret);
        Ok(())
    }
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[derive(Debug, Deserialize)]
struct GetUserIdKeyRequest {
    name: Option<String>,
    id_card_number: Option<String>,
    out_seq_no: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GetInfoRequest {
    verify_result: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CertInfo {
    cert_type: Option<String>,
    cert_name: Option<String>,
    cert_no: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GetVerifyIdRequest {
    out_seq_no: Option<String>,
    cert_info: Option<CertInfo>,
    openid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct QueryVerifyInfoRequest {
    verify_id: Option<String>,
    out_seq_no: Option<String>,
    cert_hash: Option<String>,
    openid: Option<String>,
}

/// Token check, then body parsing, then the endpoint's own logic: the
/// order WeChat applies.
macro_rules! business_endpoint {
    ($name:ident, $endpoint:expr, $req:ty, $method:ident) => {
        pub(crate) async fn $name(State(sim): State<Sim>, uri: Uri, body: Bytes) -> Response {
            let query = query_params(&uri);
            sim.serve($endpoint, |s| {
                business(s.authorize(&query).and_then(|appid| {
                    let req: $req = parse_body(&body)?;
                    s.$method(&appid, req)
                }))
            })
            .await
        }
    };
}

business_endpoint!(
    getuseridkey,
    Endpoint::GetUserIdKey,
    GetUserIdKeyRequest,
    getuseridkey
);
business_endpoint!(getinfo, Endpoint::GetInfo, GetInfoRequest, getinfo);
business_endpoint!(
    getverifyid,
    Endpoint::GetVerifyId,
    GetVerifyIdRequest,
    getverifyid
);
business_endpoint!(
    queryverifyinfo,
    Endpoint::QueryVerifyInfo,
    QueryVerifyInfoRequest,
    queryverifyinfo
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_seq_no_rule() {
        assert!(valid_out_seq_no("abcde"));
        assert!(valid_out_seq_no("A-b_9"));
        assert!(valid_out_seq_no(&"x".repeat(32)));
        assert!(!valid_out_seq_no("abcd"));
        assert!(!valid_out_seq_no(&"x".repeat(33)));
        assert!(!valid_out_seq_no("abc de"));
        assert!(!valid_out_seq_no("abcdé"));
        assert!(!valid_out_seq_no("abc.de"));
    }
}
