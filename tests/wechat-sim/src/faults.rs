//! Injected faults and jitter. A fault is decided when a call arrives, before
//! any other processing, so a faulted call changes no simulator state.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::state::Endpoint;
use crate::wx::{WxError, default_errmsg};

/// What a faulted call does, decided at arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FaultAction {
    pub delay_ms: Option<u64>,
    pub outcome: FaultOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultOutcome {
    /// HTTP 200 with this errcode.
    Errcode(i64),
    /// This HTTP status with a plain-text body.
    Status(StatusCode),
    /// Only slow: answer normally after the delay.
    Normal,
}

impl FaultOutcome {
    /// The response that replaces normal processing, if any.
    pub(crate) fn response(self) -> Option<Response> {
        match self {
            FaultOutcome::Errcode(errcode) => Some(
                WxError {
                    errcode,
                    errmsg: default_errmsg(errcode).to_owned(),
                }
                .into_response(),
            ),
            FaultOutcome::Status(status) => Some(
                (
                    status,
                    format!("wechat-sim: injected HTTP {}", status.as_u16()),
                )
                    .into_response(),
            ),
            FaultOutcome::Normal => None,
        }
    }
}

/// The body of `POST /__sim/faults`.
#[derive(Debug, Deserialize)]
pub(crate) struct FaultRequest {
    pub endpoint: String,
    pub errcode: Option<i64>,
    pub status: Option<u16>,
    pub delay_ms: Option<u64>,
    pub times: Option<u32>,
}

/// Longest accepted delay: long enough for any client timeout test, short
/// enough that a typo cannot hang a test run for hours.
pub(crate) const MAX_DELAY_MS: u64 = 120_000;

#[derive(Debug, Clone)]
struct QueuedFault {
    action: FaultAction,
    /// `None`: applies to every call until cleared.
    remaining: Option<u32>,
}

/// Per-endpoint FIFO of faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    queues: HashMap<Endpoint, VecDeque<QueuedFault>>,
}

impl Faults {
    /// Validates and queues a fault; the error explains a bad request.
    pub(crate) fn push(&mut self, req: &FaultRequest) -> Result<(), String> {
        let endpoint = Endpoint::from_name(&req.endpoint).ok_or_else(|| {
            format!(
                "unknown endpoint {:?}; expected one of {}",
                req.endpoint,
                Endpoint::ALL.map(Endpoint::name).join(", ")
            )
        })?;
        let outcome = match (req.errcode, req.status) {
            (Some(_), Some(_)) => return Err("give errcode or status, not both".into()),
            (Some(0), None) => return Err("errcode 0 is not a fault".into()),
            (Some(errcode), None) => FaultOutcome::Errcode(errcode),
            (None, Some(status)) => {
                let status = StatusCode::from_u16(status)
                    .ok()
                    .filter(|s| !s.is_informational())
                    .ok_or_else(|| format!("invalid HTTP status {status}"))?;
                FaultOutcome::Status(status)
            }
            (None, None) => FaultOutcome::Normal,
        };
        if outcome == FaultOutcome::Normal && req.delay_ms.is_none() {
            return Err("a fault needs errcode, status or delay_ms".into());
        }
        if req.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
            return Err(format!("delay_ms is capped at {MAX_DELAY_MS}"));
        }
        if req.times == Some(0) {
            return Err("times must be at least 1 (omit it for 'until cleared')".into());
        }
        self.queues
            .entry(endpoint)
            .or_default()
            .push_back(QueuedFault {
                action: FaultAction {
                    delay_ms: req.delay_ms,
                    outcome,
                },
                remaining: req.times,
            });
        Ok(())
    }

    /// The fault for the call arriving now, consuming one use of it.
    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<FaultAction> {
        let queue = self.queues.get_mut(&endpoint)?;
        let front = queue.front_mut()?;
        let action = front.action;
        if let Some(n) = front.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                queue.pop_front();
            }
        }
        Some(action)
    }

    pub(crate) fn clear(&mut self) {
        self.queues.clear();
    }
}

/// A random extra delay added to every WeChat endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub(crate) struct Jitter {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl Jitter {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.min_ms > self.max_ms {
            return Err("min_ms must not exceed max_ms".into());
        }
        if self.max_ms > MAX_DELAY_MS {
            return Err(format!("max_ms is capped at {MAX_DELAY_MS}"));
        }
        Ok(())
    }

    /// The delay for one call (zero when jitter is off).
    pub(crate) fn sample(&self) -> Duration {
        Duration::from_millis(crate::crypto::random_in(self.min_ms, self.max_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(endpoint: &str) -> FaultRequest {
        FaultRequest {
            endpoint: endpoint.into(),
            errcode: None,
            status: None,
            delay_ms: None,
            times: None,
        }
    }

    #[test]
    fn counted_faults_run_out_then_the_next_one_applies() {
        let mut f = Faults::default();
        f.push(&FaultRequest {
            errcode: Some(-1),
            times: Some(2),
            ..req("getinfo")
        })
        .expect("valid");
        f.push(&FaultRequest {
            status: Some(503),
            times: Some(1),
            ..req("getinfo")
        })
        .expect("valid");
        let out = |f: &mut Faults| f.take(Endpoint::GetInfo).map(|a| a.outcome);
        assert_eq!(out(&mut f), Some(FaultOutcome::Errcode(-1)));
        assert_eq!(out(&mut f), Some(FaultOutcome::Errcode(-1)));
        assert_eq!(
            out(&mut f),
            Some(FaultOutcome::Status(StatusCode::SERVICE_UNAVAILABLE))
        );
        assert_eq!(out(&mut f), None);
        // Other endpoints were never affected.
        assert_eq!(f.take(Endpoint::Token), None);
    }

    #[test]
    fn uncounted_fault_lasts_until_cleared() {
        let mut f = Faults::default();
        f.push(&FaultRequest {
            errcode: Some(45011),
            ..req("token")
        })
        .expect("valid");
        for _ in 0..5 {
            assert!(f.take(Endpoint::Token).is_some());
        }
        f.clear();
        assert!(f.take(Endpoint::Token).is_none());
    }

    #[test]
    fn bad_fault_requests_are_rejected() {
        let mut f = Faults::default();
        assert!(f.push(&req("nope")).is_err());
        assert!(f.push(&req("getinfo")).is_err());
        assert!(
            f.push(&FaultRequest {
                errcode: Some(-1),
                status: Some(500),
                ..req("getinfo")
            })
            .is_err()
        );
        assert!(
            f.push(&FaultRequest {
                errcode: Some(-1),
                times: Some(0),
                ..req("getinfo")
            })
            .is_err()
        );
        assert!(
            f.push(&FaultRequest {
                status: Some(42),
                ..req("getinfo")
            })
            .is_err()
        );
        assert!(f.take(Endpoint::GetInfo).is_none());
    }
}
