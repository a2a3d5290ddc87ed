//! Sessions, consumed verify_results and the issue-key rate windows.

use std::collections::HashMap;

use async_trait::async_trait;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::transact::Transacted;
use super::{DynamoStore, Item, Reader, Written, conditional, n, s, unavailable, write_token};
use crate::domain::session::RETENTION_SECS;
use crate::domain::{
    BizRef, FinalResult, FinalStatus, FlowBinding, OpenId, OutSeqNo, Sealed, Session, SessionState,
    UserIdKey, VerifyId,
};
use crate::error::StoreError;
use crate::ports::{Counted, Finalized, IssueSlot, SessionStore};

fn session_pk(out_seq_no: &OutSeqNo) -> String {
    format!("session#{out_seq_no}")
}

fn verify_result_pk(digest: &str) -> String {
    format!("verify_result#{digest}")
}

/// The final statuses counted on one UTC day (docs/api.md §2.3):
/// `usage#<yyyy-mm-dd>`, one number attribute per status.
fn usage_pk(at: i64) -> String {
    let day = DateTime::from_secs(at)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    format!("usage#{}", day.get(..10).unwrap_or("unknown"))
}

/// How long a day's usage is kept: 400 days, a year and its disputes.
const USAGE_KEPT_SECS: i64 = 400 * 86_400;

pub(super) fn session_item(session: &Session) -> Item {
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
    if let Some(b) = &session.biz_ref {
        item.insert("biz_ref".into(), s(b.as_str()));
    }
    if let Some(h) = &session.identity_hash {
        item.insert("identity_hash_sealed".into(), s(h.0.clone()));
    }
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

pub(super) fn session_from_item(item: &Item) -> Result<Session, StoreError> {
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
        biz_ref: r
            .opt_s("biz_ref")
            .map(|v| BizRef::parse(v).map_err(|_| r.corrupt("bad biz_ref")))
            .transpose()?,
        identity_hash: r
            .opt_s("identity_hash_sealed")
            .map(|v| Sealed(v.to_owned())),
    })
}

