use serde_json::{Value, json};
use wechat_sim::SimConfig;

use crate::common::*;

#[tokio::test]
async fn plain_token_rotates_and_old_one_gets_300s() {
    let env = env().await;
    let first = env.plain_token_for(APP, SECRET).await;
    // Success is {"access_token","expires_in"} only.
    assert!(first.get("errcode").is_none(), "{first}");
    assert_eq!(first["expires_in"], 7200);
    let a = first["access_token"].as_str().expect("token").to_owned();
    assert!(a.len() >= 100, "token looks too short: {a}");

    let b = env.plain_token().await;
    assert_ne!(a, b, "every /cgi-bin/token call issues a new token");
    assert_eq!(
        env.token_status(&a).await,
        0,
        "old token valid during grace"
    );

    assert_eq!(env.token_status_after(290, &a).await, 0);
    assert_eq!(
        env.token_status_after(20, &a).await,
        40001,
        "superseded past grace"
    );
    assert_eq!(env.token_status(&b).await, 0);

    // The newest one expires after its lifetime.
    assert_eq!(env.token_status_after(7200, &b).await, 42001);
}

#[tokio::test]
async fn plain_token_errors() {
    let env = env().await;
    let cases: [(&[(&str, &str)], i64); 6] = [
        (&[("appid", APP), ("secret", SECRET)], 40002),
        (
            &[
                ("grant_type", "authorization_code"),
                ("appid", APP),
                ("secret", SECRET),
            ],
            40002,
        ),
        (
            &[("grant_type", "client_credential"), ("secret", SECRET)],
            41002,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("appid", "wxunknown"),
                ("secret", SECRET),
            ],
            40013,
        ),
        (
            &[("grant_type", "client_credential"), ("appid", APP)],
            41004,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("appid", APP),
                ("secret", OTHER_SECRET),
            ],
            40125,
        ),
    ];
    for (query, code) in cases {
        let (status, v) = env.get("/cgi-bin/token", query).await;
        assert_eq!(status, 200);
        assert_err(&v, code);
        assert!(v.get("access_token").is_none());
    }
}

#[tokio::test]
async fn stable_token_normal_mode_reuses_then_renews_in_last_300s() {
    let env = env().await;
    let first = env.stable(APP, SECRET, false).await;
    assert!(first.get("errcode").is_none(), "{first}");
    assert_eq!(first["expires_in"], 7200);
    let a = first["access_token"].as_str().expect("token").to_owned();

    env.client.advance_clock(1000).await;
    let again = env.stable(APP, SECRET, false).await;
    assert_eq!(again["access_token"], a.as_str(), "normal mode: same token");
    let left = again["expires_in"].as_u64().expect("expires_in");
    assert!((6195..=6200).contains(&left), "expires_in {left}");

    // 7200 - 1000 - 5890 = 310 s left: still the same token.
    env.client.advance_clock(5890).await;
    let still = env.stable(APP, SECRET, false).await;
    assert_eq!(still["access_token"], a.as_str());
    assert!(still["expires_in"].as_u64().expect("expires_in") >= 300);

    // Into the last 300 s: a new token, both valid.
    env.client.advance_clock(20).await;
    let renewed = env.stable(APP, SECRET, false).await;
    let b = renewed["access_token"].as_str().expect("token").to_owned();
    assert_ne!(a, b);
    assert_eq!(renewed["expires_in"], 7200);
    assert_eq!(env.token_status(&a).await, 0);
    assert_eq!(env.token_status(&b).await, 0);

    // The old token dies at its own expiry.
    assert_eq!(env.token_status_after(300, &a).await, 42001);
    assert_eq!(env.token_status(&b).await, 0);
    let same = env.stable(APP, SECRET, false).await;
    assert_eq!(same["access_token"], b.as_str());
}

#[tokio::test]
async fn stable_and_plain_tokens_are_isolated() {
    let env = env().await;
    let stable = env.token().await;
    let plain = env.plain_token().await;
    env.plain_token().await;
    env.client.advance_clock(400).await;
    assert_eq!(
        env.token_status(&stable).await,
        0,
        "plain calls do not touch stable"
    );
    assert_eq!(env.token_status(&plain).await, 40001);
    assert_eq!(env.token().await, stable);
    // And a forced stable refresh does not touch the plain token.
    let plain2 = env.plain_token().await;
    env.stable(APP, SECRET, true).await;
    assert_eq!(env.token_status(&plain2).await, 0);
}

#[tokio::test]
async fn stable_tokens_are_per_app() {
    let env = env().await;
    let a = env.token().await;
    let b = env.other_token().await;
    assert_ne!(a, b);
    env.stable(OTHER_APP, OTHER_SECRET, true).await;
    assert_eq!(env.token_status(&a).await, 0);
    assert_eq!(env.token_status(&b).await, 40001);
}

