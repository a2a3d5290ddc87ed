//! Device authentication: a bearer token whose SHA-256 is registered for the
//! request's device_id; anything else is 401, with nothing called or stored.

use lambda_http::http::Method;
use serde_json::json;

use crate::world::{DEVICE, OTHER_DEVICE, World};

fn sha256_of(s: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn only_the_registered_token_of_that_device_passes() {
    let w = World::new().await;
    let authinfo_body = World::authinfo_body("store-1", "raw").to_string();
    let real_name_body = json!({"device_id": DEVICE, "face_sid": "sid-1"}).to_string();
    let other_device_body = json!({
        "device_id": OTHER_DEVICE, "store_id": "s", "store_name": "n", "rawdata": "r"
    })
    .to_string();
    let unknown_device_body = json!({
        "device_id": "kiosk-999", "store_id": "s", "store_name": "n", "rawdata": "r"
    })
    .to_string();
    let good = w.bearer();
    let other = format!("Bearer {}", w.other_token);
    // The last hex digit replaced by a different one.
    let last = if w.token.ends_with('0') { '1' } else { '0' };
    let changed = format!("{}{last}", &w.token[..w.token.len() - 1]);
    let cases: Vec<(&str, Option<String>, &str, &str)> = vec![
        ("no Authorization", None, "/", &authinfo_body),
        ("no Authorization", None, "/real-name", &real_name_body),
        ("empty", Some(String::new()), "/", &authinfo_body),
        (
            "Basic scheme",
            Some(format!("Basic {}", w.token)),
            "/",
            &authinfo_body,
        ),
        ("bare token", Some(w.token.clone()), "/", &authinfo_body),
        (
            "wrong token",
            Some("Bearer not-the-token".into()),
            "/",
            &authinfo_body,
        ),
        (
            "wrong token",
            Some("Bearer not-the-token".into()),
            "/real-name",
            &real_name_body,
        ),
        (
            "token with a character changed",
            Some(format!("Bearer {changed}")),
            "/",
            &authinfo_body,
        ),
        (
            "the token's SHA-256 itself",
            Some(format!("Bearer {}", sha256_of(&w.token))),
            "/",
            &authinfo_body,
        ),
        (
            "another device's token",
            Some(other.clone()),
            "/",
            &authinfo_body,
        ),
        (
            "another device's token",
            Some(other),
            "/real-name",
            &real_name_body,
        ),
        (
            "this token for another device",
            Some(good.clone()),
            "/",
            &other_device_body,
        ),
        ("unknown device", Some(good), "/", &unknown_device_body),
    ];
    let before = w.snapshot().await;
    for (what, auth, path, body) in cases {
        let r = w
            .raw(Method::POST, path, auth.as_deref(), body.to_string())
            .await;
        r.assert_error_in(401, "unauthorized", &format!("{what} {path}"));
        assert_eq!(r.headers["www-authenticate"], "Bearer", "{what}");
    }
    assert_eq!(w.snapshot().await, before, "nothing stored");
    assert_eq!(
        w.pay.counters().await.values().sum::<u64>(),
        0,
        "WeChat Pay never called"
    );

    // The other device with its own token is fine; scheme is case-insensitive.
    let r = w
        .raw(
            Method::POST,
            "/",
            Some(&format!("bearer {}", w.other_token)),
            other_device_body,
        )
        .await;
    r.assert_status(200);
}

#[tokio::test]
async fn a_missing_token_is_refused_before_the_body_is_read() {
    let w = World::new().await;
    let r = w.raw(Method::POST, "/", None, "not json").await;
    assert_eq!(r.status, 401);
    // With a token, a bad body is the caller's mistake: 400.
    let r = w
        .raw(Method::POST, "/", Some("Bearer whatever"), "not json")
        .await;
    r.assert_error(400, "invalid_request");
}
