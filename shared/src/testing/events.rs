//! The event bus and the check scheduler in memory (`EventBus`, `CheckScheduler`).

use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::event::FinalizedEvent;
use crate::domain::reconcile::Check;
use crate::error::{EventBusError, SchedulerError};
use crate::ports::{CheckScheduler, EventBus};

use super::lock;

/// The checks booked, in order; `down` makes booking fail.
#[derive(Default)]
pub struct MemScheduler {
    pub booked: Mutex<Vec<Check>>,
    pub down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl CheckScheduler for MemScheduler {
    async fn book(&self, check: &Check) -> Result<(), SchedulerError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SchedulerError("scheduler down".into()));
        }
        let mut booked = lock(&self.booked);
        if !booked.contains(check) {
            booked.push(check.clone());
        }
        Ok(())
    }
}

/// The event bus in memory: every event it took, in order. `refuse_nth`
/// makes the next call refuse its nth event (and take the others, as
/// PutEvents does); `down` fails every call.
#[derive(Default)]
pub struct MemBus {
    pub events: Mutex<Vec<FinalizedEvent>>,
    pub refuse_nth: Mutex<Option<usize>>,
    pub down: std::sync::atomic::AtomicBool,
}

impl MemBus {
    pub fn taken(&self) -> Vec<FinalizedEvent> {
        lock(&self.events).clone()
    }
}

#[async_trait]
impl EventBus for MemBus {
    async fn publish(&self, events: &[FinalizedEvent]) -> Result<Vec<bool>, EventBusError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EventBusError("down".into()));
        }
        let refuse = lock(&self.refuse_nth).take();
        Ok(events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let take = refuse != Some(i);
                if take {
                    lock(&self.events).push(e.clone());
                }
                take
            })
            .collect())
    }
}
