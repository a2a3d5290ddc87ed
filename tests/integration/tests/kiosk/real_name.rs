//! `POST /real-name`: the APIv3 lookup, verified and decrypted, audited.

use aws_sdk_dynamodb::types::AttributeValue;
use wechatpay_sim::{Padding, PaySimConfig, SimSettings};
use wxface_harness::fixtures::person;

use crate::world::{DEVICE, KeyMode, Options, World, user};

#[tokio::test]
async fn real_name_in_both_key_modes_and_paddings() {
    for key_mode in [KeyMode::PublicKey, KeyMode::PlatformCert] {
        for padding in [Padding::Pkcs1v15, Padding::OaepSha1] {
            let w = World::build(
                Options {
                    sign_type: "MD5",
                    key_mode,
                },
                PaySimConfig {
                    padding,
                    ..PaySimConfig::default()
                },
                |_| {},
            )
            .await;
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
                "contract §3 shape"
            );
            assert_eq!(r.headers["cache-control"], "no-store");
            assert_eq!(w.count("facemch_users").await, 1);

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
        assert_eq!(r.status, 200, "{}", r.body);
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
    assert_eq!(r.status, 200, "{}", r.body);
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
    assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.body);
    assert_eq!(r.body["error"]["wechatpay_code"], "INVALID_REQUEST");
    w.assert_no_pii().await;
}

#[tokio::test]
async fn no_consent_or_an_expired_face_sid_is_wechat_pays_refusal() {
    let w = World::new().await;
    let authinfo = w.authinfo_ok().await;
    let face = w.pay.face_auth(&authinfo, &user(person(4))).await.unwrap();
    // FACE_AUTH done, getWxpayAuth not: no consent.
    let r = w.real_name(&face.face_sid, None).await;
    assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.body);
    assert_eq!(r.body["error"]["wechatpay_code"], "INVALID_REQUEST");
    assert_eq!(r.body["error"]["http_status"], 400);
    assert!(r.body["error"].get("real_name").is_none());

    w.pay.consent(&face.face_sid, true).await;
    assert_eq!(w.real_name(&face.face_sid, None).await.status, 200);

    // Ten minutes later the face_sid is gone.
    w.pay.advance_clock(601).await;
    w.clock.advance(601);
    let r = w.real_name(&face.face_sid, None).await;
    assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.body);
    // An unknown face_sid likewise.
    let r = w
        .real_name("bbaf113f-4171-4332-9c79-dace6d35a917", None)
        .await;
    assert_eq!(r.code(), "upstream_error");
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
        outcomes.iter().filter(|o| *o == "upstream_error").count(),
        3
    );
    w.assert_no_pii().await;
}

#[tokio::test]
async fn face_sids_with_odd_characters_are_signed_as_sent() {
    // The path is percent-encoded; the signature must cover exactly that.
    let w = World::new().await;
    let face = w.pay.mint_face_sid(&user(person(5)), true).await;
    let r = w.real_name(&face.face_sid, None).await;
    assert_eq!(r.status, 200);
    // A face_sid the simulator does not know, with characters that need
    // encoding: the request is still correctly signed (else SIGN_ERROR).
    let r = w.real_name("a/b?c=d&e%f+g", None).await;
    assert_eq!(
        r.body["error"]["wechatpay_code"], "INVALID_REQUEST",
        "{}",
        r.body
    );
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
    let auth = w.bearer();
    let r = w
        .raw_with(
            &cold,
            lambda_http::http::Method::POST,
            "/",
            Some(&auth),
            World::authinfo_body("s", "r").to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (500, "configuration_error"),
        "{}",
        r.body
    );
    let _ = SimSettings::default();
}
