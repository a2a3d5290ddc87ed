//! The edge of the reconcile function (docs/api.md §7.4): two kinds of
//! invocation. A DynamoDB stream batch (its event source mapping passes only
//! the table's inserts): each new pending 2.0 session gets its first check
//! booked, a failure reported so Lambda retries from that record. A check
//! from EventBridge Scheduler: the session asked about, and the next check
//! booked; an error fails the invocation, which Lambda retries, then hands
//! to the dead-letter queue.

use serde_json::{Value, json};
use tracing::{error, info};

use crate::adapters::dynamodb::stream::StreamBatch;
use crate::domain::reconcile::Check;
use crate::service::reconcile::{Checked, ReconcileServices, book_first, check};
use crate::stream::{BatchResponse, ItemFailure};

pub async fn handle(rs: &ReconcileServices, event: Value) -> Result<Value, String> {
    if event.get("Records").is_some() {
        let batch: StreamBatch = serde_json::from_value(event).map_err(|e| {
            error!(event = "bad_stream_batch", detail = %e, "not a DynamoDB stream batch");
            format!("not a DynamoDB stream batch: {e}")
        })?;
        let response = book_new_sessions(rs, &batch).await;
        return serde_json::to_value(response).map_err(|e| e.to_string());
    }
    let check_of = Check::from_json(event).map_err(|e| {
        error!(event = "bad_check", detail = %e, "not a check");
        format!("not a check: {e}")
    })?;
    match check(rs, &check_of).await {
        Ok(done) => {
            let outcome = match &done {
                Checked::NothingToDo => "nothing_to_do",
                Checked::AlreadyFinal => "already_final",
                Checked::Finalized(_) => "finalized",
                Checked::Booked(_) => "booked",
            };
            info!(event = "check_done", out_seq_no = %check_of.out_seq_no, outcome, "check done");
            Ok(json!({ "outcome": outcome }))
        }
        Err(e) => {
            error!(event = "check_failed", out_seq_no = %check_of.out_seq_no, detail = %e, "check failed: retried");
            Err(e.to_string())
        }
    }
}

/// Books the first check of every new pending 2.0 session, in order; the
/// first that fails is where Lambda retries from. A record that is no whole
/// session can never be booked: logged and passed over.
async fn book_new_sessions(rs: &ReconcileServices, batch: &StreamBatch) -> BatchResponse {
    for record in &batch.records {
        let session = match record.inserted_session() {
            Ok(Some(session)) => session,
            Ok(None) => continue,
            Err(e) => {
                error!(event = "stream_record_unreadable", sequence_number = record.sequence_number(), detail = %e, "stream record skipped");
                continue;
            }
        };
        if let Err(e) = book_first(rs, record.tenant(), &session).await {
            error!(event = "check_unbooked", out_seq_no = %session.out_seq_no, detail = %e, "first check not booked: retried");
            return BatchResponse {
                batch_item_failures: vec![ItemFailure {
                    item_identifier: record.sequence_number().to_owned(),
                }],
            };
        }
    }
    BatchResponse::default()
}
