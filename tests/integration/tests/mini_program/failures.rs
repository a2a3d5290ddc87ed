//! WeChat or AWS failing mid-request: a clear 5xx, nothing lost, and the
//! same call succeeds once the failure is over.

use wechat_sim::Fault;
use wxface::upstream::Upstream;
use wxface_harness::fixtures::person;

use crate::world::{Function, World};

/// A fault of `endpoint`, as `set` describes it.
fn fault(endpoint: Upstream, set: impl FnOnce(&mut Fault)) -> Fault {
    let mut f = Fault {
        endpoint: endpoint.name().into(),
        ..Default::default()
    };
    set(&mut f);
    f
}

#[tokio::test]
async fn wechat_unreachable_is_503_with_retry_after() {
    let w = World::new().await;
    let down = w.instance_with(|s| s.wechat_api_base = "http://127.0.0.1:9".into());
    let body = World::issue_request("some-code", person(0));
    let r = w.post_on(&down, Function::IssueKey, &body).await;
    r.assert_unavailable();
}

#[tokio::test]
async fn slow_wechat_is_503_and_the_session_stays_usable() {
    let w = World::new().await;
    let issued = w.issue_ok("o-a", person(0), "v2").await;
    w.face_v2("o-a", &issued, 10000).await;
    let slow = fault(Upstream::Queryverifyinfo, |f| f.delay_ms = Some(2000));
    w.wx.inject(&slow).await;
    let r = w.verify("o-a", &issued["out_seq_no"], None).await;
    r.assert_unavailable();
    // Reads are safe to retry: three attempts, all too slow.
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        3
    );
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
    let twice = fault(Upstream::Getinfo, |f| {
        f.errcode = Some(-1);
        f.times = Some(2);
    });
    w.wx.inject(&twice).await;
    let r = w.verify("o-a", &issued["out_seq_no"], Some(&vr)).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
    assert_eq!(w.count(wxface::upstream::Upstream::Getinfo).await, 3);

    // Busy every time: 503 after three attempts.
    let issued = w.issue_ok("o-a", person(1), "v1").await;
    let vr = w.face_v1("o-a", &issued, |_| {}).await;
    w.wx.reset_counters().await;
    w.wx.inject(&fault(Upstream::Getinfo, |f| f.errcode = Some(-1)))
        .await;
    let r = w.verify("o-a", &issued["out_seq_no"], Some(&vr)).await;
    r.assert_unavailable();
    assert_eq!(w.count(wxface::upstream::Upstream::Getinfo).await, 3);
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
    w.wx.inject(&fault(Upstream::Getverifyid, |f| f.status = Some(502)))
        .await;
    let r = w.issue("o-a", person(2), "v2").await;
    r.assert_unavailable();
    assert_eq!(w.count(wxface::upstream::Upstream::Getverifyid).await, 1);
    // Only the rate-limit counter moved; no session was stored.
    let sessions = |items: &[String]| {
        let session = "kind=S(\"session\")";
        items.iter().filter(|i| i.contains(session)).count()
    };
    assert_eq!(sessions(&w.snapshot().await), sessions(&before));
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
    let body = World::issue_request(&w.code("o-a").await, p);
    let r = w.post_on(&broken, Function::IssueKey, &body).await;
    r.assert_unavailable();
    assert_eq!(w.count(wxface::upstream::Upstream::Getverifyid).await, 1);
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
    let body = World::issue_request("c", person(4));
    let r = w.post_on(&cold, Function::IssueKey, &body).await;
    r.assert_error(500, "configuration_error");
    assert!(
        !r.body.to_string().contains("data_key"),
        "field named only in the log"
    );
    assert_eq!(w.total_wechat_calls().await, 0);
}

/// A flaky getverifyid does not use up the user's hour: a call WeChat could not take costs
/// nothing, one it refused counts.
#[tokio::test]
async fn calls_wechat_failed_cost_the_user_no_issue_slot() {
    let w = World::with(|s| s.issue_key_limit_per_hour = 2).await;
    w.wx.inject(&fault(Upstream::Getverifyid, |f| f.status = Some(502)))
        .await;
    for _ in 0..4 {
        w.issue("o-flaky", person(2), "v2")
            .await
            .assert_unavailable();
    }
    w.wx.clear_faults().await;
    for _ in 0..2 {
        assert_eq!(w.issue("o-flaky", person(2), "v2").await.status, 200);
    }
    w.issue("o-flaky", person(2), "v2")
        .await
        .assert_error(429, "rate_limited");
    // A refusal is the user's to pay for: WeChat's own rate limit keeps the slot it took.
    w.wx.inject(&fault(Upstream::Getverifyid, |f| f.errcode = Some(45011)))
        .await;
    let r = w.issue("o-refused", person(3), "v2").await;
    r.assert_unavailable();
    w.wx.clear_faults().await;
    assert_eq!(w.issue("o-refused", person(3), "v2").await.status, 200);
    w.issue("o-refused", person(3), "v2")
        .await
        .assert_error(429, "rate_limited");
}
