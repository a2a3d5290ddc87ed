//! `POST /` of the issue-key function.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, accept_post, error_response, json_body, json_response};
use crate::domain::{Flow, IdCardNumber, LoginCode, PersonName, ValidationError};
use crate::service::{IssueKeyInput, Issued, ServiceError, Services, issue_key};

#[derive(Deserialize)]
struct Body_ {
    code: String,
    name: String,
    id_card_number: String,
    #[serde(default)]
    flow: Option<String>,
}

fn parse(req: &Request) -> Result<IssueKeyInput, ApiError> {
    let body: Body_ = json_body(req)?;
    let checked = || -> Result<IssueKeyInput, ValidationError> {
        Ok(IssueKeyInput {
            name: PersonName::parse(&body.name)?,
            id_card_number: IdCardNumber::parse(&body.id_card_number)?,
            flow: body.flow.as_deref().map(Flow::parse).transpose()?,
            code: LoginCode::parse(&body.code)?,
        })
    };
    checked().map_err(|e| ServiceError::from(e).into())
}

pub async fn handle(svc: &Services, req: Request) -> Response<Body> {
    let input = match accept_post(&req, parse) {
        Ok(input) => input,
        Err(e) => return e.into_response(),
    };
    match issue_key(svc, input).await {
        Ok(Issued::V2 {
            out_seq_no,
            verify_id,
            expires_in,
        }) => json_response(
            StatusCode::OK,
            &json!({
                "flow": "v2",
                "out_seq_no": out_seq_no.as_str(),
                "verify_id": verify_id.as_str(),
                "expires_in": expires_in,
            }),
        ),
        Ok(Issued::V1 {
            out_seq_no,
            user_id_key,
            expires_in,
        }) => json_response(
            StatusCode::OK,
            &json!({
                "flow": "v1",
                "out_seq_no": out_seq_no.as_str(),
                "user_id_key": user_id_key.as_str(),
                "expires_in": expires_in,
            }),
        ),
        Err(e) => error_response(e),
    }
}
