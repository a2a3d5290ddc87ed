//! The `face_identify` event (docs/wechat.md §2.3) and the request WeChat sends for it in
//! each mode and format (docs/wechat.md §5.3–docs/wechat.md §5.5): URL query and body.

use serde::Serialize;

use super::crypto::{PushCrypto, sha1_signature};
use crate::config::{PushFormat, PushMode};

/// A `face_identify` event, fields in the order of docs/wechat.md §2.3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FaceIdentifyEvent {
    #[serde(rename = "ToUserName")]
    pub to_user_name: String,
    #[serde(rename = "FromUserName")]
    pub from_user_name: String,
    #[serde(rename = "CreateTime")]
    pub create_time: i64,
    #[serde(rename = "MsgType")]
    pub msg_type: &'static str,
    #[serde(rename = "Event")]
    pub event: &'static str,
    pub openid: String,
    pub out_seq_no: String,
    pub verify_result: String,
}

impl FaceIdentifyEvent {
    pub(crate) fn new(
        original_id: &str,
        openid: &str,
        out_seq_no: &str,
        verify_result: &str,
        create_time: i64,
    ) -> Self {
        FaceIdentifyEvent {
            to_user_name: original_id.to_owned(),
            from_user_name: openid.to_owned(),
            create_time,
            msg_type: "event",
            event: "face_identify",
            openid: openid.to_owned(),
            out_seq_no: out_seq_no.to_owned(),
            verify_result: verify_result.to_owned(),
        }
    }

    /// `(element, value, is_text)`: text goes in CDATA, numbers bare.
    fn xml_fields(&self) -> [(&'static str, String, bool); 8] {
        [
            ("ToUserName", self.to_user_name.clone(), true),
            ("FromUserName", self.from_user_name.clone(), true),
            ("CreateTime", self.create_time.to_string(), false),
            ("MsgType", self.msg_type.to_owned(), true),
            ("Event", self.event.to_owned(), true),
            ("openid", self.openid.clone(), true),
            ("out_seq_no", self.out_seq_no.clone(), true),
            ("verify_result", self.verify_result.clone(), true),
        ]
    }

    /// The plaintext message: what plain mode sends and what `Encrypt` holds.
    pub(crate) fn plaintext(&self, format: PushFormat) -> String {
        match format {
            PushFormat::Json => serde_json::to_string(self).expect("event serialises"),
            PushFormat::Xml => {
                let mut xml = String::from("<xml>");
                for (name, value, text) in self.xml_fields() {
                    push_element(&mut xml, name, &value, text);
                }
                xml.push_str("</xml>");
                xml
            }
        }
    }
}

/// `<![CDATA[…]]>`, splitting any `]]>` inside the value so it survives.
fn cdata(value: &str) -> String {
    format!("<![CDATA[{}]]>", value.replace("]]>", "]]]]><![CDATA[>"))
}

fn push_element(xml: &mut String, name: &str, value: &str, text: bool) {
    let inner = if text { cdata(value) } else { value.to_owned() };
    xml.push_str(&format!("<{name}>{inner}</{name}>"));
}

/// One push request, fixed once built: retries send exactly these bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushRequest {
    /// `(name, value)` in WeChat's order.
    pub query: Vec<(&'static str, String)>,
    pub body: String,
    pub content_type: &'static str,
}

/// What signs and encrypts one app's pushes.
pub(crate) struct PushSigner<'a> {
    pub token: &'a str,
    pub crypto: &'a PushCrypto,
    pub mode: PushMode,
    pub format: PushFormat,
}

#[derive(Serialize)]
struct SafeJson<'a> {
    #[serde(rename = "ToUserName")]
    to_user_name: &'a str,
    #[serde(rename = "Encrypt")]
    encrypt: &'a str,
}

#[derive(Serialize)]
struct CompatJson<'a> {
    #[serde(flatten)]
    event: &'a FaceIdentifyEvent,
    #[serde(rename = "Encrypt")]
    encrypt: &'a str,
}

