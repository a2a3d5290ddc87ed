//! WeChat Pay failing: each fault mapped to the contract's error, nothing
//! cached, nothing personal stored, and the same call works once it is over.

use serde_json::json;
use wechatpay_sim::{Fault, ResponseSigner, SimSettings};
use wxface_harness::fixtures::person;

use wxface::upstream::Upstream;

use crate::world::{DEVICE, KeyMode, Options, Reply, World, user};

const AUTHINFO: Upstream = Upstream::GetWxpayfaceAuthinfo;
const USERS: Upstream = Upstream::FacemchUsers;

/// A fault of `endpoint`, as `set` describes it.
fn fault(endpoint: Upstream, set: impl FnOnce(&mut Fault)) -> Fault {
    let mut f = Fault {
        endpoint: crate::world::sim_endpoint(endpoint).into(),
        ..Default::default()
    };
    set(&mut f);
    f
}

/// The authinfo call under `f`: its reply; afterwards no cache item exists
/// and a clean call succeeds (and is then cached).
async fn authinfo_under(w: &World, f: Fault) -> Reply {
    w.pay.clear_faults().await;
    w.pay.inject(&f).await;
    let r = w.authinfo("store-1", "raw").await;
    assert!(
        w.items_with_prefix("authinfo#").await.is_empty(),
        "nothing cached: {}",
        r.body
    );
    w.pay.clear_faults().await;
    r
}

#[tokio::test]
async fn authinfo_faults() {
    for sign_type in ["MD5", "HMAC-SHA256"] {
        let w = World::with(Options::new(sign_type, KeyMode::PublicKey)).await;

        let refused = fault(AUTHINFO, |f| {
            f.return_code = Some("FAIL".into());
            f.return_msg = Some("签名错误，请检查后再试".into());
        });
        let r = authinfo_under(&w, refused).await;
        r.assert_error(502, "upstream_error");
        assert_eq!(r.body["error"]["return_code"], "FAIL");
        assert_eq!(r.body["error"]["return_msg"], "签名错误，请检查后再试");

        let bad = fault(AUTHINFO, |f| f.bad_signature = true);
        let missing = fault(AUTHINFO, |f| f.missing_signature = true);
        for f in [bad, missing] {
            let r = authinfo_under(&w, f).await;
            r.assert_error(502, "upstream_signature_invalid");
        }

        w.pay.reset_counters().await;
        let r = authinfo_under(&w, fault(AUTHINFO, |f| f.status = Some(500))).await;
        r.assert_unavailable();
        assert_eq!(w.authinfo_calls().await, 3, "5xx retried, boundedly");

        let r = authinfo_under(&w, fault(AUTHINFO, |f| f.status = Some(404))).await;
        r.assert_error(502, "upstream_error");

        // One 503, then fine: the retry hides it.
        let once = fault(AUTHINFO, |f| {
            f.status = Some(503);
            f.times = Some(1);
        });
        w.pay.inject(&once).await;
        w.authinfo("store-1", "raw").await.assert_status(200);
        assert_eq!(w.items_with_prefix("authinfo#").await.len(), 1);
    }
}

#[tokio::test]
async fn slow_and_unreachable_wechat_pay_is_503() {
    let w = World::new().await;
    w.pay.reset_counters().await;
    let r = authinfo_under(&w, fault(AUTHINFO, |f| f.delay_ms = Some(1500))).await;
    r.assert_unavailable();
    assert_eq!(w.authinfo_calls().await, 3);

    let down = w.instance_with(|s| {
        s.wechatpay_face_api_base = "http://127.0.0.1:9".into();
        s.wechatpay_api_base = "http://127.0.0.1:9".into();
    });
    let r = w.post_on(&down, "/", &World::authinfo_body("s", "r")).await;
    r.assert_unavailable();
    let body = json!({"device_id": DEVICE, "face_sid": "sid-1"});
    w.post_on(&down, "/real-name", &body)
        .await
        .assert_unavailable();
}

/// One real-name call under `f`; checks nothing personal leaked and the
/// audit item of that call records `outcome`.
async fn real_name_under(w: &World, f: Fault, outcome: &str) -> Reply {
    let face = w.pay.mint_face_sid(&user(person(0)), true).await;
    let before = w.items_with_prefix("audit#").await.len();
    w.pay.clear_faults().await;
    w.pay.inject(&f).await;
    let r = w.real_name(&face.face_sid, None).await;
    w.pay.clear_faults().await;
    for k in ["real_name", "credential_id", "openid"] {
        assert!(
            r.body.get(k).is_none() && r.body["error"].get(k).is_none(),
            "{}",
            r.body
        );
    }
    let audits = w.items_with_prefix("audit#").await;
    assert_eq!(
        audits.len(),
        before + 1,
        "every lookup that reached WeChat Pay is audited"
    );
    assert!(
        audits
            .iter()
            .any(|a| a["outcome"].as_s().unwrap() == outcome && !a.contains_key("openid")),
        "an audit item with outcome {outcome} and no openid"
    );
    // Once the fault is over the same face_sid works.
    w.real_name(&face.face_sid, None).await.assert_status(200);
    r
}

