//! The message-push client against a tiny axum receiver on loopback: the
//! `face_identify` event in every mode × format, signatures, retries,
//! replay, faults and the GET handshake. One test also has wechatpy (the
//! project venv) decrypt what the simulator pushed.

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wechat_sim::{PushAttempt, PushCrypto, PushFormat, PushKind, PushMode, SimApp, SimConfig};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);
const OPENID: &str = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY";

/// What the receiver does with one POST.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Reply(u16, &'static str),
    /// Sleep, then reply 200 `success` (too late if beyond the timeout).
    Slow(u64),
}

#[derive(Debug, Clone)]
struct Received {
    method: Method,
    raw_query: String,
    query: HashMap<String, String>,
    content_type: String,
    body: String,
    at: Instant,
}

#[derive(Default)]
struct ReceiverState {
    /// Behaviours for the next POSTs; empty: 200 `success`.
    script: VecDeque<Behaviour>,
    received: Vec<Received>,
    /// The GET handshake answers this instead of the echostr.
    wrong_echo: bool,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    token: String,
    state: Arc<Mutex<ReceiverState>>,
}

/// `lowercase_hex(SHA1(concat(sort(parts))))`, computed here rather than
/// with the simulator's helper.
fn sorted_sha1(parts: &[&str]) -> String {
    let mut v = parts.to_vec();
    v.sort();
    hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, v.concat().as_bytes()).as_ref())
}

async fn receive(
    State(r): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_query = uri.query().unwrap_or_default().to_owned();
    let query: HashMap<String, String> =
        axum::extract::Query::<HashMap<String, String>>::try_from_uri(&uri)
            .map(|q| q.0)
            .unwrap_or_default();
    let behaviour = {
        let mut s = r.state.lock().expect("lock");
        s.received.push(Received {
            method: method.clone(),
            raw_query,
            query: query.clone(),
            content_type: headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
            at: Instant::now(),
        });
        if method == Method::GET {
            let q = |k: &str| query.get(k).cloned().unwrap_or_default();
            let expected = sorted_sha1(&[&r.token, &q("timestamp"), &q("nonce")]);
            if q("signature") != expected {
                return (StatusCode::FORBIDDEN, "bad signature").into_response();
            }
            let echo = if s.wrong_echo {
                "not-the-echostr".to_owned()
            } else {
                q("echostr")
            };
            return echo.into_response();
        }
        s.script.pop_front()
    };
    match behaviour {
        None => "success".into_response(),
        Some(Behaviour::Reply(status, body)) => {
            (StatusCode::from_u16(status).expect("status"), body).into_response()
        }
        Some(Behaviour::Slow(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            "success".into_response()
        }
    }
}

impl Receiver {
    async fn start(token: &str) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let r = Receiver {
            url: format!("http://{addr}/wx/push"),
            token: token.to_owned(),
            state: Arc::default(),
        };
        let app = Router::new()
            .route("/wx/push", any(receive))
            .with_state(r.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        r
    }

    fn script(&self, behaviours: &[Behaviour]) {
        self.state
            .lock()
            .expect("lock")
            .script
            .extend(behaviours.iter().copied());
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().expect("lock").received.clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        sim_kit::poll_until(WAIT, || async { self.received() }, |got| got.len() >= n)
            .await
            .unwrap_or_else(|got| panic!("receiver got {} request(s), expected {n}", got.len()))
    }
}

fn app() -> SimApp {
    SimApp::test_app()
}

/// An env plus a receiver registered as the test app's push URL.
async fn push_env(config: SimConfig, mode: PushMode, format: PushFormat) -> (Env, Receiver) {
    let env = env_with(config).await;
    let receiver = Receiver::start(&app().push_token).await;
    env.client
        .configure_push(APP, &receiver.url, mode, format)
        .await;
    (env, receiver)
}

/// getuseridkey (with out_seq_no) then the v1 run hook; returns the
/// verify_result.
async fn run_with_seq(env: &Env, out_seq_no: Option<&str>) -> String {
    let key = env.user_id_key(&env.token().await, out_seq_no).await;
    env.client.run_v1(&keyed_run(OPENID, &key)).await
}

/// Text of `<name>` in an XML body (CDATA or bare).
fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    let inner = &xml[start..end];
    Some(
        inner
            .strip_prefix("<![CDATA[")
            .and_then(|s| s.strip_suffix("]]>"))
            .unwrap_or(inner)
            .to_owned(),
    )
}

