//! The tenants' signed webhooks (docs/api.md §9), on moto and the simulator:
//! publish-events puts each event on the bus, a rule queues it, deliver-webhooks
//! POSTs the tenant's to its receiver, signed; a receiver that fails then
//! recovers gets each event, under one `webhook-id`; a 410 disables it. The
//! reference `standardwebhooks` libraries (PyPI and npm) verify every delivery.

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use wxface::config::WebhookSettings;
use wxface::domain::SystemClock;
use wxface::service::webhooks::WebhookServices;
use wxface_harness::event_path::EventPath;
use wxface_harness::fixtures::person;
use wxface_harness::workspace_root;
use wxface_tests::tenants::Tenants;

use crate::events::{drain, event_path, publisher};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";

/// A receiver: answers each request with the next status of its script (then 204), and keeps
/// every request it got.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Vec<u16>>>,
    got: Arc<Mutex<Vec<Value>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    r.got.lock().unwrap().push(json!({
        "headers": {"webhook-id": h("webhook-id"), "webhook-timestamp": h("webhook-timestamp"),
                    "webhook-signature": h("webhook-signature")},
        "body": String::from_utf8_lossy(&body),
    }));
    let mut script = r.script.lock().unwrap();
    let status = if script.is_empty() {
        204
    } else {
        script.remove(0)
    };
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start(script: &[u16]) -> (Self, String) {
        let r = Self {
            script: Arc::new(Mutex::new(script.to_vec())),
            ..Default::default()
        };
        let app = Router::new().fallback(receive).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn got(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }
}

/// deliver-webhooks as a container would build it, fed by `path`'s queue. The system clock:
/// receivers check the timestamp against theirs.
fn deliverer(t: &Tenants, path: &EventPath) -> WebhookServices {
    let settings = WebhookSettings {
        sessions_table: t.w.table().to_owned(),
        tenant_secret_prefix: t.prefix.clone(),
        webhook_queue_url: path.queue_url().to_owned(),
        webhook_timeout: std::time::Duration::from_secs(2),
        secrets_ttl: std::time::Duration::from_secs(300),
        secrets_max_stale: std::time::Duration::from_secs(900),
    };
    wxface::app::build_webhook_services(settings, &t.w.aws, Arc::new(SystemClock))
        .expect("services")
}

/// The stream to the bus (publish-events), then the queue to deliver-webhooks: how many
/// invocations the queue made.
async fn run(t: &Tenants, path: &mut EventPath) -> usize {
    drain(path, &publisher(&t.w, &t.w.aws, &path.bus)).await;
    let svc = deliverer(t, path);
    let invoke = |event: Value| {
        let svc = &svc;
        async move {
            wxface::webhooks::handle(svc, event)
                .await
                .map(|r| serde_json::to_value(r).expect("JSON"))
        }
    };
    path.feed_queue(invoke).await.expect("queue on moto")
}

/// A verified 2.0 session from `app`'s pages: its out_seq_no.
async fn verified(t: &Tenants, app: &wechat_sim::SimApp, openid: &str) -> String {
    let s = t.issue_as(app, app, openid, person(1), "v2").await;
    assert_eq!(s.status, 200, "{}", s.body);
    t.w.face_v2(openid, &s.body, 10000).await;
    let r = t.verify_as(app, openid, &s.body["out_seq_no"]).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
    s.body["out_seq_no"].as_str().unwrap().to_owned()
}