/// `SET` expression and values that write a final result over `pending`.
fn final_update(result: &FinalResult) -> (String, Item) {
    let mut sets = vec!["#status = :status", "decided_at = :decided_at"];
    let mut values: Item = HashMap::from([
        (":status".into(), s(result.status.as_str())),
        (":decided_at".into(), n(result.decided_at)),
    ]);
    if let Some(reason) = result.status.reason() {
        sets.push("reason = :reason");
        values.insert(":reason".into(), s(reason));
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

/// The guard of every write to a live session: it holds only while the
/// session is pending (and `also`, when given); `values` gets `:pending`.
fn pending_only(also: Option<&str>, values: &mut Item) -> String {
    values.insert(":pending".into(), s("pending"));
    match also {
        Some(also) => format!("{PENDING_ONLY} AND {also}"),
        None => PENDING_ONLY.to_owned(),
    }
}

const ALL_OLD: ReturnValuesOnConditionCheckFailure = ReturnValuesOnConditionCheckFailure::AllOld;

impl DynamoStore {
    /// An update of a session that holds only while it is pending (and
    /// `also`, when given), answering a refusal with the item as it is:
    /// every write to a live session's fields shares this guard.
    fn pending_update(
        &self,
        out_seq_no: &OutSeqNo,
        update: impl Into<String>,
        also: Option<&str>,
        mut values: Item,
    ) -> UpdateItemFluentBuilder {
        let condition = pending_only(also, &mut values);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(self.pk(session_pk(out_seq_no))))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ALL_OLD)
    }

    /// One item by key, read consistently: a decision follows from it.
    async fn item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// pending → final, and the final status counted in the day's usage
    /// (docs/api.md §2.3), in one transaction: a session is counted once,
    /// when it becomes final. A refusal shows the item as it is: our own
    /// write (a retried request whose answer was lost), or the winner's final
    /// result.
    async fn finalize_plain(
        &self,
        out_seq_no: &OutSeqNo,
        result: &FinalResult,
    ) -> Result<Finalized, StoreError> {
        let (update, mut values) = final_update(result);
        let token = write_token();
        values.insert(":token".into(), s(&token));
        let update = format!("{update}, final_token = :token");
        let written = self
            .write_counted(out_seq_no, update, values, &token, result)
            .await?;
        if written.by_us("final_token", &token) {
            return Ok(Finalized::Applied);
        }
        let Written::Refused(Some(item)) = written else {
            return Err(StoreError::Corrupt {
                pk: session_pk(out_seq_no),
                problem: "no such session".into(),
            });
        };
        session_from_item(&item)?
            .final_result()
            .cloned()
            .map(Finalized::AlreadyFinal)
            .ok_or_else(|| StoreError::Corrupt {
                pk: session_pk(out_seq_no),
                problem: "neither pending nor final".into(),
            })
    }

    /// The final write, and the day's usage counted, as one transaction
    /// (idempotent for the SDK's retries by `token`). Cancelled, the session
    /// as it is now: final (ours or another's: `Refused`), or still pending
    /// (a conflicting write: unavailable, the caller tries again).
    async fn write_counted(
        &self,
        out_seq_no: &OutSeqNo,
        update: String,
        values: Item,
        token: &str,
        result: &FinalResult,
    ) -> Result<Written, StoreError> {
        let items = self.counted_final(out_seq_no, update, values, result)?;
        let Transacted::Cancelled(reasons) = self.transact(&items, token).await? else {
            return Ok(Written::Done);
        };
        // The session's condition failed: the item it saw, or (not returned) as it is now.
        let seen = match reasons.into_iter().next() {
            Some((_, Some(item))) => Some(item),
            _ => self.item(self.pk(session_pk(out_seq_no))).await?,
        };
        let pending = |item: &Item| {
            let status = item.get("status").and_then(|v| v.as_s().ok());
            status.is_some_and(|v| v == "pending")
        };
        match seen {
            Some(item) if pending(&item) => Err(StoreError::Unavailable(
                "the final write was cancelled, the session still pending".into(),
            )),
            item => Ok(Written::Refused(item)),
        }
    }

    /// The transaction's two writes: the session made final while pending,
    /// and its status counted in its day's usage.
    fn counted_final(
        &self,
        out_seq_no: &OutSeqNo,
        update: String,
        mut values: Item,
        result: &FinalResult,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let condition = pending_only(None, &mut values);
        let final_write = Update::builder()
            .table_name(&self.table)
            .key("pk", s(self.pk(session_pk(out_seq_no))))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ALL_OLD);
        let count = Update::builder()
            .table_name(&self.table)
            .key("pk", s(self.pk(usage_pk(result.decided_at))))
            .update_expression(
                "ADD #status :one SET expires_at = if_not_exists(expires_at, :expires_at)",
            )
            .expression_attribute_names("#status", result.status.as_str())
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires_at", n(result.decided_at + USAGE_KEPT_SECS));
        let item = |u: aws_sdk_dynamodb::types::builders::UpdateBuilder| {
            u.build()
                .map(|u| TransactWriteItem::builder().update(u).build())
                .map_err(|e| StoreError::Unavailable(format!("transaction: {e}")))
        };
        Ok([item(final_write)?, item(count)?])
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
            .item("pk", s(self.pk(verify_result_pk(digest))))
            .item("kind", s("verify_result"))
            .item("out_seq_no", s(out_seq_no.as_str()))
            .item("expires_at", n(result.decided_at + RETENTION_SECS * 7))
            // Idempotent for its own session, so a retry needs no token.
            .condition_expression("attribute_not_exists(pk) OR out_seq_no = :me")
            .expression_attribute_values(":me", s(out_seq_no.as_str()))
            .send()
            .await;
        match conditional(claim)? {
            Written::Done => self.finalize_plain(out_seq_no, result).await,
            Written::Refused(_) => Ok(Finalized::VerifyResultTaken),
        }
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        let token = write_token();
        let mut item = session_item(session);
        item.insert("pk".into(), s(self.pk(session_pk(&session.out_seq_no))));
        item.insert("write_token".into(), s(&token));
        let outcome = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ALL_OLD)
            .send()
            .await;
        if conditional(outcome)?.by_us("write_token", &token) {
            Ok(())
        } else {
            Err(StoreError::Duplicate)
        }
    }

    async fn get(&self, out_seq_no: &OutSeqNo) -> Result<Option<Session>, StoreError> {
        let item = self.item(self.pk(session_pk(out_seq_no))).await?;
        item.as_ref().map(session_from_item).transpose()
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
        let values = Item::from([(":v".into(), s(sealed.0.clone()))]);
        // The first pushed verify_result is kept.
        let also = Some("attribute_not_exists(pushed_verify_result)");
        let update = "SET pushed_verify_result = :v";
        let outcome = (self.pending_update(out_seq_no, update, also, values))
            .send()
            .await;
        // A sealed value has a fresh nonce: finding it there means we wrote it.
        Ok(conditional(outcome)?.by_us("pushed_verify_result", &sealed.0))
    }

    async fn claim_check(
        &self,
        out_seq_no: &OutSeqNo,
        now: i64,
        cutoff: i64,
    ) -> Result<bool, StoreError> {
        let token = super::write_token();
        let values = Item::from([
            (":now".into(), n(now)),
            (":token".into(), s(token.clone())),
            (":cutoff".into(), n(cutoff)),
        ]);
        let update = "SET checked_at = :now, checked_by = :token";
        let also = Some("(attribute_not_exists(checked_at) OR checked_at <= :cutoff)");
        let outcome = (self.pending_update(out_seq_no, update, also, values))
            .send()
            .await;
        // A retried write that had gone through finds its own token.
        Ok(conditional(outcome)?.by_us("checked_by", &token))
    }

    async fn verify_result_owner(&self, digest: &str) -> Result<Option<OutSeqNo>, StoreError> {
        let Some(item) = self.item(self.pk(verify_result_pk(digest))).await? else {
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
    ) -> Result<Option<IssueSlot>, StoreError> {
        self.take_user_slot(openid, window_start, limit).await
    }

    async fn take_day_slot(
        &self,
        day_start: i64,
        limit: u32,
    ) -> Result<Option<IssueSlot>, StoreError> {
        self.take_day(day_start, limit).await
    }

    async fn give_back_issue_slot(&self, slot: &IssueSlot) -> Result<(), StoreError> {
        if slot.counted == Counted::Day {
            return self.give_back_day(slot).await;
        }
        // Only while the token is in the set: a retried give-back (its answer
        // lost) finds it gone and changes nothing.
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(self.pk(rate_pk(&slot.counted, slot.window_start))))
            .update_expression("ADD calls :minus_one DELETE tokens :tokens")
            .condition_expression("contains(tokens, :token)")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":tokens", AttributeValue::Ss(vec![slot.token.clone()]))
            .expression_attribute_values(":token", s(&slot.token))
            .send()
            .await;
        conditional(outcome).map(|_| ())
    }
}

