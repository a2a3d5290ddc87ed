//! The server finishes pending 2.0 sessions itself (docs/api.md §7.4), on
//! moto (DynamoDB and its stream, Scheduler, EventBridge, SQS) and the
//! simulator: the table's stream hands reconcile each new session, whose
//! checks it books on the scheduler; the harness runs each check when the
//! test's clock reaches it, as EventBridge Scheduler would.

use serde_json::Value;
use wechat_sim::Fault;
use wxface::service::reconcile::ReconcileServices;
use wxface_harness::aws_faults::{AwsFault, AwsFaults};
use wxface_harness::checks::Checks;
use wxface_harness::event_path::EventPath;
use wxface_harness::fixtures::{person, unique_name};

use crate::events::{event_path, lookup, published, receipt_claims};
use crate::world::World;

/// The stack's reconcile on this world: its stream mapping, its schedule group, its function.
struct Reconcile {
    stream: EventPath,
    checks: Checks,
    rs: ReconcileServices,
}

impl Reconcile {
    async fn start(w: &World) -> Self {
        let stream = event_path(w).await;
        let checks = Checks::start(&w.aws, &unique_name("wxface-reconcile"))
            .await
            .expect("schedule group on moto");
        let rs = w.reconciler(&w.aws, &checks);
        Self { stream, checks, rs }
    }

    /// Lambda's stream mapping: the new sessions handed to reconcile, which books their checks.
    async fn take_new_sessions(&mut self) {
        let rs = &self.rs;
        let invoke = |event: Value| async move { wxface::reconcile::handle(rs, event).await };
        let (_, failed) = self.stream.deliver(invoke).await.expect("stream on moto");
        assert_eq!(failed, 0, "every new session's first check booked");
    }

    /// The scheduler: every check due by the world's clock run; how many.
    async fn run_due(&self, w: &World) -> usize {
        let rs = &self.rs;
        let invoke = |input: Value| async move { wxface::reconcile::handle(rs, input).await };
        self.checks
            .fire_due(w.clock_now(), invoke)
            .await
            .expect("scheduler on moto")
    }

    /// The clock moved to the next booked check, and it run.
    async fn run_next(&self, w: &World) -> i64 {
        let next = self.checks.booked().await.unwrap()[0].at;
        w.clock.advance((next - w.clock_now()).max(0));
        assert!(self.run_due(w).await >= 1);
        next
    }
}

/// A world with reconcile on it.
async fn reconciled() -> (World, Reconcile) {
    let w = World::new().await;
    let r = Reconcile::start(&w).await;
    (w, r)
}

/// A world whose events are watched, with reconcile on it (the event path first: it
/// reads the stream from the start).
async fn watched() -> (World, EventPath, Reconcile) {
    let w = World::new().await;
    let events = event_path(&w).await;
    let r = Reconcile::start(&w).await;
    (w, events, r)
}

async fn status_of(w: &World, issued: &Value) -> Value {
    lookup(w, issued["out_seq_no"].as_str().unwrap()).await.1
}

/// The face check passed, the phone never came back: the server's first check finishes it,
/// with one event and a receipt from lookup.
#[tokio::test]
async fn a_passed_face_check_whose_phone_never_returned_is_finalized_by_the_server() {
    let (w, mut events, mut r) = watched().await;
    let s = w.issue_ok("o-rc-a", person(0), "v2").await;
    let v1 = w.issue_ok("o-rc-a", person(1), "v1").await;
    r.take_new_sessions().await;
    let booked = r.checks.booked().await.unwrap();
    assert_eq!(
        booked.len(),
        1,
        "one check, for the 2.0 session only: {booked:?}"
    );
    assert_eq!(booked[0].input["out_seq_no"], s["out_seq_no"]);
    let created = w.clock_now();
    assert_eq!(booked[0].at, created + 300);
    w.face_v2("o-rc-a", &s, 10000).await;
    // Not yet due: nothing runs.
    assert_eq!(r.run_due(&w).await, 0);
    assert_eq!(r.run_next(&w).await, created + 300);
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        1
    );
    assert!(
        r.checks.booked().await.unwrap().is_empty(),
        "final: no further check"
    );
    let looked = status_of(&w, &s).await;
    assert_eq!(looked["status"], "verified", "{looked}");
    assert_eq!(
        receipt_claims(looked["receipt"].as_str().unwrap())["status"],
        "verified"
    );
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        1,
        "lookup of a final session asks nothing"
    );
    let got = published(&w, &mut events).await;
    let seq = s["out_seq_no"].as_str().unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[seq].len(), 1);
    assert_eq!(got[seq][0]["detail"]["status"], "verified");
    // The 1.0 session is left to the phone and WeChat's push.
    assert_eq!(status_of(&w, &v1).await["status"], "pending");
}

