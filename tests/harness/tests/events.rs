//! The sample events in `events/` are Lambda function URL (payload 2.0) requests that
//! lambda_http reads, and their personal data comes from the fixtures; each has its twin in
//! `events/http-api/` as the HTTP API front hands it over, which routes the same.

use lambda_http::Body;
use serde_json::Value;
use wxface::http::routes::{
    AuthinfoRoute, EventCallbackRoute, IssueKeyRoute, LookupRoute, Routes, VerifyResultRoute,
};
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

/// The route `function` parses `req` into, as text.
fn route(function: &str, req: &lambda_http::Request) -> String {
    fn of<R: Routes + std::fmt::Debug>(req: &lambda_http::Request) -> String {
        match R::parse(req) {
            Ok(r) => format!("{r:?}"),
            Err(e) => format!("refused {}", e.status),
        }
    }
    match function {
        "issue-key" => of::<IssueKeyRoute>(req),
        "verify-result" => of::<VerifyResultRoute>(req),
        "event-callback" => of::<EventCallbackRoute>(req),
        "authinfo" => of::<AuthinfoRoute>(req),
        "lookup" => of::<LookupRoute>(req),
        other => panic!("a sample event of no function: {other}"),
    }
}

#[test]
fn every_sample_has_an_http_api_twin_that_routes_the_same() {
    let dir = wxface_harness::workspace_root().join("events");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    let functions = [
        "issue-key",
        "verify-result",
        "event-callback",
        "authinfo",
        "lookup",
    ];
    for name in &names {
        let function = functions
            .iter()
            .find(|f| name.starts_with(*f))
            .unwrap_or_else(|| panic!("{name}: name it after its function"));
        let url = events::load(name, &[]);
        let api = events::load(&format!("http-api/{name}"), &[]);
        assert_eq!(url.method(), api.method(), "{name}");
        assert_eq!(url.uri().query(), api.uri().query(), "{name}");
        assert_eq!(url.body().as_ref(), api.body().as_ref(), "{name}");
        assert_ne!(
            url.uri().path(),
            api.uri().path(),
            "{name}: the API's own path"
        );
        let (u, a) = (route(function, &url), route(function, &api));
        assert!(!u.starts_with("refused"), "{name}: {u}");
        assert_eq!(u, a, "{name}: both fronts reach the same route");
    }
    let twins = std::fs::read_dir(dir.join("http-api")).unwrap().count();
    assert_eq!(twins, names.len(), "one twin per sample, no more");
}
