use serde_json::json;
use std::time::{Duration, Instant};
use wechat_sim::{Fault, SimConfig};

use crate::common::*;

/// A fault for `endpoint`'s next `times` calls (`None`: until cleared).
fn fault(endpoint: &str, times: Option<u32>) -> Fault {
    Fault {
        endpoint: endpoint.into(),
        times,
        ..Fault::default()
    }
}

/// Queues a fault answering `errcode`.
async fn inject_errcode(env: &Env, endpoint: &str, errcode: i64, times: Option<u32>) {
    let f = Fault {
        errcode: Some(errcode),
        ..fault(endpoint, times)
    };
    env.client.inject(&f).await;
}

/// Queues a fault answering HTTP `status`.
async fn inject_status(env: &Env, endpoint: &str, status: u16, times: Option<u32>) {
    let f = Fault {
        status: Some(status),
        ..fault(endpoint, times)
    };
    env.client.inject(&f).await;
}

#[tokio::test]
async fn counters_count_every_call() {
    let env = env().await;
    let counters = env.client.counters().await;
    let names: Vec<&str> = counters.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "getinfo",
            "getuseridkey",
            "getverifyid",
            "jscode2session",
            "push",
            "push_protocol_error",
            "queryverifyinfo",
            "stable_token",
            "token"
        ]
    );
    assert!(counters.values().all(|&n| n == 0));

    let token = env.token().await;
    env.token().await;
    env.plain_token().await;
    // Errors count too: bad token, bad body.
    env.post_raw(GETINFO, Some("garbage"), "{}").await;
    env.post_raw(GETINFO, Some(&token), "{").await;
    env.call(GETINFO, &token, json!({"verify_result": "x"}))
        .await;
    inject_errcode(&env, "getverifyid", -1, Some(1)).await;
    env.call(GETVERIFYID, &token, json!({})).await;

    assert_eq!(env.client.count("stable_token").await, 2);
    assert_eq!(env.client.count("token").await, 1);
    assert_eq!(env.client.count("getinfo").await, 3);
    assert_eq!(
        env.client.count("getverifyid").await,
        1,
        "faulted calls count"
    );
    assert_eq!(env.client.count("jscode2session").await, 0);
    assert_eq!(env.client.count("no-such-endpoint").await, 0);

    env.client.reset_counters().await;
    assert!(env.client.counters().await.values().all(|&n| n == 0));
    env.call(GETINFO, &token, json!({"verify_result": "x"}))
        .await;
    assert_eq!(env.client.count("getinfo").await, 1);
}

#[tokio::test]
async fn errcode_fault_applies_for_n_calls() {
    let env = env().await;
    let token = env.token().await;
    let vr = env.client.run_v1(&named_run("o", NAME, ID)).await;
    inject_errcode(&env, "getinfo", -1, Some(2)).await;
    for _ in 0..2 {
        let v = env
            .call(GETINFO, &token, json!({"verify_result": vr}))
            .await;
        assert_err(&v, -1);
        assert!(v.get("identify_ret").is_none());
    }
    let v = env
        .call(GETINFO, &token, json!({"verify_result": vr}))
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["identify_ret"], 0);
}

#[tokio::test]
async fn faults_apply_before_token_checks_and_only_to_their_endpoint() {
    let env = env().await;
    inject_errcode(&env, "getuseridkey", 45011, Some(1)).await;
    // Even a missing token gets the fault: it applies before anything else.
    let (_, v) = env.post_raw(GETUSERIDKEY, None, "{}").await;
    assert_err(&v, 45011);
    let (_, v) = env.post_raw(GETINFO, None, "{}").await;
    assert_err(&v, 41001);
    let (_, v) = env.post_raw(GETUSERIDKEY, None, "{}").await;
    assert_err(&v, 41001);
}

#[tokio::test]
async fn status_fault_answers_plain_http_error() {
    let env = env().await;
    inject_status(&env, "stable_token", 503, Some(1)).await;
    let resp = env
        .http
        .post(format!("{}/cgi-bin/stable_token", env.base))
        .json(&json!({"grant_type": "client_credential", "appid": APP, "secret": SECRET}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 503);
    let ct = resp.headers().get("content-type").cloned();
    let text_plain = ct.as_ref().and_then(|h| h.to_str().ok());
    assert!(
        text_plain.is_some_and(|c| c.starts_with("text/plain")),
        "{ct:?}"
    );
    let body = resp.text().await.expect("body");
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_err(),
        "{body}"
    );
    // Next call is normal.
    assert!(env.token().await.len() > 50);
}

