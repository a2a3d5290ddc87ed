//! `POST /real-name`: the APIv3 lookup, verified and decrypted, audited.

use aws_sdk_dynamodb::types::AttributeValue;
use wechatpay_sim::{Padding, PaySimConfig, SimSettings};
use wxface_harness::fixtures::person;

use crate::world::{DEVICE, KeyMode, Options, World, user};

#[tokio::test]
async fn real_name_in_both_key_modes_and_paddings() {
    for key_mode in [KeyMode::PublicKey, KeyMode::PlatformCert] {
        for padding in [Padding::Pkcs1v15, Padding::OaepSha1] {
            let sim = PaySimConfig {
                padding,
                ..PaySimConfig::default()
            };
            let w = World::build(Options::new("MD5", key_mode), sim, |_| {}).await;
            let p = person(1);
            let face = w.consented_face(&user(p)).await;
            let r = w.real_name(&face.face_sid, None).await;
            assert_eq!(r.status, 200, "{key_mode:?} {padding:?}: {}", r.body);
            assert_eq!(
                r.body,
                serde_json::json!({
                    "openid": face.openid,
                    "real_name": p.name,
                    "credential_type": 1,
                    "credential_id": p.id_card_number,
                }),
                "docs/api.md §3 shape"
            );
            assert_eq!(r.headers["cache-control"], "no-store");
            assert_eq!(w.count(wxface::upstream::Upstream::FacemchUsers).await, 1);

            // One audit item: device, digested face_sid, openid, outcome; a TTL.
            let audits = w.items_with_prefix("audit#").await;
            assert_eq!(audits.len(), 1);
            let a = &audits[0];
            assert_eq!(a["device_id"], AttributeValue::S(DEVICE.into()));
            assert_eq!(a["openid"], AttributeValue::S(face.openid.clone()));
            assert_eq!(a["outcome"], AttributeValue::S("ok".into()));
            assert_eq!(a["info_type"], AttributeValue::S("ASK_REAL_NAME".into()));
            let at: i64 = a["at"].as_n().unwrap().parse().unwrap();
            let exp: i64 = a["expires_at"].as_n().unwrap().parse().unwrap();
            assert_eq!(exp - at, 180 * 86_400);
            let digest = a["face_sid_sha256"].as_s().unwrap();
            assert_eq!(digest.len(), 64);
            // The face_sid itself is nowhere in the table.
            assert!(!w.snapshot().await.join("").contains(&face.face_sid));
            w.assert_no_pii().await;
        }
    }
}

#[tokio::test]
async fn every_fixture_person_round_trips() {
    let w = World::new().await;
    for i in 0..wxface_harness::fixtures::PEOPLE.len() {
        let p = person(i);
        let face = w.pay.mint_face_sid(&user(p), true).await;
        let r = w.real_name(&face.face_sid, Some("ASK_REAL_NAME")).await;
        r.assert_status(200);
        assert_eq!(r.body["real_name"], p.name);
        assert_eq!(r.body["credential_id"], p.id_card_number);
    }
    w.assert_no_pii().await;
}

#[tokio::test]
async fn phone_and_union_id_variants() {
    let w = World::new().await;
    let mut u = user(person(2));
    u.phone = Some("13800138000".into());
    u.union_id = Some("union-sim-001".into());
    u.sub_openid = Some("o-sub-001".into());
    let face = w.pay.mint_face_sid(&u, true).await;

    let r = w.real_name(&face.face_sid, Some("ASK_REAL_NAME_TEL")).await;
    r.assert_status(200);
    assert_eq!(r.body["phone_number"], "13800138000");
    assert_eq!(r.body["sub_openid"], "o-sub-001");
    assert_eq!(r.body["real_name"], person(2).name);

    // ASK_UNION_ID (the old spelling) is sent as ASK_UNIONID, which the
    // simulator accepts while it refuses the old one.
    for spelling in ["ASK_UNIONID", "ASK_UNION_ID"] {
        let r = w.real_name(&face.face_sid, Some(spelling)).await;
        assert_eq!(r.status, 200, "{spelling}: {}", r.body);
        assert_eq!(r.body, serde_json::json!({"union_id": "union-sim-001"}));
    }
    // No union_id: WeChat Pay's INVALID_REQUEST, passed on.
    let bare = w.pay.mint_face_sid(&user(person(3)), true).await;
    let r = w.real_name(&bare.face_sid, Some("ASK_UNIONID")).await;
    r.assert_error(502, "upstream_error");
    assert_eq!(r.body["error"]["wechatpay_code"], "INVALID_REQUEST");
    w.assert_no_pii().await;
}

