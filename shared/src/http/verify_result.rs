//! The verify-result function: `POST /` (function URL) or `POST /verify-result`
//! (HTTP API), and `GET /.well-known/jwks.json` behind either.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::routes::{Routes, VerifyResultRoute};
use super::{ApiError, Reply, for_app, json_body, respond};
use crate::domain::{FinalStatus, LoginCode, OutSeqNo, ValidationError, VerifyResultToken};
use crate::service::tenant::Named;
use crate::service::{Answer, ServiceError, Services, Verification, VerifyInput, verify_result};

#[derive(Deserialize)]
struct VerifyRequest {
    code: String,
    out_seq_no: String,
    #[serde(default)]
    verify_result: Option<String>,
}

impl TryFrom<VerifyRequest> for VerifyInput {
    type Error = ValidationError;

    fn try_from(r: VerifyRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            out_seq_no: OutSeqNo::parse(&r.out_seq_no)?,
            verify_result: r
                .verify_result
                .as_deref()
                .map(VerifyResultToken::parse)
                .transpose()?,
            code: LoginCode::parse(&r.code)?,
        })
    }
}

/// A session's answer (docs/api.md §3 verify-result).
#[skip_serializing_none]
#[derive(Debug, Serialize)]
pub struct AnswerBody<'a> {
    pub out_seq_no: &'a str,
    pub flow: &'static str,
    pub status: &'static str,
    pub verified: bool,
    pub reason: Option<&'static str>,
    pub identify_ret: Option<i64>,
    pub verify_ret: Option<i64>,
    pub verified_at: Option<i64>,
    pub biz_ref: Option<&'a str>,
    pub receipt: Option<&'a str>,
}

impl<'a> AnswerBody<'a> {
    pub fn new(out_seq_no: &'a OutSeqNo, v: &'a Verification) -> Self {
        let answer = &v.answer;
        let mut body = Self {
            out_seq_no: out_seq_no.as_str(),
            flow: v.flow.as_str(),
            biz_ref: v.biz_ref.as_ref().map(|b| b.as_str()),
            receipt: v.receipt.as_deref(),
            status: "pending",
            verified: false,
            reason: None,
            identify_ret: None,
            verify_ret: None,
            verified_at: None,
        };
        match answer {
            Answer::Pending { verify_ret } => body.verify_ret = *verify_ret,
            Answer::Final(r) => {
                let verified = r.status == FinalStatus::Verified;
                body.status = r.status.as_str();
                body.verified = verified;
                body.reason = r.status.reason();
                body.identify_ret = r.identify_ret;
                body.verify_ret = r.verify_ret;
                body.verified_at = verified.then_some(r.decided_at);
            }
        }
        body
    }
}

pub async fn handle(svc: &Services, req: Request) -> Response<Body> {
    respond(run(svc, req).await)
}

pub use super::routes::JWKS_PATH;

