//! Injected faults: what a faulted WeChat Pay call does. sim-kit queues
//! them and takes one when a call arrives (after it is counted), so the
//! order of calls decides which one gets it.

use serde::{Deserialize, Serialize};
use sim_kit::{FaultSpec, check_delay};

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

impl FaultSpec for FaultAction {
    type Endpoint = Endpoint;
    type Action = FaultAction;

    /// Refuses fields that do not apply to `endpoint`, and empty faults.
    fn validate(self, endpoint: Endpoint) -> Result<FaultAction, String> {
        let v3_only =
            self.wrong_serial || self.timestamp_skew_secs.is_some() || self.garble_ciphertext;
        if endpoint == Endpoint::Authinfo && (v3_only || self.code.is_some()) {
            return Err(
                "wrong_serial, timestamp_skew_secs, garble_ciphertext and code are APIv3 faults"
                    .into(),
            );
        }
        if endpoint == Endpoint::FacemchUsers && self.return_code.is_some() {
            return Err("return_code is an APIv2 fault".into());
        }
        if self.status.is_some() && self.return_code.is_some() {
            return Err("give status or return_code, not both".into());
        }
        if self.code.is_some() && self.status.is_none() {
            return Err("code needs a status".into());
        }
        if self.status.is_some_and(|s| !(400..=599).contains(&s)) {
            return Err("status must be a 4xx or 5xx".into());
        }
        check_delay(self.delay_ms)?;
        if self == FaultAction::default() {
            return Err("a fault needs at least one effect".into());
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(endpoint: Endpoint, fields: serde_json::Value) -> Result<FaultAction, String> {
        let action: FaultAction = serde_json::from_value(fields).expect("fault fields");
        action.validate(endpoint)
    }

    #[test]
    fn faults_apply_to_their_api_version_only() {
        let fail = validate(Endpoint::Authinfo, json!({"return_code": "FAIL"})).unwrap();
        assert_eq!(fail.return_code.as_deref(), Some("FAIL"));
        let skew = json!({"timestamp_skew_secs": -400, "bad_signature": true});
        assert!(validate(Endpoint::FacemchUsers, skew).is_ok());
        let refused = [
            (Endpoint::Authinfo, json!({})),
            (Endpoint::Authinfo, json!({"wrong_serial": true})),
            (Endpoint::Authinfo, json!({"status": 500, "code": "X"})),
            (
                Endpoint::Authinfo,
                json!({"status": 500, "return_code": "FAIL"}),
            ),
            (Endpoint::FacemchUsers, json!({"return_code": "FAIL"})),
            (Endpoint::FacemchUsers, json!({"status": 200})),
            (Endpoint::FacemchUsers, json!({"code": "SYSTEM_ERROR"})),
            (Endpoint::FacemchUsers, json!({"delay_ms": 120_001})),
        ];
        for (endpoint, fields) in refused {
            assert!(validate(endpoint, fields.clone()).is_err(), "{fields}");
        }
    }
}