#[tokio::test]
async fn no_consent_or_an_expired_face_sid_is_wechat_pays_refusal() {
    let w = World::new().await;
    let authinfo = w.authinfo_ok().await;
    let face = w.pay.face_auth(&authinfo, &user(person(4))).await.unwrap();
    // FACE_AUTH done, getWxpayAuth not: no consent. The kiosk's mistake: 400.
    let r = w.real_name(&face.face_sid, None).await;
    r.assert_error(400, "invalid_face_sid");
    assert_eq!(r.body["error"]["wechatpay_code"], "INVALID_REQUEST");
    assert_eq!(r.body["error"]["wechatpay_message"], "用户未授权");
    assert!(r.body["error"].get("real_name").is_none());

    w.pay.consent(&face.face_sid, true).await;
    assert_eq!(w.real_name(&face.face_sid, None).await.status, 200);

    // Ten minutes later the face_sid is gone.
    w.pay.advance_clock(601).await;
    w.clock.advance(601);
    let r = w.real_name(&face.face_sid, None).await;
    r.assert_error(400, "invalid_face_sid");
    // An unknown face_sid likewise.
    let r = w
        .real_name("bbaf113f-4171-4332-9c79-dace6d35a917", None)
        .await;
    assert_eq!(r.code(), "invalid_face_sid");
    // An expired authinfo cannot start FACE_AUTH at all.
    w.pay.advance_clock(7200).await;
    assert!(w.pay.face_auth(&authinfo, &user(person(4))).await.is_err());

    let outcomes: Vec<String> = w
        .items_with_prefix("audit#")
        .await
        .iter()
        .map(|a| a["outcome"].as_s().unwrap().clone())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| *o == "ok").count(), 1);
    assert_eq!(
        outcomes.iter().filter(|o| *o == "invalid_face_sid").count(),
        3
    );
    w.assert_no_pii().await;
}

#[tokio::test]
async fn face_sids_that_would_change_the_signed_path_are_refused_before_any_call() {
    let w = World::new().await;
    let face = w.pay.mint_face_sid(&user(person(5)), true).await;
    let r = w.real_name(&face.face_sid, None).await;
    assert_eq!(r.status, 200);
    let calls = w.count(wxface::upstream::Upstream::FacemchUsers).await;
    // `.`/`..` and their encodings would be normalized by the URL into
    // another path than the one signed; slashes and queries likewise.
    for sid in [
        ".",
        "..",
        "%2e%2e",
        "%2E",
        "../../v3/certificates",
        "a/b?c=d&e%f+g",
    ] {
        let r = w.real_name(sid, None).await;
        r.assert_error(400, "invalid_request");
    }
    assert_eq!(
        w.count(wxface::upstream::Upstream::FacemchUsers).await,
        calls,
        "WeChat Pay never called"
    );
    // A face_sid the simulator does not know: signed and sent, then refused.
    let r = w.real_name("f-unknown_1", None).await;
    r.assert_error(400, "invalid_face_sid");
}

#[tokio::test]
async fn the_merchant_secret_is_read_once_per_container() {
    let w = World::new().await;
    let face = w.pay.mint_face_sid(&user(person(6)), true).await;
    assert_eq!(w.real_name(&face.face_sid, None).await.status, 200);
    // The secret is deleted: this container goes on, a new one cannot start serving.
    aws_sdk_secretsmanager::Client::new(&w.aws)
        .delete_secret()
        .secret_id(&w.merchant_secret_id)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert_eq!(w.real_name(&face.face_sid, None).await.status, 200);
    let cold = w.instance_with(|_| {});
    let r = w.post_on(&cold, "/", &World::authinfo_body("s", "r")).await;
    r.assert_error(500, "configuration_error");
    let _ = SimSettings::default();
}
