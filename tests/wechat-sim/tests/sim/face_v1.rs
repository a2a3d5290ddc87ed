use serde_json::{Value, json};

use crate::common::*;

const NAME_MD5: &str = "615db57aa314529aaa0fbe95b3e95bd3";
const ID_MD5: &str = "c54ee6f3f16eba72b9d8781c30bfb655";

async fn getinfo(env: &Env, token: &str, verify_result: &str) -> Value {
    env.call(GETINFO, token, json!({"verify_result": verify_result}))
        .await
}

#[tokio::test]
async fn getuseridkey_mints_32_hex_keys() {
    let env = env().await;
    let token = env.token().await;
    let v = env.getuseridkey(&token, Some("seq-00001")).await;
    assert_eq!(errcode(&v), 0);
    assert_rid(&v);
    assert!(v["errmsg"].as_str().expect("errmsg").starts_with("ok"));
    assert_eq!(v["expires_in"], 3600);
    let key = v["user_id_key"].as_str().expect("key");
    assert_eq!(key.len(), 32);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    // out_seq_no is optional.
    let other = env.user_id_key(&token, None).await;
    assert_ne!(other, key);
}

#[tokio::test]
async fn getuseridkey_errors() {
    let env = env().await;
    let token = env.token().await;
    for body in [
        json!({"name": "", "id_card_number": ID}),
        json!({"name": NAME}),
        json!({"id_card_number": ID}),
        json!({"verify_result": "x"}),
    ] {
        assert_err(&env.call(GETUSERIDKEY, &token, body).await, 84006);
    }
    for bad in ["abcd", "has space", "x.y.z.w", &"x".repeat(33), ""] {
        assert_err(&env.getuseridkey(&token, Some(bad)).await, 40097);
    }
    env.user_id_key(&token, Some("dup-seq-1")).await;
    assert_err(&env.getuseridkey(&token, Some("dup-seq-1")).await, 40097);
    // Another app may use the same out_seq_no.
    env.user_id_key(&env.other_token().await, Some("dup-seq-1"))
        .await;
    // Wrong JSON types and broken bodies.
    let v = env
        .call(
            GETUSERIDKEY,
            &token,
            json!({"name": 12, "id_card_number": ID}),
        )
        .await;
    assert_err(&v, 47001);
    let (_, v) = env.post_raw(GETUSERIDKEY, Some(&token), "name=x").await;
    assert_err(&v, 47001);
    let (_, v) = env.post_raw(GETUSERIDKEY, Some(&token), "  ").await;
    assert_err(&v, 44002);
}

