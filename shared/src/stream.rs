//! The DynamoDB stream edge of publish-events: a Lambda stream batch in,
//! `batchItemFailures` out (the function's event source mapping sets
//! `ReportBatchItemFailures`), so Lambda retries from the first record not
//! yet published.

use serde::Serialize;
use serde_json::Value;
use tracing::error;

use crate::adapters::dynamodb::stream::StreamBatch;
use crate::service::events::{EventServices, publish_finalized};

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// One invocation. An event that is not a stream batch is an invocation
/// error: Lambda retries it, then sends it to the dead-letter queue.
pub async fn handle(svc: &EventServices, event: Value) -> Result<BatchResponse, String> {
    let batch: StreamBatch = serde_json::from_value(event).map_err(|e| {
        error!(event = "bad_stream_batch", detail = %e, "not a DynamoDB stream batch");
        format!("not a DynamoDB stream batch: {e}")
    })?;
    let retry_from = publish_finalized(svc, &batch.records).await;
    Ok(BatchResponse {
        batch_item_failures: retry_from
            .into_iter()
            .map(|item_identifier| ItemFailure { item_identifier })
            .collect(),
    })
}
