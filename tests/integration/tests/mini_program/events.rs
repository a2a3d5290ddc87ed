//! Verification events (docs/api.md §7) through the path the stack uses in
//! AWS: the table's stream read from moto's DynamoDB Streams, publish-events'
//! handler invoked with its records, events put on moto's EventBridge and
//! delivered by a rule to an SQS queue, the consumer.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use wechat_sim::{PushFormat, PushMode, RunV1};
use wxface::config::EventSettings;
use wxface::service::events::EventServices;
use wxface_harness::aws_faults::{AwsFault, AwsFaults};
use wxface_harness::event_path::EventPath;
use wxface_harness::fixtures::{person, unique_name};
use wxface_tests::function_url;

use crate::world::{Function, World};

pub(crate) async fn event_path(w: &World) -> EventPath {
    let name = unique_name("wxface-events");
    EventPath::start(w.moto_url(), &w.ddb(), w.table(), &name)
        .await
        .expect("bus, rule and queue on moto")
}

/// publish-events as a container would build it, its AWS calls through `aws`.
pub(crate) fn publisher(w: &World, aws: &aws_config::SdkConfig, bus: &str) -> EventServices {
    let settings = EventSettings {
        wechat_app_secret_id: w.app_secret_id.clone(),
        event_bus_name: bus.to_owned(),
        secrets_ttl: Duration::from_secs(300),
        secrets_max_stale: Duration::from_secs(900),
        receipt_issuer: "wxface".into(),
        receipt_ttl_secs: 172_800,
    };
    wxface::app::build_event_services(settings, aws, w.clock.clone()).expect("services")
}

/// Lambda's event source mapping until the stream is drained: (records handed, failures).
pub(crate) async fn drain(path: &mut EventPath, svc: &EventServices) -> (usize, usize) {
    let invoke = |event: Value| async move {
        wxface::stream::handle(svc, event)
            .await
            .map(|r| serde_json::to_value(r).expect("JSON"))
    };
    path.deliver(invoke).await.expect("stream on moto")
}

/// The consumer's events, by out_seq_no (every delivery).
pub(crate) async fn consumed(path: &EventPath) -> BTreeMap<String, Vec<Value>> {
    let mut by_session: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in path.consume().await.expect("queue on moto") {
        assert_eq!(e["source"], "wxface");
        assert_eq!(e["detail-type"], "Verification Finalized");
        let seq = e["detail"]["out_seq_no"]
            .as_str()
            .expect("out_seq_no")
            .to_owned();
        by_session.entry(seq).or_default().push(e);
    }
    by_session
}

/// publish-events run over all the stream holds, as deployed: what the consumer then got.
pub(crate) async fn published(w: &World, path: &mut EventPath) -> BTreeMap<String, Vec<Value>> {
    let svc = publisher(w, &w.aws, &path.bus);
    drain(path, &svc).await;
    consumed(path).await
}

/// The event says what the final answer (and its receipt) says, nothing personal.
pub(crate) fn assert_matches_answer(event: &Value, answer: &Value) {
    let d = &event["detail"];
    for k in [
        "out_seq_no",
        "flow",
        "status",
        "verified",
        "reason",
        "verify_ret",
        "identify_ret",
        "biz_ref",
    ] {
        assert_eq!(d[k], answer[k], "{k}: {d} vs {answer}");
    }
    assert_eq!(
        d["event_id"],
        format!("final-{}", answer["out_seq_no"].as_str().unwrap())
    );
    let claims = receipt_claims(answer["receipt"].as_str().expect("a receipt"));
    assert_eq!(d["identity_hash"], claims["identity_hash"]);
    // The event's own receipt says the same: it is what makes the event proof.
    let own = receipt_claims(d["receipt"].as_str().expect("the event's receipt"));
    for k in [
        "out_seq_no",
        "status",
        "verified",
        "identity_hash",
        "sub",
        "aud",
        "iss",
    ] {
        assert_eq!(own[k], claims[k], "{k}");
    }
    assert_eq!(d["openid"], claims["sub"]);
    assert_eq!(d["verified_at"], claims["verified_at"]);
    let text = event.to_string();
    for p in (0..8).map(person) {
        assert!(
            !text.contains(p.name) && !text.contains(p.id_card_number),
            "{text}"
        );
    }
}

