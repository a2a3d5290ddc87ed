//! deliver-webhooks: each tenant's `Verification Finalized` events POSTed to
//! its receiver, signed as Standard Webhooks (docs/api.md §9). The events
//! come through a queue (an EventBridge rule on the stack's bus feeds it);
//! an event not delivered is tried again with backoff
//! (`domain::webhook::retry_delay`) until the queue's retries run out, then
//! waits in its dead-letter queue (alarmed). A receiver's 410 disables the
//! tenant's webhook until its URL changes.

use std::sync::Arc;

use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::config::Webhook;
use crate::domain::webhook::{Answer, retry_delay, signature_header};
use crate::domain::{AppId, Clock};
use crate::ports::{ReceiverAnswer, RetryQueue, TenantWebhooks, WebhookSender, WebhookState};
use crate::telemetry::metrics;

/// What deliver-webhooks needs, built once per container.
#[derive(Clone)]
pub struct WebhookServices {
    pub webhooks: Arc<dyn TenantWebhooks>,
    pub sender: Arc<dyn WebhookSender>,
    pub state: Arc<dyn WebhookState>,
    pub queue: Arc<dyn RetryQueue>,
    pub clock: Arc<dyn Clock>,
}

/// One queued event, as the queue hands it over.
#[derive(Debug, Clone)]
pub struct Queued {
    pub receipt_handle: String,
    /// 1 on the first try.
    pub receive_count: u32,
    /// The EventBridge event, as the rule put it on the queue.
    pub body: String,
}

/// How one try ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tried {
    /// Nothing more to do: delivered, or nothing to deliver.
    Done(&'static str),
    /// Not delivered: the queue hands it over again later.
    Again,
}

/// The delivery of one queued event: its id, its tenant, what is sent.
struct Delivery {
    id: String,
    appid: AppId,
    body: Vec<u8>,
}

/// The event's delivery, if it is a tenant's event at all. The body is
/// Standard Webhooks' usual envelope around the event's `detail`.
fn delivery(event: &Value) -> Option<Delivery> {
    let detail = event.get("detail")?;
    let id = detail.get("event_id")?.as_str()?.to_owned();
    let appid = AppId::parse(detail.get("appid")?.as_str()?).ok()?;
    let body = json!({
        "type": "verification.finalized",
        "timestamp": event.get("time").cloned().unwrap_or(Value::Null),
        "data": detail,
    });
    Some(Delivery {
        id,
        appid,
        body: body.to_string().into_bytes(),
    })
}

pub async fn deliver(svc: &WebhookServices, queued: &Queued) -> Tried {
    let event: Value = serde_json::from_str(&queued.body).unwrap_or_default();
    let Some(d) = delivery(&event) else {
        error!(
            event = "webhook_unreadable",
            "a queued message that is no wxface event: dropped"
        );
        return Tried::Done("unreadable");
    };
    let outcome = try_once(svc, queued, &d).await;
    metrics::webhook(outcome);
    if outcome == "retry" {
        Tried::Again
    } else {
        Tried::Done(outcome)
    }
}

/// One try: `"retry"`, or how it ended.
async fn try_once(svc: &WebhookServices, queued: &Queued, d: &Delivery) -> &'static str {
    let hook = match ready(svc, d).await {
        Ok(hook) => hook,
        Err(Some(outcome)) => return outcome,
        Err(None) => return again(svc, queued, None).await,
    };
    let answer = send(svc, d, &hook).await;
    settle(svc, queued, d, &hook, answer).await
}

/// The tenant's webhook, if it is to be sent now; else how the try ends
/// (`None`: a read failed, try again later).
async fn ready(svc: &WebhookServices, d: &Delivery) -> Result<Webhook, Option<&'static str>> {
    let (appid, id) = (d.appid.as_str(), d.id.as_str());
    let hook = match svc.webhooks.webhook(&d.appid).await {
        Ok(Some(hook)) => hook,
        Ok(None) => return Err(Some("no_webhook")),
        Err(e) => {
            warn!(event = "webhook_failed", appid, webhook_id = id, detail = %e, "the tenant's secret could not be read");
            return Err(None);
        }
    };
    match svc.state.disabled(&d.appid, &hook.url).await {
        Ok(false) => Ok(hook),
        Ok(true) => {
            info!(
                event = "webhook_disabled",
                appid,
                webhook_id = id,
                "the receiver said 410 Gone: not sent"
            );
            Err(Some("disabled"))
        }
        Err(e) => {
            warn!(event = "webhook_failed", appid, webhook_id = id, detail = %e, "the webhook state could not be read");
            Err(None)
        }
    }
}