/// A body's field as a string, whatever the format.
fn field(body: &str, format: PushFormat, name: &str) -> Option<String> {
    match format {
        PushFormat::Json => {
            let v: Value = serde_json::from_str(body).expect("JSON body");
            v.get(name).map(|f| match f {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        }
        PushFormat::Xml => xml_field(body, name),
    }
}

/// Checks one received push as a backend would, and returns the plaintext
/// event (decrypted in compat/safe mode).
fn check_push(r: &Received, mode: PushMode, format: PushFormat) -> String {
    let a = app();
    assert_eq!(r.method, Method::POST);
    let q = |k: &str| r.query.get(k).cloned();
    let ts = q("timestamp").expect("timestamp");
    let nonce = q("nonce").expect("nonce");
    assert!(ts.parse::<u64>().is_ok() && nonce.parse::<u64>().is_ok());
    assert_eq!(
        q("signature").expect("signature"),
        sorted_sha1(&[&a.push_token, &ts, &nonce])
    );
    assert_eq!(
        r.content_type,
        match format {
            PushFormat::Json => "application/json",
            PushFormat::Xml => "text/xml",
        }
    );
    if mode == PushMode::Plain {
        for k in ["openid", "encrypt_type", "msg_signature"] {
            assert_eq!(q(k), None, "{k} in plain mode");
        }
        assert_eq!(field(&r.body, format, "Encrypt"), None);
        return r.body.clone();
    }
    assert_eq!(q("openid").as_deref(), Some(OPENID));
    assert_eq!(q("encrypt_type").as_deref(), Some("aes"));
    let encrypt = field(&r.body, format, "Encrypt").expect("Encrypt");
    assert_eq!(
        q("msg_signature").expect("msg_signature"),
        sorted_sha1(&[&a.push_token, &ts, &nonce, &encrypt])
    );
    assert_eq!(
        field(&r.body, format, "ToUserName").as_deref(),
        Some(a.original_id.as_str())
    );
    let plain = PushCrypto::new(&a.encoding_aes_key, &a.appid)
        .expect("key")
        .decrypt(&encrypt)
        .expect("decrypts with the app's key and appid");
    let plain = String::from_utf8(plain).expect("utf-8");
    let outer_fields = match format {
        PushFormat::Json => serde_json::from_str::<Value>(&r.body)
            .expect("json")
            .as_object()
            .expect("object")
            .len(),
        PushFormat::Xml => r.body.matches("</").count() - 1,
    };
    match mode {
        PushMode::Safe => assert_eq!(outer_fields, 2, "safe mode: ToUserName + Encrypt"),
        _ => {
            assert_eq!(outer_fields, 9, "compat mode: 8 fields + Encrypt");
            for name in [
                "FromUserName",
                "CreateTime",
                "Event",
                "out_seq_no",
                "verify_result",
            ] {
                assert_eq!(field(&r.body, format, name), field(&plain, format, name));
            }
        }
    }
    plain
}

fn check_event(plain: &str, format: PushFormat, out_seq_no: &str, verify_result: &str, now: i64) {
    let f = |name: &str| field(plain, format, name).unwrap_or_else(|| panic!("{name}: {plain}"));
    assert_eq!(f("ToUserName"), app().original_id);
    assert_eq!(f("FromUserName"), OPENID);
    let created: i64 = f("CreateTime").parse().expect("CreateTime");
    assert!(created.abs_diff(now) <= 2, "{created} vs {now}");
    assert_eq!(f("MsgType"), "event");
    assert_eq!(f("Event"), "face_identify");
    assert_eq!(f("openid"), OPENID);
    assert_eq!(f("out_seq_no"), out_seq_no);
    assert_eq!(f("verify_result"), verify_result);
    if format == PushFormat::Json {
        let v: Value = serde_json::from_str(plain).expect("json");
        assert!(v["CreateTime"].is_u64(), "CreateTime is a number");
    }
}

#[tokio::test]
async fn face_identify_arrives_signed_in_every_mode_and_format() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Safe, PushFormat::Json).await;
    let mut n = 0;
    for format in [PushFormat::Json, PushFormat::Xml] {
        for mode in [PushMode::Plain, PushMode::Compat, PushMode::Safe] {
            env.client
                .configure_push(APP, &receiver.url, mode, format)
                .await;
            let seq = format!("seq-{mode:?}-{format:?}");
            let verify_result = run_with_seq(&env, Some(&seq)).await;
            n += 1;
            let got = receiver.wait_for(n).await;
            let plain = check_push(&got[n - 1], mode, format);
            check_event(&plain, format, &seq, &verify_result, env.client.now().await);

            let log = env.client.wait_for_push_log(n, WAIT).await;
            let e = &log[n - 1];
            assert_eq!(
                (e.index, e.kind, e.attempt, e.status),
                (n - 1, PushKind::Event, 1, Some(200))
            );
            assert_eq!(e.reply.as_deref(), Some("success"));
            assert!(e.delivered && !e.protocol_error && e.error.is_none());
            assert_eq!((e.mode, e.format), (mode, format));
            assert_eq!(e.out_seq_no, seq);
            assert_eq!(e.appid, APP);
            assert_eq!(e.body, got[n - 1].body);
            assert!(e.url.ends_with(&got[n - 1].raw_query), "{}", e.url);
        }
    }
    assert_eq!(env.client.count("push").await, 6);
    assert_eq!(env.client.count("push_protocol_error").await, 0);
}

