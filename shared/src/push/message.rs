//! Push bodies (docs/wechat.md §5): JSON or XML (detected, not configured),
//! flat fields with the same names in both (`ToUserName`, `Encrypt`, `MsgType`, …).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use thiserror::Error;

use crate::domain::{OpenId, OutSeqNo, VerifyResultToken};
use crate::xml::{self, Nested};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    #[error("the body is neither a JSON object nor an <xml> document")]
    Unrecognised,
    #[error("the JSON body is malformed")]
    Json,
    #[error("the XML body is refused: {0}")]
    Xml(&'static str),
}

/// The top-level fields of a push message. `Debug` lists names, not values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl FromIterator<(String, String)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

pub fn parse_body(body: &str) -> Result<Fields, MessageError> {
    match body.trim_start().as_bytes().first() {
        Some(b'{') => parse_json(body),
        Some(b'<') => parse_xml(body),
        _ => Err(MessageError::Unrecognised),
    }
}

fn parse_json(body: &str) -> Result<Fields, MessageError> {
    let Value::Object(map) = serde_json::from_str(body).map_err(|_| MessageError::Json)? else {
        return Err(MessageError::Json);
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Number(n) => Some((k, n.to_string())),
            Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect())
}

fn parse_xml(body: &str) -> Result<Fields, MessageError> {
    let fields = xml::parse(body, Nested::Skip).map_err(|e| MessageError::Xml(e.0))?;
    Ok(fields
        .into_iter()
        .map(|(k, v)| (k, v.trim().to_owned()))
        .collect())
}

/// What a decrypted (or plaintext) push asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// A 1.0 face check finished for a user_id_key issued with an out_seq_no.
    FaceIdentify {
        openid: OpenId,
        out_seq_no: OutSeqNo,
        verify_result: VerifyResultToken,
    },
    /// A face_identify event whose fields do not parse.
    MalformedFaceIdentify,
    /// Anything else: acknowledged and ignored.
    Other,
}

impl PushEvent {
    pub fn from_fields(f: &Fields) -> Self {
        if f.get("MsgType") != Some("event") || f.get("Event") != Some("face_identify") {
            return Self::Other;
        }
        let openid = f
            .get("openid")
            .or_else(|| f.get("FromUserName"))
            .and_then(OpenId::from_wechat);
        let out_seq_no = f.get("out_seq_no").and_then(|s| OutSeqNo::parse(s).ok());
        let verify_result = f
            .get("verify_result")
            .and_then(|s| VerifyResultToken::parse(s).ok());
        match (openid, out_seq_no, verify_result) {
            (Some(openid), Some(out_seq_no), Some(verify_result)) => Self::FaceIdentify {
                openid,
                out_seq_no,
                verify_result,
            },
            _ => Self::MalformedFaceIdentify,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_xml_give_the_same_fields() {
        let json = r#"{"ToUserName":"gh_1","FromUserName":"o-1","CreateTime":1714037059,"MsgType":"event","Event":"face_identify","openid":"o-1","out_seq_no":"seq_00001","verify_result":"vr-abc"}"#;
        let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o-1]]></FromUserName>\n<CreateTime>1714037059</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[face_identify]]></Event><openid>o-1</openid><out_seq_no>seq_00001</out_seq_no><verify_result>vr-abc</verify_result></xml>";
        let a = parse_body(json).unwrap();
        let b = parse_body(xml).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("CreateTime"), Some("1714037059"));
        match PushEvent::from_fields(&a) {
            PushEvent::FaceIdentify { out_seq_no, .. } => {
                assert_eq!(out_seq_no.as_str(), "seq_00001")
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{a:?}").contains("vr-abc"));
    }

    #[test]
    fn events_other_than_face_identify_are_other() {
        let f = parse_body(r#"{"MsgType":"event","Event":"debug_demo"}"#).unwrap();
        assert_eq!(PushEvent::from_fields(&f), PushEvent::Other);
        let f =
            parse_body(r#"{"MsgType":"event","Event":"face_identify","out_seq_no":"x"}"#).unwrap();
        assert_eq!(PushEvent::from_fields(&f), PushEvent::MalformedFaceIdentify);
    }

    #[test]
    fn bad_bodies_are_refused() {
        for bad in [
            "",
            "hello",
            "{",
            "[1,2]",
            "<xml><a>1</b></xml>",
            "<notxml></notxml>",
            "<xml><a>1</a>",
            "<xml>&ent;</xml>",
        ] {
            assert!(parse_body(bad).is_err(), "{bad:?} accepted");
        }
        let dtd = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>"#;
        assert_eq!(
            parse_body(dtd),
            Err(MessageError::Xml("DTDs are not accepted"))
        );
        assert_eq!(
            parse_body("<xml><a>x &amp; y &#x4e2d;</a></xml>")
                .unwrap()
                .get("a"),
            Some("x & y 中")
        );
        assert!(parse_body("<xml><a>&bogus;</a></xml>").is_err());
    }
}
