//! Injected faults and jitter. A fault is decided when a call arrives, before
//! any other processing, so a faulted call changes no simulator state.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sim_kit::{FaultSpec, MAX_DELAY_MS, check_delay};
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

/// The fault fields of `POST /__sim/faults` besides `endpoint` and `times`.
#[derive(Debug, Deserialize)]
pub(crate) struct WxFault {
    /// HTTP 200 with this errcode.
    pub errcode: Option<i64>,
    /// This HTTP status with a plain body.
    pub status: Option<u16>,
    /// Wait this long first (alone: a slow but normal answer).
    pub delay_ms: Option<u64>,
}

impl FaultSpec for WxFault {
    type Endpoint = Endpoint;
    type Action = FaultAction;

    fn validate(self, _: Endpoint) -> Result<FaultAction, String> {
        let outcome = match (self.errcode, self.status) {
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
        if outcome == FaultOutcome::Normal && self.delay_ms.is_none() {
            return Err("a fault needs errcode, status or delay_ms".into());
        }
        check_delay(self.delay_ms)?;
        Ok(FaultAction {
            delay_ms: self.delay_ms,
            outcome,
        })
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
        Duration::from_millis(sim_kit::random_in(self.min_ms, self.max_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(fields: serde_json::Value) -> Result<FaultAction, String> {
        let fault: WxFault = serde_json::from_value(fields).expect("fault fields");
        fault.validate(Endpoint::GetInfo)
    }

    #[test]
    fn faults_answer_an_errcode_a_status_or_late() {
        let outcome = |fields| validate(fields).map(|a| a.outcome);
        assert_eq!(
            outcome(json!({"errcode": -1})),
            Ok(FaultOutcome::Errcode(-1))
        );
        assert_eq!(
            outcome(json!({"status": 503})),
            Ok(FaultOutcome::Status(StatusCode::SERVICE_UNAVAILABLE))
        );
        let slow = validate(json!({"delay_ms": 200})).expect("valid");
        assert_eq!(
            (slow.delay_ms, slow.outcome),
            (Some(200), FaultOutcome::Normal)
        );
        assert!(slow.outcome.response().is_none(), "slow but normal");
    }

    #[test]
    fn bad_faults_are_rejected() {
        for fields in [
            json!({}),
            json!({"errcode": 0}),
            json!({"errcode": -1, "status": 500}),
            json!({"status": 42}),
            json!({"errcode": -1, "delay_ms": MAX_DELAY_MS + 1}),
        ] {
            assert!(validate(fields.clone()).is_err(), "{fields}");
        }
    }

    #[test]
    fn jitter_is_bounded() {
        let jitter = |min_ms, max_ms| Jitter { min_ms, max_ms };
        assert!(jitter(5, 7).validate().is_ok());
        assert!(jitter(8, 7).validate().is_err());
        assert!(jitter(0, MAX_DELAY_MS + 1).validate().is_err());
        assert!(Jitter::default().sample().is_zero());
    }
}