#[tokio::test]
async fn run_hook_returns_before_the_push_and_delay_and_duplicate_apply() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Safe, PushFormat::Json).await;
    env.client.set_push_faults(true, 400).await;
    let started = Instant::now();
    let verify_result = run_with_seq(&env, Some("dup-00001")).await;
    assert!(
        receiver.received().is_empty(),
        "the run hook answered before the delayed push"
    );
    let got = receiver.wait_for(2).await;
    assert!(got[0].at.duration_since(started) >= Duration::from_millis(400));
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(400));
    let first = check_push(&got[0], PushMode::Safe, PushFormat::Json);
    let second = check_push(&got[1], PushMode::Safe, PushFormat::Json);
    // The same event (same CreateTime: what backends dedupe on), freshly
    // signed and encrypted.
    assert_eq!(first, second);
    assert_ne!(got[0].body, got[1].body);
    assert_ne!(got[0].raw_query, got[1].raw_query);
    let now = env.client.now().await;
    check_event(&first, PushFormat::Json, "dup-00001", &verify_result, now);
    let log = env.client.wait_for_push_log(2, WAIT).await;
    assert_eq!(
        log.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [PushKind::Event, PushKind::Duplicate]
    );
    assert!(log.iter().all(|e| e.delivered && e.attempt == 1));

    // Faults off again: one push, no delay.
    env.client.set_push_faults(false, 0).await;
    run_with_seq(&env, Some("dup-00002")).await;
    receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn jitter_applies_to_pushes() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Plain, PushFormat::Xml).await;
    env.client.set_jitter(300, 300).await;
    let token = env.token().await; // jittered too, before the clock starts
    let key = env.user_id_key(&token, Some("jit-00001")).await;
    let started = Instant::now();
    env.client.run_v1(&keyed_run(OPENID, &key)).await;
    let got = receiver.wait_for(1).await;
    assert!(got[0].at.duration_since(started) >= Duration::from_millis(300));
}

