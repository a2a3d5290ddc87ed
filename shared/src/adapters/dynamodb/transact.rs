//! TransactWriteItems, as the final write and the daily count use it: each
//! try named by a `ClientRequestToken` (so the SDK's retry of a transaction
//! whose answer was lost is applied once), tried again when it only met
//! another write to one of its items (a hot counter), and otherwise
//! cancelled with each item's reason.

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{DynamoStore, Item, unavailable};
use crate::error::StoreError;

/// How a transaction ended.
pub(super) enum Transacted {
    Done,
    /// Per item, in order: the reason code (`ConditionalCheckFailed`, `None`,
    /// ...) and the item a failed condition saw, where DynamoDB returned it.
    Cancelled(Vec<(Option<String>, Option<Item>)>),
}

/// Tries of a transaction that keeps meeting other writes.
const TRIES: u32 = 5;

impl DynamoStore {
    pub(super) async fn transact(
        &self,
        items: &[TransactWriteItem],
        token: &str,
    ) -> Result<Transacted, StoreError> {
        for attempt in 0..TRIES {
            let outcome = (self.client.transact_write_items())
                .set_transact_items(Some(items.to_vec()))
                // A try cancelled did nothing: the next is a new request.
                .client_request_token(format!("{token}-{attempt}"))
                .send()
                .await;
            let e = match outcome {
                Ok(_) => return Ok(Transacted::Done),
                Err(e) => e,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                e.as_service_error()
            else {
                return Err(unavailable(e));
            };
            let reasons: Vec<(Option<String>, Option<Item>)> = (c.cancellation_reasons().iter())
                .map(|r| (r.code().map(str::to_owned), r.item().cloned()))
                .collect();
            let conflict =
                (reasons.iter()).any(|(code, _)| code.as_deref() == Some("TransactionConflict"));
            if !conflict {
                return Ok(Transacted::Cancelled(reasons));
            }
            if attempt + 1 < TRIES {
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        Err(StoreError::Unavailable(
            "the transaction kept meeting other writes".into(),
        ))
    }
}

/// 10-40 ms, doubling, at random within: two writers that met do not meet again.
fn backoff(attempt: u32) -> Duration {
    let mut b = [0u8; 1];
    crate::domain::pii::random_bytes(&mut b);
    let base = 10u64 << attempt.min(4);
    Duration::from_millis(base + u64::from(b[0]) % (base * 3))
}
