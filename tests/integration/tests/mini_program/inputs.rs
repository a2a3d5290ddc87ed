//! Every bad input: its exact status and code, nothing stored, WeChat not called.

use lambda_http::http::Method;
use serde_json::{Value, json};
use wxface_harness::fixtures::{person, with_wrong_check_digit};

use crate::world::{Function, World};

fn issue_body(code: &str) -> Value {
    let p = person(0);
    json!({"code": code, "name": p.name, "id_card_number": p.id_card_number, "flow": "v2"})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        body.as_object_mut().unwrap().remove(key);
    } else {
        body[key] = value;
    }
    body
}

#[tokio::test]
async fn bad_issue_key_bodies() {
    let w = World::new().await;
    let good = issue_body("a-plausible-code");
    let id = person(0).id_card_number;
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not JSON", "{".into(), 400, "invalid_request"),
        ("empty body", String::new(), 400, "invalid_request"),
        ("JSON array", "[]".into(), 400, "invalid_request"),
        (
            "missing name",
            with(good.clone(), "name", Value::Null).to_string(),
            400,
            "invalid_request",
        ),
        (
            "missing code",
            with(good.clone(), "code", Value::Null).to_string(),
            400,
            "invalid_request",
        ),
        (
            "missing id",
            with(good.clone(), "id_card_number", Value::Null).to_string(),
            400,
            "invalid_request",
        ),
        (
            "name is a number",
            with(good.clone(), "name", json!(5)).to_string(),
            400,
            "invalid_request",
        ),
        (
            "flow is a bool",
            with(good.clone(), "flow", json!(true)).to_string(),
            400,
            "invalid_request",
        ),
        (
            "empty name",
            with(good.clone(), "name", json!("  ")).to_string(),
            400,
            "invalid_name",
        ),
        (
            "name with digits",
            with(good.clone(), "name", json!("张三3")).to_string(),
            400,
            "invalid_name",
        ),
        (
            "name with control char",
            with(good.clone(), "name", json!("张\u{7}三")).to_string(),
            400,
            "invalid_name",
        ),
        (
            "name too long",
            with(good.clone(), "name", json!("张".repeat(65))).to_string(),
            400,
            "invalid_name",
        ),
        (
            "bad check digit",
            with(
                good.clone(),
                "id_card_number",
                json!(with_wrong_check_digit(id)),
            )
            .to_string(),
            400,
            "invalid_id_card_number",
        ),
        (
            "bad birth date",
            with(good.clone(), "id_card_number", json!("110105199002301234")).to_string(),
            400,
            "invalid_id_card_number",
        ),
        (
            "short id",
            with(good.clone(), "id_card_number", json!(&id[..17])).to_string(),
            400,
            "invalid_id_card_number",
        ),
        (
            "long id",
            with(good.clone(), "id_card_number", json!(format!("{id}1"))).to_string(),
            400,
            "invalid_id_card_number",
        ),
        (
            "unknown flow",
            with(good.clone(), "flow", json!("v3")).to_string(),
            400,
            "invalid_flow",
        ),
        (
            "empty code",
            with(good.clone(), "code", json!("")).to_string(),
            401,
            "invalid_code",
        ),
        (
            "oversized body",
            with(good.clone(), "name", json!("x".repeat(17 * 1024))).to_string(),
            413,
            "payload_too_large",
        ),
    ];
    let before = w.snapshot().await;
    for (what, body, status, code) in cases {
        let r = w
            .raw(&w.svc, Function::IssueKey, Method::POST, "/", body)
            .await;
        assert_eq!((r.status, r.code()), (status, code), "{what}: {}", r.body);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    assert_eq!(w.total_wechat_calls().await, 0, "WeChat was called");
    assert_eq!(w.snapshot().await, before, "something was stored");
}

#[tokio::test]
async fn bad_verify_result_bodies() {
    let w = World::new().await;
    let good = json!({"code": "a-plausible-code", "out_seq_no": "abcdef", "verify_result": "vr"});
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not JSON", "nope".into(), 400, "invalid_request"),
        (
            "missing out_seq_no",
            with(good.clone(), "out_seq_no", Value::Null).to_string(),
            400,
            "invalid_request",
        ),
        (
            "out_seq_no is a number",
            with(good.clone(), "out_seq_no", json!(12345)).to_string(),
            400,
            "invalid_request",
        ),
        (
            "out_seq_no too short",
            with(good.clone(), "out_seq_no", json!("abc")).to_string(),
            400,
            "invalid_out_seq_no",
        ),
        (
            "out_seq_no with a slash",
            with(good.clone(), "out_seq_no", json!("abc/def")).to_string(),
            400,
            "invalid_out_seq_no",
        ),
        (
            "verify_result with spaces",
            with(good.clone(), "verify_result", json!("a b")).to_string(),
            400,
            "invalid_verify_result",
        ),
        (
            "code with spaces",
            with(good.clone(), "code", json!("a b")).to_string(),
            401,
            "invalid_code",
        ),
    ];
    for (what, body, status, code) in cases {
        let r = w
            .raw(&w.svc, Function::VerifyResult, Method::POST, "/", body)
            .await;
        assert_eq!((r.status, r.code()), (status, code), "{what}: {}", r.body);
    }
    assert_eq!(w.total_wechat_calls().await, 0, "WeChat was called");
}

