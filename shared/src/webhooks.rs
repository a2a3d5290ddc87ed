//! The queue edge of deliver-webhooks (docs/api.md §9): a Lambda SQS batch
//! in, `batchItemFailures` out (its event source mapping sets
//! `ReportBatchItemFailures`), so only the events not yet delivered come
//! back, each after its own backoff.

use serde::Deserialize;
use serde_json::Value;
use tracing::error;

use crate::service::webhooks::{Queued, Tried, WebhookServices, deliver};
use crate::stream::{BatchResponse, ItemFailure};

#[derive(Deserialize)]
struct SqsBatch {
    #[serde(rename = "Records", default)]
    records: Vec<SqsRecord>,
}

#[derive(Deserialize)]
struct SqsRecord {
    #[serde(rename = "messageId")]
    message_id: String,
    #[serde(rename = "receiptHandle")]
    receipt_handle: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    attributes: SqsAttributes,
}

#[derive(Deserialize, Default)]
struct SqsAttributes {
    #[serde(rename = "ApproximateReceiveCount", default)]
    receive_count: Option<String>,
}

/// One invocation. An event that is not an SQS batch is an invocation
/// error: its messages come back after the queue's visibility timeout.
pub async fn handle(svc: &WebhookServices, event: Value) -> Result<BatchResponse, String> {
    let batch: SqsBatch = serde_json::from_value(event).map_err(|e| {
        error!(event = "bad_sqs_batch", detail = %e, "not an SQS batch");
        format!("not an SQS batch: {e}")
    })?;
    let mut failures = Vec::new();
    for r in batch.records {
        let queued = Queued {
            receive_count: (r.attributes.receive_count.as_deref())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
            receipt_handle: r.receipt_handle,
            body: r.body,
        };
        if deliver(svc, &queued).await == Tried::Again {
            failures.push(ItemFailure {
                item_identifier: r.message_id,
            });
        }
    }
    Ok(BatchResponse {
        batch_item_failures: failures,
    })
}
