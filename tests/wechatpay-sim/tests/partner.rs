//! Partner mode (服务商模式): the configured merchant as service provider,
//! calling for its sub-merchants A and B, checked with the backend's own
//! signing, verification and decryption (wxface's adapters).

mod common;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wechatpay_sim::{PaySimConfig, SimSettings, SimUser, SubMerchant, test_keys};
use wxface::adapters::wechatpay::v2::{self, SignType};
use wxface::adapters::wechatpay::v3::{ResponseKeys, SignedHeaders};
use wxface::crypto::rsa::{MerchantKey, VerifyingKey};
use wxface::xml;

const A: &str = test_keys::SUB_MCH_ID_A;
const B: &str = test_keys::SUB_MCH_ID_B;

async fn sim_with(config: PaySimConfig) -> (wechatpay_sim::RunningSim, reqwest::Client) {
    let s = wechatpay_sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (s, reqwest::Client::builder().no_proxy().build().unwrap())
}

async fn sim() -> (wechatpay_sim::RunningSim, reqwest::Client) {
    sim_with(PaySimConfig::default()).await
}

fn key(pem: &str) -> MerchantKey {
    MerchantKey::from_pem(pem).unwrap()
}

fn provider_key() -> MerchantKey {
    key(test_keys::MERCHANT_PRIVATE_KEY)
}

fn sub_key(sub: &str) -> MerchantKey {
    key(if sub == A {
        test_keys::SUB_MERCHANT_A_PRIVATE_KEY
    } else {
        test_keys::SUB_MERCHANT_B_PRIVATE_KEY
    })
}

fn sub_appid(sub: &str) -> &'static str {
    if sub == A {
        test_keys::SUB_APPID_A
    } else {
        test_keys::SUB_APPID_B
    }
}

fn sub_serial(sub: &str) -> &'static str {
    if sub == A {
        test_keys::SUB_MERCHANT_A_SERIAL
    } else {
        test_keys::SUB_MERCHANT_B_SERIAL
    }
}

/// An authinfo request, signed with the provider's APIv2 key.
fn authinfo_request(extra: &[(&str, &str)], st: SignType) -> String {
    let mut p = common::authinfo_params(Some(st.as_str()));
    p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p.insert("sign".into(), v2::sign(&p, test_keys::API_KEY, st));
    xml::write(&p)
}

/// A partner-mode authinfo for `sub` (with its sub_appid).
async fn partner_authinfo(s: &wechatpay_sim::RunningSim, c: &reqwest::Client, sub: &str) -> String {
    let extra = [("sub_mch_id", sub), ("sub_appid", sub_appid(sub))];
    let a = common::post_authinfo(c, &s.base_url(), authinfo_request(&extra, SignType::Md5)).await;
    assert_eq!(a["return_code"], "SUCCESS", "{a:?}");
    a["authinfo"].clone()
}

/// A consented face_sid minted through `sub`'s authinfo, as a kiosk does.
async fn partner_face_sid(
    s: &wechatpay_sim::RunningSim,
    c: &reqwest::Client,
    sub: &str,
    user: &SimUser,
) -> wechatpay_sim::FaceAuth {
    let authinfo = partner_authinfo(s, c, sub).await;
    let face = s.client().face_auth(&authinfo, user).await.unwrap();
    s.client().consent(&face.face_sid, true).await;
    face
}

fn response_keys() -> ResponseKeys {
    let (cert, serial) =
        VerifyingKey::from_certificate_pem(test_keys::PLATFORM_CERTIFICATE).unwrap();
    ResponseKeys {
        public_key: Some((
            test_keys::PUBLIC_KEY_ID.into(),
            VerifyingKey::from_pem(test_keys::PUBLIC_KEY).unwrap(),
        )),
        certificates: vec![(serial, cert)],
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// A refusal: status, `code` and `message`, unsigned.
    fn refused(&self, status: u16, code: &str, message: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.headers.get("wechatpay-signature").is_none());
        assert_eq!(self.json(), json!({"code": code, "message": message}));
    }

    /// A 200 whose signature verifies with WeChat Pay's keys.
    fn verified(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        let h = |n: &str| self.headers.get(n).and_then(|x| x.to_str().ok());
        response_keys()
            .verify(
                SignedHeaders {
                    timestamp: h("wechatpay-timestamp"),
                    nonce: h("wechatpay-nonce"),
                    signature: h("wechatpay-signature"),
                    serial: h("wechatpay-serial"),
                },
                self.body.as_bytes(),
                common::now(),
            )
            .unwrap();
        self.json()
    }
}

