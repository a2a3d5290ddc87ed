//! WeChat Pay failing: each fault mapped to the contract's error, nothing
//! cached, nothing personal stored, and the same call works once it is over.

use wechatpay_sim::{Fault, PaySimConfig, ResponseSigner, SimSettings};
use wxface_harness::fixtures::person;

use crate::world::{KeyMode, Options, Reply, World, user};

fn fault(endpoint: &str) -> Fault {
    Fault {
        endpoint: endpoint.into(),
        ..Default::default()
    }
}

fn assert_unavailable(r: &Reply) {
    assert_eq!(
        (r.status, r.code()),
        (503, "upstream_unavailable"),
        "{}",
        r.body
    );
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
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
        let w = World::with(Options {
            sign_type,
            key_mode: KeyMode::PublicKey,
        })
        .await;

        let r = authinfo_under(
            &w,
            Fault {
                return_code: Some("FAIL".into()),
                return_msg: Some("签名错误，请检查后再试".into()),
                ..fault("authinfo")
            },
        )
        .await;
        assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.body);
        assert_eq!(r.body["error"]["return_code"], "FAIL");
        assert_eq!(r.body["error"]["return_msg"], "签名错误，请检查后再试");

        for f in [
            Fault {
                bad_signature: true,
                ..fault("authinfo")
            },
            Fault {
                missing_signature: true,
                ..fault("authinfo")
            },
        ] {
            let r = authinfo_under(&w, f).await;
            assert_eq!(
                (r.status, r.code()),
                (502, "upstream_signature_invalid"),
                "{}",
                r.body
            );
        }

        w.pay.reset_counters().await;
        let r = authinfo_under(
            &w,
            Fault {
                status: Some(500),
                ..fault("authinfo")
            },
        )
        .await;
        assert_unavailable(&r);
        assert_eq!(w.count("authinfo").await, 3, "5xx retried, boundedly");

        let r = authinfo_under(
            &w,
            Fault {
                status: Some(404),
                ..fault("authinfo")
            },
        )
        .await;
        assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.body);

        // One 503, then fine: the retry hides it.
        w.pay
            .inject(&Fault {
                status: Some(503),
                times: Some(1),
                ..fault("authinfo")
            })
            .await;
        let r = w.authinfo("store-1", "raw").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(w.items_with_prefix("authinfo#").await.len(), 1);
    }
}

