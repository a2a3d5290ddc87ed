//! A tenant's daily limit (docs/api.md §9): the day's count,
//! `rate#day#<day>`, and one small marker per counted call,
//! `rate#day#<day>#<token>`, written in one transaction. The marker makes a
//! retried transaction (the SDK's, its answer lost, where DynamoDB does not
//! recognise its ClientRequestToken) count once and a retried give-back
//! uncount once; the count itself stays one number, however busy the day.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::sessions::rate_pk;
use super::transact::Transacted;
use super::{DynamoStore, n, s, write_token};
use crate::error::StoreError;
use crate::ports::{Counted, IssueSlot};

/// The day's items outlive it by a day (the TTL).
const KEPT: i64 = 2 * 86_400;

fn built<T, E: std::fmt::Display>(b: Result<T, E>) -> Result<T, StoreError> {
    b.map_err(|e| StoreError::Unavailable(format!("transaction: {e}")))
}

impl DynamoStore {
    fn day_items(&self, slot: &IssueSlot) -> (String, String) {
        let counter = self.pk(rate_pk(&Counted::Day, slot.window_start));
        let marker = format!("{counter}#{}", slot.token);
        (counter, marker)
    }

    /// One of the day's `limit` sessions, or none left.
    pub(super) async fn take_day(
        &self,
        day_start: i64,
        limit: u32,
    ) -> Result<Option<IssueSlot>, StoreError> {
        let slot = IssueSlot {
            counted: Counted::Day,
            window_start: day_start,
            token: write_token(),
        };
        let (counter, marker) = self.day_items(&slot);
        let count = Update::builder()
            .table_name(&self.table)
            .key("pk", s(counter))
            .update_expression("ADD calls :one SET expires_at = :expires_at")
            .condition_expression("attribute_not_exists(calls) OR calls < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .expression_attribute_values(":expires_at", n(day_start + KEPT));
        let mark = Put::builder()
            .table_name(&self.table)
            .item("pk", s(marker))
            .item("expires_at", n(day_start + KEPT))
            .condition_expression("attribute_not_exists(pk)");
        let items = [
            TransactWriteItem::builder()
                .update(built(count.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(built(mark.build())?)
                .build(),
        ];
        match self.transact(&items, &slot.token).await? {
            Transacted::Done => Ok(Some(slot)),
            // Our own marker already there: this call's retry, counted before.
            Transacted::Cancelled(r) if failed(&r, 1) => Ok(Some(slot)),
            Transacted::Cancelled(r) if failed(&r, 0) => Ok(None),
            Transacted::Cancelled(_) => Err(StoreError::Unavailable(
                "the day's count was cancelled".into(),
            )),
        }
    }

    /// Uncounts a day's slot once: its marker goes with it.
    pub(super) async fn give_back_day(&self, slot: &IssueSlot) -> Result<(), StoreError> {
        let (counter, marker) = self.day_items(slot);
        let unmark = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(marker))
            .condition_expression("attribute_exists(pk)");
        let uncount = Update::builder()
            .table_name(&self.table)
            .key("pk", s(counter))
            .update_expression("ADD calls :minus_one")
            .expression_attribute_values(":minus_one", n(-1));
        let items = [
            TransactWriteItem::builder()
                .delete(built(unmark.build())?)
                .build(),
            TransactWriteItem::builder()
                .update(built(uncount.build())?)
                .build(),
        ];
        let token = slot.token.get(..24).unwrap_or(&slot.token);
        match self.transact(&items, &format!("{token}-back")).await? {
            Transacted::Done => Ok(()),
            // The marker is gone: given back already (a retried give-back).
            Transacted::Cancelled(r) if failed(&r, 0) => Ok(()),
            Transacted::Cancelled(_) => Err(StoreError::Unavailable(
                "the day's give-back was cancelled".into(),
            )),
        }
    }
}

/// Whether item `i` of a cancelled transaction failed its condition.
fn failed(reasons: &[(Option<String>, Option<super::Item>)], i: usize) -> bool {
    reasons
        .get(i)
        .is_some_and(|(code, _)| code.as_deref() == Some("ConditionalCheckFailed"))
}