#[tokio::test]
async fn delay_fault_is_slow_then_normal() {
    let env = env().await;
    let f = Fault {
        delay_ms: Some(400),
        ..fault("token", Some(1))
    };
    env.client.inject(&f).await;
    let started = Instant::now();
    let v = env.plain_token_for(APP, SECRET).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(v["access_token"].is_string(), "{v}");
    let started = Instant::now();
    env.plain_token().await;
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn delay_with_errcode() {
    let env = env().await;
    let f = Fault {
        errcode: Some(-1),
        delay_ms: Some(200),
        ..fault("stable_token", Some(1))
    };
    env.client.inject(&f).await;
    let started = Instant::now();
    let v = env.stable(APP, SECRET, false).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_err(&v, -1);
}

#[tokio::test]
async fn faulted_calls_change_no_state() {
    let env = env().await;
    // jscode2session: the code survives a faulted exchange.
    let code = env.client.login(APP, "openid-f").await;
    inject_errcode(&env, "jscode2session", -1, Some(1)).await;
    let query = [
        ("appid", APP),
        ("secret", SECRET),
        ("js_code", code.as_str()),
        ("grant_type", "authorization_code"),
    ];
    let (_, v) = env.get("/sns/jscode2session", &query).await;
    assert_err(&v, -1);
    let (_, v) = env.get("/sns/jscode2session", &query).await;
    assert_eq!(v["openid"], "openid-f", "{v}");

    // /cgi-bin/token: a faulted call does not supersede the current token.
    let token = env.plain_token().await;
    inject_status(&env, "token", 500, Some(1)).await;
    let (status, _) = env.plain_token_raw(APP, SECRET).await;
    assert_eq!(status, 500);
    assert_eq!(env.token_status_after(400, &token).await, 0);

    // getverifyid: a faulted call does not reserve the out_seq_no.
    inject_errcode(&env, "getverifyid", -1, Some(1)).await;
    let body = json!({
        "out_seq_no": "seq-fault-1",
        "cert_info": {"cert_type": "IDENTITY_CARD", "cert_name": NAME, "cert_no": ID},
        "openid": "o",
    });
    assert_err(&env.call(GETVERIFYID, &token, body.clone()).await, -1);
    assert_eq!(errcode(&env.call(GETVERIFYID, &token, body).await), 0);
}

#[tokio::test]
async fn fault_without_times_lasts_until_cleared() {
    let env = env().await;
    let token = env.token().await;
    inject_errcode(&env, "queryverifyinfo", 48001, None).await;
    for _ in 0..4 {
        assert_err(&env.call(QUERYVERIFYINFO, &token, json!({})).await, 48001);
    }
    env.client.clear_faults().await;
    assert_err(&env.call(QUERYVERIFYINFO, &token, json!({})).await, 40097);
}

#[tokio::test]
async fn bad_fault_requests_are_refused() {
    let env = env().await;
    for body in [
        json!({"endpoint": "getimage", "errcode": -1}),
        json!({"endpoint": "getinfo"}),
        json!({"endpoint": "getinfo", "errcode": -1, "status": 503}),
        json!({"endpoint": "getinfo", "errcode": -1, "times": 0}),
        json!({"errcode": -1}),
    ] {
        let (status, v) = env.post_raw("/__sim/faults", None, &body.to_string()).await;
        assert_eq!(status, 400, "{body} → {v}");
    }
}

#[tokio::test]
async fn jitter_delays_every_wechat_call() {
    let env = env().await;
    env.client.set_jitter(150, 200).await;
    let started = Instant::now();
    env.token().await;
    let (_, _) = env.get("/sns/jscode2session", &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Hooks are not delayed.
    let started = Instant::now();
    env.client.count("token").await;
    assert!(started.elapsed() < Duration::from_millis(150));
    env.client.set_jitter(0, 0).await;
    let started = Instant::now();
    env.token().await;
    assert!(started.elapsed() < Duration::from_millis(150));

    let (status, _) = env
        .post_raw("/__sim/jitter", None, r#"{"min_ms":10,"max_ms":5}"#)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn clock_hook_advances_simulated_time() {
    let env = env().await;
    let before = env.client.now().await;
    env.client.advance_clock(86_400).await;
    let after = env.client.now().await;
    assert!(after >= before + 86_400 && after <= before + 86_402);
    let (status, _) = env
        .post_raw("/__sim/clock", None, r#"{"advance_secs":-5}"#)
        .await;
    assert_eq!(status, 400, "time never goes back");
    let (status, _) = env
        .post_raw(
            "/__sim/clock",
            None,
            &format!(r#"{{"advance_secs":{}}}"#, u64::MAX),
        )
        .await;
    assert_eq!(status, 400, "absurd advances are refused");
    // And the simulator still works.
    assert!(env.token().await.len() > 50);
}

#[tokio::test]
async fn config_hook_validates() {
    let env = env().await;
    let (status, v) = env
        .post_raw("/__sim/config", None, r#"{"getinfo_single_use":true}"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["getinfo_single_use"], true);
    assert_eq!(v["pending_verify_ret"], 10300);
    let (status, _) = env
        .post_raw("/__sim/config", None, r#"{"pending_verify_ret":0}"#)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn start_rejects_invalid_config() {
    let config = SimConfig {
        apps: vec![],
        ..SimConfig::default()
    };
    let err = wechat_sim::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let env = env().await;
    let base = env.sim.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    env.token().await;
    env.sim.shutdown().await;
    let result = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{base}/__sim/counters"))
        .send()
        .await;
    assert!(result.is_err(), "server still answering after shutdown");
}