/// `GET /v3/facemch/users/{face_sid}?{query}`, signed by the provider.
async fn get_user(c: &reqwest::Client, base: &str, face_sid: &str, query: &str) -> Answer {
    let path_and_query = format!("/v3/facemch/users/{face_sid}?{query}");
    let resp = common::SignedGet {
        key: &provider_key(),
        serial: test_keys::MERCHANT_SERIAL,
        signed: &path_and_query,
        sent: &path_and_query,
        ts: common::now(),
        wanted: Some(test_keys::PUBLIC_KEY_ID),
    }
    .send(c, base)
    .await;
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

/// A partner face_sid for `user` at `sub`, and the verified `info_type` answer.
async fn partner_lookup(
    s: &wechatpay_sim::RunningSim,
    c: &reqwest::Client,
    sub: &str,
    user: &SimUser,
    info_type: &str,
) -> (wechatpay_sim::FaceAuth, Value) {
    let face = partner_face_sid(s, c, sub, user).await;
    let j = ask(c, &s.base_url(), &face.face_sid, info_type, sub).await;
    (face, j.verified())
}

/// GET a real-name answer for `face_sid` as sub-merchant `sub`.
async fn ask(
    c: &reqwest::Client,
    base: &str,
    face_sid: &str,
    info_type: &str,
    sub: &str,
) -> Answer {
    get_user(c, base, face_sid, &partner_query(info_type, sub)).await
}

/// The query of a partner-mode real-name request for `sub`.
fn partner_query(info_type: &str, sub: &str) -> String {
    format!(
        "info_type={info_type}&appid={}&sub_mchid={sub}&sub_appid={}&sub_serial_no={}",
        test_keys::APPID,
        sub_appid(sub),
        sub_serial(sub)
    )
}

fn user() -> SimUser {
    let mut u = SimUser::new("张三", "11010519491231002X");
    u.phone = Some("13800138000".into());
    u.union_id = Some("u-1".into());
    u
}

/// `Some(plaintext)` only if `key` decrypts `b64` (a wrong key may, very
/// rarely, "decrypt" PKCS#1 v1.5 to garbage: compare, do not just unwrap).
fn decrypts(key: &MerchantKey, b64: &Value) -> Option<String> {
    key.decrypt(b64.as_str().unwrap()).ok()
}

#[tokio::test]
async fn partner_authinfo_for_each_sub_merchant() {
    let (s, c) = sim().await;
    for sub in [A, B] {
        for st in [SignType::Md5, SignType::HmacSha256] {
            let extra = [("sub_mch_id", sub), ("sub_appid", sub_appid(sub))];
            let a = common::post_authinfo(&c, &s.base_url(), authinfo_request(&extra, st)).await;
            assert_eq!(a["return_code"], "SUCCESS", "{a:?}");
            assert!(
                v2::verify(&a, test_keys::API_KEY, st),
                "signed with the provider's key"
            );
            assert_eq!(
                (a["mch_id"].as_str(), a["appid"].as_str()),
                (test_keys::MCH_ID, test_keys::APPID)
            );
            assert_eq!(a["sub_mch_id"], sub);
            assert_eq!(a["sub_appid"], sub_appid(sub));
            let bound = s.client().authinfo_binding(&a["authinfo"]).await;
            assert_eq!(bound["valid"], true);
            assert_eq!(bound["sub_mch_id"], sub);
            assert_eq!(bound["sub_appid"], sub_appid(sub));
            assert_eq!(bound["device_id"], "D1");
        }
        // sub_appid is optional; only what was sent is echoed.
        let extra = [("sub_mch_id", sub)];
        let a =
            common::post_authinfo(&c, &s.base_url(), authinfo_request(&extra, SignType::Md5)).await;
        assert_eq!(a["return_code"], "SUCCESS", "{a:?}");
        assert!(v2::verify(&a, test_keys::API_KEY, SignType::Md5));
        assert_eq!(a["sub_mch_id"], sub);
        assert!(!a.contains_key("sub_appid"));
    }
}

#[tokio::test]
async fn partner_authinfo_refusals() {
    let (s, c) = sim().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("sub_mch_id", "1900000999")], "sub_mch_id与mch_id不匹配"),
        (
            &[("sub_mch_id", test_keys::MCH_ID)],
            "sub_mch_id与mch_id不匹配",
        ),
        (
            &[("sub_mch_id", A), ("sub_appid", test_keys::SUB_APPID_B)],
            "sub_appid与sub_mch_id不匹配",
        ),
        (
            &[("sub_mch_id", B), ("sub_appid", test_keys::APPID)],
            "sub_appid与sub_mch_id不匹配",
        ),
        // A sub_appid without a sub-merchant: refused as in direct mode.
        (
            &[("sub_appid", test_keys::SUB_APPID_A)],
            "商户号与appid不匹配",
        ),
    ];
    for (extra, msg) in cases {
        let a =
            common::post_authinfo(&c, &s.base_url(), authinfo_request(extra, SignType::Md5)).await;
        assert_eq!(a["return_code"], "FAIL", "{extra:?}");
        assert_eq!(a["return_msg"], msg, "{extra:?}");
        assert!(!a.contains_key("sign"));
    }
    // Signed with anything but the provider's key.
    let mut p: BTreeMap<String, String> = xml::parse(
        &authinfo_request(&[("sub_mch_id", A)], SignType::Md5),
        xml::Nested::Refuse,
    )
    .unwrap();
    p.insert("sign".into(), v2::sign(&p, &"k".repeat(32), SignType::Md5));
    let a = common::post_authinfo(&c, &s.base_url(), xml::write(&p)).await;
    assert_eq!(a["return_msg"], "签名错误，请检查后再试");
}