#[tokio::test]
async fn slow_and_unreachable_wechat_pay_is_503() {
    let w = World::new().await;
    w.pay.reset_counters().await;
    let r = authinfo_under(
        &w,
        Fault {
            delay_ms: Some(1500),
            ..fault("authinfo")
        },
    )
    .await;
    assert_unavailable(&r);
    assert_eq!(w.count("authinfo").await, 3);

    let down = w.instance_with(|s| {
        s.wechatpay_face_api_base = "http://127.0.0.1:9".into();
        s.wechatpay_api_base = "http://127.0.0.1:9".into();
    });
    let auth = w.bearer();
    let r = w
        .raw_with(
            &down,
            lambda_http::http::Method::POST,
            "/",
            Some(&auth),
            World::authinfo_body("s", "r").to_string(),
        )
        .await;
    assert_unavailable(&r);
    let body = serde_json::json!({"device_id": "kiosk-001", "face_sid": "sid-1"});
    let r = w
        .raw_with(
            &down,
            lambda_http::http::Method::POST,
            "/real-name",
            Some(&auth),
            body.to_string(),
        )
        .await;
    assert_unavailable(&r);
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
    let ok = w.real_name(&face.face_sid, None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    r
}

#[tokio::test]
async fn real_name_faults() {
    for key_mode in [KeyMode::PublicKey, KeyMode::PlatformCert] {
        let w = World::with(Options {
            sign_type: "HMAC-SHA256",
            key_mode,
        })
        .await;
        let sig_faults = [
            Fault {
                bad_signature: true,
                ..fault("facemch_users")
            },
            Fault {
                missing_signature: true,
                ..fault("facemch_users")
            },
            Fault {
                wrong_serial: true,
                ..fault("facemch_users")
            },
            Fault {
                timestamp_skew_secs: Some(300),
                ..fault("facemch_users")
            },
            Fault {
                timestamp_skew_secs: Some(-301),
                ..fault("facemch_users")
            },
            Fault {
                timestamp_skew_secs: Some(86_400),
                ..fault("facemch_users")
            },
        ];
        for f in sig_faults {
            let what = format!("{f:?}");
            let r = real_name_under(&w, f, "upstream_signature_invalid").await;
            assert_eq!(
                (r.status, r.code()),
                (502, "upstream_signature_invalid"),
                "{what}: {}",
                r.body
            );
        }
        // Inside the 5-minute window is fine.
        w.pay
            .inject(&Fault {
                timestamp_skew_secs: Some(250),
                ..fault("facemch_users")
            })
            .await;
        let face = w.pay.mint_face_sid(&user(person(1)), true).await;
        assert_eq!(w.real_name(&face.face_sid, None).await.status, 200);
        w.pay.clear_faults().await;

        let r = real_name_under(
            &w,
            Fault {
                garble_ciphertext: true,
                ..fault("facemch_users")
            },
            "decrypt_failed",
        )
        .await;
        assert_eq!((r.status, r.code()), (502, "decrypt_failed"), "{}", r.body);

        for (status, code) in [
            (400, "PARAM_ERROR"),
            (401, "SIGN_ERROR"),
            (403, "NO_AUTH"),
            (404, "RESOURCE_NOT_EXISTS"),
        ] {
            let r = real_name_under(
                &w,
                Fault {
                    status: Some(status),
                    code: Some(code.into()),
                    message: Some("模拟错误".into()),
                    ..fault("facemch_users")
                },
                "upstream_error",
            )
            .await;
            assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.body);
            assert_eq!(r.body["error"]["wechatpay_code"], code);
            assert_eq!(r.body["error"]["wechatpay_message"], "模拟错误");
        }

        w.pay.reset_counters().await;
        let r = real_name_under(
            &w,
            Fault {
                status: Some(429),
                ..fault("facemch_users")
            },
            "upstream_unavailable",
        )
        .await;
        assert_unavailable(&r);
        assert_eq!(
            w.count("facemch_users").await,
            2,
            "429 not retried (+1 clean call)"
        );

        w.pay.reset_counters().await;
        let r = real_name_under(
            &w,
            Fault {
                status: Some(500),
                ..fault("facemch_users")
            },
            "upstream_unavailable",
        )
        .await;
        assert_unavailable(&r);
        assert_eq!(
            w.count("facemch_users").await,
            4,
            "5xx retried 3 times (+1 clean call)"
        );

        let r = real_name_under(
            &w,
            Fault {
                delay_ms: Some(1500),
                ..fault("facemch_users")
            },
            "upstream_unavailable",
        )
        .await;
        assert_unavailable(&r);
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
        let w = World::build(
            Options {
                sign_type: "MD5",
                key_mode,
            },
            PaySimConfig::default(),
            |_| {},
        )
        .await;
        w.pay
            .configure(&SimSettings {
                response_signer: Some(signer),
                ..Default::default()
            })
            .await;
        let face = w.pay.mint_face_sid(&user(person(2)), true).await;
        let r = w.real_name(&face.face_sid, None).await;
        assert_eq!(
            (r.status, r.code()),
            (502, "upstream_signature_invalid"),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn storage_failing_around_the_calls() {
    let w = World::new().await;
    let broken = w.instance_with(|s| s.sessions_table = "no-such-table".into());
    let auth = w.bearer();
    // The cache cannot be read: 503, WeChat Pay not asked.
    let r = w
        .raw_with(
            &broken,
            lambda_http::http::Method::POST,
            "/",
            Some(&auth),
            World::authinfo_body("s", "r").to_string(),
        )
        .await;
    assert_unavailable(&r);
    assert_eq!(w.count("authinfo").await, 0);
    // The audit cannot be written: the personal data is not handed out.
    let face = w.pay.mint_face_sid(&user(person(3)), true).await;
    let body = serde_json::json!({"device_id": "kiosk-001", "face_sid": face.face_sid});
    let r = w
        .raw_with(
            &broken,
            lambda_http::http::Method::POST,
            "/real-name",
            Some(&auth),
            body.to_string(),
        )
        .await;
    assert_unavailable(&r);
    assert!(r.body.get("real_name").is_none());
    // Retried on a healthy instance, it works.
    assert_eq!(w.real_name(&face.face_sid, None).await.status, 200);
}
