//! The simulated clock: system time plus an offset tests advance (authinfo
//! and face_sid expiry) or that a fault skews (stale answer timestamps).

use std::time::{SystemTime, UNIX_EPOCH};

/// About 1000 years.
const MAX_OFFSET_SECS: i64 = 1000 * 366 * 86_400;

#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_secs: i64,
}

impl Clock {
    pub(crate) fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real.saturating_add(self.offset_secs)
    }

    /// Forward only, like real time; bounded so later arithmetic is safe.
    pub(crate) fn advance(&mut self, secs: i64) -> Result<(), String> {
        match self.offset_secs.checked_add(secs) {
            Some(o) if secs >= 0 && o <= MAX_OFFSET_SECS => {
                self.offset_secs = o;
                Ok(())
            }
            _ => Err(format!("advance_secs must be in 0..={MAX_OFFSET_SECS}")),
        }
    }
}
