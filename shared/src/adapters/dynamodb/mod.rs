//! The sessions table (docs/api.md §2.3): one table, partition key `pk`, TTL
//! attribute `expires_at`, several item families, each in its own file:
//!
//! | pk                              | what                                   | file        |
//! |---------------------------------|----------------------------------------|-------------|
//! | `session#<out_seq_no>`          | a session (no personal data in clear)  | sessions.rs |
//! | `verify_result#<hmac>`          | a consumed 1.0 verify_result           | sessions.rs |
//! | `rate#issue-key#<openid>#<hour>`| issue-key calls in that hour           | sessions.rs |
//! | `lease#access-token`            | who may refresh the access token now   | lease.rs    |
//! | `authinfo#<sha256>`             | a cached kiosk authinfo                | kiosk.rs    |
//! | `audit#<random>`                | one kiosk real-name lookup             | kiosk.rs    |
//! | `usage#<yyyy-mm-dd>`            | final statuses counted that day        | sessions.rs |
//! | `t#<appid>#rate#day#<day>[#<token>]` | a tenant's sessions started that day, and each one's marker | day.rs |
//! | `t#<appid>#…`                   | a tenant's sessions, verify_results, rate windows, daily count, usage, lease | (scope) |
//! | `t#<appid>#webhook#disabled`    | its receiver said 410 (that URL's hash)  | webhook.rs  |

mod day;
mod kiosk;
mod lease;
mod sessions;
pub mod stream;
mod transact;
mod webhook;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::AppId;
use crate::error::StoreError;

type Item = HashMap<String, AttributeValue>;

/// The table, for every port it implements (sessions, kiosk, token lease).
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Before every key of a tenant's sessions, rate windows and lease
    /// (`t#<appid>#`); empty for the deployment's own mini-program. Each
    /// tenant's store sees only its own items.
    scope: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            scope: String::new(),
        }
    }

    /// The same table, seen as tenant `appid` sees it.
    pub fn for_tenant(&self, appid: &AppId) -> Self {
        Self {
            scope: appid.scope(),
            ..self.clone()
        }
    }

    fn pk(&self, pk: String) -> String {
        format!("{}{pk}", self.scope)
    }
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

/// How a conditional write ended. A refusal carries the item as it is
/// (asked for with `ReturnValuesOnConditionCheckFailure = ALL_OLD`), so the
/// caller can tell its own earlier write (the SDK retried a request whose
/// answer was lost) from someone else's.
pub(super) enum Written {
    Done,
    Refused(Option<Item>),
}

impl Written {
    /// Done, or refused by an item that `attr` marks as ours.
    pub fn by_us(&self, attr: &str, ours: &str) -> bool {
        match self {
            Self::Done => true,
            Self::Refused(item) => item
                .as_ref()
                .and_then(|i| i.get(attr))
                .is_some_and(|v| v.as_s().is_ok_and(|s| s == ours)),
        }
    }
}

/// The item a refused condition saw, for each write operation.
pub(super) trait ConditionFailure {
    /// `Some` when the error is a failed condition: the item, if any.
    fn old_item(&self) -> Option<Option<Item>>;
}

macro_rules! condition_failure {
    ($($error:ty),*) => {$(
        impl ConditionFailure for $error {
            fn old_item(&self) -> Option<Option<Item>> {
                match self {
                    Self::ConditionalCheckFailedException(e) => Some(e.item().cloned()),
                    _ => None,
                }
            }
        }
    )*};
}

condition_failure!(PutItemError, UpdateItemError, DeleteItemError);

/// A conditional write's outcome; anything but a failed condition means
/// the table is unavailable.
pub(super) fn conditional<T, E, R>(
    outcome: Result<T, SdkError<E, R>>,
) -> Result<Written, StoreError>
where
    E: ConditionFailure + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match outcome {
        Ok(_) => Ok(Written::Done),
        Err(e) => match e.as_service_error().and_then(ConditionFailure::old_item) {
            Some(item) => Ok(Written::Refused(item)),
            None => Err(unavailable(e)),
        },
    }
}

/// A fresh token for one logical write, kept in the item it writes, so a
/// retry of the same request recognises the write as its own.
pub(super) fn write_token() -> String {
    let mut b = [0u8; 16];
    crate::domain::pii::random_bytes(&mut b);
    hex::encode(b)
}

/// Reads one item's attributes; a missing or mistyped one is `Corrupt`.
pub(super) struct Reader<'a> {
    pub pk: String,
    pub item: &'a Item,
}

impl Reader<'_> {
    pub fn corrupt(&self, problem: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            pk: self.pk.clone(),
            problem: problem.into(),
        }
    }
    pub fn opt_s(&self, k: &str) -> Option<&str> {
        self.item
            .get(k)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }
    pub fn req_s(&self, k: &str) -> Result<&str, StoreError> {
        self.opt_s(k)
            .ok_or_else(|| self.corrupt(format!("{k} missing")))
    }
    pub fn opt_n(&self, k: &str) -> Result<Option<i64>, StoreError> {
        match self.item.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("{k} is not a number"))),
        }
    }
    pub fn req_n(&self, k: &str) -> Result<i64, StoreError> {
        self.opt_n(k)?
            .ok_or_else(|| self.corrupt(format!("{k} missing")))
    }
}