#[tokio::test]
async fn run_with_user_id_key_then_getinfo() {
    let env = env().await;
    let token = env.token().await;
    let key = env.user_id_key(&token, Some("seq-run-01")).await;
    let verify_result = env.client.run_v1(&keyed_run("openid-alice", &key)).await;
    assert!(
        (120..=136).contains(&verify_result.len()),
        "~128 chars: {verify_result}"
    );
    assert!(
        verify_result
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    let now = env.client.now().await;
    let v = getinfo(&env, &token, &verify_result).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_rid(&v);
    assert_eq!(v["identify_ret"], 0);
    assert_eq!(v["openid"], "openid-alice");
    assert_eq!(v["user_id_key"], key.as_str());
    assert_eq!(v["name_utf8_md5"], NAME_MD5);
    assert_eq!(v["id_card_number_md5"], ID_MD5);
    assert_eq!(v["check_alive_type"], 4);
    assert!(v["validate_data"].is_string());
    let identify_time = v["identify_time"].as_i64().expect("identify_time");
    assert!(now.abs_diff(identify_time) <= 2, "{identify_time} vs {now}");
    assert!(v["finish_time"].as_i64().expect("finish_time") >= identify_time);

    // Repeat calls return the same data by default.
    let again = getinfo(&env, &token, &verify_result).await;
    assert_eq!(errcode(&again), 0);
    assert_eq!(again["identify_time"], v["identify_time"]);
    assert_eq!(again["name_utf8_md5"], NAME_MD5);
}

#[tokio::test]
async fn run_with_name_and_id_uppercases_trailing_x() {
    let env = env().await;
    let token = env.token().await;
    let run = named_run("openid-b", "曾浩", "11010519491231002x");
    let vr = env.client.run_v1(&run).await;
    let v = getinfo(&env, &token, &vr).await;
    assert_eq!(v["name_utf8_md5"], "ee075aef91ddd81394b6f68d7ff998cb");
    assert_eq!(v["id_card_number_md5"], "ae05564031c21338aa8a2e7266e7855c");
    assert!(v.get("user_id_key").is_none(), "no key was used: {v}");
}

#[tokio::test]
async fn verified_overrides_and_identify_ret_pass_through() {
    let env = env().await;
    let token = env.token().await;
    let key = env.user_id_key(&token, None).await;
    let mut run = keyed_run("openid-c", &key);
    run.identify_ret = Some(10003);
    run.verified_name = Some("李四".into());
    run.verified_id = Some("11010519491231002X".into());
    let vr = env.client.run_v1(&run).await;
    let v = getinfo(&env, &token, &vr).await;
    assert_eq!(errcode(&v), 0, "errcode 0: the API call worked");
    assert_eq!(v["identify_ret"], 10003);
    assert_eq!(v["name_utf8_md5"], wechat_sim::name_utf8_md5("李四"));
    assert_ne!(v["name_utf8_md5"], NAME_MD5);
    assert_eq!(v["id_card_number_md5"], "ae05564031c21338aa8a2e7266e7855c");
}

#[tokio::test]
async fn getinfo_errors_and_expiry() {
    let env = env().await;
    let token = env.token().await;
    let vr = env.client.run_v1(&named_run("openid-d", NAME, ID)).await;
    assert_err(&getinfo(&env, &token, "no-such-result").await, 84001);
    assert_err(&env.call(GETINFO, &token, json!({})).await, 84001);
    // The PHP SDK bug: camelCase key.
    assert_err(
        &env.call(GETINFO, &token, json!({"verifyResult": vr})).await,
        84001,
    );
    // Another app's token cannot read this app's result.
    assert_err(&getinfo(&env, &env.other_token().await, &vr).await, 84001);
    let (_, v) = env
        .post_raw(GETINFO, Some(&token), "{\"verify_result\":")
        .await;
    assert_err(&v, 47001);

    env.client.advance_clock(3500).await;
    assert_eq!(errcode(&getinfo(&env, &token, &vr).await), 0);
    env.client.advance_clock(120).await;
    let token = env.token().await;
    assert_err(&getinfo(&env, &token, &vr).await, 84002);
}

#[tokio::test]
async fn getinfo_single_use_flag() {
    let env = env().await;
    let token = env.token().await;
    let run = named_run("openid-e", NAME, ID);
    env.client.set_getinfo_single_use(true).await;
    let vr = env.client.run_v1(&run).await;
    assert_eq!(errcode(&getinfo(&env, &token, &vr).await), 0);
    assert_err(&getinfo(&env, &token, &vr).await, 84001);
    // A failed first call (wrong app) does not use it up.
    let vr2 = env.client.run_v1(&run).await;
    assert_err(&getinfo(&env, &env.other_token().await, &vr2).await, 84001);
    assert_eq!(errcode(&getinfo(&env, &token, &vr2).await), 0);

    env.client.set_getinfo_single_use(false).await;
    let vr3 = env.client.run_v1(&run).await;
    assert_eq!(errcode(&getinfo(&env, &token, &vr3).await), 0);
    assert_eq!(errcode(&getinfo(&env, &token, &vr3).await), 0);
}

#[tokio::test]
async fn run_v1_hook_rejects_bad_requests() {
    let env = env().await;
    let token = env.token().await;
    let key = env.user_id_key(&token, None).await;
    let other_key = env.user_id_key(&env.other_token().await, None).await;
    let cases = [
        json!({"appid": APP, "openid": "o", "user_id_key": "ffffffffffffffffffffffffffffffff"}),
        json!({"appid": APP, "openid": "o", "user_id_key": other_key}),
        json!({"appid": APP, "openid": "o", "user_id_key": key, "name": NAME}),
        json!({"appid": APP, "openid": "o", "name": NAME}),
        json!({"appid": APP, "openid": "", "name": NAME, "id_card_number": ID}),
        json!({"appid": "wxnope", "openid": "o", "name": NAME, "id_card_number": ID}),
        json!({"openid": "o", "name": NAME, "id_card_number": ID}),
    ];
    for body in cases {
        let (status, v) = env
            .post_raw("/__sim/face/v1/run", None, &body.to_string())
            .await;
        assert_eq!(status, 400, "{body} → {v}");
        assert!(v["error"].is_string());
    }
    // An expired key cannot be used by the jsapi either.
    env.client.advance_clock(3610).await;
    let body = json!({"appid": APP, "openid": "o", "user_id_key": key});
    let (status, _) = env
        .post_raw("/__sim/face/v1/run", None, &body.to_string())
        .await;
    assert_eq!(status, 400);
}
