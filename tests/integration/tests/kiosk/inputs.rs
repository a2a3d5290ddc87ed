//! Every bad input: its status and code, nothing stored, WeChat Pay not
//! called; limits accepted exactly at the edge; no input makes it panic.

use lambda_http::http::Method;
use serde_json::{Value, json};
use wxface_tests::inputs::with;

use crate::world::{DEVICE, World};

#[tokio::test]
async fn bad_bodies_are_400_and_change_nothing() {
    let w = World::new().await;
    let good = World::authinfo_body("store-1", "raw");
    let rn = json!({"device_id": DEVICE, "face_sid": "sid-1", "info_type": "ASK_REAL_NAME"});
    let mut cases: Vec<(&str, &str, String)> = [
        ("not JSON", "{"),
        ("empty body", ""),
        ("array", "[]"),
        ("null", "null"),
    ]
    .into_iter()
    .map(|(what, body)| (what, "/", body.to_owned()))
    .collect();
    // (what, field, value: null removes the field), by path.
    let authinfo: Vec<(&str, &str, Value)> = vec![
        ("missing device_id", "device_id", Value::Null),
        ("missing store_id", "store_id", Value::Null),
        ("missing store_name", "store_name", Value::Null),
        ("missing rawdata", "rawdata", Value::Null),
        ("store_id a number", "store_id", json!(12)),
        ("rawdata an object", "rawdata", json!({})),
        ("attach a number", "attach", json!(1)),
        ("device_id too long", "device_id", json!("d".repeat(33))),
        ("device_id empty", "device_id", json!("")),
        ("store_id too long", "store_id", json!("s".repeat(33))),
        ("store_id empty", "store_id", json!("")),
        ("store_name too long", "store_name", json!("店".repeat(129))),
        ("store_name control char", "store_name", json!("a\u{1}b")),
        ("rawdata too long", "rawdata", json!("r".repeat(2049))),
        ("rawdata empty", "rawdata", json!("")),
        ("attach too long", "attach", json!("a".repeat(2049))),
    ];
    let real_name: Vec<(&str, &str, Value)> = vec![
        ("missing face_sid", "face_sid", Value::Null),
        ("missing device_id", "device_id", Value::Null),
        ("face_sid a number", "face_sid", json!(5)),
        ("info_type a bool", "info_type", json!(true)),
        ("unknown info_type", "info_type", json!("ASK_EVERYTHING")),
        ("lowercase info_type", "info_type", json!("ask_real_name")),
        ("face_sid too long", "face_sid", json!("f".repeat(129))),
        ("face_sid with a space", "face_sid", json!("a b")),
        ("face_sid empty", "face_sid", json!("")),
    ];
    for (path, base, fields) in [("/", &good, authinfo), ("/real-name", &rn, real_name)] {
        for (what, field, value) in fields {
            cases.push((what, path, with(base.clone(), field, value).to_string()));
        }
    }
    let before = w.snapshot().await;
    let auth = w.bearer();
    for (what, path, body) in cases {
        let r = w.raw(Method::POST, path, Some(&auth), body).await;
        r.assert_error_in(400, "invalid_request", what);
    }
    let big = with(good.clone(), "attach", json!("a".repeat(17 * 1024))).to_string();
    let r = w.raw(Method::POST, "/", Some(&auth), big).await;
    r.assert_error(413, "payload_too_large");
    assert_eq!(w.snapshot().await, before, "nothing stored");
    assert_eq!(
        w.pay.counters().await.values().sum::<u64>(),
        0,
        "WeChat Pay never called"
    );
}

