//! The event bus port on EventBridge: `PutEvents`, at most 10 entries a
//! call. The SDK's own retries may put an event twice; its stable
//! `event_id` lets consumers see that.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::domain::event::{DETAIL_TYPE, FinalizedEvent, SOURCE};
use crate::error::EventBusError;
use crate::ports::EventBus;

/// PutEvents' limit of entries per call.
const MAX_ENTRIES: usize = 10;

pub struct EventBridgeBus {
    client: Client,
    bus: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[FinalizedEvent]) -> Result<Vec<bool>, EventBusError> {
        let mut taken = Vec::with_capacity(events.len());
        for chunk in events.chunks(MAX_ENTRIES) {
            let entries = chunk
                .iter()
                .map(|e| {
                    let detail = serde_json::to_string(e)
                        .map_err(|e| EventBusError(format!("detail: {e}")))?;
                    Ok(PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(DETAIL_TYPE)
                        .detail(detail)
                        .build())
                })
                .collect::<Result<Vec<_>, EventBusError>>()?;
            let out = match self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => out,
                // What was taken before this chunk stays taken.
                Err(_) if !taken.is_empty() => break,
                Err(e) => return Err(EventBusError(DisplayErrorContext(&e).to_string())),
            };
            let results = out.entries();
            for i in 0..chunk.len() {
                // An entry without an error code was taken (one result per entry, in order).
                taken.push(results.get(i).is_some_and(|r| r.error_code().is_none()));
            }
        }
        taken.resize(events.len(), false);
        Ok(taken)
    }
}