#[tokio::test]
async fn real_name_is_encrypted_to_the_sub_merchant_only() {
    let (s, c) = sim().await;
    let base = s.base_url();
    let u = user();
    let (face, j) = partner_lookup(&s, &c, A, &u, "ASK_REAL_NAME_TEL").await;
    assert_eq!(j["openid"], face.openid.as_str());
    let info = &j["real_name_info"];
    assert_eq!(info["credential_type"], 1);
    let fields = [
        (&info["encrypted_real_name"], "张三"),
        (&info["encrypted_credential_id"], "11010519491231002X"),
        (&j["encrypted_phone_number"], "13800138000"),
    ];
    for (b64, plain) in fields {
        assert_eq!(decrypts(&sub_key(A), b64).as_deref(), Some(plain));
        assert_ne!(decrypts(&sub_key(B), b64).as_deref(), Some(plain));
        assert_ne!(decrypts(&provider_key(), b64).as_deref(), Some(plain));
    }

    // sub_openid: under A's sub_appid, the same for the same user, another
    // under B's.
    let sub_openid = j["sub_openid"].as_str().unwrap().to_owned();
    assert_ne!(sub_openid, face.openid);
    let mut same = u.clone();
    same.openid = face.openid.clone();
    let (_, j) = partner_lookup(&s, &c, A, &same, "ASK_REAL_NAME").await;
    assert_eq!(j["sub_openid"], sub_openid.as_str());
    assert!(j.get("encrypted_phone_number").is_none());
    let (_, j) = partner_lookup(&s, &c, B, &same, "ASK_REAL_NAME").await;
    assert_eq!(j["openid"], face.openid.as_str());
    assert!(j["sub_openid"].as_str().is_some_and(|o| o != sub_openid));
    let name = &j["real_name_info"]["encrypted_real_name"];
    assert_eq!(decrypts(&sub_key(B), name).as_deref(), Some("张三"));
    assert_ne!(decrypts(&sub_key(A), name).as_deref(), Some("张三"));

    // The serial compares as a number; OAEP when the padding setting says so.
    s.client()
        .configure(&SimSettings {
            padding: Some(wechatpay_sim::Padding::OaepSha1),
            ..Default::default()
        })
        .await;
    let q = partner_query("ASK_REAL_NAME", A).replace(
        test_keys::SUB_MERCHANT_A_SERIAL,
        &format!(
            "00{}",
            test_keys::SUB_MERCHANT_A_SERIAL.to_ascii_lowercase()
        ),
    );
    let j = get_user(&c, &base, &face.face_sid, &q).await.verified();
    let name = &j["real_name_info"]["encrypted_real_name"];
    assert_eq!(decrypts(&sub_key(A), name).as_deref(), Some("张三"));
    assert_ne!(decrypts(&provider_key(), name).as_deref(), Some("张三"));

    // sub_appid is optional; ASK_UNIONID needs no sub_serial_no.
    let q = format!(
        "info_type=ASK_REAL_NAME&appid={}&sub_mchid={A}&sub_serial_no={}",
        test_keys::APPID,
        test_keys::SUB_MERCHANT_A_SERIAL
    );
    get_user(&c, &base, &face.face_sid, &q).await.verified();
    let q = format!(
        "info_type=ASK_UNIONID&appid={}&sub_mchid={A}",
        test_keys::APPID
    );
    let j = get_user(&c, &base, &face.face_sid, &q).await.verified();
    assert_eq!(j, json!({"union_id": "u-1"}));
}

