//! Property-based tests of every parser of untrusted input: request bodies
//! through the real handlers (on the in-memory ports), pushes in every mode
//! and format, WeChat's and WeChat Pay's answers, names and ID numbers.
//! Whatever comes in: no panic, a clear answer, and never a 5xx for it.

use lambda_http::http::{Method, Request};
use lambda_http::{Body, Response};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::domain::identity::check_char;
use crate::domain::{IdCardNumber, LoginCode, OutSeqNo, PersonName, VerifyResultToken};
use crate::push::crypto::{AesKey, signature};
use crate::push::message::parse_body;
use crate::service::event_callback::{PushQuery, receive};
use crate::testing;
use crate::xml::{self, Nested};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Any JSON value, a few levels deep, with the strings that matter.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        Just(Value::from(testing::NAME)),
        Just(Value::from(testing::ID_CARD)),
        Just(Value::from("v2")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("code".to_owned()),
                    Just("name".to_owned()),
                    Just("id_card_number".to_owned()),
                    Just("flow".to_owned()),
                    Just("out_seq_no".to_owned()),
                    Just("verify_result".to_owned()),
                    Just("device_id".to_owned()),
                    Just("face_sid".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn request(method: Method, uri: &str, body: Vec<u8>) -> lambda_http::Request {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", "Bearer abc")
        .body(Body::from(body))
        .expect("request")
}

/// A client's request always gets a clear answer: JSON with an error code
/// when refused, and never a 5xx (the fakes never fail).
fn assert_clear(resp: &Response<Body>) {
    let status = resp.status().as_u16();
    assert!(status < 500, "a client's request got {status}");
    let ct = resp.headers()["content-type"].to_str().unwrap_or_default();
    if status >= 400 {
        let v: Value = serde_json::from_slice(resp.body().as_ref()).expect("a JSON error");
        assert!(v["error"]["code"].is_string(), "{v}");
    } else {
        assert!(ct.starts_with("application/json") || ct.starts_with("text/plain"));
    }
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::POST),
        Just(Method::GET),
        Just(Method::PUT),
        Just(Method::DELETE)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn names_and_ids_never_panic_and_accept_only_valid_values(raw in ".{0,80}") {
        if let Ok(name) = PersonName::parse(&raw) {
            let n = name.expose();
            prop_assert!(!n.is_empty() && n.chars().count() <= 64 && n == n.trim());
            prop_assert!(!n.chars().any(|c| c.is_control() || c.is_ascii_digit()));
        }
        if let Ok(id) = IdCardNumber::parse(&raw) {
            let b = id.expose().as_bytes();
            prop_assert_eq!(b.len(), 18);
            prop_assert_eq!(b[17], check_char(&b[..17]));
        }
        let _ = (OutSeqNo::parse(&raw), LoginCode::parse(&raw), VerifyResultToken::parse(&raw));
    }

    #[test]
    fn every_valid_id_number_is_accepted(region in 110000u32..660000, year in 1900u32..2025, month in 1u32..13, day in 1u32..29, seq in 0u32..1000) {
        let first17 = format!("{region}{year:04}{month:02}{day:02}{seq:03}");
        let id = format!("{first17}{}", check_char(first17.as_bytes()) as char);
        prop_assert!(IdCardNumber::parse(&id).is_ok(), "{}", id);
        prop_assert!(IdCardNumber::parse(&id.to_lowercase()).is_ok());
    }

    #[test]
    fn push_bodies_and_xml_never_panic(raw in ".{0,300}") {
        let _ = parse_body(&raw);
        let _ = xml::parse(&raw, Nested::Refuse);
        let _ = xml::parse(&raw, Nested::Skip);
        let wrapped = format!("<xml><a>{raw}</a></xml>");
        let _ = xml::parse(&wrapped, Nested::Skip);
    }

    #[test]
    fn ciphertexts_never_panic(raw in prop::collection::vec(any::<u8>(), 0..200)) {
        let key = AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").expect("key");
        use base64::Engine;
        let _ = key.decrypt(&base64::engine::general_purpose::STANDARD.encode(&raw));
        let _ = key.decrypt(&String::from_utf8_lossy(&raw));
    }

    #[test]
    fn mini_program_requests_always_get_a_clear_answer(body in json_value(), m in method(), garbage in prop::collection::vec(any::<u8>(), 0..64), raw in any::<bool>()) {
        let f = testing::services();
        let bytes = if raw { garbage } else { body.to_string().into_bytes() };
        runtime().block_on(async {
            for handle in [0, 1] {
                let req = request(m.clone(), "/", bytes.clone());
                let resp = if handle == 0 {
                    crate::http::issue_key::handle(&f.svc, req).await
                } else {
                    crate::http::verify_result::handle(&f.svc, req).await
                };
                assert_clear(&resp);
            }
        });
    }

    #[test]
    fn pushes_in_every_mode_and_format_are_refused_or_handled(
        mode in 0usize..3,
        encrypted in any::<bool>(),
        xml_body in any::<bool>(),
        field in prop_oneof![Just("out_seq_no"), Just("openid"), Just("verify_result"), Just("Event")],
        value in ".{0,40}",
        tamper in any::<bool>(),
        query in "[a-z_=&0-9%]{0,60}",
    ) {
        let modes = [crate::config::PushMode::Safe, crate::config::PushMode::Compatible, crate::config::PushMode::Plaintext];
        let f = testing::services_with(|s| s.push_mode = modes[mode]);
        let app = testing::app_secrets();
        let mut fields = serde_json::Map::new();
        for (k, v) in [("MsgType", "event"), ("Event", "face_identify"), ("openid", "o-1"), ("out_seq_no", "seq-00001"), ("verify_result", "vr-1")] {
            fields.insert(k.into(), Value::from(v));
        }
        fields.insert(field.into(), Value::from(value.clone()));
        let message = if xml_body {
            let inner: String = fields.iter().map(|(k, v)| format!("<{k}><![CDATA[{}]]></{k}>", v.as_str().unwrap_or_default())).collect();
            format!("<xml>{inner}</xml>")
        } else {
            Value::Object(fields).to_string()
        };
        let ts = crate::domain::Clock::now(f.clock.as_ref()).to_string();
        let creds = testing::wechat_credentials();
        let token = creds.push_token.clone().unwrap_or_default();
        let mut q = PushQuery {
            timestamp: Some(ts.clone()),
            nonce: Some("7".into()),
            signature: Some(signature(&[&token, &ts, "7"])),
            ..PushQuery::default()
        };
        let body = if encrypted {
            let key = AesKey::from_encoding_aes_key(creds.encoding_aes_key.as_deref().unwrap_or_default()).expect("key");
            let enc = key.encrypt(&message, &app.appid);
            q.encrypt_type = Some("aes".into());
            q.msg_signature = Some(signature(&[&token, &ts, "7", &enc]));
            json!({"Encrypt": enc}).to_string()
        } else {
            message
        };
        if tamper {
            q.signature = Some(format!("{query}0"));
            q.msg_signature = Some(query.clone());
        }
        let result = runtime().block_on(receive(&f.svc, &q, &body));
        // Nothing unauthenticated is ever handled; nothing panics.
        if tamper {
            prop_assert!(result.is_err());
        }
        let uri = format!("/?{query}");
        let resp = runtime().block_on(crate::http::event_callback::handle(&f.svc, request(Method::POST, &uri, body.into_bytes())));
        assert_clear(&resp);
    }
}
