//! Verification events (docs/api.md §7): what the business's backend learns
//! when a session reaches its final state, with or without a mini-program
//! to relay it. The same facts as a receipt, nothing personal.

use serde::Serialize;

use super::receipt::{ReceiptSubject, SessionFacts};
use super::session::FinalResult;

/// EventBridge `source` of every event.
pub const SOURCE: &str = "wxface";
/// EventBridge `detail-type` of a session's final state.
pub const DETAIL_TYPE: &str = "Verification Finalized";

/// The `detail` of a `Verification Finalized` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinalizedEvent {
    /// Stable: a session is final once, so every delivery of its event
    /// (delivery is at least once) carries the same id.
    pub event_id: String,
    /// The mini-program the session is of (the receipt's `aud`).
    pub appid: String,
    pub openid: String,
    #[serde(flatten)]
    pub facts: SessionFacts,
    /// The session's receipt (docs/api.md §6), with the same claims as
    /// lookup's: what makes the event proof. Anyone allowed to put events on
    /// the bus could write the rest; only wxface can sign this.
    pub receipt: String,
}

impl FinalizedEvent {
    pub fn new(
        appid: &str,
        subject: &ReceiptSubject<'_>,
        result: &FinalResult,
        receipt: String,
    ) -> Self {
        Self {
            event_id: format!("final-{}", subject.out_seq_no),
            appid: appid.to_owned(),
            openid: subject.openid.as_str().to_owned(),
            facts: SessionFacts::new(subject, result),
            receipt,
        }
    }
}