#[tokio::test]
async fn real_name_faults() {
    for key_mode in [KeyMode::PublicKey, KeyMode::PlatformCert] {
        let w = World::with(Options::new("HMAC-SHA256", key_mode)).await;
        let sig_faults = [
            fault(USERS, |f| f.bad_signature = true),
            fault(USERS, |f| f.missing_signature = true),
            fault(USERS, |f| f.wrong_serial = true),
            fault(USERS, |f| f.timestamp_skew_secs = Some(300)),
            fault(USERS, |f| f.timestamp_skew_secs = Some(-301)),
            fault(USERS, |f| f.timestamp_skew_secs = Some(86_400)),
        ];
        for f in sig_faults {
            let what = format!("{f:?}");
            let r = real_name_under(&w, f, "upstream_signature_invalid").await;
            r.assert_error_in(502, "upstream_signature_invalid", &what);
        }
        // Inside the 5-minute window is fine.
        let skewed = fault(USERS, |f| f.timestamp_skew_secs = Some(250));
        w.pay.inject(&skewed).await;
        let face = w.pay.mint_face_sid(&user(person(1)), true).await;
        assert_eq!(w.real_name(&face.face_sid, None).await.status, 200);
        w.pay.clear_faults().await;

        let garbled = fault(USERS, |f| f.garble_ciphertext = true);
        let r = real_name_under(&w, garbled, "decrypt_failed").await;
        r.assert_error(502, "decrypt_failed");

        for (status, code) in [(400, "PARAM_ERROR"), (401, "SIGN_ERROR"), (403, "NO_AUTH")] {
            let refused = fault(USERS, |f| {
                f.status = Some(status);
                f.code = Some(code.into());
                f.message = Some("模拟错误".into());
            });
            let r = real_name_under(&w, refused, "upstream_error").await;
            r.assert_error(502, "upstream_error");
            assert_eq!(r.body["error"]["wechatpay_code"], code);
            assert_eq!(r.body["error"]["wechatpay_message"], "模拟错误");
        }
        // No such face_sid: the kiosk's mistake, not ours.
        let gone = fault(USERS, |f| {
            f.status = Some(404);
            f.code = Some("RESOURCE_NOT_EXISTS".into());
            f.message = Some("模拟错误".into());
        });
        let r = real_name_under(&w, gone, "invalid_face_sid").await;
        r.assert_error(400, "invalid_face_sid");
        assert_eq!(r.body["error"]["wechatpay_code"], "RESOURCE_NOT_EXISTS");

        for (status, calls, why) in [
            (429, 2, "429 not retried (+1 clean call)"),
            (500, 4, "5xx retried 3 times (+1 clean call)"),
        ] {
            w.pay.reset_counters().await;
            let busy = fault(USERS, |f| f.status = Some(status));
            let r = real_name_under(&w, busy, "upstream_unavailable").await;
            r.assert_unavailable();
            assert_eq!(
                w.count(wxface::upstream::Upstream::FacemchUsers).await,
                calls,
                "{why}"
            );
        }

        let slow = fault(USERS, |f| f.delay_ms = Some(1500));
        let r = real_name_under(&w, slow, "upstream_unavailable").await;
        r.assert_unavailable();
        w.assert_no_pii().await;
    }
}

#[tokio::test]
async fn an_answer_signed_with_the_other_key_mode_is_refused() {
    // We hold only the public key, WeChat Pay signs with its platform cert
    // (and the reverse): the serial is unknown to us.
    for (key_mode, signer) in [
        (KeyMode::PublicKey, ResponseSigner::Platform),
        (KeyMode::PlatformCert, ResponseSigner::PublicKey),
    ] {
        let w = World::with(Options::new("MD5", key_mode)).await;
        let settings = SimSettings {
            response_signer: Some(signer),
            ..Default::default()
        };
        w.pay.configure(&settings).await;
        let face = w.pay.mint_face_sid(&user(person(2)), true).await;
        let r = w.real_name(&face.face_sid, None).await;
        r.assert_error(502, "upstream_signature_invalid");
    }
}

#[tokio::test]
async fn storage_failing_around_the_calls() {
    let w = World::new().await;
    let broken = w.instance_with(|s| s.sessions_table = "no-such-table".into());
    // The cache cannot be read: 503, WeChat Pay not asked.
    let r = w
        .post_on(&broken, "/", &World::authinfo_body("s", "r"))
        .await;
    r.assert_unavailable();
    assert_eq!(w.authinfo_calls().await, 0);
    // The audit cannot be written: the personal data is not handed out.
    let face = w.pay.mint_face_sid(&user(person(3)), true).await;
    let body = json!({"device_id": DEVICE, "face_sid": face.face_sid});
    let r = w.post_on(&broken, "/real-name", &body).await;
    r.assert_unavailable();
    assert!(r.body.get("real_name").is_none());
    // Retried on a healthy instance, it works.
    assert_eq!(w.real_name(&face.face_sid, None).await.status, 200);
}
