use serde_json::{Value, json};
use wechat_sim::cert_hash;

use crate::common::*;

const OPENID: &str = "openid-v2";

fn verifyid_body(out_seq_no: &str) -> Value {
    json!({
        "out_seq_no": out_seq_no,
        "cert_info": {"cert_type": "IDENTITY_CARD", "cert_name": NAME, "cert_no": ID},
        "openid": OPENID,
    })
}

async fn verify_id(env: &Env, token: &str, out_seq_no: &str) -> String {
    let v = env
        .call(GETVERIFYID, token, verifyid_body(out_seq_no))
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    v["verify_id"].as_str().expect("verify_id").to_owned()
}

/// A fresh simulator, APP's token, and a verify_id for `out_seq_no`.
async fn started(out_seq_no: &str) -> (Env, String, String) {
    let env = env().await;
    let token = env.token().await;
    let id = verify_id(&env, &token, out_seq_no).await;
    (env, token, id)
}

fn query_body(verify_id: &str, out_seq_no: &str) -> Value {
    json!({
        "verify_id": verify_id,
        "out_seq_no": out_seq_no,
        "cert_hash": cert_hash("IDENTITY_CARD", NAME, ID),
        "openid": OPENID,
    })
}

async fn query(env: &Env, token: &str, body: Value) -> Value {
    env.call(QUERYVERIFYINFO, token, body).await
}

#[tokio::test]
async fn getverifyid_shape() {
    let env = env().await;
    let token = env.token().await;
    let v = env
        .call(GETVERIFYID, &token, verifyid_body("seq_v2-001"))
        .await;
    assert_eq!(errcode(&v), 0);
    assert_rid(&v);
    assert_eq!(v["expires_in"], 3600);
    let id = v["verify_id"].as_str().expect("verify_id");
    assert!(!id.is_empty() && id.len() <= 256);
    let v2 = verify_id(&env, &token, "seq_v2-002").await;
    assert_ne!(v2, id);
}

#[tokio::test]
async fn getverifyid_errors() {
    let env = env().await;
    let token = env.token().await;
    let mut wrong_type = verifyid_body("seq-type-1");
    wrong_type["cert_info"]["cert_type"] = json!("PASSPORT");
    assert_err(&env.call(GETVERIFYID, &token, wrong_type).await, 84013);

    for bad in [
        "abcd",
        &"a".repeat(33),
        "with space",
        "中文中文中文",
        "a/b/c/d",
    ] {
        assert_err(
            &env.call(GETVERIFYID, &token, verifyid_body(bad)).await,
            40097,
        );
    }
    assert!(
        errcode(&env.call(GETVERIFYID, &token, verifyid_body("abcde")).await) == 0,
        "5 characters is the minimum"
    );
    assert!(
        errcode(
            &env.call(GETVERIFYID, &token, verifyid_body(&"Z".repeat(32)))
                .await
        ) == 0
    );

    let mut no_openid = verifyid_body("seq-noopen");
    no_openid.as_object_mut().expect("object").remove("openid");
    assert_err(&env.call(GETVERIFYID, &token, no_openid).await, 40097);
    let mut no_cert = verifyid_body("seq-nocert");
    no_cert.as_object_mut().expect("object").remove("cert_info");
    assert_err(&env.call(GETVERIFYID, &token, no_cert).await, 40097);
    let mut empty_name = verifyid_body("seq-noname");
    empty_name["cert_info"]["cert_name"] = json!("");
    assert_err(&env.call(GETVERIFYID, &token, empty_name).await, 40097);
    let mut bad_type = verifyid_body("seq-badtype");
    bad_type["cert_info"] = json!("IDENTITY_CARD");
    assert_err(&env.call(GETVERIFYID, &token, bad_type).await, 47001);

    // Unique per appid, shared with getuseridkey; rejected calls reserve nothing.
    verify_id(&env, &token, "seq-noopen").await;
    assert_err(
        &env.call(GETVERIFYID, &token, verifyid_body("seq-noopen"))
            .await,
        40097,
    );
    assert_err(&env.getuseridkey(&token, Some("seq-noopen")).await, 40097);
    verify_id(&env, &env.other_token().await, "seq-noopen").await;
}