/// WeChat says "in progress" (10005) first; the next check finds it passed.
#[tokio::test]
async fn in_progress_first_then_passed() {
    let (w, mut r) = reconciled().await;
    w.wx.set_pending_verify_ret(10005).await;
    let s = w.issue_ok("o-rc-b", person(2), "v2").await;
    r.take_new_sessions().await;
    let created = w.clock_now();
    r.run_next(&w).await;
    assert_eq!(status_of(&w, &s).await["status"], "pending");
    let booked = r.checks.booked().await.unwrap();
    assert_eq!(
        booked.iter().map(|b| b.at - created).collect::<Vec<_>>(),
        [900]
    );
    w.face_v2("o-rc-b", &s, 10000).await;
    r.run_next(&w).await;
    assert_eq!(status_of(&w, &s).await["status"], "verified");
}

/// queryverifyinfo failing several times: retried with backoff, then finished.
#[tokio::test]
async fn queryverifyinfo_failing_several_times_delays_but_never_loses_it() {
    let (w, mut r) = reconciled().await;
    let s = w.issue_ok("o-rc-c", person(3), "v2").await;
    w.face_v2("o-rc-c", &s, 10000).await;
    r.take_new_sessions().await;
    // WeChat failing (502 on every attempt): each check books a retry, backing off.
    w.wx.inject(&Fault {
        endpoint: wxface::upstream::Upstream::Queryverifyinfo.name().into(),
        status: Some(502),
        ..Default::default()
    })
    .await;
    let first = r.run_next(&w).await;
    let mut retries = Vec::new();
    for _ in 0..3 {
        retries.push(r.run_next(&w).await - first);
    }
    assert_eq!(retries, [30, 90, 210], "30, 60, 120 s apart");
    assert_eq!(status_of(&w, &s).await["status"], "pending");
    // WeChat back: the next retry finishes it.
    w.wx.clear_faults().await;
    r.run_next(&w).await;
    assert_eq!(status_of(&w, &s).await["status"], "verified");
}

/// The final write's answer lost (DynamoDB did it; the SDK retries): one final state, one event.
#[tokio::test]
async fn the_answer_to_the_final_write_lost_is_one_final_state() {
    let (w, mut events, mut r) = watched().await;
    let faults = AwsFaults::start(w.moto_url()).await;
    let aws = wxface_harness::sdk_config_for(faults.url()).await;
    let via_faults = w.reconciler(&aws, &r.checks);
    let s = w.issue_ok("o-rc-d", person(4), "v2").await;
    w.face_v2("o-rc-d", &s, 10000).await;
    r.take_new_sessions().await;
    let due = r.checks.booked().await.unwrap()[0].clone();
    w.clock.advance(due.at - w.clock_now());
    faults.inject("TransactWriteItems", AwsFault::LostAnswer, 1);
    let outcome = wxface::reconcile::handle(&via_faults, due.input.clone()).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    faults.heal();
    assert_eq!(status_of(&w, &s).await["status"], "verified");
    // The scheduler runs it again (its retry): nothing more happens.
    wxface::reconcile::handle(&r.rs, due.input).await.unwrap();
    let got = published(&w, &mut events).await;
    assert_eq!(got[s["out_seq_no"].as_str().unwrap()].len(), 1);
}

/// No face check ever: the checks over the hour, the last just before expiry, then `failed`
/// (`expired`), with an event saying so; at most a few WeChat calls.
#[tokio::test]
async fn a_face_check_that_never_happened_ends_failed_expired() {
    let (w, mut events, mut r) = watched().await;
    let s = w.issue_ok("o-rc-e", person(5), "v2").await;
    r.take_new_sessions().await;
    let created = w.clock_now();
    let mut at = Vec::new();
    while !r.checks.booked().await.unwrap().is_empty() {
        at.push(r.run_next(&w).await - created);
    }
    assert_eq!(at, [300, 900, 1800, 3600 - 60]);
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        4
    );
    let looked = status_of(&w, &s).await;
    assert_eq!(
        (looked["status"].as_str(), looked["reason"].as_str()),
        (Some("failed"), Some("expired")),
        "{looked}"
    );
    assert_eq!(looked["verified"], false);
    let claims = receipt_claims(looked["receipt"].as_str().unwrap());
    assert_eq!(
        (claims["status"].as_str(), claims["reason"].as_str()),
        (Some("failed"), Some("expired"))
    );
    let got = published(&w, &mut events).await;
    let d = &got[s["out_seq_no"].as_str().unwrap()][0]["detail"];
    assert_eq!(
        (d["status"].as_str(), d["reason"].as_str()),
        (Some("failed"), Some("expired"))
    );
    // The phone coming back late gets the same final answer.
    let late = w.verify("o-rc-e", &s["out_seq_no"], None).await;
    assert_eq!(
        (late.body["status"].as_str(), late.body["reason"].as_str()),
        (Some("failed"), Some("expired"))
    );
}

