//! The simulated clock: system time plus an offset that tests advance, so
//! expiry rules (300 s codes, 3600 s sessions, 7200 s tokens) are testable
//! without waiting.

use std::time::{SystemTime, UNIX_EPOCH};

/// About 1000 years.
const MAX_OFFSET_SECS: u64 = 1000 * 366 * 86_400;

#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_secs: u64,
}

impl Clock {
    /// Simulated unix time in seconds.
    pub(crate) fn now(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        real.saturating_add(self.offset_secs)
    }

    /// Moves simulated time forward (it never goes back, like WeChat's).
    /// Bounded so `now + lifetime` arithmetic elsewhere cannot overflow.
    pub(crate) fn advance(&mut self, secs: u64) -> Result<(), String> {
        match self.offset_secs.checked_add(secs) {
            Some(offset) if offset <= MAX_OFFSET_SECS => {
                self.offset_secs = offset;
                Ok(())
            }
            _ => Err(format!(
                "the simulated clock may run at most {MAX_OFFSET_SECS} s ahead"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let mut c = Clock::default();
        let before = c.now();
        c.advance(3600).expect("in range");
        let after = c.now();
        assert!(after >= before + 3600 && after <= before + 3601);
        assert!(c.advance(u64::MAX).is_err());
        assert!(c.now() < before + 3602, "a refused advance changes nothing");
    }
}
