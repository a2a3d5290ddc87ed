//! Bad request bodies, each a good one with one field changed.

use serde_json::Value;

/// `body` with `key` set to `value`, or removed when `value` is null.
pub fn with(mut body: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        body.as_object_mut().unwrap().remove(key);
    } else {
        body[key] = value;
    }
    body
}
