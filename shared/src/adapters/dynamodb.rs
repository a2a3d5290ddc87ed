//! The sessions table (contract §2): one item per session, per consumed
//! verify_result, per rate-limit window, and the token lease. Every item has
//! `pk` and the TTL attribute `expires_at`.
//!
//! | pk                              | what                                   |
//! |---------------------------------|----------------------------------------|
//! | `session#<out_seq_no>`          | a session (no personal data in clear)  |
//! | `verify_result#<hmac>`          | a consumed 1.0 verify_result           |
//! | `rate#issue-key#<openid>#<hour>`| issue-key calls in that hour           |
//! | `lease#access-token`            | who may refresh the access token now   |

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::token::TokenLease;
use crate::domain::session::RETENTION_SECS;
use crate::domain::{
    FinalResult, FinalStatus, FlowBinding, OpenId, OutSeqNo, Sealed, Session, SessionState,
    UserIdKey, VerifyId,
};
use crate::error::{StoreError, WeChatError};
use crate::ports::{Finalized, SessionStore};

type Item = HashMap<String, AttributeValue>;

const LEASE_PK: &str = "lease#access-token";

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// For the other item families kept in the same table (`kiosk_store`).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }
}

fn session_pk(out_seq_no: &OutSeqNo) -> String {
    format!("session#{out_seq_no}")
}

fn verify_result_pk(digest: &str) -> String {
    format!("verify_result#{digest}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

/// `Ok(true)` when a conditional write happened, `Ok(false)` when its
/// condition did not hold; anything else means the table is unavailable.
fn condition_held<T, E, R>(outcome: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match outcome {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

fn session_item(session: &Session) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(session_pk(&session.out_seq_no))),
        ("kind".into(), s("session")),
        ("out_seq_no".into(), s(session.out_seq_no.as_str())),
        ("flow".into(), s(session.flow().as_str())),
        ("openid".into(), s(session.openid.as_str())),
        ("created_at".into(), n(session.created_at)),
        ("valid_until".into(), n(session.valid_until)),
        ("expires_at".into(), n(session.purge_at())),
        ("status".into(), s("pending")),
    ]);
    match &session.binding {
        FlowBinding::V2 {
            verify_id,
            cert_hash,
        } => {
            item.insert("verify_id".into(), s(verify_id.as_str()));
            item.insert("cert_hash_sealed".into(), s(cert_hash.0.clone()));
        }
        FlowBinding::V1 {
            user_id_key,
            name_md5_digest,
            id_md5_digest,
        } => {
            item.insert("user_id_key".into(), s(user_id_key.as_str()));
            item.insert("name_md5_hmac".into(), s(name_md5_digest.clone()));
            item.insert("id_md5_hmac".into(), s(id_md5_digest.clone()));
        }
    }
    item
}

struct Reader<'a> {
    pk: String,
    item: &'a Item,
}

impl Reader<'_> {
    fn corrupt(&self, problem: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            pk: self.pk.clone(),
            problem: problem.into(),
        }
    }
    fn opt_s(&self, k: &str) -> Option<&str> {
        self.item
            .get(k)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }
    fn req_s(&self, k: &str) -> Result<&str, StoreError> {
        self.opt_s(k)
            .ok_or_else(|| self.corrupt(format!("{k} missing")))
    }
    fn opt_n(&self, k: &str) -> Result<Option<i64>, StoreError> {
        match self.item.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("{k} is not a number"))),
        }
    }
    fn req_n(&self, k: &str) -> Result<i64, StoreError> {
        self.opt_n(k)?
            .ok_or_else(|| self.corrupt(format!("{k} missing")))
    }
}