#[tokio::test]
async fn limits_are_inclusive() {
    let w = World::new().await;
    let body = json!({
        "device_id": DEVICE,
        // Bytes of UTF-8, as WeChat Pay counts: 门 is three.
        "store_id": format!("{}s", "门".repeat(10)),
        "store_name": format!("{}nn", "店".repeat(42)),
        "rawdata": "r".repeat(2048),
        "attach": "{\"a\":1}",
    });
    let r = w.post("/", &body).await;
    r.assert_status(200);
    // A 128-character face_sid is sent (WeChat Pay does not know it).
    let r = w.real_name(&"f".repeat(128), None).await;
    assert_eq!(r.code(), "invalid_face_sid", "{}", r.body);
    // One byte more: refused here.
    let mut over = body.clone();
    over["store_id"] = json!(format!("{}sss", "门".repeat(10)));
    w.post("/", &over)
        .await
        .assert_error(400, "invalid_request");
    over["store_id"] = json!("s");
    over["attach"] = json!("not json");
    w.post("/", &over)
        .await
        .assert_error(400, "invalid_request");
    // Unknown extra fields are ignored; a null attach is no attach.
    let r = w.post("/", &json!({"device_id": DEVICE, "store_id": "s", "store_name": "n", "rawdata": "r", "attach": null, "extra": 1})).await;
    r.assert_status(200);
}

#[tokio::test]
async fn routes_and_methods() {
    let w = World::new().await;
    let auth = w.bearer();
    for (method, path, status, code) in [
        (Method::GET, "/", 405, "method_not_allowed"),
        (Method::PUT, "/real-name", 405, "method_not_allowed"),
        (Method::POST, "/nope", 404, "not_found"),
        (Method::POST, "/real-name/", 404, "not_found"),
        (Method::POST, "/real_name", 404, "not_found"),
    ] {
        let r = w.raw(method.clone(), path, Some(&auth), "{}").await;
        assert_eq!((r.status, r.code()), (status, code), "{method} {path}");
    }
}

/// Deterministic pseudo-random bytes (xorshift): reproducible "fuzz".
fn noise(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed & 0xff) as u8
        })
        .collect()
}

#[tokio::test]
async fn no_input_makes_it_panic_or_fail_on_our_side() {
    let w = World::new().await;
    let auth = w.bearer();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let odd_strings = [
        json!(""),
        json!("\u{0}"),
        json!("😀".repeat(40)),
        json!("<![CDATA[x]]>"),
        json!("]]><xml>"),
        json!("&amp;&e;"),
        json!("%00%ff"),
        json!(" ".repeat(10)),
        json!(-1),
        json!(1e308),
        json!([1, 2]),
        json!({"a": {"b": null}}),
        Value::Null,
        json!(true),
    ];
    for path in ["/", "/real-name"] {
        for field in [
            "device_id",
            "store_id",
            "store_name",
            "rawdata",
            "attach",
            "face_sid",
            "info_type",
        ] {
            for v in &odd_strings {
                let base = if path == "/" {
                    World::authinfo_body("s", "r")
                } else {
                    json!({"device_id": DEVICE, "face_sid": "sid"})
                };
                let r = w
                    .raw(
                        Method::POST,
                        path,
                        Some(&auth),
                        with(base, field, v.clone()).to_string(),
                    )
                    .await;
                // A well-formed but unknown face_sid is WeChat Pay's refusal (502);
                // never our own failure.
                assert!(
                    r.status < 500 || r.code() == "upstream_error",
                    "{path} {field}={v}: {}",
                    r.body
                );
            }
        }
        for n in [1usize, 7, 100, 3000] {
            let bytes = noise(&mut seed, n);
            let r = w.raw(Method::POST, path, Some(&auth), bytes).await;
            assert_eq!(r.status, 400, "{n} random bytes");
        }
    }
    for header in [
        "Bearer \tx",
        "Bearer 😀",
        &format!("Bearer {}", "x".repeat(10_000)),
    ] {
        let r = w
            .raw(
                Method::POST,
                "/",
                Some(header),
                World::authinfo_body("s", "r").to_string(),
            )
            .await;
        assert_eq!(r.status, 401, "{header:?}");
    }
}