/// The POST, signed now.
async fn send(
    svc: &WebhookServices,
    d: &Delivery,
    hook: &Webhook,
) -> Result<ReceiverAnswer, String> {
    let timestamp = svc.clock.now();
    let signature = signature_header(&hook.secrets, &d.id, timestamp, &d.body);
    let headers = [
        ("webhook-id", d.id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
        ("content-type", "application/json".to_owned()),
    ];
    svc.sender.post(&hook.url, &headers, d.body.clone()).await
}

/// What the receiver's answer (or its silence) means for this event.
async fn settle(
    svc: &WebhookServices,
    queued: &Queued,
    d: &Delivery,
    hook: &Webhook,
    answer: Result<ReceiverAnswer, String>,
) -> &'static str {
    let (appid, id, attempt) = (d.appid.as_str(), d.id.as_str(), queued.receive_count);
    match answer.map(|a| (Answer::of_status(a.status), a)) {
        Ok((Answer::Delivered, a)) => {
            info!(
                event = "webhook_delivered",
                appid,
                webhook_id = id,
                status = a.status,
                attempt,
                "delivered"
            );
            "delivered"
        }
        Ok((Answer::Gone, _)) => match svc.state.disable(&d.appid, &hook.url).await {
            Ok(()) => {
                warn!(
                    event = "webhook_gone",
                    appid,
                    webhook_id = id,
                    "the receiver said 410 Gone: the tenant's webhook is disabled until its URL changes"
                );
                "gone"
            }
            Err(_) => again(svc, queued, None).await,
        },
        Ok((Answer::Retry, a)) => {
            warn!(
                event = "webhook_failed",
                appid,
                webhook_id = id,
                status = a.status,
                attempt,
                "the receiver refused: tried again later"
            );
            again(svc, queued, a.retry_after).await
        }
        Err(why) => {
            warn!(event = "webhook_failed", appid, webhook_id = id, detail = %why, attempt, "no answer: tried again later");
            again(svc, queued, None).await
        }
    }
}

