//! The table's change stream (DynamoDB Streams, `NEW_AND_OLD_IMAGES`) as
//! Lambda hands it to publish-events: which records are a session reaching
//! its final state.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;

use super::Item;
use super::sessions::session_from_item;
use crate::domain::{AppId, Session};
use crate::error::StoreError;

/// The Lambda event of a DynamoDB stream batch.
#[derive(Debug, Deserialize)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One change of one item. `Debug` shows no attribute value.
#[derive(Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub dynamodb: StreamChange,
}

#[derive(Deserialize)]
pub struct StreamChange {
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: String,
    #[serde(rename = "NewImage", default)]
    new_image: Option<HashMap<String, Value>>,
    #[serde(rename = "OldImage", default)]
    old_image: Option<HashMap<String, Value>>,
}

impl std::fmt::Debug for StreamRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRecord")
            .field("event_name", &self.event_name)
            .field("sequence_number", &self.dynamodb.sequence_number)
            .finish_non_exhaustive()
    }
}

impl StreamRecord {
    pub fn sequence_number(&self) -> &str {
        &self.dynamodb.sequence_number
    }

    /// The session this change made final, if it did: a session item whose
    /// new image is final and whose old image was pending (or absent).
    /// Every other change (a push kept, a rate window, a TTL deletion) is
    /// `None`.
    pub fn finalized_session(&self) -> Result<Option<Session>, StoreError> {
        let status = |image: &Option<HashMap<String, Value>>| {
            image
                .as_ref()
                .and_then(|i| i.get("status"))
                .and_then(|v| v.get("S"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let is_session = self
            .dynamodb
            .new_image
            .as_ref()
            .and_then(|i| i.get("kind"))
            .and_then(|v| v.get("S"))
            == Some(&Value::from("session"));
        let now_final = status(&self.dynamodb.new_image).is_some_and(|s| s != "pending");
        let was_final = status(&self.dynamodb.old_image).is_some_and(|s| s != "pending");
        if self.event_name == "REMOVE" || !is_session || !now_final || was_final {
            return Ok(None);
        }
        let image = self.dynamodb.new_image.as_ref().map(image_to_item);
        let item = image.transpose()?.unwrap_or_default();
        session_from_item(&item).map(Some)
    }
}

impl StreamRecord {
    /// The tenant whose item changed (docs/api.md §9); `None`: the
    /// deployment's own mini-program's.
    pub fn tenant(&self) -> Option<AppId> {
        let image = (self.dynamodb.new_image.as_ref()).or(self.dynamodb.old_image.as_ref());
        let pk = image?.get("pk")?.get("S")?.as_str()?;
        AppId::of_pk(pk)
    }

    /// The session this change created (an INSERT of a session item), for
    /// reconcile to book its checks. Every other change is `None`.
    pub fn inserted_session(&self) -> Result<Option<Session>, StoreError> {
        let image = self.dynamodb.new_image.as_ref();
        let is_session = image.and_then(|i| i.get("kind")).and_then(|v| v.get("S"))
            == Some(&Value::from("session"));
        if self.event_name != "INSERT" || !is_session {
            return Ok(None);
        }
        let item = image.map(image_to_item).transpose()?.unwrap_or_default();
        session_from_item(&item).map(Some)
    }
}

fn corrupt(problem: &str) -> StoreError {
    StoreError::Corrupt {
        pk: "stream record".into(),
        problem: problem.into(),
    }
}

fn image_to_item(image: &HashMap<String, Value>) -> Result<Item, StoreError> {
    image
        .iter()
        .map(|(k, v)| Ok((k.clone(), attribute(v)?)))
        .collect()
}

/// DynamoDB's JSON form of one attribute value.
fn attribute(v: &Value) -> Result<AttributeValue, StoreError> {
    let obj = v.as_object().filter(|o| o.len() == 1);
    let (kind, inner) = obj
        .and_then(|o| o.iter().next())
        .ok_or_else(|| corrupt("an attribute is not {type: value}"))?;
    let text = || {
        inner
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| corrupt("not a string"))
    };
    let texts = || {
        inner
            .as_array()
            .ok_or_else(|| corrupt("not a list"))?
            .iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| corrupt("not a string"))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let blob = |s: &str| {
        STANDARD
            .decode(s)
            .map(Blob::new)
            .map_err(|_| corrupt("not base64"))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(text()?),
        "N" => AttributeValue::N(text()?),
        "B" => AttributeValue::B(blob(&text()?)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or_else(|| corrupt("not a bool"))?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(texts()?),
        "NS" => AttributeValue::Ns(texts()?),
        "BS" => AttributeValue::Bs(texts()?.iter().map(|s| blob(s)).collect::<Result<_, _>>()?),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .ok_or_else(|| corrupt("not a list"))?
                .iter()
                .map(attribute)
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(image_to_item(
            &serde_json::from_value(inner.clone()).map_err(|_| corrupt("not a map"))?,
        )?),
        _ => return Err(corrupt("unknown attribute type")),
    })
}

/// The stream record DynamoDB writes when `old` becomes `new` (`old`
/// `None`: the insert), for tests of what is published.
#[cfg(any(test, feature = "testing"))]
pub fn change(seq: &str, old: Option<&Session>, new: &Session) -> StreamRecord {
    use super::sessions::session_item;
    use crate::domain::SessionState;
    fn image(session: &Session) -> HashMap<String, Value> {
        let mut item = session_item(session);
        if let SessionState::Final(r) = &session.state {
            item.insert("status".into(), super::s(r.status.as_str()));
            item.insert("decided_at".into(), super::n(r.decided_at));
            if let Some(reason) = r.status.reason() {
                item.insert("reason".into(), super::s(reason));
            }
            for (k, v) in [
                ("identify_ret", r.identify_ret),
                ("verify_ret", r.verify_ret),
            ] {
                if let Some(v) = v {
                    item.insert(k.into(), super::n(v));
                }
            }
        }
        item.into_iter()
            .map(|(k, v)| {
                let json = match v {
                    AttributeValue::S(s) => serde_json::json!({ "S": s }),
                    AttributeValue::N(n) => serde_json::json!({ "N": n }),
                    other => panic!("not in a session item: {other:?}"),
                };
                (k, json)
            })
            .collect()
    }
    StreamRecord {
        event_name: if old.is_some() { "MODIFY" } else { "INSERT" }.into(),
        dynamodb: StreamChange {
            sequence_number: seq.into(),
            new_image: Some(image(new)),
            old_image: old.map(image),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dynamodb_json_becomes_attribute_values() {
        let v = json!({"M": {"a": {"L": [{"S": "x"}, {"N": "1"}, {"BOOL": true}, {"NULL": true}]},
                             "b": {"SS": ["p", "q"]}, "c": {"B": "aGk="}}});
        let AttributeValue::M(m) = attribute(&v).unwrap() else {
            panic!("a map")
        };
        assert_eq!(
            m["a"],
            AttributeValue::L(vec![
                AttributeValue::S("x".into()),
                AttributeValue::N("1".into()),
                AttributeValue::Bool(true),
                AttributeValue::Null(true)
            ])
        );
        assert_eq!(m["b"], AttributeValue::Ss(vec!["p".into(), "q".into()]));
        assert_eq!(m["c"], AttributeValue::B(Blob::new("hi")));
        for bad in [
            json!("S"),
            json!({}),
            json!({"S": 1}),
            json!({"X": "1"}),
            json!({"S": "a", "N": "1"}),
        ] {
            assert!(attribute(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_session_becoming_final_is_a_finalization() {
        let record = |name: &str, old: Option<&str>, new: Option<(&str, &str)>| {
            let img = |kind: &str, status: &str| json!({"pk": {"S": "x"}, "kind": {"S": kind}, "status": {"S": status}});
            let v = json!({"eventName": name, "dynamodb": {"SequenceNumber": "1",
                "OldImage": old.map(|s| img("session", s)), "NewImage": new.map(|(k, s)| img(k, s))}});
            serde_json::from_value::<StreamRecord>(v).unwrap()
        };
        for r in [
            record("INSERT", None, Some(("session", "pending"))),
            record("MODIFY", Some("pending"), Some(("session", "pending"))),
            record("MODIFY", Some("verified"), Some(("session", "verified"))),
            record("MODIFY", Some("pending"), Some(("rate", "verified"))),
            record("REMOVE", Some("verified"), None),
        ] {
            assert!(matches!(r.finalized_session(), Ok(None)), "{r:?}");
        }
        // A final image that is not a whole session is refused, not skipped.
        let r = record("MODIFY", Some("pending"), Some(("session", "verified")));
        assert!(r.finalized_session().is_err());
        assert!(!format!("{r:?}").contains("verified"));
    }
}
