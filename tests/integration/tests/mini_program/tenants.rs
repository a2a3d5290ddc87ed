//! Two mini-programs in one deployment (docs/api.md §9), on moto and the
//! simulator: each verifies with its own credentials, token and identity
//! key; each one's sessions, receipts, events and limits stay its own; one's
//! code or Referer used against the other is a 4xx that changes nothing.

use std::time::Duration;

use lambda_http::Body;
use lambda_http::RequestExt;
use lambda_http::http::{Method, Request};
use serde_json::Value;
use wechat_sim::RunV1;
use wxface::domain::receipt::{IdentityKey, identity_hash};
use wxface::domain::{IdCardNumber, OutSeqNo, PersonName};
use wxface::upstream::Upstream;
use wxface_harness::aws_faults::AwsFaults;
use wxface_harness::fixtures::{Person, person};
use wxface_tests::function_url;
use wxface_tests::tenants::{B_IDENTITY_KEY, Tenants, claims, sim_app};

use crate::events::{event_path, published};
use crate::world::Function;

/// lookup as the backend calls it, naming the mini-program with `appid`.
async fn lookup(t: &Tenants, appid: Option<&str>, out_seq_no: &Value) -> (u16, Value) {
    let seq = out_seq_no.as_str().expect("out_seq_no");
    let mut query = vec![("out_seq_no".to_owned(), seq.to_owned())];
    if let Some(a) = appid {
        query.push(("appid".into(), a.into()));
    }
    // Both are URL-safe tokens (or, for the malformed case, plain ASCII).
    let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let uri = format!("/?{}", pairs.join("&"));
    let req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Body::Empty)
        .expect("request")
        .with_query_string_parameters(
            query
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    let resp = wxface::http::lookup::handle(&t.w.svc, req).await;
    let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    (resp.status().as_u16(), body)
}

fn expected_hash(out_seq_no: &Value, p: Person) -> String {
    identity_hash(
        &IdentityKey::from_base64(B_IDENTITY_KEY).unwrap(),
        &OutSeqNo::parse(out_seq_no.as_str().unwrap()).unwrap(),
        &PersonName::parse(p.name).unwrap(),
        &IdCardNumber::parse(p.id_card_number).unwrap(),
    )
}

async fn pks(t: &Tenants) -> Vec<String> {
    let items = wxface_tests::aws::scan(&t.w.aws, t.w.table()).await;
    items
        .iter()
        .map(|i| wxface_tests::aws::pk(i).to_owned())
        .collect()
}

#[tokio::test]
async fn both_verify_in_parallel_and_each_keeps_its_sessions_receipts_hashes_and_events() {
    let t = Tenants::start(None, &[]).await;
    let mut events = event_path(&t.w).await;
    let (a, b) = (&t.a, &t.b);
    let (ia, ib) = tokio::join!(
        t.issue_as(a, a, "o-a", person(0), "v2"),
        t.issue_as(b, b, "o-b", person(1), "v2"),
    );
    assert_eq!(
        (ia.status, ib.status),
        (200, 200),
        "{} {}",
        ia.body,
        ib.body
    );
    tokio::join!(
        t.w.face_v2("o-a", &ia.body, 10000),
        t.w.face_v2("o-b", &ib.body, 10000)
    );
    let (ra, rb) = tokio::join!(
        t.verify_as(a, "o-a", &ia.body["out_seq_no"]),
        t.verify_as(b, "o-b", &ib.body["out_seq_no"]),
    );
    assert_eq!(
        (ra.status, rb.status),
        (200, 200),
        "{} {}",
        ra.body,
        rb.body
    );
    assert_eq!(
        (ra.body["verified"].as_bool(), rb.body["verified"].as_bool()),
        (Some(true), Some(true))
    );
    let (ca, cb) = (claims(&ra.body["receipt"]), claims(&rb.body["receipt"]));
    assert_eq!(
        (ca["aud"].as_str(), cb["aud"].as_str()),
        (Some(a.appid.as_str()), Some(b.appid.as_str()))
    );
    // B's identity_hash is under B's key; A's is not.
    assert_eq!(
        cb["identity_hash"],
        expected_hash(&ib.body["out_seq_no"], person(1))
    );
    assert_ne!(
        ca["identity_hash"],
        expected_hash(&ia.body["out_seq_no"], person(0))
    );
    // Each tenant's items are under its own scope; the own app's as before.
    let keys = pks(&t).await;
    let seq_b = ib.body["out_seq_no"].as_str().unwrap();
    let seq_a = ia.body["out_seq_no"].as_str().unwrap();
    assert!(
        keys.contains(&format!("t#{}#session#{seq_b}", b.appid)),
        "{keys:?}"
    );
    assert!(keys.contains(&format!("session#{seq_a}")), "{keys:?}");
    // Each one's token was fetched with its own credentials and kept in its own secret.
    assert_eq!(t.w.sim_count("stable_token").await, 2);
    let sm = aws_sdk_secretsmanager::Client::new(&t.w.aws);
    let token = sm
        .get_secret_value()
        .secret_id(format!("{}{}/access-token", t.prefix, b.appid))
        .send()
        .await
        .expect("B's token secret");
    assert!(
        token
            .secret_string()
            .is_some_and(|s| s.contains("access_token"))
    );
    // Events carry the appid, and their receipts its aud.
    let got = published(&t.w, &mut events).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (seq, app) in [(seq_a, a), (seq_b, b)] {
        let d = &got[seq][0]["detail"];
        assert_eq!(d["appid"], app.appid.as_str());
        assert_eq!(claims(&d["receipt"])["aud"], app.appid.as_str());
    }
    assert_eq!(
        got[seq_b][0]["detail"]["identity_hash"],
        cb["identity_hash"]
    );
    // Each one's usage: its own day's count of final statuses (docs/api.md §9).
    let items = wxface_tests::aws::scan(&t.w.aws, t.w.table()).await;
    for scope in [String::new(), format!("t#{}#", b.appid)] {
        let usage: Vec<_> = items
            .iter()
            .filter(|i| wxface_tests::aws::pk(i).starts_with(&format!("{scope}usage#")))
            .collect();
        assert_eq!(usage.len(), 1, "{scope}: {usage:?}");
        assert_eq!(usage[0]["verified"].as_n().map(String::as_str), Ok("1"));
    }
}

