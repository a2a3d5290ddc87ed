//! `POST /` (function URL) or `POST /issue-key` (HTTP API) of the issue-key function.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::routes::{IssueKeyRoute, Routes};
use super::{ApiError, Reply, for_app, json_body, respond};
use crate::domain::{BizRef, Flow, IdCardNumber, LoginCode, PersonName, ValidationError};
use crate::service::tenant::Named;
use crate::service::{IssueKeyInput, Issued, Services, issue_key};

/// The request as it arrives: fields present and typed right.
#[derive(Deserialize)]
struct IssueKeyRequest {
    code: String,
    name: String,
    id_card_number: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    biz_ref: Option<String>,
}

/// The request-to-domain step: every value checked, each with its own code.
impl TryFrom<IssueKeyRequest> for IssueKeyInput {
    type Error = ValidationError;

    fn try_from(r: IssueKeyRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            name: PersonName::parse(&r.name)?,
            id_card_number: IdCardNumber::parse(&r.id_card_number)?,
            flow: r.flow.as_deref().map(Flow::parse).transpose()?,
            biz_ref: r.biz_ref.as_deref().map(BizRef::parse).transpose()?,
            code: LoginCode::parse(&r.code)?,
        })
    }
}

#[skip_serializing_none]
#[derive(Serialize)]
struct IssuedBody<'a> {
    flow: &'static str,
    out_seq_no: &'a str,
    verify_id: Option<&'a str>,
    user_id_key: Option<&'a str>,
    expires_in: i64,
}

impl<'a> From<&'a Issued> for IssuedBody<'a> {
    fn from(issued: &'a Issued) -> Self {
        match issued {
            Issued::V2 {
                out_seq_no,
                verify_id,
                expires_in,
            } => Self {
                flow: Flow::V2.as_str(),
                out_seq_no: out_seq_no.as_str(),
                verify_id: Some(verify_id.as_str()),
                user_id_key: None,
                expires_in: *expires_in,
            },
            Issued::V1 {
                out_seq_no,
                user_id_key,
                expires_in,
            } => Self {
                flow: Flow::V1.as_str(),
                out_seq_no: out_seq_no.as_str(),
                verify_id: None,
                user_id_key: Some(user_id_key.as_str()),
                expires_in: *expires_in,
            },
        }
    }
}

pub async fn handle(svc: &Services, req: Request) -> Response<Body> {
    respond(run(svc, req).await)
}

async fn run(svc: &Services, req: Request) -> Result<Reply, ApiError> {
    let IssueKeyRoute::IssueKey = IssueKeyRoute::parse(&req)?;
    let input = IssueKeyInput::try_from(json_body::<IssueKeyRequest>(&req)?)?;
    let svc = for_app(svc, &req, Named::ByReferer).await?;
    let issued = issue_key(&svc, input).await?;
    Ok(Reply::ok(&IssuedBody::from(&issued)).cache("no-store"))
}