impl DynamoStore {
    /// One of the user's calls in the hour from `window_start`, below `limit`.
    async fn take_user_slot(
        &self,
        openid: &OpenId,
        window_start: i64,
        limit: u32,
    ) -> Result<Option<IssueSlot>, StoreError> {
        // Each call's token joins the window's set (at most `limit` of them),
        // so a retried request that was counted already is not counted twice.
        let token = write_token();
        let counted = Counted::User(openid.clone());
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(self.pk(rate_pk(&counted, window_start))))
            .update_expression("ADD calls :one, tokens :tokens SET expires_at = :expires_at")
            .condition_expression(
                "(attribute_not_exists(calls) OR calls < :limit) AND NOT contains(tokens, :token)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":tokens", AttributeValue::Ss(vec![token.clone()]))
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .expression_attribute_values(":expires_at", n(window_start + 2 * 3600))
            .return_values_on_condition_check_failure(ALL_OLD)
            .send()
            .await;
        let taken = match conditional(outcome)? {
            Written::Done => true,
            Written::Refused(item) => item
                .and_then(|i| i.get("tokens").cloned())
                .is_some_and(|t| t.as_ss().is_ok_and(|set| set.contains(&token))),
        };
        Ok(taken.then_some(IssueSlot {
            counted,
            window_start,
            token,
        }))
    }
}

pub(super) fn rate_pk(counted: &Counted, window_start: i64) -> String {
    match counted {
        Counted::User(openid) => format!("rate#issue-key#{openid}#{window_start}"),
        Counted::Day => format!("rate#day#{window_start}"),
    }
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
            biz_ref: None,
            identity_hash: None,
        };
        assert_eq!(usage_pk(1_796_693_013), "usage#2026-12-08");
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
