//! issue-key: bind a new verification to the caller and start it at WeChat.

use tracing::info;

use super::{ServiceError, Services, login_error};
use crate::config::AppSecrets;
use crate::domain::pii::{Purpose, cert_hash, md5_hex};
use crate::domain::receipt::identity_hash;
use crate::domain::session::SESSION_TTL_SECS;
use crate::domain::{
    AppId, BizRef, Flow, FlowBinding, IdCardNumber, LoginCode, OpenId, OutSeqNo, PersonName,
    Sealing, Session, SessionState, UserIdKey, VerifyId,
};
use crate::error::WeChatError;
use crate::ports::IssueSlot;
use crate::telemetry::metrics;

pub struct IssueKeyInput {
    pub code: LoginCode,
    pub name: PersonName,
    pub id_card_number: IdCardNumber,
    pub flow: Option<Flow>,
    pub biz_ref: Option<BizRef>,
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
const DAY_SECS: i64 = 86_400;

pub async fn issue_key(svc: &Services, input: IssueKeyInput) -> Result<Issued, ServiceError> {
    let app = svc.secrets.app_secrets().await?;
    let identity_key = svc.identity.identity_secret().await?;
    let openid = svc.wechat.login(&input.code).await.map_err(login_error)?;
    let slots = take_slots(svc, &openid).await?;
    let flow = input.flow.unwrap_or(svc.settings.default_face_flow);
    let out_seq_no = OutSeqNo::generate();
    let started = start_at_wechat(svc, &app, flow, &input, &openid, &out_seq_no).await;
    if let Err(e) = &started {
        let unreached = matches!(e, ServiceError::WeChat(WeChatError::Unavailable(_)));
        give_back_unused(svc, unreached, &slots).await;
    }
    let (binding, expires_in) = started?;
    let expires_in = lifetime(expires_in);
    // Sealed: a digest of personal data is kept only so (docs/api.md §5).
    let identity = identity_hash(
        &identity_key.identity_key,
        &out_seq_no,
        &input.name,
        &input.id_card_number,
    );
    let identity_hash = app
        .data_keys
        .seal_for(Sealing::IdentityHash, &out_seq_no, &identity);
    let now = svc.clock.now();
    let session = Session {
        out_seq_no: out_seq_no.clone(),
        openid,
        created_at: now,
        valid_until: now + expires_in,
        binding,
        state: SessionState::Pending,
        pushed_verify_result: None,
        biz_ref: input.biz_ref,
        identity_hash: Some(identity_hash),
    };
    if let Err(e) = svc.store.insert(&session).await {
        give_back_unused(svc, false, &slots).await;
        return Err(e.into());
    }
    info!(event = "session_issued", out_seq_no = %out_seq_no, flow = flow.as_str(), "session issued");
    metrics::verification(
        flow.as_str(),
        "issued",
        svc.tenant.as_ref().map(AppId::as_str),
    );

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

/// WeChat documents 3600 s; never trust a longer or missing value blindly.
fn lifetime(expires_in: i64) -> i64 {
    if (1..=SESSION_TTL_SECS).contains(&expires_in) {
        expires_in
    } else {
        SESSION_TTL_SECS
    }
}

/// A call that started no session gives back the mini-program's day (a
/// tenant's `daily_limit` counts sessions started); the user's hour only when
/// WeChat could not be reached (see [`give_back`]).
async fn give_back_unused(svc: &Services, unreached: bool, [hour, day]: &[Option<IssueSlot>; 2]) {
    if unreached {
        give_back(svc, hour.as_ref()).await;
    }
    give_back(svc, day.as_ref()).await;
}

/// Gives back a slot the call did not use: WeChat could not be reached or
/// failed (5xx, busy, timed out), which is nothing the user did, so it costs
/// them nothing. A refusal (an errcode, WeChat's own rate limit) keeps its
/// slot, or one user could make WeChat refuse without end. If giving back
/// fails too, the window has one call fewer.
async fn give_back(svc: &Services, slot: Option<&IssueSlot>) {
    let Some(slot) = slot else {
        return;
    };
    if let Err(e) = svc.store.give_back_issue_slot(slot).await {
        tracing::warn!(event = "issue_slot_kept", detail = %e, "issue-key slot not given back");
    }
}

/// The user's call this hour and the mini-program's session today; refused
/// for the day, the user's call is given back.
async fn take_slots(
    svc: &Services,
    openid: &OpenId,
) -> Result<[Option<IssueSlot>; 2], ServiceError> {
    let hour = take_slot(svc, openid).await?;
    match take_day_slot(svc).await {
        Ok(day) => Ok([hour, day]),
        Err(e) => {
            give_back(svc, hour.as_ref()).await;
            Err(e)
        }
    }
}

/// One of the mini-program's sessions today, or `429 daily_limit_reached`
/// when its `daily_limit` is used up; none to take without a limit.
async fn take_day_slot(svc: &Services) -> Result<Option<IssueSlot>, ServiceError> {
    let Some(limit) = svc.secrets.daily_limit().await? else {
        return Ok(None);
    };
    let now = svc.clock.now();
    let day = now - now.rem_euclid(DAY_SECS);
    match svc.store.take_day_slot(day, limit).await? {
        Some(slot) => Ok(Some(slot)),
        None => {
            info!(
                event = "daily_limit_reached",
                appid = svc.tenant.as_ref().map(AppId::as_str),
                "daily limit reached"
            );
            Err(ServiceError::DailyLimit {
                retry_after: day + DAY_SECS - now,
            })
        }
    }
}

/// One of the user's issue-key calls this hour, or `429` when they are used
/// up; none to take when the limit is off.
async fn take_slot(svc: &Services, openid: &OpenId) -> Result<Option<IssueSlot>, ServiceError> {
    let limit = svc.settings.issue_key_limit_per_hour;
    if limit == 0 {
        return Ok(None);
    }
    let now = svc.clock.now();
    let window = now - now.rem_euclid(WINDOW_SECS);
    match svc.store.take_issue_slot(openid, window, limit).await? {
        Some(slot) => Ok(Some(slot)),
        None => {
            info!(event = "rate_limited", "issue-key limit reached");
            Err(ServiceError::RateLimited {
                retry_after: window + WINDOW_SECS - now,
            })
        }
    }
}

/// The verification started at WeChat: what the session keeps of it, and
/// WeChat's lifetime for it.
async fn start_at_wechat(
    svc: &Services,
    app: &AppSecrets,
    flow: Flow,
    input: &IssueKeyInput,
    openid: &OpenId,
    out_seq_no: &OutSeqNo,
) -> Result<(FlowBinding, i64), ServiceError> {
    Ok(match flow {
        Flow::V2 => {
            let (verify_id, expires_in) = svc
                .wechat
                .get_verify_id(out_seq_no, &input.name, &input.id_card_number, openid)
                .await?;
            // Computed over exactly the values sent to getverifyid.
            let hash = cert_hash(
                CERT_TYPE,
                input.name.expose(),
                input.id_card_number.expose(),
            );
            let cert_hash = app.data_keys.seal_for(Sealing::CertHash, out_seq_no, &hash);
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
                .get_user_id_key(&input.name, &input.id_card_number, out_seq_no)
                .await?;
            let key = &app.data_keys;
            let binding = FlowBinding::V1 {
                user_id_key,
                name_md5_digest: key.digest(Purpose::NameMd5, &md5_hex(input.name.expose())),
                id_md5_digest: key
                    .digest(Purpose::IdCardMd5, &md5_hex(input.id_card_number.expose())),
            };
            (binding, expires_in)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, ID_CARD, NAME};

    fn input(f: &testing::Fakes, openid: &str, flow: Flow) -> IssueKeyInput {
        IssueKeyInput {
            code: f.wechat.code_for(openid),
            name: PersonName::parse(NAME).unwrap(),
            id_card_number: IdCardNumber::parse(ID_CARD).unwrap(),
            flow: Some(flow),
            biz_ref: None,
        }
    }

    #[tokio::test]
    async fn sessions_hold_only_sealed_or_keyed_personal_data() {
        let f = testing::services();
        let Issued::V2 { out_seq_no, .. } =
            issue_key(&f.svc, input(&f, "o-1", Flow::V2)).await.unwrap()
        else {
            panic!("v2");
        };
        let s = f.store.session(&out_seq_no).unwrap();
        let FlowBinding::V2 {
            cert_hash: sealed, ..
        } = &s.binding
        else {
            panic!("v2")
        };
        let key = testing::app_secrets().data_keys;
        let opened = key
            .open_for(Sealing::CertHash, &out_seq_no, sealed)
            .unwrap();
        assert_eq!(opened, cert_hash(CERT_TYPE, NAME, ID_CARD));
        // Sealed for this session only.
        assert!(
            key.open_for(Sealing::CertHash, &OutSeqNo::generate(), sealed)
                .is_err()
        );
        let Issued::V1 { out_seq_no, .. } =
            issue_key(&f.svc, input(&f, "o-1", Flow::V1)).await.unwrap()
        else {
            panic!("v1");
        };
        let shown = format!("{:?}", f.store.session(&out_seq_no).unwrap());
        for clear in [NAME, ID_CARD, &md5_hex(NAME), &md5_hex(ID_CARD)] {
            assert!(!shown.contains(clear), "{clear} in {shown}");
        }
    }

    #[tokio::test]
    async fn the_limit_counts_per_user_and_refuses_before_wechat() {
        let f = testing::services_with(|s| s.issue_key_limit_per_hour = 2);
        for _ in 0..2 {
            issue_key(&f.svc, input(&f, "o-busy", Flow::V2))
                .await
                .unwrap();
        }
        let refused = issue_key(&f.svc, input(&f, "o-busy", Flow::V2)).await;
        assert!(
            matches!(refused, Err(ServiceError::RateLimited { retry_after }) if retry_after > 0)
        );
        assert_eq!(f.wechat.calls(crate::upstream::Upstream::Getverifyid), 2);
        // Another user is not affected; a refused code costs no slot.
        issue_key(&f.svc, input(&f, "o-other", Flow::V2))
            .await
            .unwrap();
        let bad = IssueKeyInput {
            code: LoginCode::parse("never-issued").unwrap(),
            ..input(&f, "o-other", Flow::V2)
        };
        assert!(matches!(
            issue_key(&f.svc, bad).await,
            Err(ServiceError::InvalidCode)
        ));
    }

    /// A call WeChat did not accept started nothing, so it costs the user no slot; a flaky
    /// upstream cannot lock a user out for the hour.
    #[tokio::test]
    async fn a_call_wechat_did_not_accept_gives_its_slot_back() {
        let f = testing::services_with(|s| s.issue_key_limit_per_hour = 2);
        f.wechat.fail(crate::upstream::Upstream::Getverifyid, 5);
        for _ in 0..5 {
            let failed = issue_key(&f.svc, input(&f, "o-flaky", Flow::V2)).await;
            assert!(matches!(failed, Err(ServiceError::WeChat(_))), "{failed:?}");
        }
        for _ in 0..2 {
            issue_key(&f.svc, input(&f, "o-flaky", Flow::V2))
                .await
                .unwrap();
        }
        assert!(matches!(
            issue_key(&f.svc, input(&f, "o-flaky", Flow::V2)).await,
            Err(ServiceError::RateLimited { .. })
        ));
        // Giving back fails as well: the call still fails as WeChat's, and costs one slot.
        let f = testing::services_with(|s| s.issue_key_limit_per_hour = 1);
        f.wechat.fail(crate::upstream::Upstream::Getuseridkey, 1);
        f.store.fail("give_back_issue_slot", 1);
        let failed = issue_key(&f.svc, input(&f, "o-unlucky", Flow::V1)).await;
        assert!(matches!(failed, Err(ServiceError::WeChat(_))), "{failed:?}");
    }
}
