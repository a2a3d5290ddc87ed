//! The simulator over HTTP, checked against the backend's independent
//! implementation of the same rules (wxface's adapters), and its refusals.

mod common;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wechatpay_sim::{Fault, PaySimConfig, SimSettings, SimUser, test_keys, v2_sign};
use wxface::adapters::wechatpay::v2::{self, SignType};
use wxface::adapters::wechatpay::v3::{ResponseKeys, SignedHeaders};
use wxface::crypto::rsa::{MerchantKey, VerifyingKey};
use wxface::xml;

async fn sim() -> (wechatpay_sim::RunningSim, reqwest::Client) {
    let s = wechatpay_sim::start(PaySimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (s, reqwest::Client::builder().no_proxy().build().unwrap())
}

#[tokio::test]
async fn authinfo_signatures_both_ways() {
    let (s, c) = sim().await;
    for (sent, st) in [
        (Some("MD5"), SignType::Md5),
        (Some("HMAC-SHA256"), SignType::HmacSha256),
        (None, SignType::Md5),
    ] {
        let mut p = common::authinfo_params(sent);
        p.insert("sign".into(), v2::sign(&p, test_keys::API_KEY, st));
        let a = common::post_authinfo(&c, &s.base_url(), xml::write(&p)).await;
        assert_eq!(a["return_code"], "SUCCESS", "{a:?}");
        assert!(
            v2::verify(&a, test_keys::API_KEY, st),
            "answer signed with {st:?}"
        );
        assert_eq!(a["expires_in"], "7200");
        assert!(s.client().authinfo_valid(&a["authinfo"]).await);
    }
    // The simulator's public signer agrees with the backend's.
    let p = common::authinfo_params(Some("HMAC-SHA256"));
    assert_eq!(
        v2_sign(&p, test_keys::API_KEY, "HMAC-SHA256"),
        v2::sign(&p, test_keys::API_KEY, SignType::HmacSha256)
    );
}

#[tokio::test]
async fn authinfo_refusals_are_unsigned_fail() {
    let (s, c) = sim().await;
    let signed = |mut p: BTreeMap<String, String>| {
        let sign = v2_sign(&p, test_keys::API_KEY, "MD5");
        p.insert("sign".into(), sign);
        xml::write(&p)
    };
    let mut wrong_key = common::authinfo_params(Some("MD5"));
    wrong_key.insert(
        "sign".into(),
        v2_sign(&wrong_key, "x".repeat(32).as_str(), "MD5"),
    );
    let mut v2p = common::authinfo_params(Some("MD5"));
    v2p.insert("version".into(), "2".into());
    let mut no_store = common::authinfo_params(Some("MD5"));
    no_store.remove("store_id");
    let mut other_mch = common::authinfo_params(Some("MD5"));
    other_mch.insert("mch_id".into(), "999".into());
    let mut long = common::authinfo_params(Some("MD5"));
    long.insert("device_id".into(), "d".repeat(33));
    let cases = [
        (xml::write(&wrong_key), "签名错误，请检查后再试"),
        (signed(v2p), "version错误"),
        (signed(no_store), "缺少参数store_id"),
        (signed(other_mch), "商户号与appid不匹配"),
        (signed(long), "参数device_id长度超限"),
        (
            "<!DOCTYPE xml [<!ENTITY e \"x\">]><xml><a>&e;</a></xml>".into(),
            "XML格式错误",
        ),
        ("garbage".into(), "XML格式错误"),
    ];
    for (body, msg) in cases {
        let a = common::post_authinfo(&c, &s.base_url(), body).await;
        assert_eq!(a["return_code"], "FAIL");
        assert_eq!(a["return_msg"], msg);
        assert!(!a.contains_key("sign"));
    }
    assert_eq!(s.client().count("authinfo").await, 7);
}

struct V3 {
    key: MerchantKey,
    keys: ResponseKeys,
}

fn v3() -> V3 {
    let (cert, serial) =
        VerifyingKey::from_certificate_pem(test_keys::PLATFORM_CERTIFICATE).unwrap();
    V3 {
        key: MerchantKey::from_pem(test_keys::MERCHANT_PRIVATE_KEY).unwrap(),
        keys: ResponseKeys {
            public_key: Some((
                test_keys::PUBLIC_KEY_ID.into(),
                VerifyingKey::from_pem(test_keys::PUBLIC_KEY).unwrap(),
            )),
            certificates: vec![(serial, cert)],
        },
    }
}

async fn get_user(
    c: &reqwest::Client,
    base: &str,
    v: &V3,
    path_and_query: &str,
    ts: i64,
    serial: &str,
    wanted: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let get = common::SignedGet {
        key: &v.key,
        serial,
        signed: path_and_query,
        sent: path_and_query,
        ts,
        wanted,
    };
    let resp = get.send(c, base).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test]
async fn facemch_users_verifies_requests_and_signs_answers() {
    let (s, c) = sim().await;
    let base = s.base_url();
    let v = v3();
    let mut u = SimUser::new("张三", "11010519491231002X");
    u.union_id = Some("u-1".into());
    let face = s.client().mint_face_sid(&u, true).await;
    let pq = format!(
        "/v3/facemch/users/{}?info_type=ASK_REAL_NAME&appid={}",
        face.face_sid,
        test_keys::APPID
    );

    for wanted in [
        Some(test_keys::PUBLIC_KEY_ID),
        Some(test_keys::PLATFORM_SERIAL),
        None,
    ] {
        let (status, h, body) = get_user(
            &c,
            &base,
            &v,
            &pq,
            common::now(),
            test_keys::MERCHANT_SERIAL,
            wanted,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let serial = h["wechatpay-serial"].to_str().unwrap();
        let expected = if wanted == Some(test_keys::PUBLIC_KEY_ID) {
            test_keys::PUBLIC_KEY_ID
        } else {
            test_keys::PLATFORM_SERIAL
        };
        assert_eq!(serial, expected, "signed with the key the request named");
        let hv = |n: &str| h.get(n).and_then(|x| x.to_str().ok());
        v.keys
            .verify(
                SignedHeaders {
                    timestamp: hv("wechatpay-timestamp"),
                    nonce: hv("wechatpay-nonce"),
                    signature: hv("wechatpay-signature"),
                    serial: hv("wechatpay-serial"),
                },
                body.as_bytes(),
                common::now(),
            )
            .unwrap();
        let j: Value = serde_json::from_str(&body).unwrap();
        let info = &j["real_name_info"];
        assert_eq!(
            v.key
                .decrypt(info["encrypted_real_name"].as_str().unwrap())
                .unwrap(),
            "张三"
        );
        assert_eq!(
            v.key
                .decrypt(info["encrypted_credential_id"].as_str().unwrap())
                .unwrap(),
            "11010519491231002X"
        );
        assert_eq!(j["openid"], face.openid.as_str());
    }

    // Refusals, unsigned.
    let sign_error = |(status, h, body): (u16, reqwest::header::HeaderMap, String)| {
        assert_eq!(status, 401, "{body}");
        assert!(h.get("wechatpay-signature").is_none());
        let j: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(j["code"], "SIGN_ERROR");
    };
    // Outside the 5 minutes either way, or an unknown merchant serial.
    for (ts, serial) in [
        (common::now() - 301, test_keys::MERCHANT_SERIAL),
        (common::now() + 301, test_keys::MERCHANT_SERIAL),
        (common::now(), "1234"),
    ] {
        sign_error(get_user(&c, &base, &v, &pq, ts, serial, None).await);
    }
    // Signed over one path, sent to another.
    let other = pq.replace("ASK_REAL_NAME", "ASK_REAL_NAME_TEL");
    let r = common::SignedGet {
        key: &v.key,
        serial: test_keys::MERCHANT_SERIAL,
        signed: &pq,
        sent: &other,
        ts: common::now(),
        wanted: None,
    }
    .send(&c, &base)
    .await;
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .get(format!("{base}{pq}"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        400,
        "no User-Agent (reqwest sends none by default)"
    );

    // info_type spelling: the old one only behind the flag.
    let old = pq.replace("ASK_REAL_NAME", "ASK_UNION_ID");
    let ask_old = || {
        get_user(
            &c,
            &base,
            &v,
            &old,
            common::now(),
            test_keys::MERCHANT_SERIAL,
            None,
        )
    };
    let (status, _, body) = ask_old().await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("info_type值无定义"));
    s.client()
        .configure(&SimSettings {
            accept_ask_union_id: Some(true),
            ..Default::default()
        })
        .await;
    let (status, _, body) = ask_old().await;
    assert_eq!((status, body.as_str()), (200, r#"{"union_id":"u-1"}"#));
}

#[tokio::test]
async fn hooks_play_the_sdk_and_refuse_mistakes() {
    let (s, _) = sim().await;
    let pay = s.client();
    let u = SimUser::new("张三", "11010519491231002X");
    assert!(pay.face_auth("not-issued", &u).await.is_err());
    assert!(
        pay.try_inject(&json!({"endpoint": "nope", "bad_signature": true}))
            .await
            .is_err()
    );
    assert!(
        pay.try_inject(&json!({"endpoint": "authinfo"}))
            .await
            .is_err()
    );
    assert!(
        pay.try_inject(&json!({"endpoint": "authinfo", "wrong_serial": true}))
            .await
            .is_err()
    );
    pay.inject(&Fault {
        endpoint: "facemch_users".into(),
        status: Some(500),
        times: Some(1),
        ..Default::default()
    })
    .await;
    pay.clear_faults().await;
    let t0 = pay.now().await;
    pay.advance_clock(100).await;
    assert!(pay.now().await >= t0 + 100);
    assert_eq!(pay.counters().await.values().sum::<u64>(), 0);
}