/// Hands the event back to the queue for its next try, after its backoff.
/// If the backoff cannot be set, the queue's own visibility timeout applies.
async fn again(svc: &WebhookServices, queued: &Queued, retry_after: Option<u64>) -> &'static str {
    let secs = retry_delay(queued.receive_count, retry_after);
    if let Err(e) = svc.queue.retry_in(&queued.receipt_handle, secs).await {
        warn!(event = "webhook_backoff_unset", detail = %e, "the next try comes after the queue's visibility timeout");
        metrics::webhook("backoff_unset");
    }
    "retry"
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::domain::ManualClock;
    use crate::domain::webhook::WebhookSecret;
    use crate::error::{ConfigError, StoreError};

    const APPID: &str = "wxfedcba9876543210";

    /// A POST as the receiver got it: its headers and body.
    type Sent = (Vec<(&'static str, String)>, Vec<u8>);

    #[derive(Default)]
    struct Fake {
        answers: Mutex<Vec<Result<ReceiverAnswer, String>>>,
        sent: Mutex<Vec<Sent>>,
        disabled: Mutex<Vec<String>>,
        delays: Mutex<Vec<u64>>,
    }

    #[async_trait]
    impl TenantWebhooks for Fake {
        async fn webhook(&self, appid: &AppId) -> Result<Option<Webhook>, ConfigError> {
            Ok((appid.as_str() == APPID).then(|| Webhook {
                url: "https://h.example/w".into(),
                secrets: vec![
                    WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
                ],
            }))
        }
    }

    #[async_trait]
    impl WebhookSender for Fake {
        async fn post(
            &self,
            _: &str,
            headers: &[(&'static str, String)],
            body: Vec<u8>,
        ) -> Result<ReceiverAnswer, String> {
            self.sent.lock().unwrap().push((headers.to_vec(), body));
            self.answers.lock().unwrap().remove(0)
        }
    }

    #[async_trait]
    impl WebhookState for Fake {
        async fn disabled(&self, _: &AppId, url: &str) -> Result<bool, StoreError> {
            Ok(self.disabled.lock().unwrap().iter().any(|u| u == url))
        }
        async fn disable(&self, _: &AppId, url: &str) -> Result<(), StoreError> {
            self.disabled.lock().unwrap().push(url.to_owned());
            Ok(())
        }
    }

    #[async_trait]
    impl RetryQueue for Fake {
        async fn retry_in(&self, _: &str, secs: u64) -> Result<(), String> {
            self.delays.lock().unwrap().push(secs);
            Ok(())
        }
    }

    fn services(answers: Vec<Result<ReceiverAnswer, String>>) -> (Arc<Fake>, WebhookServices) {
        let fake = Arc::new(Fake {
            answers: Mutex::new(answers),
            ..Default::default()
        });
        let svc = WebhookServices {
            webhooks: fake.clone(),
            sender: fake.clone(),
            state: fake.clone(),
            queue: fake.clone(),
            clock: Arc::new(ManualClock::new()),
        };
        (fake, svc)
    }

    fn queued(appid: &str, receive_count: u32) -> Queued {
        let event = json!({"source": "wxface", "time": "2026-12-08T01:00:00Z",
            "detail": {"event_id": "final-abc", "appid": appid, "status": "verified"}});
        Queued {
            receipt_handle: "rh".into(),
            receive_count,
            body: event.to_string(),
        }
    }

    fn status(status: u16) -> Result<ReceiverAnswer, String> {
        Ok(ReceiverAnswer {
            status,
            retry_after: None,
        })
    }

    #[tokio::test]
    async fn a_delivery_is_signed_and_a_failure_backs_off_then_delivers_with_one_id() {
        let (fake, svc) = services(vec![status(500), Err("timeout".into()), status(204)]);
        assert_eq!(deliver(&svc, &queued(APPID, 1)).await, Tried::Again);
        assert_eq!(deliver(&svc, &queued(APPID, 2)).await, Tried::Again);
        assert_eq!(
            deliver(&svc, &queued(APPID, 3)).await,
            Tried::Done("delivered")
        );
        assert_eq!(*fake.delays.lock().unwrap(), [5, 300]);
        let sent = fake.sent.lock().unwrap();
        assert_eq!(sent.len(), 3);
        for (headers, body) in sent.iter() {
            let h = |k: &str| {
                headers
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            assert_eq!(h("webhook-id"), "final-abc");
            let ts: i64 = h("webhook-timestamp").parse().unwrap();
            let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
            assert_eq!(h("webhook-signature"), secret.sign("final-abc", ts, body));
            let body: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(body["type"], "verification.finalized");
            assert_eq!(body["data"]["appid"], APPID);
        }
    }

    #[tokio::test]
    async fn a_410_disables_the_tenants_webhook_and_others_are_not_sent() {
        let (fake, svc) = services(vec![status(410)]);
        assert_eq!(deliver(&svc, &queued(APPID, 1)).await, Tried::Done("gone"));
        assert_eq!(
            deliver(&svc, &queued(APPID, 1)).await,
            Tried::Done("disabled")
        );
        // The own mini-program's events, and a message that is no event: nothing sent.
        assert_eq!(
            deliver(&svc, &queued("wx0123456789abcdef", 1)).await,
            Tried::Done("no_webhook")
        );
        let junk = Queued {
            body: "not json".into(),
            ..queued(APPID, 1)
        };
        assert_eq!(deliver(&svc, &junk).await, Tried::Done("unreadable"));
        assert_eq!(fake.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let (fake, svc) = services(vec![Ok(ReceiverAnswer {
            status: 429,
            retry_after: Some(90),
        })]);
        assert_eq!(deliver(&svc, &queued(APPID, 1)).await, Tried::Again);
        assert_eq!(*fake.delays.lock().unwrap(), [90]);
    }
}
