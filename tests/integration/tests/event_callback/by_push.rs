//! A v1 verification completed by the simulator's push alone, in every mode
//! and format, over real HTTP to a local function URL.

use std::time::Duration;

use wechat_sim::{PushFormat, PushMode};
use wxface_harness::fixtures::person;
use wxface_tests::function_url;

use crate::world::{Function, World};

async fn world_with_push(mode: PushMode, format: PushFormat) -> World {
    // The deployment accepts the mode the console is in.
    let w = World::with(|s| {
        s.push_mode = match mode {
            PushMode::Plain => wxface::config::PushMode::Plaintext,
            PushMode::Compat => wxface::config::PushMode::Compatible,
            PushMode::Safe => wxface::config::PushMode::Safe,
        }
    })
    .await;
    let url = function_url::serve(w.cold_instance(), Function::EventCallback).await;
    w.wx.configure_push(&w.app.appid, &url, mode, format).await;
    w
}

#[tokio::test]
async fn the_push_alone_completes_a_v1_verification() {
    for mode in [PushMode::Plain, PushMode::Compat, PushMode::Safe] {
        for format in [PushFormat::Json, PushFormat::Xml] {
            let w = world_with_push(mode, format).await;
            // The URL check of the admin console.
            assert!(
                w.wx.verify_push_url(&w.app.appid).await,
                "{mode:?} {format:?}: URL check"
            );
            let issued = w.issue_ok("o-pushed", person(1), "v1").await;
            w.face_v1("o-pushed", &issued, |_| {}).await;
            let log = w.wx.wait_for_push_log(1, Duration::from_secs(10)).await;
            assert!(log[0].delivered, "{mode:?} {format:?}: {:?}", log[0]);
            assert_eq!(log[0].reply.as_deref(), Some("success"));
            assert_eq!(
                w.count(wxface::upstream::Upstream::Getinfo).await,
                1,
                "the push finalized with getinfo"
            );
            // The mini-program asks without verify_result: already final.
            let r = w.verify("o-pushed", &issued["out_seq_no"], None).await;
            assert_eq!(
                r.body["status"], "verified",
                "{mode:?} {format:?}: {}",
                r.body
            );
            assert_eq!(
                w.count(wxface::upstream::Upstream::Getinfo).await,
                1,
                "no second getinfo"
            );
        }
    }
}

#[tokio::test]
async fn duplicate_and_replayed_pushes_change_nothing() {
    let w = world_with_push(PushMode::Safe, PushFormat::Xml).await;
    w.wx.set_push_faults(true, 0).await;
    let issued = w.issue_ok("o-dup", person(2), "v1").await;
    w.face_v1("o-dup", &issued, |run| run.identify_ret = Some(10004))
        .await;
    let log = w.wx.wait_for_push_log(2, Duration::from_secs(10)).await;
    assert!(log.iter().all(|a| a.delivered), "{log:?}");
    let after = w.snapshot().await;
    let replayed = w.wx.replay_push(0).await;
    assert!(
        replayed.delivered,
        "a byte-for-byte replay is acknowledged: {replayed:?}"
    );
    assert_eq!(w.snapshot().await, after);
    assert_eq!(w.count(wxface::upstream::Upstream::Getinfo).await, 1);
    let r = w.verify("o-dup", &issued["out_seq_no"], None).await;
    assert_eq!(
        (r.body["status"].as_str(), r.body["identify_ret"].as_i64()),
        (Some("failed"), Some(10004))
    );
}

#[tokio::test]
async fn a_push_that_cannot_be_recorded_is_retried_by_wechat() {
    let w = World::new().await;
    // This function URL's table does not exist: recording fails, 503, WeChat retries.
    let broken = w.instance_with(|s| s.sessions_table = "no-such-table".into());
    let url = function_url::serve(broken, Function::EventCallback).await;
    w.wx.configure_push(&w.app.appid, &url, PushMode::Safe, PushFormat::Json)
        .await;
    let issued = w.issue_ok("o-retry", person(3), "v1").await;
    let vr = w.face_v1("o-retry", &issued, |_| {}).await;
    let log = w.wx.wait_for_push_log(4, Duration::from_secs(15)).await;
    assert!(
        log.iter().all(|a| a.status == Some(503) && !a.delivered),
        "{log:?}"
    );
    // Nothing was lost: the mini-program's own verify-result still completes it.
    let r = w.verify("o-retry", &issued["out_seq_no"], Some(&vr)).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
}
