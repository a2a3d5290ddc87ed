//! WeChat or AWS failing mid-request: a clear 5xx, nothing lost, and the
//! same call succeeds once the failure is over.

use lambda_http::http::Method;
use serde_json::json;
use wechat_sim::Fault;
use wxface_harness::fixtures::person;

use crate::world::{Function, Reply, World};

fn assert_unavailable(r: &Reply) {
    assert_eq!(
        (r.status, r.code()),
        (503, "upstream_unavailable"),
        "{}",
        r.body
    );
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
}

#[tokio::test]
async fn wechat_unreachable_is_503_with_retry_after() {
    let w = World::new().await;
    let down = w.instance_with(|s| s.wechat_api_base = "http://127.0.0.1:9".into());
    let p = person(0);
    let body = json!({"code": "some-code", "name": p.name, "id_card_number": p.id_card_number});
    let r = w
        .raw(
            &down,
            Function::IssueKey,
            Method::POST,
            "/",
            body.to_string(),
        )
        .await;
    assert_unavailable(&r);
}

#[tokio::test]
async fn slow_wechat_is_503_and_the_session_stays_usable() {
    let w = World::new().await;
    let issued = w.issue_ok("o-a", person(0), "v2").await;
    w.face_v2("o-a", &issued, 10000).await;
    w.wx.inject(&Fault {
        endpoint: "queryverifyinfo".into(),
        delay_ms: Some(2000),
        ..Default::default()
    })
    .await;
    let r = w.verify("o-a", &issued["out_seq_no"], None).await;
    assert_unavailable(&r);
    // Reads are safe to retry: three attempts, all too slow.
    assert_eq!(w.count("queryverifyinfo").await, 3);
    w.wx.clear_faults().await;
    let r = w.verify("o-a", &issued["out_seq_no"], None).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
}

#[tokio::test]
async fn busy_wechat_is_retried_a_bounded_number_of_times() {
    let w = World::new().await;
    let issued = w.issue_ok("o-a", person(1), "v1").await;
    let vr = w.face_v1("o-a", &issued, |_| {}).await;
    // Two -1 answers, then success: retried.
    w.wx.inject(&Fault {
        endpoint: "getinfo".into(),
        errcode: Some(-1),
        times: Some(2),
        ..Default::default()
    })
    .await;
    let r = w.verify("o-a", &issued["out_seq_no"], Some(&vr)).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
    assert_eq!(w.count("getinfo").await, 3);

    // Busy every time: 503 after three attempts.
    let issued = w.issue_ok("o-a", person(1), "v1").await;
    let vr = w.face_v1("o-a", &issued, |_| {}).await;
    w.wx.reset_counters().await;
    w.wx.inject(&Fault {
        endpoint: "getinfo".into(),
        errcode: Some(-1),
        ..Default::default()
    })
    .await;
    let r = w.verify("o-a", &issued["out_seq_no"], Some(&vr)).await;
    assert_unavailable(&r);
    assert_eq!(w.count("getinfo").await, 3);
    w.wx.clear_faults().await;
    let r = w.verify("o-a", &issued["out_seq_no"], Some(&vr)).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
}

#[tokio::test]
async fn a_5xx_on_a_call_that_creates_something_is_not_repeated() {
    let w = World::new().await;
    w.issue_ok("o-a", person(2), "v2").await; // warm the token
    let before = w.snapshot().await;
    w.wx.reset_counters().await;
    w.wx.inject(&Fault {
        endpoint: "getverifyid".into(),
        status: Some(502),
        ..Default::default()
    })
    .await;
    let r = w.issue("o-a", person(2), "v2").await;
    assert_unavailable(&r);
    assert_eq!(w.count("getverifyid").await, 1);
    // Only the rate-limit counter moved; no session was stored.
    let after = w.snapshot().await;
    assert_eq!(
        after
            .iter()
            .filter(|i| i.contains("kind=S(\"session\")"))
            .count(),
        before
            .iter()
            .filter(|i| i.contains("kind=S(\"session\")"))
            .count()
    );
    w.wx.clear_faults().await;
    assert_eq!(w.issue("o-a", person(2), "v2").await.status, 200);
}

#[tokio::test]
async fn storage_failing_after_wechat_answered_loses_nothing() {
    let w = World::new().await;
    w.issue_ok("o-warm", person(3), "v2").await; // the token is in the secret
    w.wx.reset_counters().await;
    // The table is gone for this instance: WeChat is asked, the write fails.
    let broken = w.instance_with(|s| {
        s.sessions_table = "no-such-table".into();
        s.issue_key_limit_per_hour = 0;
    });
    let p = person(3);
    let code = w.code("o-a").await;
    let body = json!({"code": code, "name": p.name, "id_card_number": p.id_card_number});
    let r = w
        .raw(
            &broken,
            Function::IssueKey,
            Method::POST,
            "/",
            body.to_string(),
        )
        .await;
    assert_unavailable(&r);
    assert_eq!(w.count("getverifyid").await, 1);
    // The client simply starts again.
    assert_eq!(w.issue("o-a", p, "v2").await.status, 200);
}

#[tokio::test]
async fn a_broken_app_secret_is_a_500_that_names_nothing() {
    let w = World::new().await;
    let sm = aws_sdk_secretsmanager::Client::new(&w.aws);
    wxface_harness::secrets::put_secret(
        &sm,
        &w.app_secret_id,
        r#"{"appid":"wx1","appsecret":"s"}"#,
    )
    .await
    .unwrap();
    let cold = w.cold_instance();
    let p = person(4);
    let body = json!({"code": "c", "name": p.name, "id_card_number": p.id_card_number});
    let r = w
        .raw(
            &cold,
            Function::IssueKey,
            Method::POST,
            "/",
            body.to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (500, "configuration_error"),
        "{}",
        r.body
    );
    assert!(
        !r.body.to_string().contains("data_key"),
        "field named only in the log"
    );
    assert_eq!(w.total_wechat_calls().await, 0);
}