/// The phone and the server's check at once: one final state, one event.
#[tokio::test]
async fn a_concurrent_verify_result_and_check_finalize_once() {
    let (w, mut events, mut r) = watched().await;
    let s = w.issue_ok("o-rc-f", person(6), "v2").await;
    w.face_v2("o-rc-f", &s, 10000).await;
    r.take_new_sessions().await;
    let due = r.checks.booked().await.unwrap()[0].clone();
    w.clock.advance(due.at - w.clock_now());
    let (phone, server) = tokio::join!(
        w.verify("o-rc-f", &s["out_seq_no"], None),
        wxface::reconcile::handle(&r.rs, due.input)
    );
    assert_eq!(phone.body["status"], "verified", "{}", phone.body);
    assert!(server.is_ok(), "{server:?}");
    let got = published(&w, &mut events).await;
    assert_eq!(got[s["out_seq_no"].as_str().unwrap()].len(), 1, "one event");
}

/// The normal path: the phone asks in time; the server's check then asks WeChat nothing.
#[tokio::test]
async fn no_extra_wechat_call_when_the_phone_asks_in_time() {
    let (w, mut r) = reconciled().await;
    let s = w.issue_ok("o-rc-g", person(7), "v2").await;
    w.face_v2("o-rc-g", &s, 10000).await;
    assert_eq!(
        w.verify("o-rc-g", &s["out_seq_no"], None).await.body["status"],
        "verified"
    );
    r.take_new_sessions().await;
    let before = w.count(wxface::upstream::Upstream::Queryverifyinfo).await;
    r.run_next(&w).await;
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        before,
        "no extra WeChat call"
    );
    assert_eq!(before, 1);
    assert!(r.checks.booked().await.unwrap().is_empty());
}

/// A backend asking lookup gets the final result at once: lookup asks WeChat itself.
#[tokio::test]
async fn lookup_asks_wechat_about_a_pending_session_and_answers_the_truth() {
    let w = World::new().await;
    let s = w.issue_ok("o-rc-h", person(1), "v2").await;
    let pending = status_of(&w, &s).await;
    assert_eq!(
        (pending["status"].as_str(), pending["verify_ret"].as_i64()),
        (Some("pending"), Some(10300))
    );
    w.face_v2("o-rc-h", &s, 10000).await;
    // Asked a moment ago (both fronts' lookups count as one ask): not again within 5 s.
    let asked = w.count(wxface::upstream::Upstream::Queryverifyinfo).await;
    assert_eq!(status_of(&w, &s).await["status"], "pending");
    assert_eq!(
        w.count(wxface::upstream::Upstream::Queryverifyinfo).await,
        asked
    );
    w.clock
        .advance(wxface::service::lookup::CHECK_INTERVAL_SECS);
    let looked = status_of(&w, &s).await;
    assert_eq!(looked["status"], "verified", "{looked}");
    assert!(looked["receipt"].is_string());
    // The phone, later, gets the same.
    assert_eq!(
        w.verify("o-rc-h", &s["out_seq_no"], None).await.body["status"],
        "verified"
    );
}

/// A tenant's pending session (docs/api.md §9): its check names the tenant, and asks WeChat
/// with the tenant's own token.
#[tokio::test]
async fn a_tenants_session_is_checked_as_that_tenant() {
    let t = wxface_tests::tenants::Tenants::start(None, &[]).await;
    let mut r = Reconcile::start(&t.w).await;
    let s = t.issue_as(&t.b, &t.b, "o-rc-t", person(0), "v2").await;
    assert_eq!(s.status, 200, "{}", s.body);
    r.take_new_sessions().await;
    let booked = r.checks.booked().await.unwrap();
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].input["appid"], t.b.appid.as_str());
    t.w.face_v2("o-rc-t", &s.body, 10000).await;
    r.run_next(&t.w).await;
    let pk = format!(
        "t#{}#session#{}",
        t.b.appid,
        s.body["out_seq_no"].as_str().unwrap()
    );
    let items = wxface_tests::aws::scan(&t.w.aws, t.w.table()).await;
    let item = items
        .iter()
        .find(|i| wxface_tests::aws::pk(i) == pk)
        .expect("the tenant's session");
    assert_eq!(item["status"].as_s().map(String::as_str), Ok("verified"));
    assert!(r.checks.booked().await.unwrap().is_empty());
}