/// The reference libraries verify every delivery in `file` (each with its secret).
fn reference_libraries_verify(deliveries: &[Value]) {
    let root = workspace_root();
    let dir = tempfile_dir();
    let file = dir.join("deliveries.json");
    std::fs::write(&file, serde_json::to_string(deliveries).unwrap()).unwrap();
    let python = root.join(".venv/bin/python");
    let checks = [
        (
            python.into_os_string(),
            root.join("examples/backend/verify_webhook.py"),
        ),
        (
            "node".into(),
            root.join("examples/backend/verify_webhook.mjs"),
        ),
    ];
    for (program, script) in checks {
        let out = Command::new(&program)
            .arg(&script)
            .arg("--deliveries")
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{}: {}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(&format!("{} verified", deliveries.len())),
            "{said}"
        );
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(wxface_harness::fixtures::unique_name("wxface-webhooks"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_receiver_that_fails_then_recovers_gets_each_event_once_signed_under_one_id() {
    let (receiver, url) = Receiver::start(&[500, 503]).await;
    let t = Tenants::start(None, &[]).await;
    // During a rotation: the new secret and the old one, each signs.
    let hook = json!({"url": url, "secrets": [SECRET, OLD_SECRET]});
    t.set_webhook(&t.b, hook).await;
    let mut path = event_path(&t.w).await;
    let seq_b = verified(&t, &t.b, "o-wb").await;
    let _own = verified(&t, &t.a, "o-wa").await;
    // Two events queued: B's tried three times, A's (no webhook: the own mini-program) once.
    assert_eq!(run(&t, &mut path).await, 4);
    let got = receiver.got();
    assert_eq!(got.len(), 3, "{got:?}");
    let id = format!("final-{seq_b}");
    for d in &got {
        assert_eq!(d["headers"]["webhook-id"], id.as_str());
        let sigs = d["headers"]["webhook-signature"].as_str().unwrap();
        assert_eq!(sigs.split(' ').count(), 2, "{sigs}");
        let body: Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["type"], "verification.finalized");
        assert_eq!(body["data"]["appid"], t.b.appid.as_str());
        assert_eq!(body["data"]["out_seq_no"], seq_b.as_str());
    }
    // Each library verifies each delivery with each secret alone (as either side of a rotation).
    let mut checks = Vec::new();
    for d in &got {
        for secret in [SECRET, OLD_SECRET] {
            let mut c = d.clone();
            c["secret"] = json!(secret);
            checks.push(c);
        }
    }
    reference_libraries_verify(&checks);
}

#[tokio::test]
async fn a_410_disables_the_tenants_webhook_until_its_url_changes() {
    let (gone, url) = Receiver::start(&[410]).await;
    let t = Tenants::start(None, &[]).await;
    t.set_webhook(&t.b, json!({"url": url, "secrets": [SECRET]}))
        .await;
    let mut path = event_path(&t.w).await;
    verified(&t, &t.b, "o-g1").await;
    assert_eq!(run(&t, &mut path).await, 1);
    verified(&t, &t.b, "o-g2").await;
    assert_eq!(run(&t, &mut path).await, 1, "taken off the queue, not sent");
    assert_eq!(gone.got().len(), 1, "not sent again after the 410");
    // A new URL: delivered again.
    let (fresh, url) = Receiver::start(&[]).await;
    t.set_webhook(&t.b, json!({"url": url, "secrets": [SECRET]}))
        .await;
    verified(&t, &t.b, "o-g3").await;
    assert_eq!(run(&t, &mut path).await, 1);
    assert_eq!(fresh.got().len(), 1);
}

/// A tenant's webhook is its own secret: a mistake there holds up its deliveries (tried again
/// until fixed), never its verifications.
#[tokio::test]
async fn a_broken_webhook_secret_never_stops_the_tenants_verifications() {
    let t = Tenants::start(None, &[]).await;
    t.set_webhook(&t.b, json!({"url": "ftp://nowhere", "secrets": []}))
        .await;
    let mut path = event_path(&t.w).await;
    verified(&t, &t.b, "o-broken").await;
    let publish = publisher(&t.w, &t.w.aws, &path.bus);
    drain(&mut path, &publish).await;
    let svc = deliverer(&t, &path);
    let mut event = path.receive_one().await.expect("queue").expect("the event");
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = json!("1");
    let answer = wxface::webhooks::handle(&svc, event)
        .await
        .expect("a batch");
    assert_eq!(answer.batch_item_failures.len(), 1, "tried again later");
}
