//! Rotating the data key (docs/operations.md) with sessions in every state, on
//! moto and the simulator: what the old key made stays readable while it is
//! kept as a previous key, new values name the new key, and a key removed too
//! early is a configuration error (never a `rejected`), whose stream records
//! are skipped without holding up the others.

use serde_json::{Value, json};
use wxface::service::Services;
use wxface_harness::fixtures::person;
use wxface_harness::secrets;

use crate::events::{consumed, drain, event_path, lookup, publisher, receipt_claims};
use crate::world::{Function, Reply, World};

async fn verify_on(
    w: &World,
    svc: &Services,
    openid: &str,
    issued: &Value,
    vr: Option<&str>,
) -> Reply {
    let mut body = json!({"code": w.code(openid).await, "out_seq_no": issued["out_seq_no"]});
    if let Some(vr) = vr {
        body["verify_result"] = json!(vr);
    }
    w.post_on(svc, Function::VerifyResult, &body).await
}

async fn issue_on(w: &World, svc: &Services, openid: &str, p: usize, flow: &str) -> Value {
    let mut body = World::issue_request(&w.code(openid).await, person(p));
    body["flow"] = json!(flow);
    let r = w.post_on(svc, Function::IssueKey, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The stored item of a session.
async fn item(
    w: &World,
    issued: &Value,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    let pk = format!("session#{}", issued["out_seq_no"].as_str().unwrap());
    w.ddb()
        .get_item()
        .table_name(w.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the session")
}

fn text<'a>(
    item: &'a std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    k: &str,
) -> &'a str {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

async fn app_secret(w: &World) -> Value {
    let sm = aws_sdk_secretsmanager::Client::new(&w.aws);
    let text = secrets::get_secret(&sm, &w.app_secret_id).await.unwrap();
    serde_json::from_str(&text.unwrap()).unwrap()
}

async fn put_app_secret(w: &World, value: &Value) {
    let sm = aws_sdk_secretsmanager::Client::new(&w.aws);
    secrets::put_secret(&sm, &w.app_secret_id, &value.to_string())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_data_key_rotation_keeps_sessions_in_every_state_readable() {
    let w = World::new().await;
    let mut path = event_path(&w).await;
    let first = app_secret(&w).await;

    // Under the first key (the unnamed k0): every state a session can be in.
    let v2_waiting = w.issue_ok("o-rot-a", person(0), "v2").await;
    let v2_passed = w.issue_ok("o-rot-b", person(1), "v2").await;
    w.face_v2("o-rot-b", &v2_passed, 10000).await;
    let v1_passed = w.issue_ok("o-rot-c", person(2), "v1").await;
    let vr_c = w.face_v1("o-rot-c", &v1_passed, |_| {}).await;
    let v1_other = w.issue_ok("o-rot-d", person(3), "v1").await;
    let vr_d = w
        .face_v1("o-rot-d", &v1_other, |r| {
            r.verified_name = Some(person(4).name.into())
        })
        .await;
    let v2_done = w.issue_ok("o-rot-e", person(5), "v2").await;
    w.face_v2("o-rot-e", &v2_done, 10000).await;
    let done_before = w.verify("o-rot-e", &v2_done["out_seq_no"], None).await.body;
    let v1_done = w.issue_ok("o-rot-f", person(6), "v1").await;
    let vr_f = w.face_v1("o-rot-f", &v1_done, |_| {}).await;
    assert_eq!(
        w.verify("o-rot-f", &v1_done["out_seq_no"], Some(&vr_f))
            .await
            .body["status"],
        "verified"
    );
    let v2_late = w.issue_ok("o-rot-g", person(7), "v2").await;
    w.face_v2("o-rot-g", &v2_late, 10000).await;
    assert!(text(&item(&w, &v2_waiting).await, "cert_hash_sealed").starts_with("k0."));

    // The rotation, as docs/operations.md says. First the new key is only known (every
    // container learns it before anything is made with it)...
    let new_key = secrets::random_data_key();
    let mut known = first.clone();
    known["previous_data_keys"] = json!({"2027-01": new_key});
    put_app_secret(&w, &known).await;
    let phase_one = w.cold_instance();
    let ring = phase_one.secrets.app_secrets().await.unwrap();
    assert_eq!(
        ring.data_keys.current_id().as_str(),
        "k0",
        "read in the first phase"
    );
    // ...then it is made current, the old one kept under its id.
    let mut rotated = first.clone();
    rotated["data_key"] = json!(new_key);
    rotated["data_key_id"] = json!("2027-01");
    rotated["previous_data_keys"] = json!({"k0": first["data_key"]});
    put_app_secret(&w, &rotated).await;
    let after = w.cold_instance();

    // Every pending session finishes as it would have: the user's own face check is never
    // turned into a rejection, and the old rules still hold.
    w.face_v2("o-rot-a", &v2_waiting, 10000).await;
    for (openid, s, vr, want) in [
        ("o-rot-a", &v2_waiting, None, "verified"),
        ("o-rot-b", &v2_passed, None, "verified"),
        ("o-rot-c", &v1_passed, Some(vr_c.as_str()), "verified"),
        ("o-rot-d", &v1_other, Some(vr_d.as_str()), "rejected"),
    ] {
        let r = verify_on(&w, &after, openid, s, vr).await;
        assert_eq!(
            (r.status, r.body["status"].as_str()),
            (200, Some(want)),
            "{openid}: {}",
            r.body
        );
    }
    assert_eq!(
        verify_on(&w, &after, "o-rot-d", &v1_other, None).await.body["reason"],
        "name_mismatch"
    );
    // A verify_result consumed before the rotation is still known to be consumed.
    let reuse = issue_on(&w, &after, "o-rot-f", 6, "v1").await;
    let r = verify_on(&w, &after, "o-rot-f", &reuse, Some(&vr_f)).await;
    assert_eq!(r.body["reason"], "verify_result_reused", "{}", r.body);
    // A final session answers the same, with a receipt whose identity_hash is the same.
    let (status, looked) = lookup(&w, v2_done["out_seq_no"].as_str().unwrap()).await;
    assert_eq!((status, looked["status"].as_str()), (200, Some("verified")));
    let claims = |v: &Value| receipt_claims(v["receipt"].as_str().unwrap());
    assert_eq!(
        claims(&looked)["identity_hash"],
        claims(&done_before)["identity_hash"]
    );

    // A new session's values name the new key.
    let fresh = issue_on(&w, &after, "o-rot-h", 0, "v2").await;
    let stored = item(&w, &fresh).await;
    for k in ["cert_hash_sealed", "identity_hash_sealed"] {
        assert!(text(&stored, k).starts_with("2027-01."), "{k}: {stored:?}");
    }
    let fresh_v1 = issue_on(&w, &after, "o-rot-i", 1, "v1").await;
    let vr_i = w.face_v1("o-rot-i", &fresh_v1, |_| {}).await;
    // A container that last read the secret in the first phase reads them too.
    let r = verify_on(&w, &phase_one, "o-rot-i", &fresh_v1, Some(&vr_i)).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);

    // Events for everything final so far, nothing held up.
    let events = publisher(&w, &w.aws, &path.bus);
    let (_, failed) = drain(&mut path, &events).await;
    assert_eq!(failed, 0);
    let published = consumed(&path).await;
    assert_eq!(published.len(), 8, "{:?}", published.keys());

    // The old key removed too early: what it protected is a configuration error, named in the
    // log only; nothing is decided wrongly, and new sessions carry on.
    let mut dropped = rotated.clone();
    dropped
        .as_object_mut()
        .unwrap()
        .remove("previous_data_keys");
    put_app_secret(&w, &dropped).await;
    let (status, body) = lookup(&w, v2_done["out_seq_no"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("configuration_error"))
    );
    assert!(!body.to_string().contains("k0"), "{body}");
    let before_drop = w.snapshot().await;
    let r = verify_on(&w, &w.cold_instance(), "o-rot-g", &v2_late, None).await;
    r.assert_error(500, "configuration_error");
    assert_eq!(w.snapshot().await, before_drop, "nothing written");
    let (status, body) = lookup(&w, fresh_v1["out_seq_no"].as_str().unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("verified")));

    // A container that still holds both keys finishes the old session; publish-events, which
    // no longer can open its identity_hash, skips that record once and publishes the next.
    assert_eq!(
        verify_on(&w, &after, "o-rot-g", &v2_late, None).await.body["status"],
        "verified"
    );
    w.face_v2("o-rot-h", &fresh, 10000).await;
    assert_eq!(
        verify_on(&w, &after, "o-rot-h", &fresh, None).await.body["status"],
        "verified"
    );
    let events = publisher(&w, &w.aws, &path.bus);
    let (_, failed) = drain(&mut path, &events).await;
    assert_eq!(failed, 0, "the unreadable record does not block the stream");
    let published = consumed(&path).await;
    let seqs: Vec<_> = published.keys().cloned().collect();
    assert_eq!(
        seqs,
        [fresh["out_seq_no"].as_str().unwrap()],
        "only the readable one"
    );
    assert_eq!(
        drain(&mut path, &events).await,
        (0, 0),
        "reported once, not retried"
    );
}

/// An app secret of the layout before the WeChat credentials had their own
/// secret keeps working: its own WeChat fields win while they are there.
#[tokio::test]
async fn an_app_secret_that_still_holds_the_wechat_credentials_keeps_working() {
    let w = World::new().await;
    let sm = aws_sdk_secretsmanager::Client::new(&w.aws);
    let app = app_secret(&w).await;
    let mut legacy = app.clone();
    for (k, v) in secrets::wechat_credentials_json(&w.app)
        .as_object()
        .unwrap()
    {
        legacy[k] = v.clone();
    }
    put_app_secret(&w, &legacy).await;
    // The new secret not filled yet (here: filled with a wrong appsecret): the old fields serve.
    let wrong = json!({"appsecret": "not-the-appsecret"});
    secrets::put_secret(&sm, &w.wechat_secret_id, &wrong.to_string())
        .await
        .unwrap();
    let svc = w.cold_instance();
    issue_on(&w, &svc, "o-legacy", 0, "v2").await;
    // Moved: the app secret without them, the new secret with them.
    put_app_secret(&w, &app).await;
    let moved = secrets::wechat_credentials_json(&w.app).to_string();
    secrets::put_secret(&sm, &w.wechat_secret_id, &moved)
        .await
        .unwrap();
    issue_on(&w, &w.cold_instance(), "o-legacy", 1, "v2").await;
}
