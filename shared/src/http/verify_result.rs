//! `POST /` of the verify-result function.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, accept_post, error_response, json_body, json_response};
use crate::domain::{FinalStatus, Flow, LoginCode, OutSeqNo, ValidationError, VerifyResultToken};
use crate::service::{Answer, ServiceError, Services, VerifyInput, verify_result};

#[derive(Deserialize)]
struct Body_ {
    code: String,
    out_seq_no: String,
    #[serde(default)]
    verify_result: Option<String>,
}

fn parse(req: &Request) -> Result<VerifyInput, ApiError> {
    let body: Body_ = json_body(req)?;
    let checked = || -> Result<VerifyInput, ValidationError> {
        Ok(VerifyInput {
            out_seq_no: OutSeqNo::parse(&body.out_seq_no)?,
            verify_result: body
                .verify_result
                .as_deref()
                .map(VerifyResultToken::parse)
                .transpose()?,
            code: LoginCode::parse(&body.code)?,
        })
    };
    checked().map_err(|e| ServiceError::from(e).into())
}

/// The contract's answer for a session.
pub fn answer_json(out_seq_no: &OutSeqNo, flow: Flow, answer: &Answer) -> Value {
    let mut body = json!({ "out_seq_no": out_seq_no.as_str(), "flow": flow.as_str() });
    match answer {
        Answer::Pending { verify_ret } => {
            body["status"] = json!("pending");
            body["verified"] = json!(false);
            body["verify_ret"] = json!(verify_ret);
        }
        Answer::Final(r) => {
            body["status"] = json!(r.status.as_str());
            body["verified"] = json!(r.status == FinalStatus::Verified);
            if let Some(reason) = r.status.reason() {
                body["reason"] = json!(reason.as_str());
            }
            if let Some(v) = r.identify_ret {
                body["identify_ret"] = json!(v);
            }
            if let Some(v) = r.verify_ret {
                body["verify_ret"] = json!(v);
            }
            if r.status == FinalStatus::Verified {
                body["verified_at"] = json!(r.decided_at);
            }
        }
    }
    body
}

pub async fn handle(svc: &Services, req: Request) -> Response<Body> {
    let input = match accept_post(&req, parse) {
        Ok(input) => input,
        Err(e) => return e.into_response(),
    };
    let out_seq_no = input.out_seq_no.clone();
    match verify_result(svc, input).await {
        Ok((flow, answer)) => {
            json_response(StatusCode::OK, &answer_json(&out_seq_no, flow, &answer))
        }
        Err(e) => error_response(e),
    }
}
