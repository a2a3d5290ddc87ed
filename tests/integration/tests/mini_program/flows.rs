//! The verification flows and every final state.

use serde_json::{Value, json};
use wechat_sim::RunV1;
use wxface_harness::fixtures::{Person, person, person_with_x};

use crate::world::{Function, World};

#[tokio::test]
async fn v2_pending_then_verified_then_repeated_without_wechat() {
    let w = World::new().await;
    let issued = w.issue_ok("o-alice", person(0), "v2").await;
    assert_eq!(issued["flow"], "v2");
    assert_eq!(issued["expires_in"], 3600);
    let seq = &issued["out_seq_no"];
    assert_eq!(seq.as_str().unwrap().len(), 32);

    // Before the user finishes: pending, nothing final stored.
    let r = w.verify("o-alice", seq, None).await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["verified"], false);
    assert_eq!(r.body["verify_ret"], 10300);

    w.face_v2("o-alice", &issued, 10000).await;
    let r = w.verify("o-alice", seq, None).await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "verified");
    assert_eq!(r.body["verified"], true);
    assert_eq!(r.body["verify_ret"], 10000);
    assert_eq!(r.body["flow"], "v2");
    assert_eq!(r.body["out_seq_no"], *seq);
    assert!(r.body["verified_at"].as_i64().unwrap() > 1_700_000_000);

    // Final: the same answer from another cold instance, without asking WeChat.
    let queries = w.count(wxface::upstream::Upstream::Queryverifyinfo).await;
    assert_eq!(queries, 2);
    let again = w.verify("o-alice", seq, None).await;
    assert_eq!(again.answer(), r.answer());
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        queries
    );
}

#[tokio::test]
async fn v2_failed_face_check_is_final() {
    let w = World::new().await;
    let issued = w.issue_ok("o-bob", person(1), "v2").await;
    w.face_v2("o-bob", &issued, 10004).await;
    let r = w.verify("o-bob", &issued["out_seq_no"], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.answer(),
        json!({"out_seq_no": issued["out_seq_no"], "flow": "v2", "status": "failed",
               "verified": false, "verify_ret": 10004})
    );
    assert!(
        r.body["receipt"].is_string(),
        "a final answer carries a receipt"
    );
    let again = w.verify("o-bob", &issued["out_seq_no"], None).await;
    assert_eq!(again.answer(), r.answer());
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        1
    );
}

#[tokio::test]
async fn v1_verified_with_an_id_ending_in_x() {
    let w = World::new().await;
    let p = person_with_x();
    // The client may send a lowercase x; WeChat hashes the uppercase form.
    let code = w.code("o-carol").await;
    let r = w
        .post(
            Function::IssueKey,
            &json!({"code": code, "name": format!(" {} ", p.name),
                    "id_card_number": p.id_card_number.to_lowercase(), "flow": "v1"}),
        )
        .await;
    r.assert_status(200);
    let issued = r.body;
    assert_eq!(issued["flow"], "v1");
    assert_eq!(issued["user_id_key"].as_str().unwrap().len(), 32);
    let vr = w.face_v1("o-carol", &issued, |_| {}).await;
    let r = w.verify("o-carol", &issued["out_seq_no"], Some(&vr)).await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "verified");
    assert_eq!(r.body["identify_ret"], 0);
    assert_eq!(r.body["flow"], "v1");
    // Repeated, even without verify_result: same answer, no getinfo.
    let again = w.verify("o-carol", &issued["out_seq_no"], None).await;
    assert_eq!(again.answer(), r.answer());
    assert_eq!(w.count(wxface::upstream::Upstream::Getinfo).await, 1);
}

#[tokio::test]
async fn v1_default_flow_setting_and_failed_face_check() {
    let w = World::with(|s| s.default_face_flow = wxface::domain::Flow::V1).await;
    let body = World::issue_request(&w.code("o-dan").await, person(2));
    let r = w.post(Function::IssueKey, &body).await;
    assert_eq!(r.body["flow"], "v1", "{}", r.body);
    let vr = w
        .face_v1("o-dan", &r.body, |run| run.identify_ret = Some(10003))
        .await;
    let v = w.verify("o-dan", &r.body["out_seq_no"], Some(&vr)).await;
    assert_eq!(v.body["status"], "failed", "{}", v.body);
    assert_eq!(v.body["identify_ret"], 10003);
    assert_eq!(v.body["verified"], false);
}

/// A v1 session of o-erin for `p` whose face check `by` did (as `run`
/// says): the verify-result answer.
async fn v1_checked(w: &World, p: Person, by: &str, run: impl FnOnce(&mut RunV1)) -> Value {
    let s = w.issue_ok("o-erin", p, "v1").await;
    let vr = w.face_v1(by, &s, run).await;
    w.verify("o-erin", &s["out_seq_no"], Some(&vr)).await.body
}