pub(crate) fn receipt_claims(jws: &str) -> Value {
    use base64::Engine;
    let payload = jws.split('.').nth(1).expect("JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims")
}

#[tokio::test]
async fn every_final_state_of_both_flows_is_one_event_on_the_bus() {
    let w = World::new().await;
    let mut path = event_path(&w).await;
    let mut answers = Vec::new();

    // 2.0: verified and failed; one left pending (no event).
    for (openid, ret) in [("o-ev-v2ok", 10000), ("o-ev-v2no", 10004)] {
        let s = w.issue_ok(openid, person(0), "v2").await;
        w.face_v2(openid, &s, ret).await;
        answers.push(w.verify(openid, &s["out_seq_no"], None).await.body);
    }
    let pending = w.issue_ok("o-ev-pending", person(1), "v2").await;
    // 1.0: verified, failed, and each rejection: a session of o-ev-erin, the face
    // check done by `by` as `run` says, then verify-result.
    let w = &w;
    let v1 = || w.issue_ok("o-ev-erin", person(3), "v1");
    let checked = |by: &'static str, run: fn(&mut RunV1)| async move {
        let s = v1().await;
        let vr = w.face_v1(by, &s, run).await;
        (
            w.verify("o-ev-erin", &s["out_seq_no"], Some(&vr))
                .await
                .body,
            vr,
        )
    };
    let (verified, consumed_vr) = checked("o-ev-erin", |_| {}).await;
    answers.push(verified);
    answers.push(
        checked("o-ev-erin", |r| r.identify_ret = Some(10003))
            .await
            .0,
    );
    answers.push(checked("o-ev-mallory", |_| {}).await.0);
    answers.push(
        checked("o-ev-erin", |r| {
            r.verified_name = Some(person(4).name.into())
        })
        .await
        .0,
    );
    answers.push(
        checked("o-ev-erin", |r| {
            r.verified_id = Some(person(4).id_card_number.into())
        })
        .await
        .0,
    );
    // A verify_result of another session of the user; one another session consumed.
    let (a, b) = (v1().await, v1().await);
    let vr_b = w.face_v1("o-ev-erin", &b, |_| {}).await;
    answers.push(
        w.verify("o-ev-erin", &a["out_seq_no"], Some(&vr_b))
            .await
            .body,
    );
    let c = v1().await;
    answers.push(
        w.verify("o-ev-erin", &c["out_seq_no"], Some(&consumed_vr))
            .await
            .body,
    );
    let reasons: Vec<_> = answers
        .iter()
        .filter_map(|a| a["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "openid_mismatch",
            "name_mismatch",
            "id_card_mismatch",
            "user_id_key_mismatch",
            "verify_result_reused"
        ]
    );
    // A repeated verify-result changes nothing in the table: no second event.
    let again = w.verify("o-ev-v2ok", &answers[0]["out_seq_no"], None).await;
    assert_eq!(again.body["status"], "verified");

    let svc = publisher(w, &w.aws, &path.bus);
    let (handed, failed) = drain(&mut path, &svc).await;
    assert!(handed > answers.len(), "inserts and finals: {handed}");
    assert_eq!(failed, 0);
    let events = consumed(&path).await;
    assert_eq!(events.len(), answers.len(), "{:?}", events.keys());
    for answer in &answers {
        let seq = answer["out_seq_no"].as_str().unwrap();
        let got = &events[seq];
        assert_eq!(got.len(), 1, "{seq}: {got:?}");
        assert_matches_answer(&got[0], answer);
    }
    assert!(!events.contains_key(pending["out_seq_no"].as_str().unwrap()));
    // Drained: nothing more on the next poll.
    assert_eq!(drain(&mut path, &svc).await, (0, 0));
    assert!(path.consume().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_v1_session_finished_by_the_push_alone_is_an_event() {
    let w = World::with(|s| s.push_mode = wxface::config::PushMode::Safe).await;
    let url = function_url::serve(w.cold_instance(), Function::EventCallback).await;
    w.wx.configure_push(&w.app.appid, &url, PushMode::Safe, PushFormat::Json)
        .await;
    let mut path = event_path(&w).await;
    let issued = w.issue_ok("o-ev-pushed", person(1), "v1").await;
    w.face_v1("o-ev-pushed", &issued, |_| {}).await;
    let log = w.wx.wait_for_push_log(1, Duration::from_secs(10)).await;
    assert!(log[0].delivered, "{:?}", log[0]);
    // No mini-program asks: the event comes from the push's final write.
    let events = published(&w, &mut path).await;
    let seq = issued["out_seq_no"].as_str().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let d = &events[seq][0]["detail"];
    assert_eq!(
        (d["status"].as_str(), d["flow"].as_str()),
        (Some("verified"), Some("v1"))
    );
    assert_eq!(d["identify_ret"], 0);
    // The mini-program asking later sees the same result the event said.
    let r = w.verify("o-ev-pushed", &issued["out_seq_no"], None).await;
    assert_matches_answer(&events[seq][0], &r.body);
}

#[tokio::test]
async fn a_crash_between_finalizing_and_publishing_loses_nothing() {
    let w = World::new().await;
    let mut path = event_path(&w).await;
    let faults = AwsFaults::start(w.moto_url()).await;
    let aws = wxface_harness::sdk_config_for(faults.url()).await;

    // verify-result's final write performed, every answer lost: the user got no
    // answer, the container gave up. The table has the final state; so does the stream.
    let via_faults = w.instance_via(faults.url()).await;
    let s = w.issue_ok("o-ev-crash", person(2), "v2").await;
    w.face_v2("o-ev-crash", &s, 10000).await;
    let code = w.code("o-ev-crash").await;
    faults.inject("TransactWriteItems", AwsFault::LostAnswer, 10);
    let body = serde_json::json!({"code": code, "out_seq_no": s["out_seq_no"]});
    let r = w.post_on(&via_faults, Function::VerifyResult, &body).await;
    assert!(
        r.status == 200 || r.status == 503,
        "{} {}",
        r.status,
        r.body
    );
    faults.heal();

    // publish-events dies on PutEvents (every SDK attempt fails): Lambda is told
    // to retry from that record, and the next round publishes it.
    let svc = publisher(&w, &aws, &path.bus);
    faults.inject("PutEvents", AwsFault::ServerError, 10);
    let (_, failed) = drain(&mut path, &svc).await;
    assert_eq!(failed, 1, "the failure is reported, not swallowed");
    assert!(path.consume().await.unwrap().is_empty());
    faults.heal();

    // Then its answer is lost after EventBridge took the event: the SDK retries,
    // and the consumer sees a duplicate it can recognize by id.
    let lost = |f: &AwsFaults| f.injected().get("lost_answer").copied().unwrap_or(0);
    let lost_before = lost(&faults);
    faults.inject("PutEvents", AwsFault::LostAnswer, 1);
    assert_eq!(drain(&mut path, &svc).await.1, 0);
    let events = consumed(&path).await;
    let seq = s["out_seq_no"].as_str().unwrap();
    let got = &events[seq];
    assert_eq!(events.len(), 1);
    assert_eq!(
        got.len(),
        2,
        "taken, answer lost, retried by the SDK: {got:?}"
    );
    let ids: std::collections::BTreeSet<_> = got
        .iter()
        .map(|e| e["detail"]["event_id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "every delivery has the same id: {got:?}");
    assert_eq!(lost(&faults), lost_before + 1);
    assert_eq!(got[0]["detail"]["status"], "verified");
    let answer = w.verify("o-ev-crash", &s["out_seq_no"], None).await;
    assert_matches_answer(&got[0], &answer.body);
}

/// lookup as its function URL hands it a SigV4-signed GET (events/lookup.json); the same GET
/// behind the HTTP API (events/http-api/lookup.json) answers the same.
pub(crate) async fn lookup(w: &World, out_seq_no: &str) -> (u16, Value) {
    let mut answers = Vec::new();
    for event in ["lookup.json", "http-api/lookup.json"] {
        let req = wxface_harness::events::load(event, &[("REPLACE_WITH_OUT_SEQ_NO", out_seq_no)]);
        let resp = wxface::http::lookup::handle(&w.cold_instance(), req).await;
        let status = resp.status().as_u16();
        let mut body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
        // A fresh receipt each time: compared without it.
        let receipt = body.as_object_mut().and_then(|o| o.remove("receipt"));
        answers.push((status, body, receipt));
    }
    let (api_status, mut api_body, _) = answers.pop().unwrap();
    let (status, mut body, receipt) = answers.pop().unwrap();
    // A pending 2.0 session's verify_ret: only the first of two asks within 5 s asks WeChat.
    let verify_ret = body.as_object_mut().and_then(|o| o.remove("verify_ret"));
    api_body.as_object_mut().map(|o| o.remove("verify_ret"));
    assert_eq!(
        (status, &body),
        (api_status, &api_body),
        "both fronts answer the same"
    );
    if let Some(v) = verify_ret {
        body["verify_ret"] = v;
    }
    if let Some(r) = receipt {
        body["receipt"] = r;
    }
    (status, body)
}

#[tokio::test]
async fn lookup_answers_any_sessions_state_with_a_fresh_receipt() {
    let w = World::new().await;
    let s = w.issue_ok("o-ev-lookup", person(2), "v2").await;
    let seq = s["out_seq_no"].as_str().unwrap();
    let calls = w.total_wechat_calls().await;
    let (status, pending) = lookup(&w, seq).await;
    assert_eq!(
        (status, pending["status"].as_str()),
        (200, Some("pending")),
        "{pending}"
    );
    assert!(pending.get("receipt").is_none());
    // A pending 2.0 session: lookup asked WeChat (once for both fronts' lookups).
    assert_eq!(pending["verify_ret"], 10300);
    assert_eq!(w.total_wechat_calls().await, calls + 1);

    w.face_v2("o-ev-lookup", &s, 10000).await;
    let answer = w.verify("o-ev-lookup", &s["out_seq_no"], None).await.body;
    let calls = w.total_wechat_calls().await;
    let (status, first) = lookup(&w, seq).await;
    let (_, second) = lookup(&w, seq).await;
    assert_eq!(status, 200);
    assert_eq!(
        w.total_wechat_calls().await,
        calls,
        "a final session: WeChat not asked"
    );
    for k in [
        "out_seq_no",
        "flow",
        "status",
        "verified",
        "verify_ret",
        "verified_at",
    ] {
        assert_eq!(first[k], answer[k], "{k}");
    }
    assert_eq!(first["openid"], "o-ev-lookup");
    let (a, b) = (
        receipt_claims(first["receipt"].as_str().unwrap()),
        receipt_claims(second["receipt"].as_str().unwrap()),
    );
    assert_ne!(a["jti"], b["jti"], "a fresh receipt per lookup");
    assert_eq!(
        a["identity_hash"],
        receipt_claims(answer["receipt"].as_str().unwrap())["identity_hash"]
    );
    let text = first.to_string();
    assert!(!text.contains(person(2).name) && !text.contains(person(2).id_card_number));

    let (status, body) = lookup(&w, "no-such-session-0000").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );
    let (status, _) = lookup(&w, "bad.seq").await;
    assert_eq!(status, 400);
}
