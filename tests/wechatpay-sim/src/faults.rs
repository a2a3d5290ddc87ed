//! Injected faults. A fault is taken when a call arrives (after it is
//! counted), so the order of calls decides which one gets it.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

use crate::state::Endpoint;

/// What a faulted call does. Fields that do not apply to an endpoint are
/// refused when the fault is queued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FaultAction {
    /// APIv2: answer `return_code` (e.g. `FAIL`) with `return_msg`, unsigned.
    pub return_code: Option<String>,
    pub return_msg: Option<String>,
    /// Answer this HTTP status: APIv3 with `{"code","message"}`, APIv2 with
    /// a plain body.
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    /// A normal answer whose signature does not verify.
    pub bad_signature: bool,
    /// A normal answer without its signature (APIv2 `sign`, APIv3
    /// `Wechatpay-Signature`).
    pub missing_signature: bool,
    /// APIv3: `Wechatpay-Serial` names a key nobody has.
    pub wrong_serial: bool,
    /// APIv3: `Wechatpay-Timestamp` moved by this much (signed over, so only
    /// the 5-minute rule can catch it).
    pub timestamp_skew_secs: Option<i64>,
    /// APIv3: encrypted fields replaced by undecryptable blocks (signed over).
    pub garble_ciphertext: bool,
    /// Wait first; alone, a slow but normal answer.
    pub delay_ms: Option<u64>,
}

/// The body of `POST /__sim/faults`.
#[derive(Debug, Deserialize)]
pub(crate) struct FaultRequest {
    pub endpoint: String,
    #[serde(flatten)]
    pub action: FaultAction,
    /// For the next `times` calls; absent = until cleared.
    pub times: Option<u32>,
}

const MAX_DELAY_MS: u64 = 120_000;

#[derive(Debug)]
struct Queued {
    action: FaultAction,
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    queues: HashMap<Endpoint, VecDeque<Queued>>,
}

impl Faults {
    pub(crate) fn push(&mut self, req: FaultRequest) -> Result<(), String> {
        let endpoint = Endpoint::from_name(&req.endpoint).ok_or_else(|| {
            format!(
                "unknown endpoint {:?}; expected authinfo or facemch_users",
                req.endpoint
            )
        })?;
        let a = &req.action;
        let v3_only = a.wrong_serial || a.timestamp_skew_secs.is_some() || a.garble_ciphertext;
        if endpoint == Endpoint::Authinfo && (v3_only || a.code.is_some()) {
            return Err(
                "wrong_serial, timestamp_skew_secs, garble_ciphertext and code are APIv3 faults"
                    .into(),
            );
        }
        if endpoint == Endpoint::FacemchUsers && a.return_code.is_some() {
            return Err("return_code is an APIv2 fault".into());
        }
        if a.status.is_some() && a.return_code.is_some() {
            return Err("give status or return_code, not both".into());
        }
        if a.code.is_some() && a.status.is_none() {
            return Err("code needs a status".into());
        }
        if let Some(s) = a.status {
            if !(400..=599).contains(&s) {
                return Err("status must be a 4xx or 5xx".into());
            }
        }
        if a.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
            return Err(format!("delay_ms is capped at {MAX_DELAY_MS}"));
        }
        if req.times == Some(0) {
            return Err("times must be at least 1 (omit it for 'until cleared')".into());
        }
        if *a == FaultAction::default() {
            return Err("a fault needs at least one effect".into());
        }
        self.queues.entry(endpoint).or_default().push_back(Queued {
            action: req.action,
            remaining: req.times,
        });
        Ok(())
    }

    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<FaultAction> {
        let queue = self.queues.get_mut(&endpoint)?;
        let front = queue.front_mut()?;
        let action = front.action.clone();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(endpoint: &str, action: FaultAction, times: Option<u32>) -> FaultRequest {
        FaultRequest {
            endpoint: endpoint.into(),
            action,
            times,
        }
    }

    #[test]
    fn counted_faults_run_out_and_bad_ones_are_refused() {
        let mut f = Faults::default();
        let fail = FaultAction {
            return_code: Some("FAIL".into()),
            ..Default::default()
        };
        f.push(req("authinfo", fail.clone(), Some(2))).unwrap();
        assert_eq!(f.take(Endpoint::Authinfo), Some(fail.clone()));
        assert_eq!(f.take(Endpoint::Authinfo), Some(fail));
        assert_eq!(f.take(Endpoint::Authinfo), None);
        assert!(
            f.push(req(
                "nope",
                FaultAction {
                    bad_signature: true,
                    ..Default::default()
                },
                None
            ))
            .is_err()
        );
        assert!(
            f.push(req("authinfo", FaultAction::default(), None))
                .is_err()
        );
        assert!(
            f.push(req(
                "authinfo",
                FaultAction {
                    wrong_serial: true,
                    ..Default::default()
                },
                None
            ))
            .is_err()
        );
        assert!(
            f.push(req(
                "facemch_users",
                FaultAction {
                    return_code: Some("FAIL".into()),
                    ..Default::default()
                },
                None
            ))
            .is_err()
        );
        assert!(
            f.push(req(
                "facemch_users",
                FaultAction {
                    status: Some(200),
                    ..Default::default()
                },
                None
            ))
            .is_err()
        );
        assert!(
            f.push(req(
                "facemch_users",
                FaultAction {
                    bad_signature: true,
                    ..Default::default()
                },
                Some(0)
            ))
            .is_err()
        );
        assert_eq!(f.take(Endpoint::FacemchUsers), None);
    }
}
