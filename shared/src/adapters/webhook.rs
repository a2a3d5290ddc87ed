//! A tenant's webhook receiver (an HTTP POST), and the queue its events wait
//! in between tries (SQS: each try's backoff).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;

use super::http;
use crate::ports::{ReceiverAnswer, RetryQueue, WebhookSender};

/// POSTs deliveries: one try each (the queue retries), `timeout` for it.
pub struct HttpWebhookSender {
    http: reqwest::Client,
}

impl HttpWebhookSender {
    pub fn new(timeout: Duration) -> reqwest::Result<Self> {
        Ok(Self {
            http: http::client(timeout)?,
        })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<ReceiverAnswer, String> {
        let mut req = self.http.post(url).body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        // The URL may carry a receiver's token: never in an error.
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport_error(&e).to_owned())?;
        let retry_after = (resp.headers().get("retry-after"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(ReceiverAnswer {
            status: resp.status().as_u16(),
            retry_after,
        })
    }
}

/// The webhook queue (`WEBHOOK_QUEUE_URL`).
pub struct SqsRetryQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsRetryQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl RetryQueue for SqsRetryQueue {
    async fn retry_in(&self, receipt_handle: &str, secs: u64) -> Result<(), String> {
        (self.client.change_message_visibility())
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(secs).unwrap_or(i32::MAX))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(&e).to_string())
    }
}