#[tokio::test]
async fn partner_query_refusals() {
    let (s, c) = sim().await;
    let base = s.base_url();
    let face = partner_face_sid(&s, &c, A, &user()).await;
    let appid = test_keys::APPID;
    let a_serial = test_keys::SUB_MERCHANT_A_SERIAL;
    let cases = [
        (
            format!("info_type=ASK_REAL_NAME&appid={appid}&sub_mchid={A}"),
            "服务商模式下请求实名信息必传sub_serial_no",
        ),
        (
            format!("info_type=ASK_REAL_NAME_TEL&appid={appid}&sub_mchid={A}&sub_serial_no="),
            "服务商模式下请求实名信息必传sub_serial_no",
        ),
        (
            format!(
                "info_type=ASK_REAL_NAME&appid={appid}&sub_mchid={A}&sub_serial_no={}",
                test_keys::SUB_MERCHANT_B_SERIAL
            ),
            "sub_serial_no不合法",
        ),
        (
            format!(
                "info_type=ASK_REAL_NAME&appid={appid}&sub_mchid={A}&sub_serial_no={}",
                test_keys::MERCHANT_SERIAL
            ),
            "sub_serial_no不合法",
        ),
        (
            format!(
                "info_type=ASK_REAL_NAME&appid={appid}&sub_mchid=1900000999&sub_serial_no={a_serial}"
            ),
            "sub_mchid不合法",
        ),
        (
            format!(
                "info_type=ASK_REAL_NAME&appid={appid}&sub_mchid={}&sub_serial_no={a_serial}",
                test_keys::MCH_ID
            ),
            "sub_mchid不合法",
        ),
        (
            format!(
                "info_type=ASK_REAL_NAME&appid={appid}&sub_mchid={A}&sub_appid={}&sub_serial_no={a_serial}",
                test_keys::SUB_APPID_B
            ),
            "sub_appid与sub_mchid不匹配",
        ),
    ];
    for (q, msg) in cases {
        get_user(&c, &base, &face.face_sid, &q)
            .await
            .refused(400, "PARAM_ERROR", msg);
    }
}

