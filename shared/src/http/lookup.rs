//! `GET /?out_seq_no=…` of the lookup function (function URL with
//! `AuthType: AWS_IAM`: only the business's backend can call it).

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::routes::{LookupRoute, Routes};
use super::verify_result::AnswerBody;
use super::{ApiError, Reply, for_app, respond};
use crate::domain::OutSeqNo;
use crate::service::Services;
use crate::service::lookup::{LookedUp, lookup};
use crate::service::tenant::Named;

/// A session's state (docs/api.md §7): verify-result's answer, and whose
/// session it is and when it ends. Nothing personal.
#[derive(Debug, Serialize)]
pub struct LookupBody<'a> {
    #[serde(flatten)]
    pub answer: AnswerBody<'a>,
    pub openid: &'a str,
    pub created_at: i64,
    pub valid_until: i64,
}

impl<'a> From<&'a LookedUp> for LookupBody<'a> {
    fn from(l: &'a LookedUp) -> Self {
        let s = &l.session;
        let mut answer = AnswerBody::new(&s.out_seq_no, &l.verification);
        if l.expired {
            answer.status = "expired";
        }
        Self {
            answer,
            openid: s.openid.as_str(),
            created_at: s.created_at,
            valid_until: s.valid_until,
        }
    }
}

pub async fn handle(svc: &Services, req: Request) -> Response<Body> {
    respond(run(svc, req).await)
}

async fn run(svc: &Services, req: Request) -> Result<Reply, ApiError> {
    let LookupRoute::Lookup = LookupRoute::parse(&req)?;
    let params = req.query_string_parameters();
    let raw = params
        .first("out_seq_no")
        .ok_or_else(|| ApiError::invalid_request("out_seq_no is required"))?;
    let out_seq_no = OutSeqNo::parse(raw)?;
    let svc = for_app(svc, &req, Named::Explicitly).await?;
    let found = lookup(&svc, &out_seq_no).await?;
    Ok(Reply::ok(&LookupBody::from(&found)).cache("no-store"))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    use lambda_http::http::{Method, Request as HttpRequest};
    use serde_json::Value;

    use super::*;
    use crate::domain::{FinalResult, FinalStatus, SessionState};
    use crate::testing::{self, Fakes};

    async fn get(f: &Fakes, method: Method, uri: &str) -> (u16, Value) {
        let req = HttpRequest::builder()
            .method(method)
            .uri(uri)
            .body(Body::Empty)
            .unwrap();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let req = req.with_query_string_parameters(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect::<std::collections::HashMap<String, String>>(),
        );
        let resp = handle(&f.svc, req).await;
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn answers_any_sessions_state_without_a_user_and_signs_final_ones() {
        let f = testing::services();
        let s = f.v1_session("o-owner");
        f.store.put_session(s.clone());
        let uri = format!("/?out_seq_no={}", s.out_seq_no);
        let (status, body) = get(&f, Method::GET, &uri).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
        assert!(body.get("receipt").is_none());
        assert_eq!(body["openid"], "o-owner");
        // Final: the stored result and a fresh receipt, no WeChat call.
        let mut done = s.clone();
        done.state = SessionState::Final(FinalResult {
            status: FinalStatus::Verified,
            identify_ret: Some(0),
            verify_ret: None,
            decided_at: 1_700_000_000,
        });
        f.store.put_session(done);
        let (status, body) = get(&f, Method::GET, &uri).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("verified")));
        assert_eq!(body["verified_at"], 1_700_000_000);
        let key = testing::app_secrets().receipt_keys().unwrap().jwks();
        let jwk: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(serde_json::to_value(key).unwrap()).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[testing::app_secrets().appid]);
        let claims = decode::<Value>(
            body["receipt"].as_str().unwrap(),
            &DecodingKey::from_jwk(&jwk.keys[0]).unwrap(),
            &v,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["out_seq_no"], s.out_seq_no.as_str());
        assert_eq!(claims["status"], "verified");
        let text = body.to_string();
        assert!(!text.contains(testing::NAME) && !text.contains(testing::ID_CARD));
        assert_eq!(
            f.wechat.calls(crate::upstream::Upstream::Jscode2session)
                + f.wechat.calls(crate::upstream::Upstream::Getinfo),
            0
        );
    }

    #[tokio::test]
    async fn an_expired_unknown_or_bad_out_seq_no_and_other_methods() {
        let f = testing::services();
        let s = f.v1_session("o-owner");
        f.store.put_session(s.clone());
        f.clock.advance(crate::domain::session::SESSION_TTL_SECS);
        let (status, body) = get(&f, Method::GET, &format!("/?out_seq_no={}", s.out_seq_no)).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("expired")));
        let (status, body) = get(&f, Method::GET, "/?out_seq_no=nosuchsession").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("session_not_found"))
        );
        for (uri, code) in [
            ("/", "invalid_request"),
            ("/?out_seq_no=", "invalid_out_seq_no"),
            ("/?out_seq_no=%00bad", "invalid_out_seq_no"),
        ] {
            let (status, body) = get(&f, Method::GET, uri).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (400, Some(code)),
                "{uri}"
            );
        }
        let (status, _) = get(&f, Method::POST, "/").await;
        assert_eq!(status, 405);
        let (status, _) = get(&f, Method::GET, "/other").await;
        assert_eq!(status, 404);
    }

    /// A pending 2.0 session: lookup asks WeChat first (the same final write
    /// as verify-result), at most once per session every few seconds.
    #[tokio::test]
    async fn a_pending_v2_session_is_asked_about_at_most_every_few_seconds() {
        let f = testing::services();
        let s = f.v2_session("o-owner");
        let uri = format!("/?out_seq_no={}", s.out_seq_no);
        let crate::domain::FlowBinding::V2 { verify_id, .. } = &s.binding else {
            panic!("v2")
        };
        let (status, body) = get(&f, Method::GET, &uri).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
        assert_eq!(body["verify_ret"], 10300);
        // The face check passes; a poll within the interval asks nothing.
        f.wechat.script_verify_ret(verify_id, 10000);
        let (_, body) = get(&f, Method::GET, &uri).await;
        assert_eq!(body["status"], "pending");
        assert_eq!(
            f.wechat.calls(crate::upstream::Upstream::Queryverifyinfo),
            1
        );
        // After it: asked, final, with its receipt; then never asked again.
        f.clock.advance(crate::service::lookup::CHECK_INTERVAL_SECS);
        let (_, body) = get(&f, Method::GET, &uri).await;
        assert_eq!(body["status"], "verified");
        assert!(body["receipt"].is_string());
        f.clock.advance(60);
        get(&f, Method::GET, &uri).await;
        assert_eq!(
            f.wechat.calls(crate::upstream::Upstream::Queryverifyinfo),
            2
        );
        assert_eq!(
            f.store
                .session(&s.out_seq_no)
                .unwrap()
                .final_result()
                .unwrap()
                .verify_ret,
            Some(10000)
        );
        // WeChat down: the stored state, not an error.
        let s = f.v2_session("o-owner");
        f.wechat.fail(crate::upstream::Upstream::Queryverifyinfo, 1);
        let (status, body) = get(&f, Method::GET, &format!("/?out_seq_no={}", s.out_seq_no)).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
        assert!(body.get("verify_ret").is_none_or(Value::is_null));
    }
}
