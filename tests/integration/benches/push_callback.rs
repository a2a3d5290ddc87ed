//! How long event-callback takes per push, locally: the real handler, moto
//! (through the SDK over HTTP) and the WeChat simulator.
//!
//! `cargo bench -p wxface-tests --bench push_callback` (moto from the project
//! venv; set WXFACE_TEST_MOTO_ENDPOINT to reuse a running one).

use std::time::{Duration, Instant};

use lambda_http::http::Method;
use wxface::push::AesKey;
use wxface::push::crypto::signature;
use wxface_harness::fixtures::person;
use wxface_tests::world::World;

fn safe_push(w: &World, message: &str) -> (String, String) {
    let ts = w.clock_now().to_string();
    let nonce = "1320562132";
    let key = AesKey::from_encoding_aes_key(&w.app.encoding_aes_key).expect("key");
    let encrypt = key.encrypt(message, &w.app.appid);
    let sig = signature(&[&w.app.push_token, &ts, nonce]);
    let msg_sig = signature(&[&w.app.push_token, &ts, nonce, &encrypt]);
    let uri = format!(
        "/?signature={sig}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_sig}"
    );
    let body = serde_json::json!({"ToUserName": "gh_0123456789ab", "Encrypt": encrypt}).to_string();
    (uri, body)
}

fn face_identify(openid: &str, out_seq_no: &str, verify_result: &str) -> String {
    serde_json::json!({
        "ToUserName": "gh_0123456789ab", "FromUserName": openid, "CreateTime": 1,
        "MsgType": "event", "Event": "face_identify",
        "openid": openid, "out_seq_no": out_seq_no, "verify_result": verify_result,
    })
    .to_string()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<58} n={:<4} median={:>7.2?} p90={:>7.2?} p99={:>7.2?} max={:>7.2?}",
        samples.len(),
        pick(0.5),
        pick(0.9),
        pick(0.99),
        samples[samples.len() - 1]
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let w = World::new().await;
        // Warm the token, the app secret cache and the connections.
        let issued = w.issue_ok("o-bench", person(0), "v1").await;
        let vr = w.face_v1("o-bench", &issued, |_| {}).await;
        let (uri, body) = safe_push(
            &w,
            &face_identify("o-bench", issued["out_seq_no"].as_str().unwrap(), &vr),
        );
        assert_eq!(w.push(&w.svc, Method::POST, &uri, &body).await.0, 200);

        // Authenticated, decrypted, looked up, ignored: the cost of a push
        // that finds nothing to do (e.g. a retried duplicate).
        let mut ignored = Vec::new();
        for i in 0..300 {
            let (uri, body) = safe_push(
                &w,
                &face_identify("o-bench", &format!("unknown-{i:05}"), "vr"),
            );
            let t = Instant::now();
            let (status, _, _) = w.push(&w.svc, Method::POST, &uri, &body).await;
            ignored.push(t.elapsed());
            assert_eq!(status, 200);
        }

        // The full path: record the event, getinfo at the simulator, claim
        // the verify_result, finalize the session.
        let mut finalized = Vec::new();
        for i in 0..200 {
            let openid = format!("o-bench-{i}");
            let issued = w.issue_ok(&openid, person(i), "v1").await;
            let vr = w.face_v1(&openid, &issued, |_| {}).await;
            let seq = issued["out_seq_no"].as_str().unwrap();
            let (uri, body) = safe_push(&w, &face_identify(&openid, seq, &vr));
            let t = Instant::now();
            let (status, _, _) = w.push(&w.svc, Method::POST, &uri, &body).await;
            finalized.push(t.elapsed());
            assert_eq!(status, 200);
        }
        let getinfo = w.count(wxface::upstream::Upstream::Getinfo).await;
        assert_eq!(getinfo, 201, "every push finalized with one getinfo");

        println!("event-callback per push (optimised build; moto and the simulator on loopback)");
        report("safe-mode push, unknown out_seq_no (ignored)", ignored);
        report("safe-mode face_identify, finalized via getinfo", finalized);
    });
}
