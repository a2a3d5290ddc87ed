//! Every bad input: its exact status and code, nothing stored, WeChat not called.

use lambda_http::http::Method;
use serde_json::{Value, json};
use wxface_harness::fixtures::{person, with_wrong_check_digit};

use wxface_tests::inputs::with;

use crate::world::{Function, World};

fn issue_body(code: &str) -> Value {
    let p = person(0);
    json!({"code": code, "name": p.name, "id_card_number": p.id_card_number, "flow": "v2"})
}

/// Cases grouped by the (status, code) they expect, flattened in order.
type Groups<'a> = Vec<(u16, &'a str, Vec<(&'a str, String)>)>;

fn flatten(groups: Groups<'_>) -> Vec<(&str, String, u16, &str)> {
    let mut out = Vec::new();
    for (status, code, cases) in groups {
        for (what, body) in cases {
            out.push((what, body, status, code));
        }
    }
    out
}

#[tokio::test]
async fn bad_issue_key_bodies() {
    let w = World::new().await;
    let good = issue_body("a-plausible-code");
    let id = person(0).id_card_number;
    // `good` with one field changed (null: removed).
    let set = |field: &str, value: Value| with(good.clone(), field, value).to_string();
    let set_id = |value: Value| set("id_card_number", value);
    let cases = flatten(vec![
        (
            400,
            "invalid_request",
            vec![
                ("not JSON", "{".into()),
                ("empty body", String::new()),
                ("JSON array", "[]".into()),
                ("missing name", set("name", Value::Null)),
                ("missing code", set("code", Value::Null)),
                ("missing id", set_id(Value::Null)),
                ("name is a number", set("name", json!(5))),
                ("flow is a bool", set("flow", json!(true))),
            ],
        ),
        (
            400,
            "invalid_name",
            vec![
                ("empty name", set("name", json!("  "))),
                ("name with digits", set("name", json!("张三3"))),
                ("name with control char", set("name", json!("张\u{7}三"))),
                ("name too long", set("name", json!("张".repeat(65)))),
            ],
        ),
        (
            400,
            "invalid_id_card_number",
            vec![
                ("bad check digit", set_id(json!(with_wrong_check_digit(id)))),
                ("bad birth date", set_id(json!("110105199002301234"))),
                ("short id", set_id(json!(&id[..17]))),
                ("long id", set_id(json!(format!("{id}1")))),
            ],
        ),
        (
            400,
            "invalid_flow",
            vec![("unknown flow", set("flow", json!("v3")))],
        ),
        (
            401,
            "invalid_code",
            vec![("empty code", set("code", json!("")))],
        ),
        (
            413,
            "payload_too_large",
            vec![("oversized body", set("name", json!("x".repeat(17 * 1024))))],
        ),
    ]);
    let before = w.snapshot().await;
    for (what, body, status, code) in cases {
        let r = w
            .raw(&w.svc, Function::IssueKey, Method::POST, "/", body)
            .await;
        r.assert_error_in(status, code, what);
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
    let set = |field: &str, value: Value| with(good.clone(), field, value).to_string();
    let cases = flatten(vec![
        (
            400,
            "invalid_request",
            vec![
                ("not JSON", "nope".into()),
                ("missing out_seq_no", set("out_seq_no", Value::Null)),
                ("out_seq_no is a number", set("out_seq_no", json!(12345))),
            ],
        ),
        (
            400,
            "invalid_out_seq_no",
            vec![
                ("out_seq_no too short", set("out_seq_no", json!("abc"))),
                (
                    "out_seq_no with a slash",
                    set("out_seq_no", json!("abc/def")),
                ),
            ],
        ),
        (
            400,
            "invalid_verify_result",
            vec![(
                "verify_result with spaces",
                set("verify_result", json!("a b")),
            )],
        ),
        (
            401,
            "invalid_code",
            vec![("code with spaces", set("code", json!("a b")))],
        ),
    ]);
    for (what, body, status, code) in cases {
        let r = w
            .raw(&w.svc, Function::VerifyResult, Method::POST, "/", body)
            .await;
        r.assert_error_in(status, code, what);
    }
    assert_eq!(w.total_wechat_calls().await, 0, "WeChat was called");
}

#[tokio::test]
async fn routes_and_methods() {
    let w = World::new().await;
    let body = issue_body("c").to_string();
    for f in [Function::IssueKey, Function::VerifyResult] {
        let r = w.raw(&w.svc, f, Method::GET, "/", "").await;
        r.assert_error(405, "method_not_allowed");
        let r = w.raw(&w.svc, f, Method::PUT, "/", body.clone()).await;
        assert_eq!(r.status, 405);
        let r = w.raw(&w.svc, f, Method::POST, "/other", body.clone()).await;
        r.assert_error(404, "not_found");
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
    r.assert_error(401, "invalid_code");
    // Used twice: WeChat codes are single use.
    let code = w.code("o-kim").await;
    assert_eq!(
        w.post(Function::IssueKey, &issue_body(&code)).await.status,
        200
    );
    let r = w.post(Function::IssueKey, &issue_body(&code)).await;
    r.assert_error(401, "invalid_code");
    // Expired after 5 minutes on WeChat's clock.
    let code = w.code("o-kim").await;
    w.wx.advance_clock(301).await;
    let r = w.post(Function::IssueKey, &issue_body(&code)).await;
    r.assert_error(401, "invalid_code");
    assert_eq!(w.count(wxface::upstream::Upstream::Getverifyid).await, 1);
}

#[tokio::test]
async fn v1_session_needs_its_verify_result() {
    let w = World::new().await;
    let issued = w.issue_ok("o-lee", person(1), "v1").await;
    let r = w.verify("o-lee", &issued["out_seq_no"], None).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(w.count(wxface::upstream::Upstream::Getinfo).await, 0);
    // A verify_result WeChat does not know: the client's mistake (400, with
    // WeChat's errcode), and the session stays usable.
    let r = w
        .verify("o-lee", &issued["out_seq_no"], Some("forged-verify-result"))
        .await;
    r.assert_error(400, "verify_result_unknown");
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
    r.assert_error(429, "rate_limited");
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_eq!(w.count(wxface::upstream::Upstream::Getverifyid).await, 2);
    // Another user is not affected; the next hour resets it.
    assert_eq!(w.issue("o-nina", p, "v2").await.status, 200);
    w.clock.advance(3600);
    assert_eq!(w.issue("o-mia", p, "v2").await.status, 200);
}
