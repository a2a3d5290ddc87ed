use serde_json::json;
use std::time::{Duration, Instant};
use wechat_sim::{Fault, RunV1, SimConfig};

use crate::common::*;

fn fault(endpoint: &str) -> Fault {
    Fault {
        endpoint: endpoint.into(),
        ..Fault::default()
    }
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
    env.client
        .inject(&Fault {
            errcode: Some(-1),
            times: Some(1),
            ..fault("getverifyid")
        })
        .await;
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
    let vr = env
        .client
        .run_v1(&RunV1 {
            appid: APP.into(),
            openid: "o".into(),
            name: Some("张三".into()),
            id_card_number: Some("310101199801011234".into()),
            ..RunV1::default()
        })
        .await;
    env.client
        .inject(&Fault {
            errcode: Some(-1),
            times: Some(2),
            ..fault("getinfo")
        })
        .await;
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
    env.client
        .inject(&Fault {
            errcode: Some(45011),
            times: Some(1),
            ..fault("getuseridkey")
        })
        .await;
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
    env.client
        .inject(&Fault {
            status: Some(503),
            times: Some(1),
            ..fault("stable_token")
        })
        .await;
    let resp = env
        .http
        .post(format!("{}/cgi-bin/stable_token", env.base))
        .json(&json!({"grant_type": "client_credential", "appid": APP, "secret": SECRET}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 503);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
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
    env.client
        .inject(&Fault {
            delay_ms: Some(400),
            times: Some(1),
            ..fault("token")
        })
        .await;
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
    env.client
        .inject(&Fault {
            errcode: Some(-1),
            delay_ms: Some(200),
            times: Some(1),
            ..fault("stable_token")
        })
        .await;
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
    env.client
        .inject(&Fault {
            errcode: Some(-1),
            times: Some(1),
            ..fault("jscode2session")
        })
        .await;
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
    env.client
        .inject(&Fault {
            status: Some(500),
            times: Some(1),
            ..fault("token")
        })
        .await;
    let (status, _) = env
        .get(
            "/cgi-bin/token",
            &[
                ("grant_type", "client_credential"),
                ("appid", APP),
                ("secret", SECRET),
            ],
        )
        .await;
    assert_eq!(status, 500);
    env.client.advance_clock(400).await;
    assert_eq!(env.token_status(&token).await, 0);

    // getverifyid: a faulted call does not reserve the out_seq_no.
    env.client
        .inject(&Fault {
            errcode: Some(-1),
            times: Some(1),
            ..fault("getverifyid")
        })
        .await;
    let body = json!({
        "out_seq_no": "seq-fault-1",
        "cert_info": {"cert_type": "IDENTITY_CARD", "cert_name": "张三", "cert_no": "310101199801011234"},
        "openid": "o",
    });
    assert_err(&env.call(GETVERIFYID, &token, body.clone()).await, -1);
    assert_eq!(errcode(&env.call(GETVERIFYID, &token, body).await), 0);
}

#[tokio::test]
async fn fault_without_times_lasts_until_cleared() {
    let env = env().await;
    let token = env.token().await;
    env.client
        .inject(&Fault {
            errcode: Some(48001),
            ..fault("queryverifyinfo")
        })
        .await;
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
