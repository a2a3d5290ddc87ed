//! Partner mode (服务商模式): one provider deployment for two sub-merchants
//! (hospitals), each kiosk registered to one. The real-name fields pass
//! through still encrypted to the hospital's certificate; only the
//! hospital's key opens them (examples/hospital/decrypt_real_name.py).

use lambda_http::http::Method;
use serde_json::{Value, json};
use wechatpay_sim::{PaySimConfig, test_keys};
use wxface::crypto::rsa::MerchantKey;
use wxface_harness::fixtures::person;
use wxface_harness::kiosk::sha256_hex;

use crate::world::{Options, World, new_token, user};

struct Hospital {
    device: &'static str,
    token: String,
    sub_mch_id: &'static str,
    serial: &'static str,
    key: &'static str,
}

/// A provider's deployment: sub-merchants A and B, kiosks `ward-a` (store
/// S-A only) and `ward-b`, with `sub_serial_no` for A overridable.
async fn provider(a_serial: &'static str) -> (World, [Hospital; 2]) {
    let hospitals = [
        Hospital {
            device: "ward-a",
            token: new_token(),
            sub_mch_id: test_keys::SUB_MCH_ID_A,
            serial: a_serial,
            key: test_keys::SUB_MERCHANT_A_PRIVATE_KEY,
        },
        Hospital {
            device: "ward-b",
            token: new_token(),
            sub_mch_id: test_keys::SUB_MCH_ID_B,
            serial: test_keys::SUB_MERCHANT_B_SERIAL,
            key: test_keys::SUB_MERCHANT_B_PRIVATE_KEY,
        },
    ];
    let (ta, tb) = (hospitals[0].token.clone(), hospitals[1].token.clone());
    let w = World::build(Options::default(), PaySimConfig::default(), move |s| {
        s["sub_merchants"] = json!({
            test_keys::SUB_MCH_ID_A: {"sub_appid": test_keys::SUB_APPID_A, "sub_serial_no": a_serial},
            test_keys::SUB_MCH_ID_B: {"sub_appid": test_keys::SUB_APPID_B, "sub_serial_no": test_keys::SUB_MERCHANT_B_SERIAL,
                                      "certificate": test_keys::SUB_MERCHANT_B_CERTIFICATE},
        });
        s["devices"]["ward-a"] = json!({"token_sha256": sha256_hex(&ta), "sub_mch_id": test_keys::SUB_MCH_ID_A, "store_id": "S-A"});
        s["devices"]["ward-b"] = json!({"token_sha256": sha256_hex(&tb), "sub_mch_id": test_keys::SUB_MCH_ID_B});
    })
    .await;
    (w, hospitals)
}

async fn post_as(w: &World, h: &Hospital, path: &str, body: Value) -> crate::world::Reply {
    let auth = format!("Bearer {}", h.token);
    w.raw(Method::POST, path, Some(&auth), body.to_string())
        .await
}