#[tokio::test]
async fn retries_on_500_and_stops_after_success() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Compat, PushFormat::Xml).await;
    receiver.script(&[
        Behaviour::Reply(500, "oops"),
        Behaviour::Reply(502, ""),
        Behaviour::Reply(200, ""),
    ]);
    run_with_seq(&env, Some("retry-0001")).await;
    let log = env.client.wait_for_push_log(3, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3, "no attempt after the delivered one");
    assert_eq!(env.client.push_log().await.len(), 3);
    // Retries resend exactly the same request.
    assert!(
        got.iter()
            .all(|r| r.raw_query == got[0].raw_query && r.body == got[0].body)
    );
    assert_eq!(
        log.iter()
            .map(|e| (e.attempt, e.status))
            .collect::<Vec<_>>(),
        [(1, Some(500)), (2, Some(502)), (3, Some(200))]
    );
    assert_eq!(
        log.iter().map(|e| e.delivered).collect::<Vec<_>>(),
        [false, false, true],
        "an empty 200 reply counts as delivered"
    );
    assert_eq!(log[0].reply.as_deref(), Some("oops"));
    assert_eq!(env.client.count("push").await, 3);
}

#[tokio::test]
async fn retries_a_slow_receiver_after_the_timeout() {
    let config = SimConfig {
        push_timeout_ms: 300,
        ..SimConfig::default()
    };
    let (env, receiver) = push_env(config, PushMode::Safe, PushFormat::Xml).await;
    receiver.script(&[Behaviour::Slow(1500)]);
    run_with_seq(&env, Some("slow-0001")).await;
    let log = env.client.wait_for_push_log(2, WAIT).await;
    assert_eq!(log[0].attempt, 1);
    assert_eq!(log[0].status, None);
    assert_eq!(log[0].error.as_deref(), Some("timeout"));
    assert!(!log[0].delivered);
    assert_eq!((log[1].attempt, log[1].status), (2, Some(200)));
    assert!(log[1].delivered);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        // The timeout runs from the send, a little before the receiver
        // saw the request: allow for that.
        gap >= Duration::from_millis(200) && gap < Duration::from_millis(1500),
        "retried after the 300 ms timeout, not after the 1500 ms reply: {gap:?}"
    );
}

#[tokio::test]
async fn gives_up_after_three_retries() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Safe, PushFormat::Json).await;
    receiver.script(&[Behaviour::Reply(503, "busy"); 10]);
    run_with_seq(&env, Some("fail-0001")).await;
    let log = env.client.wait_for_push_log(4, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 4, "1 attempt + 3 retries");
    assert_eq!(
        log.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(log.iter().all(|e| !e.delivered && e.status == Some(503)));

    // push_retries = 2: the "three deliveries in total" reading.
    let config = SimConfig {
        push_retries: 2,
        ..SimConfig::default()
    };
    let (env, receiver) = push_env(config, PushMode::Safe, PushFormat::Json).await;
    receiver.script(&[Behaviour::Reply(503, "busy"); 10]);
    run_with_seq(&env, Some("fail-0002")).await;
    env.client.wait_for_push_log(3, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn other_2xx_replies_are_counted_protocol_errors() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Safe, PushFormat::Json).await;
    receiver.script(&[Behaviour::Reply(200, "ok")]);
    run_with_seq(&env, Some("proto-001")).await;
    let log = env.client.wait_for_push_log(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "a 2xx is not retried");
    let e = &log[0];
    assert!(e.protocol_error && !e.delivered);
    assert_eq!(e.reply.as_deref(), Some("ok"));
    assert_eq!(env.client.count("push_protocol_error").await, 1);
    env.client.reset_counters().await;
    assert_eq!(env.client.count("push").await, 0);
    assert_eq!(env.client.count("push_protocol_error").await, 0);
}