#[tokio::test]
async fn force_refresh_kills_old_token_and_respects_30s_spacing() {
    let env = env().await;
    let a = env.token().await;
    let forced = env.stable(APP, SECRET, true).await;
    let b = forced["access_token"].as_str().expect("token").to_owned();
    assert_ne!(a, b);
    assert_eq!(forced["expires_in"], 7200);
    assert_eq!(
        env.token_status(&a).await,
        40001,
        "force kills the old token at once"
    );
    assert_eq!(env.token_status(&b).await, 0);

    // Within 30 s a force call does not refresh.
    env.client.advance_clock(10).await;
    let again = env.stable(APP, SECRET, true).await;
    assert_eq!(again["access_token"], b.as_str());
    assert_eq!(env.token_status(&b).await, 0);

    env.client.advance_clock(25).await;
    let third = env.stable(APP, SECRET, true).await;
    assert_ne!(third["access_token"], b.as_str());
    assert_eq!(env.token_status(&b).await, 40001);
}

#[tokio::test]
async fn force_refresh_is_limited_to_20_a_day() {
    let env = env().await;
    // Start just after a Beijing (UTC+8) midnight so the 20 refreshes below
    // cannot straddle two quota days.
    let now = env.client.now().await;
    let into_day = (now + 8 * 3600) % 86_400;
    env.client.advance_clock(86_400 - into_day + 5).await;
    let mut last = String::new();
    for i in 0..20 {
        let v = env.stable(APP, SECRET, true).await;
        assert!(v.get("errcode").is_none(), "call {i}: {v}");
        let t = v["access_token"].as_str().expect("token").to_owned();
        assert_ne!(t, last, "call {i} refreshed");
        last = t;
        env.client.advance_clock(31).await;
    }
    let v = env.stable(APP, SECRET, true).await;
    assert_err(&v, 45009);
    // The current token survives a refused refresh, and normal mode works.
    assert_eq!(env.token_status(&last).await, 0);
    assert_eq!(env.token().await, last);
    // A day later the quota is back.
    env.client.advance_clock(86_400).await;
    let v = env.stable(APP, SECRET, true).await;
    assert!(v.get("errcode").is_none(), "{v}");
}

#[tokio::test]
async fn stable_token_request_errors() {
    let env = env().await;
    for (body, code) in [("{not json", 47001), ("", 44002), ("[1,2]", 47001)] {
        let (_, v) = env.post_raw("/cgi-bin/stable_token", None, body).await;
        assert_err(&v, code);
    }
    let valid = json!({"grant_type": "client_credential", "appid": APP, "secret": SECRET});
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    for (body, code) in [
        (with("force_refresh", json!("yes")), 47001),
        (with("grant_type", json!("password")), 40002),
        (without("appid"), 41002),
        (with("appid", json!("wxnope")), 40013),
        (without("secret"), 41004),
        (with("secret", json!("wrong")), 40125),
    ] {
        assert_err(&env.stable_token_raw(body).await, code);
    }
    // force_refresh omitted = normal mode.
    let v = env.stable_token_raw(valid).await;
    assert!(v["access_token"].is_string(), "{v}");
}

#[tokio::test]
async fn business_endpoints_check_the_token() {
    let env = env().await;
    let body = json!({"verify_result": "x"}).to_string();
    for path in [GETUSERIDKEY, GETINFO, GETVERIFYID, QUERYVERIFYINFO] {
        let (status, v) = env.post_raw(path, None, &body).await;
        assert_eq!(status, 200);
        assert_err(&v, 41001);
        let (_, v) = env.post_raw(path, Some(""), &body).await;
        assert_err(&v, 41001);
        let (_, v) = env.post_raw(path, Some("not-a-token"), &body).await;
        assert_err(&v, 40014);
    }
    // Token checks come before body parsing.
    let (_, v) = env.post_raw(GETINFO, Some("not-a-token"), "{bad").await;
    assert_err(&v, 40014);
    let token = env.token().await;
    env.client.advance_clock(7205).await;
    for path in [GETUSERIDKEY, GETINFO, GETVERIFYID, QUERYVERIFYINFO] {
        let (_, v) = env.post_raw(path, Some(&token), &body).await;
        assert_err(&v, 42001);
    }
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let env = env_with(SimConfig {
        token_ttl_secs: 600,
        ..SimConfig::default()
    })
    .await;
    let v = env.stable(APP, SECRET, false).await;
    assert_eq!(v["expires_in"], 600);
    let v = env.plain_token_for(APP, SECRET).await;
    assert_eq!(v["expires_in"], 600);
    let t = v["access_token"].as_str().expect("token").to_owned();
    assert_eq!(env.token_status_after(590, &t).await, 0);
    assert_eq!(env.token_status_after(20, &t).await, 42001);
}

#[tokio::test]
async fn wrong_method_and_unknown_path_answer_like_wechat() {
    let env = env().await;
    let (status, v) = env.get(GETINFO, &[]).await;
    assert_eq!(status, 200);
    assert_err(&v, 43002);
    let (_, v) = env.post_raw("/cgi-bin/token", None, "{}").await;
    assert_err(&v, 43001);
    let (_, v) = env.get("/sns/jsCode2Session", &[]).await;
    assert_err(&v, 40066);
    let (status, _) = env.get("/__sim/nope", &[]).await;
    assert_eq!(status, 404);
    // Wrong methods are not calls that reached an endpoint.
    assert_eq!(env.client.count("getinfo").await, 0);
}
