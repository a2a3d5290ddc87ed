//! The simulated clock: system time plus an offset that tests advance, so
//! expiry rules (codes, sessions, tokens, authinfos) are testable without
//! waiting.

use std::time::{SystemTime, UNIX_EPOCH};

/// About 1000 years: far beyond any test, small enough that `now + lifetime`
/// arithmetic elsewhere cannot overflow.
pub const MAX_OFFSET_SECS: i64 = 1000 * 366 * 86_400;

#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: i64,
}

impl Clock {
    /// Simulated unix time in seconds.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        real.saturating_add(self.offset_secs)
    }

    /// Moves simulated time forward: it never goes back, like real time.
    pub fn advance(&mut self, secs: i64) -> Result<(), String> {
        match self.offset_secs.checked_add(secs) {
            Some(offset) if secs >= 0 && offset <= MAX_OFFSET_SECS => {
                self.offset_secs = offset;
                Ok(())
            }
            _ => Err(format!("advance_secs must be in 0..={MAX_OFFSET_SECS}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward_only_and_within_bounds() {
        let mut c = Clock::default();
        let before = c.now();
        c.advance(3600).expect("in range");
        let after = c.now();
        assert!(after >= before + 3600 && after <= before + 3601);
        for refused in [-1, i64::MAX, MAX_OFFSET_SECS] {
            assert!(c.advance(refused).is_err(), "{refused}");
        }
        assert!(c.now() < before + 3602, "a refused advance changes nothing");
    }
}