#[tokio::test]
async fn queryverifyinfo_pending_then_result() {
    let (env, token, id) = started("seq-flow-1").await;
    let v = query(&env, &token, query_body(&id, "seq-flow-1")).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_rid(&v);
    assert_eq!(v["verify_ret"], 10300, "not finished yet");

    env.client.set_pending_verify_ret(10005).await;
    let v = query(&env, &token, query_body(&id, "seq-flow-1")).await;
    assert_eq!(v["verify_ret"], 10005);

    env.client.run_v2(&id, OPENID, 10000).await.expect("run");
    let v = query(&env, &token, query_body(&id, "seq-flow-1")).await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(v["verify_ret"], 10000);
    // Repeatable.
    let v = query(&env, &token, query_body(&id, "seq-flow-1")).await;
    assert_eq!(v["verify_ret"], 10000);

    let id2 = verify_id(&env, &token, "seq-flow-2").await;
    env.client.run_v2(&id2, OPENID, 90004).await.expect("run");
    let v = query(&env, &token, query_body(&id2, "seq-flow-2")).await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(v["verify_ret"], 90004);
}

#[tokio::test]
async fn queryverifyinfo_rejects_tampering_without_verify_ret() {
    let (env, token, id) = started("seq-tamper").await;
    env.client.run_v2(&id, OPENID, 10000).await.expect("run");

    let mut cases = Vec::new();
    let mut b = query_body(&id, "seq-tamper");
    b["cert_hash"] = json!(cert_hash("IDENTITY_CARD", "李四", ID));
    cases.push(b);
    let mut b = query_body(&id, "seq-tamper");
    b["cert_hash"] = json!(cert_hash("IDENTITY_CARD", NAME, ID).to_uppercase());
    cases.push(b);
    let mut b = query_body(&id, "seq-tamper");
    b["openid"] = json!("openid-mallory");
    cases.push(b);
    let mut b = query_body(&id, "seq-tamper");
    b["out_seq_no"] = json!("seq-other");
    cases.push(b);
    let mut b = query_body(&id, "seq-tamper");
    b.as_object_mut().expect("object").remove("cert_hash");
    cases.push(b);
    cases.push(query_body("simvid_unknown", "seq-tamper"));
    cases.push(query_body("", "seq-tamper"));
    for body in cases {
        let v = query(&env, &token, body.clone()).await;
        assert_err(&v, 40097);
        assert!(v.get("verify_ret").is_none(), "{body} → {v}");
    }
    // Another app's token.
    let v = query(
        &env,
        &env.other_token().await,
        query_body(&id, "seq-tamper"),
    )
    .await;
    assert_err(&v, 40097);
    // The honest query still works.
    let v = query(&env, &token, query_body(&id, "seq-tamper")).await;
    assert_eq!(v["verify_ret"], 10000);
}

#[tokio::test]
async fn verify_id_expires_after_3600s() {
    let (env, token, id) = started("seq-expire").await;
    let unrun = verify_id(&env, &token, "seq-unrun").await;
    env.client.run_v2(&id, OPENID, 10000).await.expect("run");
    env.client.advance_clock(3590).await;
    let v = query(&env, &token, query_body(&id, "seq-expire")).await;
    assert_eq!(v["verify_ret"], 10000);
    env.client.advance_clock(20).await;
    let token = env.token().await;
    let v = query(&env, &token, query_body(&id, "seq-expire")).await;
    assert_err(&v, 40097);
    assert!(v.get("verify_ret").is_none());
    // The face flow can no longer start either.
    assert!(env.client.run_v2(&unrun, OPENID, 10000).await.is_err());
}

#[tokio::test]
async fn run_v2_hook_checks_openid_and_verify_id() {
    let (env, token, id) = started("seq-hook-1").await;
    let err = env
        .client
        .run_v2(&id, "openid-somebody-else", 10000)
        .await
        .expect_err("openid mismatch");
    assert!(err.starts_with("400"), "{err}");
    assert!(err.contains("openid"), "{err}");
    // The failed run recorded nothing.
    let v = query(&env, &token, query_body(&id, "seq-hook-1")).await;
    assert_eq!(v["verify_ret"], 10300);

    let err = env
        .client
        .run_v2("simvid_nope", OPENID, 10000)
        .await
        .expect_err("unknown verify_id");
    assert!(err.starts_with("404"), "{err}");

    // verify_ret defaults to 10000 when the hook body omits it.
    let body = json!({"verify_id": id, "openid": OPENID}).to_string();
    let (status, v) = env.post_raw("/__sim/face/v2/run", None, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({}));
    let v = query(&env, &token, query_body(&id, "seq-hook-1")).await;
    assert_eq!(v["verify_ret"], 10000);
}
