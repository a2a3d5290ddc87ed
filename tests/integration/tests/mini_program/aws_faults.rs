//! AWS failing under the functions: a write performed whose answer was lost
//! (the SDK's retry meets its own item), throttling, errors. Never a 500,
//! never a double count, nothing lost.

use lambda_http::http::Method;
use serde_json::{Value, json};
use wxface_harness::aws_faults::{AwsFault, AwsFaults};
use wxface_harness::fixtures::person;

use crate::world::{Function, World};

async fn post(
    w: &World,
    svc: &wxface::service::Services,
    f: Function,
    body: Value,
) -> (u16, Value) {
    let r = w.raw(svc, f, Method::POST, "/", body.to_string()).await;
    assert!(
        r.status < 500 || r.status == 503,
        "{}: {}",
        r.status,
        r.body
    );
    (r.status, r.body)
}

async fn issue(
    w: &World,
    svc: &wxface::service::Services,
    openid: &str,
    flow: &str,
) -> (u16, Value) {
    let p = person(2);
    let body = json!({"code": w.code(openid).await, "name": p.name, "id_card_number": p.id_card_number, "flow": flow});
    post(w, svc, Function::IssueKey, body).await
}

async fn items_with_prefix(
    w: &World,
    prefix: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let out = w
        .ddb()
        .scan()
        .table_name(w.table())
        .send()
        .await
        .expect("scan");
    out.items()
        .iter()
        .filter(|i| {
            i.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| pk.starts_with(prefix))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn lost_answers_of_performed_writes_are_recognised_as_our_own() {
    let w = World::new().await;
    let faults = AwsFaults::start(w.moto_url()).await;
    let svc = w.instance_via(faults.url()).await;
    // Warm: secrets and token read, so the faults below hit the writes.
    assert_eq!(issue(&w, &svc, "o-warm", "v2").await.0, 200);

    // The rate slot (UpdateItem) and the session (PutItem) performed, their
    // answers lost: one session, counted once, and a 200.
    faults.inject("UpdateItem", AwsFault::LostAnswer, 1);
    faults.inject("PutItem", AwsFault::LostAnswer, 1);
    let (status, body) = issue(&w, &svc, "o-lost", "v1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(faults.injected().get("lost_answer"), Some(&2));
    let rate = items_with_prefix(&w, "rate#issue-key#o-lost#").await;
    assert_eq!(rate.len(), 1);
    assert_eq!(
        rate[0]["calls"].as_n().map(String::as_str),
        Ok("1"),
        "counted once"
    );
    let seq = body["out_seq_no"].clone();
    assert!(
        !items_with_prefix(&w, &format!("session#{}", seq.as_str().unwrap()))
            .await
            .is_empty()
    );

    // The final write performed, its answer lost: the answer is the result.
    let vr = w.face_v1("o-lost", &body, |_| {}).await;
    faults.inject("TransactWriteItems", AwsFault::LostAnswer, 1);
    let code = w.code("o-lost").await;
    let (status, answer) = post(
        &w,
        &svc,
        Function::VerifyResult,
        json!({"code": code, "out_seq_no": seq, "verify_result": vr}),
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("verified")),
        "{answer}"
    );
    assert_eq!(faults.injected().get("lost_answer"), Some(&3));
    // Counted in the day's usage once (with the warm-up's session, still pending: not at all).
    let usage = items_with_prefix(&w, "usage#").await;
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0]["verified"].as_n().map(String::as_str), Ok("1"));
}

#[tokio::test]
async fn throttling_and_errors_are_503_with_retry_after_and_change_nothing() {
    let w = World::new().await;
    let faults = AwsFaults::start(w.moto_url()).await;
    let svc = w.instance_via(faults.url()).await;
    for (target, fault) in [
        ("DynamoDB_20120810", AwsFault::Throttle),
        ("DynamoDB_20120810", AwsFault::ServerError),
        ("DynamoDB_20120810", AwsFault::Reset),
        ("secretsmanager", AwsFault::Throttle),
    ] {
        let cold = w.instance_via(faults.url()).await;
        let before = w.snapshot().await;
        faults.inject_randomly(target, fault, 1.0);
        let r = w
            .raw(&cold, Function::IssueKey, Method::POST, "/", {
                let p = person(3);
                json!({"code": w.code("o-t").await, "name": p.name, "id_card_number": p.id_card_number}).to_string()
            })
            .await;
        faults.heal();
        assert_eq!(
            (r.status, r.code()),
            (503, "upstream_unavailable"),
            "{target} {fault:?}: {}",
            r.body
        );
        assert!(r.headers.contains_key("retry-after"));
        assert_eq!(w.snapshot().await, before, "{target} {fault:?}");
    }
    // Healed: the same container works.
    assert_eq!(issue(&w, &svc, "o-t", "v2").await.0, 200);
}

/// The URL check of event-callback, signed with `token` now.
async fn url_check(w: &World, svc: &wxface::service::Services, token: &str) -> u16 {
    let ts = w.clock_now().to_string();
    let sig = wxface::push::crypto::signature(&[token, &ts, "n1"]);
    let uri = format!("/?signature={sig}&timestamp={ts}&nonce=n1&echostr=42");
    w.push(svc, Method::GET, &uri, "").await.0
}

#[tokio::test]
async fn secrets_are_read_again_after_their_ttl_and_the_last_good_value_is_kept_for_a_while() {
    let w = World::with(|s| {
        s.secrets_ttl = std::time::Duration::from_millis(300);
        // Long enough for two failing reads (the app secret's, then the WeChat credentials',
        // each with the SDK's retries) inside it.
        s.secrets_max_stale = std::time::Duration::from_millis(6000);
    })
    .await;
    let faults = AwsFaults::start(w.moto_url()).await;
    let svc = w.instance_via(faults.url()).await;
    let old = w.app.push_token.clone();
    assert_eq!(url_check(&w, &svc, &old).await, 200);
    // The operator rotates the push token in the secret.
    let sm = aws_sdk_secretsmanager::Client::new(&w.aws);
    let mut secret: Value = serde_json::from_str(
        &wxface_harness::secrets::get_secret(&sm, &w.wechat_secret_id)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    secret["push_token"] = json!("rotatedPushToken42");
    wxface_harness::secrets::put_secret(&sm, &w.wechat_secret_id, &secret.to_string())
        .await
        .unwrap();
    // Within the TTL the container still holds the old value...
    assert_eq!(url_check(&w, &svc, &old).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // ...after it, the new one, without a redeploy.
    assert_eq!(url_check(&w, &svc, "rotatedPushToken42").await, 200);
    assert_eq!(url_check(&w, &svc, &old).await, 401);
    // Secrets Manager failing: the last good value is kept, for a while...
    faults.inject_randomly("secretsmanager", AwsFault::ServerError, 1.0);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(url_check(&w, &svc, "rotatedPushToken42").await, 200);
    assert!(
        faults
            .injected()
            .get("server_error")
            .is_some_and(|n| *n > 0),
        "a read was tried"
    );
    // ...but not past SECRETS_MAX_STALE_SECONDS: then it fails closed (503, try again).
    tokio::time::sleep(std::time::Duration::from_millis(6000)).await;
    assert_eq!(url_check(&w, &svc, "rotatedPushToken42").await, 503);
    faults.heal();
    assert_eq!(url_check(&w, &svc, "rotatedPushToken42").await, 200);
}
