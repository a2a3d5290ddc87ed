//! The verification domain: parsed inputs, the session state machine, the
//! acceptance rules and PII protection. Nothing here knows about AWS or HTTP.

pub mod acceptance;
pub mod clock;
pub mod error;
pub mod event;
pub mod identity;
pub mod ids;
pub mod keyring;
pub mod kiosk;
pub mod pii;
pub mod random;
pub mod receipt;
pub mod reconcile;
pub mod session;
pub mod tenant;
pub mod webhook;

pub use acceptance::{GetInfoEvidence, V1Expectation, Verdict, judge_v1, judge_v2};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ValidationError;
pub use identity::{IdCardNumber, PersonName};
pub use ids::{
    AppId, BizRef, Flow, LoginCode, OpenId, OutSeqNo, UserIdKey, VerifyId, VerifyResultToken,
};
pub use keyring::{DataKeyring, KeyId, KeyringError};
pub use pii::{DataKey, Sealed, Sealing};
pub use session::{FinalResult, FinalStatus, FlowBinding, RejectReason, Session, SessionState};