impl PushSigner<'_> {
    /// The request for `event`, signed with this `timestamp` and `nonce`.
    pub(crate) fn request(
        &self,
        event: &FaceIdentifyEvent,
        timestamp: &str,
        nonce: &str,
    ) -> PushRequest {
        let plaintext = event.plaintext(self.format);
        let signature = sha1_signature(&[self.token, timestamp, nonce]);
        let mut query = vec![
            ("signature", signature),
            ("timestamp", timestamp.to_owned()),
            ("nonce", nonce.to_owned()),
        ];
        let content_type = match self.format {
            PushFormat::Json => "application/json",
            PushFormat::Xml => "text/xml",
        };
        if self.mode == PushMode::Plain {
            return PushRequest {
                query,
                body: plaintext,
                content_type,
            };
        }
        let encrypt = self.crypto.encrypt(plaintext.as_bytes());
        let msg_signature = sha1_signature(&[self.token, timestamp, nonce, &encrypt]);
        query.push(("openid", event.openid.clone()));
        query.push(("encrypt_type", "aes".to_owned()));
        query.push(("msg_signature", msg_signature));
        let body = match (self.mode, self.format) {
            (PushMode::Safe, PushFormat::Json) => serde_json::to_string(&SafeJson {
                to_user_name: &event.to_user_name,
                encrypt: &encrypt,
            })
            .expect("serialises"),
            (_, PushFormat::Json) => serde_json::to_string(&CompatJson {
                event,
                encrypt: &encrypt,
            })
            .expect("serialises"),
            (PushMode::Safe, PushFormat::Xml) => {
                let mut xml = String::from("<xml>");
                push_element(&mut xml, "ToUserName", &event.to_user_name, true);
                push_element(&mut xml, "Encrypt", &encrypt, true);
                xml.push_str("</xml>");
                xml
            }
            (_, PushFormat::Xml) => {
                let mut xml = String::from("<xml>");
                for (name, value, text) in event.xml_fields() {
                    push_element(&mut xml, name, &value, text);
                }
                push_element(&mut xml, "Encrypt", &encrypt, true);
                xml.push_str("</xml>");
                xml
            }
        };
        PushRequest {
            query,
            body,
            content_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event() -> FaceIdentifyEvent {
        FaceIdentifyEvent::new(
            "gh_0123456789ab",
            "o-user]]>1",
            "seq-00001",
            "vr_abc",
            1714112445,
        )
    }

    fn xml_text<'a>(xml: &'a str, name: &str) -> &'a str {
        let open = format!("<{name}><![CDATA[");
        let start = xml.find(&open).expect("element") + open.len();
        let end = xml[start..].find("]]></").expect("end") + start;
        &xml[start..end]
    }

    #[test]
    fn plaintext_shapes() {
        let e = event();
        assert_eq!(
            e.plaintext(PushFormat::Json),
            r#"{"ToUserName":"gh_0123456789ab","FromUserName":"o-user]]>1","CreateTime":1714112445,"MsgType":"event","Event":"face_identify","openid":"o-user]]>1","out_seq_no":"seq-00001","verify_result":"vr_abc"}"#
        );
        assert_eq!(
            e.plaintext(PushFormat::Xml),
            "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>\
             <FromUserName><![CDATA[o-user]]]]><![CDATA[>1]]></FromUserName>\
             <CreateTime>1714112445</CreateTime>\
             <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[face_identify]]></Event>\
             <openid><![CDATA[o-user]]]]><![CDATA[>1]]></openid>\
             <out_seq_no><![CDATA[seq-00001]]></out_seq_no>\
             <verify_result><![CDATA[vr_abc]]></verify_result></xml>"
        );
    }

    #[test]
    fn requests_per_mode_and_format() {
        let crypto = PushCrypto::new(&"A".repeat(43), "wx0123456789abcdef").expect("key");
        let e = event();
        for format in [PushFormat::Json, PushFormat::Xml] {
            for mode in [PushMode::Plain, PushMode::Compat, PushMode::Safe] {
                let signer = PushSigner {
                    token: "tok",
                    crypto: &crypto,
                    mode,
                    format,
                };
                let r = signer.request(&e, "1714112445", "415670741");
                let names: Vec<&str> = r.query.iter().map(|(n, _)| *n).collect();
                let sig = sha1_signature(&["tok", "1714112445", "415670741"]);
                assert_eq!(r.query[0].1, sig);
                if mode == PushMode::Plain {
                    assert_eq!(names, ["signature", "timestamp", "nonce"]);
                    assert_eq!(r.body, e.plaintext(format));
                    continue;
                }
                assert_eq!(
                    names,
                    [
                        "signature",
                        "timestamp",
                        "nonce",
                        "openid",
                        "encrypt_type",
                        "msg_signature"
                    ]
                );
                let encrypt = match format {
                    PushFormat::Json => {
                        let v: Value = serde_json::from_str(&r.body).expect("json");
                        let keys = v.as_object().expect("object").len();
                        assert_eq!(keys, if mode == PushMode::Safe { 2 } else { 9 });
                        assert_eq!(v["ToUserName"], "gh_0123456789ab");
                        if mode == PushMode::Compat {
                            assert_eq!(v["Event"], "face_identify");
                        }
                        v["Encrypt"].as_str().expect("Encrypt").to_owned()
                    }
                    PushFormat::Xml => {
                        assert_eq!(r.body.contains("<Event>"), mode == PushMode::Compat);
                        xml_text(&r.body, "Encrypt").to_owned()
                    }
                };
                assert_eq!(
                    r.query[5].1,
                    sha1_signature(&["tok", "1714112445", "415670741", &encrypt])
                );
                let msg = crypto.decrypt(&encrypt).expect("decrypts");
                assert_eq!(String::from_utf8(msg).expect("utf-8"), e.plaintext(format));
            }
        }
    }
}