#[tokio::test]
async fn routes_and_methods() {
    let w = World::new().await;
    let body = issue_body("c").to_string();
    for f in [Function::IssueKey, Function::VerifyResult] {
        let r = w.raw(&w.svc, f, Method::GET, "/", "").await;
        assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
        let r = w.raw(&w.svc, f, Method::PUT, "/", body.clone()).await;
        assert_eq!(r.status, 405);
        let r = w.raw(&w.svc, f, Method::POST, "/other", body.clone()).await;
        assert_eq!((r.status, r.code()), (404, "not_found"));
    }
    assert_eq!(w.total_wechat_calls().await, 0);
}

#[tokio::test]
async fn login_codes_wechat_refuses() {
    let w = World::new().await;
    // Never minted.
    let r = w
        .post(Function::IssueKey, &issue_body("never-minted-code"))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_code"), "{}", r.body);
    // Used twice: WeChat codes are single use.
    let code = w.code("o-kim").await;
    assert_eq!(
        w.post(Function::IssueKey, &issue_body(&code)).await.status,
        200
    );
    let r = w.post(Function::IssueKey, &issue_body(&code)).await;
    assert_eq!((r.status, r.code()), (401, "invalid_code"));
    // Expired after 5 minutes on WeChat's clock.
    let code = w.code("o-kim").await;
    w.wx.advance_clock(301).await;
    let r = w.post(Function::IssueKey, &issue_body(&code)).await;
    assert_eq!((r.status, r.code()), (401, "invalid_code"));
    assert_eq!(w.count("getverifyid").await, 1);
}

#[tokio::test]
async fn v1_session_needs_its_verify_result() {
    let w = World::new().await;
    let issued = w.issue_ok("o-lee", person(1), "v1").await;
    let r = w.verify("o-lee", &issued["out_seq_no"], None).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{}", r.body);
    assert_eq!(w.count("getinfo").await, 0);
    // A verify_result WeChat does not know: its error, and the session stays usable.
    let r = w
        .verify("o-lee", &issued["out_seq_no"], Some("forged-verify-result"))
        .await;
    assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.body);
    assert_eq!(r.body["error"]["errcode"], 84001);
    let vr = w.face_v1("o-lee", &issued, |_| {}).await;
    let r = w.verify("o-lee", &issued["out_seq_no"], Some(&vr)).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
}

#[tokio::test]
async fn issue_key_is_rate_limited_per_user() {
    let w = World::with(|s| s.issue_key_limit_per_hour = 2).await;
    let p = person(2);
    assert_eq!(w.issue("o-mia", p, "v2").await.status, 200);
    assert_eq!(w.issue("o-mia", p, "v2").await.status, 200);
    let r = w.issue("o-mia", p, "v2").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.body);
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_eq!(w.count("getverifyid").await, 2);
    // Another user is not affected; the next hour resets it.
    assert_eq!(w.issue("o-nina", p, "v2").await.status, 200);
    w.clock.advance(3600);
    assert_eq!(w.issue("o-mia", p, "v2").await.status, 200);
}
