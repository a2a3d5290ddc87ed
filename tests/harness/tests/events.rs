//! The sample events in `events/` are Lambda function URL (payload 2.0) requests that
//! lambda_http reads, and their personal data comes from the fixtures.

use lambda_http::Body;
use serde_json::Value;
use wxface_harness::events;
use wxface_harness::fixtures::PEOPLE;

fn load(name: &str) -> (lambda_http::Request, Value) {
    let req = events::load(name, &[]);
    assert_eq!(req.method(), "POST", "{name}");
    assert_eq!(req.uri().path(), "/", "{name}");
    assert_eq!(
        req.headers().get("content-type").unwrap(),
        "application/json",
        "{name}"
    );
    let body = match req.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{name}: body is not text: {other:?}"),
    };
    (req, body)
}

#[test]
fn issue_key_events() {
    for (file, flow) in [("issue-key-v2.json", "v2"), ("issue-key-v1.json", "v1")] {
        let (_, body) = load(file);
        assert_eq!(body["flow"], flow, "{file}");
        let name = body["name"].as_str().unwrap();
        let id = body["id_card_number"].as_str().unwrap();
        assert!(
            PEOPLE.contains(&(name, id)),
            "{file}: use a fixture person, so the PII scan knows the data"
        );
        assert!(body["code"].is_string());
    }
}

#[test]
fn verify_result_events() {
    let (_, v2) = load("verify-result-v2.json");
    assert!(v2["code"].is_string() && v2["out_seq_no"].is_string());
    assert!(v2.get("verify_result").is_none());
    let (_, v1) = load("verify-result-v1.json");
    assert!(v1["verify_result"].is_string());
}