#[tokio::test]
async fn every_rejection_reason() {
    let w = World::new().await;
    let p = person(3);
    let other = person(4);

    // Someone else did the face check with this user's key.
    let r = v1_checked(&w, p, "o-mallory", |_| {}).await;
    let outcome = (r["status"].as_str(), r["reason"].as_str());
    assert_eq!(outcome, (Some("rejected"), Some("openid_mismatch")), "{r}");
    assert_eq!(r["verified"], false);

    // WeChat verified a different name / ID than the session was issued for.
    let r = v1_checked(&w, p, "o-erin", |run| {
        run.verified_name = Some(other.name.into())
    })
    .await;
    assert_eq!(r["reason"], "name_mismatch", "{r}");
    let other_id = Some(other.id_card_number.into());
    let r = v1_checked(&w, p, "o-erin", |run| run.verified_id = other_id).await;
    assert_eq!(r["reason"], "id_card_mismatch", "{r}");

    // A verify_result from another session of the same user.
    let a = w.issue_ok("o-erin", p, "v1").await;
    let b = w.issue_ok("o-erin", p, "v1").await;
    let vr_b = w.face_v1("o-erin", &b, |_| {}).await;
    let r = w.verify("o-erin", &a["out_seq_no"], Some(&vr_b)).await;
    assert_eq!(r.body["reason"], "user_id_key_mismatch", "{}", r.body);

    // A verify_result already consumed by another session.
    let r = w.verify("o-erin", &b["out_seq_no"], Some(&vr_b)).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
    let c = w.issue_ok("o-erin", p, "v1").await;
    let getinfo_before = w.count(wxface::upstream::Upstream::Getinfo).await;
    let r = w.verify("o-erin", &c["out_seq_no"], Some(&vr_b)).await;
    assert_eq!(r.body["reason"], "verify_result_reused", "{}", r.body);
    assert_eq!(
        w.count(wxface::upstream::Upstream::Getinfo).await,
        getinfo_before,
        "refused before asking WeChat"
    );

    // Rejections are final too.
    let again = w.verify("o-erin", &c["out_seq_no"], Some("anything")).await;
    assert_eq!(again.answer(), r.answer());
}

#[tokio::test]
async fn another_users_session_is_forbidden_and_unchanged() {
    let w = World::new().await;
    let issued = w.issue_ok("o-frank", person(5), "v2").await;
    w.face_v2("o-frank", &issued, 10000).await;
    let before = w.snapshot().await;
    let r = w.verify("o-grace", &issued["out_seq_no"], None).await;
    r.assert_error(403, "forbidden");
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        0
    );
    assert_eq!(w.snapshot().await, before);
    // The owner still completes it.
    let r = w.verify("o-frank", &issued["out_seq_no"], None).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
    // And once final, still forbidden to others.
    let r = w.verify("o-grace", &issued["out_seq_no"], None).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn expired_session_is_gone_but_final_answers_are_kept() {
    let w = World::new().await;
    let pending = w.issue_ok("o-heidi", person(6), "v2").await;
    let done = w.issue_ok("o-heidi", person(6), "v2").await;
    w.face_v2("o-heidi", &done, 10000).await;
    assert_eq!(
        w.verify("o-heidi", &done["out_seq_no"], None).await.body["status"],
        "verified"
    );

    w.clock.advance(3600);
    let r = w.verify("o-heidi", &pending["out_seq_no"], None).await;
    r.assert_error(410, "session_expired");
    let r = w.verify("o-heidi", &done["out_seq_no"], None).await;
    assert_eq!(r.body["status"], "verified");
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        1
    );
}

#[tokio::test]
async fn unknown_session_is_not_found() {
    let w = World::new().await;
    let r = w.verify("o-ivan", &json!("no-such-session"), None).await;
    r.assert_error(404, "session_not_found");
}

#[tokio::test]
async fn concurrent_verify_calls_agree_on_one_final_state() {
    let w = World::new().await;
    for round in 0..10 {
        let issued = w.issue_ok("o-judy", person(round), "v1").await;
        let vr = w.face_v1("o-judy", &issued, |_| {}).await;
        let (a, b) = tokio::join!(
            w.verify("o-judy", &issued["out_seq_no"], Some(&vr)),
            w.verify("o-judy", &issued["out_seq_no"], Some(&vr))
        );
        a.assert_status(200);
        assert_eq!(a.answer(), b.answer(), "round {round}");
        assert_eq!(a.body["status"], "verified");
    }
}