#[tokio::test]
async fn face_sids_stay_with_their_sub_merchant() {
    let (s, c) = sim().await;
    let base = s.base_url();
    let invalid = |a: Answer| a.refused(400, "INVALID_REQUEST", "face_sid无效或已过期");
    let at_a = partner_face_sid(&s, &c, A, &user()).await;
    // A's face_sid, asked for as B (with B's own, valid parameters) or in direct mode.
    invalid(ask(&c, &base, &at_a.face_sid, "ASK_REAL_NAME", B).await);
    let direct = format!("info_type=ASK_REAL_NAME&appid={}", test_keys::APPID);
    invalid(get_user(&c, &base, &at_a.face_sid, &direct).await);
    // A direct-mode face_sid (and a minted one), asked for as a sub-merchant.
    let mine = s.client().mint_face_sid(&user(), true).await;
    invalid(ask(&c, &base, &mine.face_sid, "ASK_REAL_NAME", A).await);
    get_user(&c, &base, &mine.face_sid, &direct)
        .await
        .verified();
    let minted = s.client().mint_face_sid_for(B, &user(), true).await;
    invalid(ask(&c, &base, &minted.face_sid, "ASK_REAL_NAME", A).await);
    ask(&c, &base, &minted.face_sid, "ASK_REAL_NAME", B)
        .await
        .verified();
    // Consent is still asked for, per face_sid.
    let authinfo = partner_authinfo(&s, &c, A).await;
    let face = s.client().face_auth(&authinfo, &user()).await.unwrap();
    ask(&c, &base, &face.face_sid, "ASK_REAL_NAME", A)
        .await
        .refused(400, "INVALID_REQUEST", "用户未授权");
    // Only configured sub-merchants get face_sids.
    let r = c
        .post(format!("{base}/__sim/face/mint"))
        .json(&json!({"user": user(), "sub_mch_id": "1900000999"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn direct_mode_is_unchanged() {
    let (s, c) = sim().await;
    let base = s.base_url();
    let a = common::post_authinfo(&c, &base, authinfo_request(&[], SignType::HmacSha256)).await;
    assert_eq!(a["return_code"], "SUCCESS", "{a:?}");
    assert!(v2::verify(&a, test_keys::API_KEY, SignType::HmacSha256));
    assert!(!a.contains_key("sub_mch_id") && !a.contains_key("sub_appid"));
    let bound = s.client().authinfo_binding(&a["authinfo"]).await;
    assert!(bound.get("sub_mch_id").is_none());

    let face = s.client().face_auth(&a["authinfo"], &user()).await.unwrap();
    s.client().consent(&face.face_sid, true).await;
    // A stray sub_appid or sub_serial_no was never looked at in direct mode.
    let q = format!(
        "info_type=ASK_REAL_NAME&appid={}&sub_appid=whatever&sub_serial_no=1",
        test_keys::APPID
    );
    let j = get_user(&c, &base, &face.face_sid, &q).await.verified();
    assert!(j.get("sub_openid").is_none(), "no sub_appid, no sub_openid");
    let name = &j["real_name_info"]["encrypted_real_name"];
    assert_eq!(decrypts(&provider_key(), name).as_deref(), Some("张三"));
    assert_ne!(decrypts(&sub_key(A), name).as_deref(), Some("张三"));
    // A user's own sub_openid is still answered as is.
    let mut u = user();
    u.sub_openid = Some("o-sub-001".into());
    let face = s.client().mint_face_sid(&u, true).await;
    let j = get_user(&c, &base, &face.face_sid, &q).await.verified();
    assert_eq!(j["sub_openid"], "o-sub-001");
}

#[tokio::test]
async fn a_pinned_sub_merchant_is_the_only_one() {
    let config = PaySimConfig {
        sub_mch_id: Some(A.into()),
        sub_appid: Some(test_keys::SUB_APPID_A.into()),
        ..PaySimConfig::default()
    };
    let (s, c) = sim_with(config).await;
    let base = s.base_url();
    let sent: [(&[(&str, &str)], &str); 4] = [
        (
            &[("sub_mch_id", A), ("sub_appid", test_keys::SUB_APPID_A)],
            "SUCCESS",
        ),
        (&[("sub_mch_id", A)], "FAIL"),
        (
            &[("sub_mch_id", B), ("sub_appid", test_keys::SUB_APPID_B)],
            "FAIL",
        ),
        (&[], "FAIL"),
    ];
    for (extra, code) in sent {
        let a = common::post_authinfo(&c, &base, authinfo_request(extra, SignType::Md5)).await;
        assert_eq!(a["return_code"], code, "{extra:?}");
    }
    let face = partner_face_sid(&s, &c, A, &user()).await;
    ask(&c, &base, &face.face_sid, "ASK_REAL_NAME", A)
        .await
        .verified();
    let direct = format!("info_type=ASK_REAL_NAME&appid={}", test_keys::APPID);
    get_user(&c, &base, &face.face_sid, &direct).await.refused(
        400,
        "PARAM_ERROR",
        "sub_mchid不合法",
    );

    // Pins and sub-merchants are checked when the simulator starts.
    let bad = [
        PaySimConfig {
            sub_mch_id: Some("1900000999".into()),
            ..PaySimConfig::default()
        },
        PaySimConfig {
            sub_mch_id: Some(A.into()),
            sub_appid: Some(test_keys::SUB_APPID_B.into()),
            ..PaySimConfig::default()
        },
        PaySimConfig {
            sub_appid: Some(test_keys::SUB_APPID_A.into()),
            ..PaySimConfig::default()
        },
        PaySimConfig {
            sub_merchants: vec![SubMerchant::test_a(), SubMerchant::test_a()],
            ..PaySimConfig::default()
        },
        PaySimConfig {
            sub_merchants: vec![SubMerchant {
                serial_no: test_keys::SUB_MERCHANT_B_SERIAL.into(),
                ..SubMerchant::test_a()
            }],
            ..PaySimConfig::default()
        },
    ];
    for config in bad {
        assert!(
            wechatpay_sim::start(config, "127.0.0.1:0".parse().unwrap())
                .await
                .is_err()
        );
    }
}
