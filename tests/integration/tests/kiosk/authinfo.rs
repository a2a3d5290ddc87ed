//! `POST /`: get_wxpayface_authinfo, signed both ways, and its cache.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::world::{KeyMode, Options, World};

#[tokio::test]
async fn authinfo_with_each_sign_type_and_key_mode() {
    for sign_type in ["MD5", "HMAC-SHA256"] {
        for key_mode in [KeyMode::PublicKey, KeyMode::PlatformCert] {
            let w = World::with(Options::new(sign_type, key_mode)).await;
            let r = w.authinfo("store-1", "rawdata-1").await;
            assert_eq!(r.status, 200, "{sign_type} {key_mode:?}: {}", r.body);
            let obj = r.body.as_object().expect("object");
            assert_eq!(obj.len(), 2, "exactly authinfo and expires_in: {}", r.body);
            assert_eq!(r.body["expires_in"], 7200);
            let authinfo = r.body["authinfo"].as_str().expect("authinfo");
            assert!(w.pay.authinfo_valid(authinfo).await, "issued by WeChat Pay");
            assert_eq!(w.authinfo_calls().await, 1);
            assert_eq!(r.headers["cache-control"], "no-store");
            // One cache item, with its TTL, and nothing of the rawdata.
            let cached = w.items_with_prefix("authinfo#").await;
            assert_eq!(cached.len(), 1);
            let item = &cached[0];
            let valid_until: i64 = item["valid_until"].as_n().unwrap().parse().unwrap();
            assert_eq!(
                item["expires_at"],
                AttributeValue::N(valid_until.to_string())
            );
            assert_eq!(valid_until, w.now() + 7200);
            assert!(!w.snapshot().await.join("").contains("rawdata-1"));
        }
    }
}

#[tokio::test]
async fn a_busy_kiosk_reuses_its_authinfo_until_shortly_before_expiry() {
    let w = World::new().await;
    let first = w.authinfo("store-1", "raw-a").await;
    first.assert_status(200);
    // New rawdata each scan, same device and parameters: a cache hit.
    for (i, raw) in ["raw-b", "raw-c", "raw-d"].iter().enumerate() {
        w.clock.advance(1000);
        let r = w.authinfo("store-1", raw).await;
        assert_eq!(r.body["authinfo"], first.body["authinfo"]);
        assert_eq!(
            r.body["expires_in"],
            7200 - 1000 * (i as i64 + 1),
            "time left"
        );
    }
    assert_eq!(w.authinfo_calls().await, 1, "WeChat Pay called once");
    // Another instance (cold container) reads the same cache.
    let cold = w.instance_with(|_| {});
    let body = World::authinfo_body("store-1", "raw-e");
    let r = w.post_on(&cold, "/", &body).await;
    assert_eq!(r.body["authinfo"], first.body["authinfo"]);
    assert_eq!(w.authinfo_calls().await, 1);

    // Other parameters are another authinfo.
    let other = w.authinfo("store-2", "raw-a").await;
    assert_ne!(other.body["authinfo"], first.body["authinfo"]);
    assert_eq!(w.authinfo_calls().await, 2);

    // 80 % of 7200 s is 5760 s: at 5759 s still reused, at 5760 s renewed.
    w.clock.advance(5759 - 3000);
    let r = w.authinfo("store-1", "raw-f").await;
    assert_eq!(r.body["authinfo"], first.body["authinfo"]);
    assert_eq!(r.body["expires_in"], 7200 - 5759);
    w.clock.advance(1);
    let renewed = w.authinfo("store-1", "raw-g").await;
    assert_eq!(renewed.status, 200);
    assert_ne!(renewed.body["authinfo"], first.body["authinfo"]);
    assert_eq!(renewed.body["expires_in"], 7200);
    assert_eq!(w.authinfo_calls().await, 3);
    // The renewed one is cached in place of the old.
    let r = w.authinfo("store-1", "raw-h").await;
    assert_eq!(r.body["authinfo"], renewed.body["authinfo"]);
    assert_eq!(w.authinfo_calls().await, 3);
}

#[tokio::test]
async fn devices_do_not_share_authinfos() {
    let w = World::new().await;
    let a = w.authinfo("store-1", "raw").await;
    let mut body = World::authinfo_body("store-1", "raw");
    body["device_id"] = "kiosk-002".into();
    let auth = format!("Bearer {}", w.other_token);
    let b = w
        .raw(
            lambda_http::http::Method::POST,
            "/",
            Some(&auth),
            body.to_string(),
        )
        .await;
    b.assert_status(200);
    assert_ne!(a.body["authinfo"], b.body["authinfo"]);
    assert_eq!(w.authinfo_calls().await, 2);
}

#[tokio::test]
async fn a_shorter_lifetime_from_wechat_pay_is_honoured() {
    let w = World::new().await;
    w.pay
        .configure(&wechatpay_sim::SimSettings {
            authinfo_expires_in: Some(3600),
            ..Default::default()
        })
        .await;
    let r = w.authinfo("store-1", "raw").await;
    assert_eq!(r.body["expires_in"], 3600);
    w.clock.advance(2880); // 80 % of 3600
    let r2 = w.authinfo("store-1", "raw").await;
    assert_ne!(r2.body["authinfo"], r.body["authinfo"]);
}

#[tokio::test]
async fn attach_is_sent_signed_and_part_of_the_cache_key() {
    let w = World::with(Options::new("MD5", KeyMode::PublicKey)).await;
    let mut body = World::authinfo_body("store-1", "raw");
    body["attach"] = serde_json::json!("{\"dept\":\"内科\",\"x\":\"<&>\"}");
    let a = w.post("/", &body).await;
    a.assert_status(200);
    let b = w.authinfo("store-1", "raw").await;
    assert_ne!(a.body["authinfo"], b.body["authinfo"]);
    // Empty attach is no attach.
    body["attach"] = serde_json::json!("");
    let c = w.post("/", &body).await;
    assert_eq!(c.body["authinfo"], b.body["authinfo"]);
    assert_eq!(w.authinfo_calls().await, 2);
}
