//! Every bad input: its status and code, nothing stored, WeChat Pay not
//! called; limits accepted exactly at the edge; no input makes it panic.

use lambda_http::http::Method;
use serde_json::{Value, json};

use crate::world::{DEVICE, World};

fn with(mut body: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        body.as_object_mut().unwrap().remove(key);
    } else {
        body[key] = value;
    }
    body
}

#[tokio::test]
async fn bad_bodies_are_400_and_change_nothing() {
    let w = World::new().await;
    let good = World::authinfo_body("store-1", "raw");
    let rn = json!({"device_id": DEVICE, "face_sid": "sid-1", "info_type": "ASK_REAL_NAME"});
    let cases: Vec<(&str, &str, String)> = vec![
        ("not JSON", "/", "{".into()),
        ("empty body", "/", String::new()),
        ("array", "/", "[]".into()),
        ("null", "/", "null".into()),
        (
            "missing device_id",
            "/",
            with(good.clone(), "device_id", Value::Null).to_string(),
        ),
        (
            "missing store_id",
            "/",
            with(good.clone(), "store_id", Value::Null).to_string(),
        ),
        (
            "missing store_name",
            "/",
            with(good.clone(), "store_name", Value::Null).to_string(),
        ),
        (
            "missing rawdata",
            "/",
            with(good.clone(), "rawdata", Value::Null).to_string(),
        ),
        (
            "store_id a number",
            "/",
            with(good.clone(), "store_id", json!(12)).to_string(),
        ),
        (
            "rawdata an object",
            "/",
            with(good.clone(), "rawdata", json!({})).to_string(),
        ),
        (
            "attach a number",
            "/",
            with(good.clone(), "attach", json!(1)).to_string(),
        ),
        (
            "device_id too long",
            "/",
            with(good.clone(), "device_id", json!("d".repeat(33))).to_string(),
        ),
        (
            "device_id empty",
            "/",
            with(good.clone(), "device_id", json!("")).to_string(),
        ),
        (
            "store_id too long",
            "/",
            with(good.clone(), "store_id", json!("s".repeat(33))).to_string(),
        ),
        (
            "store_id empty",
            "/",
            with(good.clone(), "store_id", json!("")).to_string(),
        ),
        (
            "store_name too long",
            "/",
            with(good.clone(), "store_name", json!("店".repeat(129))).to_string(),
        ),
        (
            "store_name control char",
            "/",
            with(good.clone(), "store_name", json!("a\u{1}b")).to_string(),
        ),
        (
            "rawdata too long",
            "/",
            with(good.clone(), "rawdata", json!("r".repeat(2049))).to_string(),
        ),
        (
            "rawdata empty",
            "/",
            with(good.clone(), "rawdata", json!("")).to_string(),
        ),
        (
            "attach too long",
            "/",
            with(good.clone(), "attach", json!("a".repeat(2049))).to_string(),
        ),
        (
            "missing face_sid",
            "/real-name",
            with(rn.clone(), "face_sid", Value::Null).to_string(),
        ),
        (
            "missing device_id",
            "/real-name",
            with(rn.clone(), "device_id", Value::Null).to_string(),
        ),
        (
            "face_sid a number",
            "/real-name",
            with(rn.clone(), "face_sid", json!(5)).to_string(),
        ),
        (
            "info_type a bool",
            "/real-name",
            with(rn.clone(), "info_type", json!(true)).to_string(),
        ),
        (
            "unknown info_type",
            "/real-name",
            with(rn.clone(), "info_type", json!("ASK_EVERYTHING")).to_string(),
        ),
        (
            "lowercase info_type",
            "/real-name",
            with(rn.clone(), "info_type", json!("ask_real_name")).to_string(),
        ),
        (
            "face_sid too long",
            "/real-name",
            with(rn.clone(), "face_sid", json!("f".repeat(129))).to_string(),
        ),
        (
            "face_sid with a space",
            "/real-name",
            with(rn.clone(), "face_sid", json!("a b")).to_string(),
        ),
        (
            "face_sid empty",
            "/real-name",
            with(rn.clone(), "face_sid", json!("")).to_string(),
        ),
    ];
    let before = w.snapshot().await;
    let auth = w.bearer();
    for (what, path, body) in cases {
        let r = w.raw(Method::POST, path, Some(&auth), body).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{what}: {}",
            r.body
        );
    }
    let big = with(good.clone(), "attach", json!("a".repeat(17 * 1024))).to_string();
    let r = w.raw(Method::POST, "/", Some(&auth), big).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
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
        "store_id": "门".repeat(32),
        "store_name": "店".repeat(128),
        "rawdata": "r".repeat(2048),
        "attach": "{\"a\":1}",
    });
    let r = w.post("/", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A 128-character face_sid is sent (WeChat Pay does not know it).
    let r = w.real_name(&"f".repeat(128), None).await;
    assert_eq!(r.code(), "upstream_error", "{}", r.body);
    // Unknown extra fields are ignored; a null attach is no attach.
    let r = w.post("/", &json!({"device_id": DEVICE, "store_id": "s", "store_name": "n", "rawdata": "r", "attach": null, "extra": 1})).await;
    assert_eq!(r.status, 200, "{}", r.body);
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
