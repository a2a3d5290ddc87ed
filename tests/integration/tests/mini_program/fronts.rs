//! The same functions behind either front (README "Fronts"): a function URL hands them `/`, the
//! HTTP API the route's own path (`/issue-key`, `/verify-result`); both answer the same, and
//! anything else is 404 or 405 with `Allow`.

use lambda_http::http::Method;
use serde_json::json;
use wxface_harness::fixtures::person;

use crate::world::{Function, World};

/// A whole v2 verification with issue-key and verify-result at `paths`.
async fn v2_at(
    w: &World,
    openid: &str,
    p: usize,
    (issue, verify): (&str, &str),
) -> serde_json::Value {
    let mut body = World::issue_request(&w.code(openid).await, person(p));
    body["flow"] = json!("v2");
    let issued = w
        .raw(
            &w.svc,
            Function::IssueKey,
            Method::POST,
            issue,
            body.to_string(),
        )
        .await;
    issued.assert_status(200);
    w.face_v2(openid, &issued.body, 10000).await;
    let body = json!({"code": w.code(openid).await, "out_seq_no": issued.body["out_seq_no"]});
    let answer = w
        .raw(
            &w.svc,
            Function::VerifyResult,
            Method::POST,
            verify,
            body.to_string(),
        )
        .await;
    answer.assert_status(200);
    answer.body
}

#[tokio::test]
async fn a_verification_answers_the_same_behind_either_front() {
    let w = World::new().await;
    let url = v2_at(&w, "o-front-url", 1, ("/", "/")).await;
    let api = v2_at(&w, "o-front-api", 2, ("/issue-key", "/verify-result")).await;
    for answer in [&url, &api] {
        assert_eq!(answer["status"], "verified", "{answer}");
        assert!(answer["receipt"].is_string(), "{answer}");
    }
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&url), keys(&api), "the same answer, field for field");
    // The JWKS at the same path behind both.
    let jwks = w
        .raw(
            &w.svc,
            Function::VerifyResult,
            Method::GET,
            "/.well-known/jwks.json",
            "",
        )
        .await;
    jwks.assert_status(200);
}

#[tokio::test]
async fn another_path_is_404_and_another_method_405_behind_either_front() {
    let w = World::new().await;
    let body = json!({}).to_string();
    for (f, path) in [
        (Function::IssueKey, "/verify-result"),
        (Function::IssueKey, "/issue-key/"),
        (Function::VerifyResult, "/issue-key"),
        (Function::VerifyResult, "/lookup"),
        (Function::IssueKey, "/authinfo"),
    ] {
        let r = w.raw(&w.svc, f, Method::POST, path, body.clone()).await;
        r.assert_error(404, "not_found");
    }
    for (f, path, allow) in [
        (Function::IssueKey, "/", "POST"),
        (Function::IssueKey, "/issue-key", "POST"),
        (Function::VerifyResult, "/verify-result", "POST"),
        (Function::VerifyResult, "/.well-known/jwks.json", "GET"),
    ] {
        let method = if allow == "GET" {
            Method::POST
        } else {
            Method::GET
        };
        let r = w.raw(&w.svc, f, method, path, body.clone()).await;
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.headers["allow"], allow, "{path}");
    }
    assert_eq!(w.total_wechat_calls().await, 0, "nothing reached WeChat");
}