#[tokio::test]
async fn one_tenants_code_session_or_referer_used_against_the_other_is_a_4xx_that_changes_nothing()
{
    let t = Tenants::start(None, &[]).await;
    let (a, b) = (&t.a, &t.b);
    let sb = t.issue_as(b, b, "o-b", person(1), "v2").await;
    assert_eq!(sb.status, 200, "{}", sb.body);
    let before = t.w.snapshot().await;
    // A's code on B's pages (and B's on A's): WeChat refuses it under the other's secret.
    for (pages, code_of) in [(b, a), (a, b)] {
        let r = t.issue_as(pages, code_of, "o-x", person(2), "v2").await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (401, Some("invalid_code")),
            "{}",
            r.body
        );
    }
    // B's session, asked about from A's pages or through A's lookup: not there.
    let r = t.verify_as(a, "o-b", &sb.body["out_seq_no"]).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );
    assert_eq!(lookup(&t, None, &sb.body["out_seq_no"]).await.0, 404);
    assert_eq!(
        lookup(&t, Some(&a.appid), &sb.body["out_seq_no"]).await.0,
        404
    );
    assert_eq!(t.w.snapshot().await, before, "nothing written");
    // Through its own: there, pending.
    let (status, body) = lookup(&t, Some(&b.appid), &sb.body["out_seq_no"]).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    // A malformed appid is the caller's mistake.
    let (status, body) = lookup(&t, Some("wx-nope"), &sb.body["out_seq_no"]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_appid"))
    );
}