#[tokio::test]
async fn replay_resends_a_push_byte_for_byte() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Safe, PushFormat::Xml).await;
    run_with_seq(&env, Some("replay-01")).await;
    env.client.wait_for_push_log(1, WAIT).await;
    receiver.script(&[Behaviour::Reply(409, "replayed")]);
    let e: PushAttempt = env.client.replay_push(0).await;
    assert_eq!((e.index, e.kind, e.attempt), (1, PushKind::Replay, 1));
    assert_eq!(e.status, Some(409));
    assert_eq!(e.reply.as_deref(), Some("replayed"));
    assert!(!e.delivered);
    let got = receiver.received();
    assert_eq!(got.len(), 2, "a replay is sent once, never retried");
    assert_eq!(got[1].raw_query, got[0].raw_query);
    assert_eq!(got[1].body, got[0].body);
    assert_eq!(got[1].content_type, got[0].content_type);
    assert_eq!(env.client.push_log().await.len(), 2);
    assert_eq!(env.client.count("push").await, 2);

    let (status, v) = env
        .post_raw("/__sim/push/replay", None, r#"{"index":7}"#)
        .await;
    assert_eq!(status, 404, "{v}");
}

#[tokio::test]
async fn no_push_without_out_seq_no_or_push_url() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Safe, PushFormat::Json).await;
    // user_id_key without out_seq_no; name/ID mode.
    run_with_seq(&env, None).await;
    env.client.run_v1(&named_run(OPENID, NAME, ID)).await;
    // out_seq_no but push disabled.
    env.client.disable_push(APP).await;
    run_with_seq(&env, Some("nourl-001")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty());
    assert!(env.client.push_log().await.is_empty());
    assert_eq!(env.client.count("push").await, 0);
}

#[tokio::test]
async fn push_url_configured_in_sim_config() {
    let receiver = Receiver::start(&app().push_token).await;
    let mut config = SimConfig::default();
    config.apps[0].push_url = Some(receiver.url.clone());
    config.apps[0].push_mode = PushMode::Plain;
    let env = env_with(config).await;
    let verify_result = run_with_seq(&env, Some("cfg-00001")).await;
    let got = receiver.wait_for(1).await;
    let plain = check_push(&got[0], PushMode::Plain, PushFormat::Json);
    check_event(
        &plain,
        PushFormat::Json,
        "cfg-00001",
        &verify_result,
        env.client.now().await,
    );
    assert!(env.client.verify_push_url(APP).await);
}

#[tokio::test]
async fn url_verification_handshake() {
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Safe, PushFormat::Json).await;
    assert!(env.client.verify_push_url(APP).await);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, Method::GET);
    let mut keys: Vec<&str> = r.query.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["echostr", "nonce", "signature", "timestamp"]);
    assert!(r.query["echostr"].parse::<u64>().is_ok());

    receiver.state.lock().expect("lock").wrong_echo = true;
    let details = env.client.verify_push_url_details(APP).await;
    assert!(!details.ok);
    assert_eq!(details.status, Some(200));
    assert_eq!(details.reply.as_deref(), Some("not-the-echostr"));
    assert_eq!(
        env.client.count("push").await,
        0,
        "handshakes are not pushes"
    );

    // A receiver with another token refuses the signature.
    let other = Receiver::start("another-token").await;
    env.client
        .configure_push(APP, &other.url, PushMode::Safe, PushFormat::Json)
        .await;
    let details = env.client.verify_push_url_details(APP).await;
    assert_eq!((details.ok, details.status), (false, Some(403)));

    // Nobody listening: not ok, with the transport error.
    env.client
        .configure_push(
            APP,
            "http://127.0.0.1:9/none",
            PushMode::Safe,
            PushFormat::Json,
        )
        .await;
    let details = env.client.verify_push_url_details(APP).await;
    assert!(!details.ok && details.status.is_none() && details.error.is_some());

    for body in [
        r#"{"appid":"wxnope"}"#,
        r#"{"appid":"wxfedcba9876543210"}"#,
        "{}",
    ] {
        let (status, v) = env.post_raw("/__sim/push/verify", None, body).await;
        assert_eq!(status, 400, "{body}: {v}");
    }
}