fn session_from_item(item: &Item) -> Result<Session, StoreError> {
    let r = Reader {
        pk: item
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default(),
        item,
    };
    let out_seq_no =
        OutSeqNo::parse(r.req_s("out_seq_no")?).map_err(|_| r.corrupt("bad out_seq_no"))?;
    let openid = OpenId::from_wechat(r.req_s("openid")?).ok_or_else(|| r.corrupt("bad openid"))?;
    let binding = match r.req_s("flow")? {
        "v2" => FlowBinding::V2 {
            verify_id: VerifyId::from_wechat(r.req_s("verify_id")?)
                .ok_or_else(|| r.corrupt("bad verify_id"))?,
            cert_hash: Sealed(r.req_s("cert_hash_sealed")?.to_owned()),
        },
        "v1" => FlowBinding::V1 {
            user_id_key: UserIdKey::from_wechat(r.req_s("user_id_key")?)
                .ok_or_else(|| r.corrupt("bad user_id_key"))?,
            name_md5_digest: r.req_s("name_md5_hmac")?.to_owned(),
            id_md5_digest: r.req_s("id_md5_hmac")?.to_owned(),
        },
        _ => return Err(r.corrupt("unknown flow")),
    };
    let state = match r.req_s("status")? {
        "pending" => SessionState::Pending,
        status => SessionState::Final(FinalResult {
            status: FinalStatus::parse(status, r.opt_s("reason"))
                .ok_or_else(|| r.corrupt("unknown status"))?,
            identify_ret: r.opt_n("identify_ret")?,
            verify_ret: r.opt_n("verify_ret")?,
            decided_at: r.req_n("decided_at")?,
        }),
    };
    Ok(Session {
        out_seq_no,
        openid,
        created_at: r.req_n("created_at")?,
        valid_until: r.req_n("valid_until")?,
        binding,
        state,
        pushed_verify_result: r
            .opt_s("pushed_verify_result")
            .map(|v| Sealed(v.to_owned())),
    })
}

/// `SET` expression and values that write a final result over `pending`.
fn final_update(result: &FinalResult) -> (String, Item) {
    let mut sets = vec!["#status = :status", "decided_at = :decided_at"];
    let mut values: Item = HashMap::from([
        (":status".into(), s(result.status.as_str())),
        (":decided_at".into(), n(result.decided_at)),
        (":pending".into(), s("pending")),
    ]);
    if let Some(reason) = result.status.reason() {
        sets.push("reason = :reason");
        values.insert(":reason".into(), s(reason.as_str()));
    }
    if let Some(v) = result.identify_ret {
        sets.push("identify_ret = :identify_ret");
        values.insert(":identify_ret".into(), n(v));
    }
    if let Some(v) = result.verify_ret {
        sets.push("verify_ret = :verify_ret");
        values.insert(":verify_ret".into(), n(v));
    }
    (format!("SET {}", sets.join(", ")), values)
}

const PENDING_ONLY: &str = "#status = :pending";

impl DynamoStore {
    async fn already_final(
        &self,
        out_seq_no: &OutSeqNo,
    ) -> Result<Option<FinalResult>, StoreError> {
        Ok(self
            .get(out_seq_no)
            .await?
            .and_then(|s| s.final_result().cloned()))
    }