async fn run(svc: &Services, req: Request) -> Result<Reply, ApiError> {
    if VerifyResultRoute::parse(&req)? == VerifyResultRoute::Jwks {
        let keys = svc
            .secrets
            .app_secrets()
            .await
            .map_err(ServiceError::from)?;
        let keys = keys.receipt_keys().map_err(ServiceError::from)?;
        // Everybody's and rarely changed: cached; an answer is one user's.
        return Ok(Reply::ok(&keys.jwks()).cache("public, max-age=300"));
    }
    let input = VerifyInput::try_from(json_body::<VerifyRequest>(&req)?)?;
    let out_seq_no = input.out_seq_no.clone();
    let svc = for_app(svc, &req, Named::ByReferer).await?;
    let v = verify_result(&svc, input).await?;
    Ok(Reply::ok(&AnswerBody::new(&out_seq_no, &v)).cache("no-store"))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    use lambda_http::http::{Method, Request as HttpRequest};
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::receipt::identity_hash;
    use crate::domain::{IdCardNumber, PersonName};
    use crate::testing::{self, Fakes, ID_CARD, NAME};

    async fn call(
        f: &Fakes,
        method: Method,
        path: &str,
        body: Value,
    ) -> (u16, Value, lambda_http::http::HeaderMap) {
        let req = HttpRequest::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = handle(&f.svc, req).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (
            status,
            serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null),
            headers,
        )
    }

    /// The receipt's claims, verified against the JWKS the route publishes.
    async fn verified_claims(f: &Fakes, receipt: &str) -> Value {
        let (status, jwks, headers) = call(f, Method::GET, JWKS_PATH, Value::Null).await;
        assert_eq!(status, 200);
        assert_eq!(headers["cache-control"], "public, max-age=300");
        let set: JwkSet = serde_json::from_value(jwks).unwrap();
        let kid = decode_header(receipt).unwrap().kid.unwrap();
        let key = DecodingKey::from_jwk(set.find(&kid).expect("a published kid")).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[testing::app_secrets().appid]);
        v.set_issuer(&["wxface"]);
        decode::<Value>(receipt, &key, &v)
            .expect("a valid receipt")
            .claims
    }

    #[tokio::test]
    async fn a_final_answer_carries_a_receipt_with_exactly_the_documented_claims() {
        let f = testing::services();
        let mut s = f.v1_session("o-owner");
        s.biz_ref = Some(crate::domain::BizRef::parse("order-42").unwrap());
        f.store.put_session(s.clone());
        let vr = f.verify_result(Fakes::evidence(&s, 0));
        let body = json!({"code": f.wechat.code_for("o-owner").expose(), "out_seq_no": s.out_seq_no.as_str(), "verify_result": vr.expose()});
        let (status, answer, headers) = call(&f, Method::POST, "/", body).await;
        assert_eq!(
            (
                status,
                answer["status"].as_str(),
                answer["biz_ref"].as_str()
            ),
            (200, Some("verified"), Some("order-42")),
            "{answer}"
        );
        assert_eq!(headers["cache-control"], "no-store");
        let claims = verified_claims(&f, answer["receipt"].as_str().unwrap()).await;
        let mut keys: Vec<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "aud",
                "biz_ref",
                "exp",
                "flow",
                "iat",
                "identify_ret",
                "identity_hash",
                "iss",
                "jti",
                "out_seq_no",
                "status",
                "sub",
                "verified",
                "verified_at"
            ]
        );
        let expected_hash = identity_hash(
            &crate::testing::identity_secret().identity_key,
            &s.out_seq_no,
            &PersonName::parse(NAME).unwrap(),
            &IdCardNumber::parse(ID_CARD).unwrap(),
        );
        assert_eq!(claims["identity_hash"], expected_hash);
        assert_eq!(
            (
                claims["sub"].as_str(),
                claims["flow"].as_str(),
                claims["verified"].as_bool()
            ),
            (Some("o-owner"), Some("v1"), Some(true))
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            600
        );
        // Asked again: the same answer, a new receipt.
        let body = json!({"code": f.wechat.code_for("o-owner").expose(), "out_seq_no": s.out_seq_no.as_str()});
        let (_, again, _) = call(&f, Method::POST, "/", body).await;
        let again_claims = verified_claims(&f, again["receipt"].as_str().unwrap()).await;
        assert_ne!(again_claims["jti"], claims["jti"]);
        assert_eq!(
            (
                again_claims["status"].clone(),
                again_claims["verified_at"].clone()
            ),
            (claims["status"].clone(), claims["verified_at"].clone())
        );
    }

    #[tokio::test]
    async fn rejected_answers_name_their_reason_and_pending_ones_carry_no_receipt() {
        let f = testing::services();
        let s = f.v1_session("o-owner");
        let mut e = Fakes::evidence(&s, 0);
        e.user_id_key = "another".into();
        let vr = f.verify_result(e);
        let body = json!({"code": f.wechat.code_for("o-owner").expose(), "out_seq_no": s.out_seq_no.as_str(), "verify_result": vr.expose()});
        let (_, answer, _) = call(&f, Method::POST, "/", body).await;
        let claims = verified_claims(&f, answer["receipt"].as_str().unwrap()).await;
        assert_eq!(
            (
                claims["status"].as_str(),
                claims["reason"].as_str(),
                claims["verified"].as_bool()
            ),
            (Some("rejected"), Some("user_id_key_mismatch"), Some(false))
        );
        assert!(claims.get("biz_ref").is_none());
        // A v2 session still pending: no receipt.
        let out_seq_no = v2_session(&f, "o-2", 10300).await;
        let body =
            json!({"code": f.wechat.code_for("o-2").expose(), "out_seq_no": out_seq_no.as_str()});
        let (status, pending, _) = call(&f, Method::POST, "/", body).await;
        assert_eq!((status, pending["status"].as_str()), (200, Some("pending")));
        assert!(pending.get("receipt").is_none());
    }

    /// A v2 session issued for `openid`, with WeChat scripted to answer
    /// `verify_ret` for it; its out_seq_no.
    async fn v2_session(f: &Fakes, openid: &str, verify_ret: i64) -> crate::domain::OutSeqNo {
        let issued = crate::service::issue_key(
            &f.svc,
            crate::service::IssueKeyInput {
                code: f.wechat.code_for(openid),
                name: PersonName::parse(NAME).unwrap(),
                id_card_number: IdCardNumber::parse(ID_CARD).unwrap(),
                flow: Some(crate::domain::Flow::V2),
                biz_ref: None,
            },
        )
        .await
        .unwrap();
        let crate::service::Issued::V2 { out_seq_no, .. } = issued else {
            panic!("v2")
        };
        let session = f.store.session(&out_seq_no).unwrap();
        let crate::domain::FlowBinding::V2 { verify_id, .. } = &session.binding else {
            panic!("v2 binding")
        };
        f.wechat.script_verify_ret(verify_id, verify_ret);
        out_seq_no
    }

    #[tokio::test]
    async fn every_final_status_of_both_flows_carries_a_receipt_saying_so() {
        use crate::domain::pii::md5_hex;
        let f = testing::services();
        let mut seen = Vec::new();
        let expect = |seen: &mut Vec<String>,
                      answer: &Value,
                      claims: &Value,
                      want: (&str, Option<&str>, bool)| {
            let got = (
                claims["status"].as_str(),
                claims["reason"].as_str(),
                claims["verified"].as_bool(),
            );
            assert_eq!(got, (Some(want.0), want.1, Some(want.2)), "{claims}");
            // The receipt says what the answer says.
            assert_eq!(
                (answer["status"].as_str(), answer["out_seq_no"].clone()),
                (Some(want.0), claims["out_seq_no"].clone())
            );
            seen.push(format!("{}/{}", want.0, want.1.unwrap_or("-")));
        };

        // 2.0: verified and failed, by queryverifyinfo.
        for (openid, verify_ret, want) in [
            ("o-v2-ok", 10000, ("verified", None, true)),
            ("o-v2-no", 10011, ("failed", None, false)),
        ] {
            let seq = v2_session(&f, openid, verify_ret).await;
            let body =
                json!({"code": f.wechat.code_for(openid).expose(), "out_seq_no": seq.as_str()});
            let (status, answer, _) = call(&f, Method::POST, "/", body).await;
            assert_eq!(status, 200, "{answer}");
            let claims = verified_claims(&f, answer["receipt"].as_str().unwrap()).await;
            assert_eq!(
                (claims["flow"].as_str(), claims["verify_ret"].as_i64()),
                (Some("v2"), Some(verify_ret))
            );
            expect(&mut seen, &answer, &claims, want);
        }

        // 1.0: verified, failed, and each reason to reject the evidence.
        type Tweak = fn(&mut crate::domain::acceptance::GetInfoEvidence);
        type Want = (&'static str, Option<&'static str>, bool);
        let cases: [(Tweak, Want); 6] = [
            (|_| {}, ("verified", None, true)),
            (|e| e.identify_ret = 90004, ("failed", None, false)),
            (
                |e| e.openid = "o-someone-else".into(),
                ("rejected", Some("openid_mismatch"), false),
            ),
            (
                |e| e.name_utf8_md5 = md5_hex("李四"),
                ("rejected", Some("name_mismatch"), false),
            ),
            (
                |e| e.id_card_number_md5 = md5_hex("110105194912310037"),
                ("rejected", Some("id_card_mismatch"), false),
            ),
            (
                |e| e.user_id_key = "another".into(),
                ("rejected", Some("user_id_key_mismatch"), false),
            ),
        ];
        let mut first_vr = None;
        for (tweak, want) in cases {
            let s = f.v1_session("o-v1");
            let mut e = Fakes::evidence(&s, 0);
            tweak(&mut e);
            let vr = f.verify_result(e);
            first_vr.get_or_insert_with(|| vr.expose().to_owned());
            let body = json!({"code": f.wechat.code_for("o-v1").expose(), "out_seq_no": s.out_seq_no.as_str(), "verify_result": vr.expose()});
            let (_, answer, _) = call(&f, Method::POST, "/", body).await;
            let claims = verified_claims(&f, answer["receipt"].as_str().unwrap()).await;
            assert_eq!(claims["flow"], "v1");
            expect(&mut seen, &answer, &claims, want);
        }
        // The first session's verify_result offered again for another session.
        let s = f.v1_session("o-v1");
        let body = json!({"code": f.wechat.code_for("o-v1").expose(), "out_seq_no": s.out_seq_no.as_str(), "verify_result": first_vr.unwrap()});
        let (_, answer, _) = call(&f, Method::POST, "/", body).await;
        let claims = verified_claims(&f, answer["receipt"].as_str().unwrap()).await;
        expect(
            &mut seen,
            &answer,
            &claims,
            ("rejected", Some("verify_result_reused"), false),
        );

        // Every reason the domain knows was seen.
        for reason in crate::domain::session::RejectReason::ALL {
            assert!(
                seen.iter().any(|s| s.ends_with(reason.as_str())),
                "{reason:?} not covered: {seen:?}"
            );
        }
    }

    #[tokio::test]
    async fn without_receipt_keys_it_is_a_configuration_error_and_the_jwks_refuses_posts() {
        let f = testing::services();
        let mut app = testing::app_secrets_json();
        app.as_object_mut().unwrap().remove("receipt_keys");
        let f = Fakes {
            svc: crate::service::Services {
                secrets: std::sync::Arc::new(testing::StaticSecret::new(
                    crate::config::AppSecrets::from_json("app", &app.to_string()).unwrap(),
                )),
                ..f.svc.clone()
            },
            ..f
        };
        let (status, body, _) = call(&f, Method::GET, JWKS_PATH, Value::Null).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (500, Some("configuration_error"))
        );
        assert!(
            !body.to_string().contains("receipt_keys"),
            "the field is named in the log only"
        );
        let (status, _, headers) = call(&f, Method::POST, JWKS_PATH, Value::Null).await;
        assert_eq!((status, headers["allow"].to_str().ok()), (405, Some("GET")));
        let (status, _, headers) = call(&f, Method::GET, "/", Value::Null).await;
        assert_eq!(
            (status, headers["allow"].to_str().ok()),
            (405, Some("POST"))
        );
    }
}
