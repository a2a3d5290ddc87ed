//! issue-key: bind a new verification to the caller and start it at WeChat.

use tracing::info;

use crate::telemetry::metrics;

use super::{ServiceError, Services, login_error};
use crate::domain::pii::{Purpose, cert_hash, md5_hex};
use crate::domain::session::SESSION_TTL_SECS;
use crate::domain::{
    Flow, FlowBinding, IdCardNumber, LoginCode, OutSeqNo, PersonName, Session, SessionState,
    UserIdKey, VerifyId,
};

pub struct IssueKeyInput {
    pub code: LoginCode,
    pub name: PersonName,
    pub id_card_number: IdCardNumber,
    pub flow: Option<Flow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    V2 {
        out_seq_no: OutSeqNo,
        verify_id: VerifyId,
        expires_in: i64,
    },
    V1 {
        out_seq_no: OutSeqNo,
        user_id_key: UserIdKey,
        expires_in: i64,
    },
}

const CERT_TYPE: &str = "IDENTITY_CARD";
const WINDOW_SECS: i64 = 3600;

/// The context a cert_hash is sealed under: it only opens for its own session.
pub(crate) fn cert_hash_context(out_seq_no: &OutSeqNo) -> String {
    format!("cert_hash:{out_seq_no}")
}

pub async fn issue_key(svc: &Services, input: IssueKeyInput) -> Result<Issued, ServiceError> {
    let app = svc.secrets.app_secrets().await?;
    let openid = svc.wechat.login(&input.code).await.map_err(login_error)?;

    let limit = svc.settings.issue_key_limit_per_hour;
    if limit > 0 {
        let now = svc.clock.now();
        let window = now - now.rem_euclid(WINDOW_SECS);
        if !svc.store.take_issue_slot(&openid, window, limit).await? {
            info!(event = "rate_limited", "issue-key limit reached");
            return Err(ServiceError::RateLimited {
                retry_after: window + WINDOW_SECS - now,
            });
        }
    }

    let flow = input.flow.unwrap_or(svc.settings.default_face_flow);
    let out_seq_no = OutSeqNo::generate();
    let (binding, expires_in) = match flow {
        Flow::V2 => {
            let (verify_id, expires_in) = svc
                .wechat
                .get_verify_id(&out_seq_no, &input.name, &input.id_card_number, &openid)
                .await?;
            // Computed over exactly the values sent to getverifyid.
            let hash = cert_hash(
                CERT_TYPE,
                input.name.expose(),
                input.id_card_number.expose(),
            );
            let cert_hash = app.data_key.seal(&cert_hash_context(&out_seq_no), &hash);
            (
                FlowBinding::V2 {
                    verify_id,
                    cert_hash,
                },
                expires_in,
            )
        }
        Flow::V1 => {
            let (user_id_key, expires_in) = svc
                .wechat
                .get_user_id_key(&input.name, &input.id_card_number, &out_seq_no)
                .await?;
            let key = &app.data_key;
            let binding = FlowBinding::V1 {
                user_id_key,
                name_md5_digest: key.digest(Purpose::NameMd5, &md5_hex(input.name.expose())),
                id_md5_digest: key
                    .digest(Purpose::IdCardMd5, &md5_hex(input.id_card_number.expose())),
            };
            (binding, expires_in)
        }
    };
    // WeChat documents 3600 s; never trust a longer or missing value blindly.
    let expires_in = if (1..=SESSION_TTL_SECS).contains(&expires_in) {
        expires_in
    } else {
        SESSION_TTL_SECS
    };
    let now = svc.clock.now();
    let session = Session {
        out_seq_no: out_seq_no.clone(),
        openid,
        created_at: now,
        valid_until: now + expires_in,
        binding,
        state: SessionState::Pending,
        pushed_verify_result: None,
    };
    svc.store.insert(&session).await?;
    info!(event = "session_issued", out_seq_no = %out_seq_no, flow = flow.as_str(), "session issued");
    metrics::verification(flow.as_str(), "issued");

    Ok(match session.binding {
        FlowBinding::V2 { verify_id, .. } => Issued::V2 {
            out_seq_no,
            verify_id,
            expires_in,
        },
        FlowBinding::V1 { user_id_key, .. } => Issued::V1 {
            out_seq_no,
            user_id_key,
            expires_in,
        },
    })
}