#[tokio::test]
async fn push_config_and_fault_hooks_validate() {
    let env = env().await;
    let (status, v) = env
        .post_raw(
            "/__sim/push/config",
            None,
            r#"{"appid":"wx0123456789abcdef","url":"http://127.0.0.1:1/p","mode":"compat"}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"appid": APP, "url": "http://127.0.0.1:1/p", "mode": "compat", "format": "json"})
    );
    // Absent fields are kept; null clears the URL.
    let (_, v) = env
        .post_raw(
            "/__sim/push/config",
            None,
            r#"{"appid":"wx0123456789abcdef","format":"xml"}"#,
        )
        .await;
    assert_eq!(v["url"], "http://127.0.0.1:1/p");
    assert_eq!(
        (v["mode"].as_str(), v["format"].as_str()),
        (Some("compat"), Some("xml"))
    );
    let (_, v) = env
        .post_raw(
            "/__sim/push/config",
            None,
            r#"{"appid":"wx0123456789abcdef","url":null}"#,
        )
        .await;
    assert_eq!(v["url"], Value::Null);
    for bad in [
        r#"{"appid":"wxnope","url":"http://127.0.0.1:1/p"}"#,
        r#"{"appid":"wx0123456789abcdef","url":"ftp://x/"}"#,
        r#"{"appid":"wx0123456789abcdef","mode":"aes"}"#,
        r#"{"appid":"wx0123456789abcdef","format":"yaml"}"#,
        r#"{"appid":"wx0123456789abcdef","urll":"http://127.0.0.1:1/p"}"#,
        r#"{"url":"http://127.0.0.1:1/p"}"#,
    ] {
        let (status, v) = env.post_raw("/__sim/push/config", None, bad).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let (status, v) = env
        .post_raw("/__sim/push/faults", None, r#"{"duplicate":true}"#)
        .await;
    assert_eq!(
        (status, v),
        (200, json!({"duplicate": true, "delay_ms": 0}))
    );
    for bad in [r#"{"delay_ms":120001}"#, r#"{"dup":true}"#] {
        let (status, _) = env.post_raw("/__sim/push/faults", None, bad).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, v) = env.get("/__sim/push/log", &[]).await;
    assert_eq!((status, v), (200, json!([])));
}

/// `<root>/.venv/bin/python`, if the project venv exists.
fn venv_python() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    python.exists().then_some(python)
}

#[tokio::test]
async fn wechatpy_decrypts_what_the_simulator_pushes() {
    let Some(python) = venv_python() else {
        eprintln!("skipped: no .venv (run: bash scripts/venv.sh)");
        return;
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/wechatpy_push.py");
    let (env, receiver) = push_env(SimConfig::default(), PushMode::Safe, PushFormat::Json).await;
    let a = app();
    let mut n = 0;
    for (mode, format) in [
        (PushMode::Safe, PushFormat::Json),
        (PushMode::Safe, PushFormat::Xml),
        (PushMode::Compat, PushFormat::Json),
    ] {
        env.client
            .configure_push(APP, &receiver.url, mode, format)
            .await;
        run_with_seq(&env, Some(&format!("py-{n}-abc"))).await;
        n += 1;
        let got = receiver.wait_for(n).await;
        let r = &got[n - 1];
        let ours = check_push(r, mode, format);
        let q = |k: &str| r.query[k].clone();
        let out = tokio::process::Command::new(&python)
            .arg(&script)
            .args([
                "decrypt",
                "--token",
                &a.push_token,
                "--aes-key",
                &a.encoding_aes_key,
            ])
            .args([
                "--appid",
                APP,
                "--timestamp",
                &q("timestamp"),
                "--nonce",
                &q("nonce"),
            ])
            .args(["--msg-signature", &q("msg_signature")])
            .args([
                "--encrypt",
                &field(&r.body, format, "Encrypt").expect("Encrypt"),
            ])
            .output()
            .await
            .expect("runs python");
        assert!(
            out.status.success(),
            "wechatpy rejected the push ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).expect("utf-8"), ours);
    }
}