/// The hospital's helper, run as the hospital runs it: the answer in, the
/// decrypted fields out, or a refusal.
fn hospital_decrypts(answer: &Value, key_pem: &str) -> Result<Value, String> {
    use std::io::Write;
    let root = wxface_harness::workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the project's .venv is needed (make test creates it)"
    );
    let key = std::env::temp_dir().join(format!("wxface-hospital-{}.pem", new_token()));
    std::fs::write(&key, key_pem).expect("key file");
    let mut child = std::process::Command::new(python)
        .arg(root.join("examples/hospital/decrypt_real_name.py"))
        .arg("--key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answer.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("helper");
    let _ = std::fs::remove_file(&key);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// authinfo, the user's face and consent on the kiosk, then real-name.
async fn lookup(w: &World, h: &Hospital, store: &str, p: usize) -> crate::world::Reply {
    let mut body = World::authinfo_body(store, "rawdata-partner");
    body["device_id"] = json!(h.device);
    let r = post_as(w, h, "/", body).await;
    r.assert_status(200);
    let authinfo = r.body["authinfo"].as_str().unwrap().to_owned();
    let binding = w.pay.authinfo_binding(&authinfo).await;
    assert_eq!(
        binding["sub_mch_id"], h.sub_mch_id,
        "signed for the sub-merchant"
    );
    let face = w
        .pay
        .face_auth(&authinfo, &user(person(p)))
        .await
        .expect("FACE_AUTH");
    w.pay.consent(&face.face_sid, true).await;
    w.sync_clock().await;
    post_as(
        w,
        h,
        "/real-name",
        json!({"device_id": h.device, "face_sid": face.face_sid}),
    )
    .await
}

#[tokio::test]
async fn two_sub_merchants_get_their_fields_encrypted_to_their_own_keys() {
    let (w, hospitals) = provider(test_keys::SUB_MERCHANT_A_SERIAL).await;
    let provider_key = MerchantKey::from_pem(test_keys::MERCHANT_PRIVATE_KEY).unwrap();
    for (i, h) in hospitals.iter().enumerate() {
        let p = person(i + 2);
        let r = lookup(&w, h, if i == 0 { "S-A" } else { "any-store" }, i + 2).await;
        r.assert_status(200);
        // Passed through: ids and ciphertexts, never the plaintext.
        assert_eq!(r.body["sub_serial_no"], h.serial);
        assert!(
            r.body.get("real_name").is_none() && r.body.get("credential_id").is_none(),
            "{}",
            r.body
        );
        let text = r.body.to_string();
        assert!(!text.contains(p.name) && !text.contains(p.id_card_number));
        let sealed = r.body["encrypted_real_name"].as_str().unwrap();
        // The provider's own key cannot open it.
        assert_ne!(provider_key.decrypt(sealed).ok().as_deref(), Some(p.name));
        // The hospital's can, with its helper.
        let opened = hospital_decrypts(&r.body, h.key).expect("the hospital decrypts");
        assert_eq!(
            (
                opened["real_name"].as_str(),
                opened["credential_id"].as_str()
            ),
            (Some(p.name), Some(p.id_card_number))
        );
        // The other hospital's key is refused, clearly.
        let other = &hospitals[1 - i];
        let refused = hospital_decrypts(&r.body, other.key).unwrap_err();
        assert!(
            refused.contains("does not decrypt with this key"),
            "{refused}"
        );
    }
    // Nothing personal on the provider's side: the table (the logs are
    // scanned by make test's PII scan).
    w.assert_no_pii().await;
    let audits = w.items_with_prefix("audit#").await;
    let subs: Vec<_> = audits
        .iter()
        .filter_map(|a| a.get("sub_mch_id")?.as_s().ok().cloned())
        .collect();
    assert!(
        subs.contains(&test_keys::SUB_MCH_ID_A.to_owned())
            && subs.contains(&test_keys::SUB_MCH_ID_B.to_owned())
    );
}

#[tokio::test]
async fn a_kiosk_cannot_act_for_the_other_sub_merchant_or_store() {
    let (w, [a, b]) = provider(test_keys::SUB_MERCHANT_A_SERIAL).await;
    let before = w.pay.counters().await.values().sum::<u64>();
    for (h, sub, store) in [
        (&a, b.sub_mch_id, "S-A"),
        (&b, a.sub_mch_id, "any"),
        (&a, a.sub_mch_id, "S-B"),
    ] {
        let mut body = World::authinfo_body(store, "rawdata");
        body["device_id"] = json!(h.device);
        body["sub_mch_id"] = json!(sub);
        post_as(&w, h, "/", body)
            .await
            .assert_error(403, "forbidden");
    }
    let sid = json!({"device_id": a.device, "face_sid": "f-1", "sub_mch_id": b.sub_mch_id});
    post_as(&w, &a, "/real-name", sid)
        .await
        .assert_error(403, "forbidden");
    assert_eq!(
        w.pay.counters().await.values().sum::<u64>(),
        before,
        "WeChat Pay never called"
    );
    assert!(w.items_with_prefix("audit#").await.is_empty());
}

#[tokio::test]
async fn a_wrong_sub_serial_no_is_a_clear_error() {
    // The provider configured B's serial for A: WeChat Pay refuses it.
    let (w, [a, _]) = provider(test_keys::SUB_MERCHANT_B_SERIAL).await;
    let r = lookup(&w, &a, "S-A", 3).await;
    r.assert_error(502, "upstream_error");
    assert_eq!(r.body["error"]["wechatpay_code"], "PARAM_ERROR");
    assert_eq!(r.body["error"]["wechatpay_message"], "sub_serial_no不合法");
}