#[tokio::test]
async fn an_unknown_appid_is_refused_without_a_secrets_manager_call_per_request() {
    let t = Tenants::start(None, &[]).await;
    let faults = AwsFaults::start(t.w.moto_url()).await;
    let svc = t.w.instance_via(faults.url()).await;
    let stranger = "wx00000000000000ff";
    let body = wxface_tests::world::World::issue_request(
        &t.w.wx.login(&t.a.appid, "o-s").await,
        person(0),
    );
    let first = t.post_as(&svc, stranger, Function::IssueKey, &body).await;
    assert_eq!(
        (first.status, first.body["error"]["code"].as_str()),
        (403, Some("unknown_appid")),
        "{}",
        first.body
    );
    faults.take_forwarded_by_target();
    for i in 0..20 {
        let appid = format!("wx00000000000001{i:02x}");
        let r = t.post_as(&svc, &appid, Function::IssueKey, &body).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let calls = faults.take_forwarded_by_target();
    assert!(
        !calls
            .keys()
            .any(|k| k.contains("GetSecretValue") || k.contains("ListSecrets")),
        "no Secrets Manager call for unknown appids: {calls:?}"
    );
    assert_eq!(t.w.total_wechat_calls().await, 0, "nor WeChat");
}

#[tokio::test]
async fn a_tenant_added_while_the_functions_run_works_within_the_ttl() {
    let c = sim_app("wx1111222233334444", "gh_111122223333");
    let t = Tenants::start_with(None, std::slice::from_ref(&c), |s| {
        s.secrets_ttl = Duration::from_secs(1)
    })
    .await;
    let r = t.issue_as(&c, &c, "o-c", person(0), "v2").await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (403, Some("unknown_appid"))
    );
    t.add(&c, None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = t.issue_as(&c, &c, "o-c", person(0), "v2").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_tenants_daily_limit_is_enforced_and_the_others_are_not_touched() {
    let t = Tenants::start(Some(2), &[]).await;
    let (a, b) = (&t.a, &t.b);
    // A call WeChat refuses starts no session: it does not count against the day.
    let refuse = wechat_sim::Fault {
        endpoint: Upstream::Getverifyid.name().into(),
        // Invalid arguments: a refusal, not retried.
        errcode: Some(40097),
        times: Some(1),
        ..Default::default()
    };
    t.w.wx.inject(&refuse).await;
    let r = t.issue_as(b, b, "o-refused", person(5), "v2").await;
    assert_eq!(r.status, 502, "{}", r.body);
    for i in 0..2 {
        let r = t.issue_as(b, b, &format!("o-b{i}"), person(i), "v2").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let sessions = async || {
        pks(&t)
            .await
            .into_iter()
            .filter(|k| k.contains("session#"))
            .count()
    };
    let before = sessions().await;
    let r = t.issue_as(b, b, "o-b9", person(3), "v2").await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (429, Some("daily_limit_reached")),
        "{}",
        r.body
    );
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(
        t.w.count(Upstream::Getverifyid).await,
        3,
        "refused before WeChat (the refused call and the two sessions reached it)"
    );
    assert_eq!(sessions().await, before, "no session written");
    // The refused user's hourly call is given back.
    let items = wxface_tests::aws::scan(&t.w.aws, t.w.table()).await;
    let hour = items
        .iter()
        .find(|i| wxface_tests::aws::pk(i).contains("rate#issue-key#o-b9#"))
        .expect("the user's hour");
    assert_eq!(hour["calls"].as_n().map(String::as_str), Ok("0"));
    for i in 0..3 {
        let r = t.issue_as(a, a, &format!("o-a{i}"), person(i), "v2").await;
        assert_eq!(r.status, 200, "A has no limit: {}", r.body);
    }
}

#[tokio::test]
async fn a_tenants_push_finalizes_its_own_session_on_its_own_url_only() {
    let t = Tenants::start(None, &[]).await;
    let b = &t.b;
    let url = function_url::serve(t.w.cold_instance(), Function::EventCallback).await;
    // B's push URL names B; A's console would name none.
    t.w.wx
        .configure_push(
            &b.appid,
            &format!("{url}?appid={}", b.appid),
            wechat_sim::PushMode::Safe,
            wechat_sim::PushFormat::Json,
        )
        .await;
    let issued = t.issue_as(b, b, "o-pb", person(1), "v1").await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let run = RunV1 {
        appid: b.appid.clone(),
        openid: "o-pb".into(),
        user_id_key: issued.body["user_id_key"].as_str().map(str::to_owned),
        ..Default::default()
    };
    t.w.wx.run_v1(&run).await;
    let log = t.w.wx.wait_for_push_log(1, Duration::from_secs(10)).await;
    assert!(log[0].delivered, "{:?}", log[0]);
    let (status, body) = lookup(&t, Some(&b.appid), &issued.body["out_seq_no"]).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("verified")),
        "{body}"
    );
    // The same push sent to A's URL (no appid), or naming A: B's signature is no good under
    // A's token, and nothing changes.
    let path_and_query = &log[0].url[log[0].url.find("/?").expect("a query")..];
    let before = t.w.snapshot().await;
    let stripped = path_and_query.replace(&format!("appid={}", b.appid), "x=1");
    let naming_a = path_and_query.replace(&b.appid, &t.a.appid);
    for uri in [stripped, naming_a] {
        let (status, _, _) = t.w.push(&t.w.svc, Method::POST, &uri, &log[0].body).await;
        assert_eq!(status, 401, "{uri}");
    }
    assert_eq!(t.w.snapshot().await, before);
}

/// The day's count is one number, and a call whose transaction's answer was lost (the SDK
/// retries it) is counted once: the limit's last session is still there.
#[tokio::test]
async fn a_lost_answer_of_the_days_count_counts_once() {
    let t = Tenants::start(Some(2), &[]).await;
    let faults = AwsFaults::start(t.w.moto_url()).await;
    let svc = t.w.instance_via(faults.url()).await;
    let b = &t.b;
    let issue = async |openid: &str, i: usize| {
        let code = t.w.wx.login(&b.appid, openid).await;
        let mut body = wxface_tests::world::World::issue_request(&code, person(i));
        body["flow"] = serde_json::json!("v2");
        t.post_as(&svc, &b.appid, Function::IssueKey, &body).await
    };
    assert_eq!(issue("o-l0", 0).await.status, 200, "warm");
    faults.inject(
        "TransactWriteItems",
        wxface_harness::aws_faults::AwsFault::LostAnswer,
        1,
    );
    let r = issue("o-l1", 1).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(faults.injected().get("lost_answer"), Some(&1));
    let r = issue("o-l2", 2).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (429, Some("daily_limit_reached")),
        "{}",
        r.body
    );
    let items = wxface_tests::aws::scan(&t.w.aws, t.w.table()).await;
    let day = items
        .iter()
        .find(|i| {
            let pk = wxface_tests::aws::pk(i);
            pk.starts_with(&format!("t#{}#rate#day#", b.appid)) && pk.matches('#').count() == 4
        })
        .expect("the day's count");
    assert_eq!(day["calls"].as_n().map(String::as_str), Ok("2"));
    assert!(day.get("tokens").is_none(), "one number, no growing set");
}
