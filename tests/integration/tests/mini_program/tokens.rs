//! The access token (docs/api.md §4) against the simulator's real token rules.

use std::sync::Arc;

use wechat_sim::Fault;
use wxface::upstream::Upstream;
use wxface_harness::fixtures::person;
use wxface_harness::secrets;

use crate::world::{Function, World};

fn fault(endpoint: Upstream, errcode: i64, times: Option<u32>) -> Fault {
    Fault {
        endpoint: endpoint.name().into(),
        errcode: Some(errcode),
        times,
        ..Default::default()
    }
}

#[tokio::test]
async fn token_is_fetched_once_kept_in_the_secret_and_shared() {
    let w = World::new().await;
    w.issue_ok("o-a", person(0), "v2").await;
    w.issue_ok("o-b", person(1), "v1").await;
    assert_eq!(w.count(wxface::upstream::Upstream::StableToken).await, 1);
    assert_eq!(
        w.sim_count("token").await,
        0,
        "never the quota-limited /cgi-bin/token"
    );
    let sm = aws_sdk_secretsmanager::Client::new(&w.aws);
    let stored = secrets::get_secret(&sm, &w.settings.access_token_secret_id)
        .await
        .unwrap()
        .expect("token stored");
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert!(
        stored["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(stored["expires_at"].as_i64().unwrap() > w.clock_now() + 7000);
    // A new container reads it instead of calling WeChat.
    let cold = w.cold_instance();
    let body = World::issue_request(&w.code("o-c").await, person(2));
    let r = w.post_on(&cold, Function::IssueKey, &body).await;
    r.assert_status(200);
    assert_eq!(w.count(wxface::upstream::Upstream::StableToken).await, 1);
}

#[tokio::test]
async fn rejected_token_is_replaced_and_the_call_retried_once() {
    let w = World::new().await;
    w.issue_ok("o-a", person(0), "v2").await;
    assert_eq!(w.count(wxface::upstream::Upstream::StableToken).await, 1);
    for code in [40001, 40014, 42001] {
        w.wx.reset_counters().await;
        w.wx.inject(&fault(Upstream::Getverifyid, code, Some(1)))
            .await;
        let r = w.issue("o-a", person(0), "v2").await;
        assert_eq!(r.status, 200, "{code}: {}", r.body);
        assert_eq!(
            w.count(wxface::upstream::Upstream::Getverifyid).await,
            2,
            "{code}: retried once"
        );
        assert_eq!(
            w.count(wxface::upstream::Upstream::StableToken).await,
            1,
            "{code}: one fresh token"
        );
    }
}

#[tokio::test]
async fn a_token_rejected_every_time_is_a_clear_502_not_a_loop() {
    let w = World::new().await;
    w.wx.inject(&fault(Upstream::Getverifyid, 40001, None))
        .await;
    let r = w.issue("o-a", person(0), "v2").await;
    r.assert_error(502, "upstream_error");
    assert_eq!(r.body["error"]["errcode"], 40001);
    assert_eq!(w.count(wxface::upstream::Upstream::Getverifyid).await, 2);
    assert_eq!(w.count(wxface::upstream::Upstream::StableToken).await, 2);
}

#[tokio::test]
async fn a_token_wechat_expired_early_is_replaced() {
    let w = World::new().await;
    w.issue_ok("o-a", person(0), "v2").await;
    // WeChat's clock runs past the token's life; ours does not know yet.
    w.wx.advance_clock(7300).await;
    let r = w.issue("o-a", person(0), "v2").await;
    r.assert_status(200);
    assert_eq!(
        w.count(wxface::upstream::Upstream::Getverifyid).await,
        3,
        "one 42001, then success"
    );
    assert_eq!(w.count(wxface::upstream::Upstream::StableToken).await, 2);
}

#[tokio::test]
async fn thirty_cold_instances_make_one_stable_token_call() {
    let w = Arc::new(World::new().await);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let cold = w.cold_instance();
            let body = World::issue_request(&w.code(&format!("o-cold-{i}")).await, person(i));
            w.post_on(&cold, Function::IssueKey, &body).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(w.count(wxface::upstream::Upstream::Getverifyid).await, 30);
    assert_eq!(w.count(wxface::upstream::Upstream::StableToken).await, 1);
}