    async fn finalize_plain(
        &self,
        out_seq_no: &OutSeqNo,
        result: &FinalResult,
    ) -> Result<Finalized, StoreError> {
        let (update, values) = final_update(result);
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(session_pk(out_seq_no)))
            .update_expression(update)
            .condition_expression(PENDING_ONLY)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        if condition_held(outcome)? {
            Ok(Finalized::Applied)
        } else {
            self.lost_race(out_seq_no).await
        }
    }

    /// Claims the verify_result for this session, then finalizes it. Two
    /// single-item conditional writes instead of a transaction: the claim is
    /// idempotent for its own session, so a failure between the two leaves a
    /// session that the same verify_result can still complete, and that no
    /// other session can use.
    async fn finalize_consuming(
        &self,
        out_seq_no: &OutSeqNo,
        result: &FinalResult,
        digest: &str,
    ) -> Result<Finalized, StoreError> {
        let claim = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(verify_result_pk(digest)))
            .item("kind", s("verify_result"))
            .item("out_seq_no", s(out_seq_no.as_str()))
            .item("expires_at", n(result.decided_at + RETENTION_SECS * 7))
            .condition_expression("attribute_not_exists(pk) OR out_seq_no = :me")
            .expression_attribute_values(":me", s(out_seq_no.as_str()))
            .send()
            .await;
        if condition_held(claim)? {
            self.finalize_plain(out_seq_no, result).await
        } else {
            Ok(Finalized::VerifyResultTaken)
        }
    }

    async fn lost_race(&self, out_seq_no: &OutSeqNo) -> Result<Finalized, StoreError> {
        self.already_final(out_seq_no)
            .await?
            .map(Finalized::AlreadyFinal)
            .ok_or_else(|| StoreError::Corrupt {
                pk: session_pk(out_seq_no),
                problem: "neither pending nor final".into(),
            })
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        let outcome = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(session)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if condition_held(outcome)? {
            Ok(())
        } else {
            Err(StoreError::Duplicate)
        }
    }

    async fn get(&self, out_seq_no: &OutSeqNo) -> Result<Option<Session>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(session_pk(out_seq_no)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(session_from_item).transpose()
    }

    async fn finalize(
        &self,
        out_seq_no: &OutSeqNo,
        result: &FinalResult,
        consume: Option<&str>,
    ) -> Result<Finalized, StoreError> {
        match consume {
            Some(digest) => self.finalize_consuming(out_seq_no, result, digest).await,
            None => self.finalize_plain(out_seq_no, result).await,
        }
    }

    async fn record_push(
        &self,
        out_seq_no: &OutSeqNo,
        sealed: &Sealed,
    ) -> Result<bool, StoreError> {
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(session_pk(out_seq_no)))
            .update_expression("SET pushed_verify_result = :v")
            .condition_expression(PENDING_ONLY)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":v", s(sealed.0.clone()))
            .expression_attribute_values(":pending", s("pending"))
            .send()
            .await;
        if condition_held(outcome)? {
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn verify_result_owner(&self, digest: &str) -> Result<Option<OutSeqNo>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(verify_result_pk(digest)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let owner = item
            .get("out_seq_no")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| OutSeqNo::parse(v).ok())
            .ok_or_else(|| StoreError::Corrupt {
                pk: verify_result_pk(digest),
                problem: "bad out_seq_no".into(),
            })?;
        Ok(Some(owner))
    }

    async fn take_issue_slot(
        &self,
        openid: &OpenId,
        window_start: i64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("rate#issue-key#{openid}#{window_start}")))
            .update_expression("ADD calls :one SET expires_at = :expires_at")
            .condition_expression("attribute_not_exists(calls) OR calls < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .expression_attribute_values(":expires_at", n(window_start + 2 * 3600))
            .send()
            .await;
        if condition_held(outcome)? {
            Ok(true)
        } else {
            Ok(false)
        }
    }
}

#[async_trait]
impl TokenLease for DynamoStore {
    async fn try_acquire(&self, holder: &str, now: i64, until: i64) -> Result<bool, WeChatError> {
        let outcome = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(LEASE_PK))
            .item("holder", s(holder))
            .item("lease_until", n(until))
            .item("expires_at", n(until + 3600))
            .condition_expression("attribute_not_exists(pk) OR lease_until < :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        condition_held(outcome).map_err(lease_error)
    }

    async fn release(&self, holder: &str) -> Result<(), WeChatError> {
        let outcome = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(LEASE_PK))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        // Not ours any more means someone took over an expired lease: fine.
        condition_held(outcome).map(|_| ()).map_err(lease_error)
    }
}

fn lease_error(e: StoreError) -> WeChatError {
    WeChatError::Unavailable(format!("token lease: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_hold_no_personal_data() {
        let session = Session {
            out_seq_no: OutSeqNo::parse("seq-12345").unwrap(),
            openid: OpenId::from_wechat("o-abc").unwrap(),
            created_at: 10,
            valid_until: 3610,
            binding: FlowBinding::V1 {
                user_id_key: UserIdKey::from_wechat("k").unwrap(),
                name_md5_digest: "aa".into(),
                id_md5_digest: "bb".into(),
            },
            state: SessionState::Pending,
            pushed_verify_result: None,
        };
        let item = session_item(&session);
        assert_eq!(item["expires_at"], n(3610 + RETENTION_SECS));
        assert_eq!(session_from_item(&item).unwrap(), session);
        let mut broken = item.clone();
        broken.insert("status".into(), s("weird"));
        assert!(matches!(
            session_from_item(&broken),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
