use crate::common::*;

async fn exchange(env: &Env, appid: &str, secret: &str, code: &str) -> serde_json::Value {
    let (status, v) = env
        .get(
            "/sns/jscode2session",
            &[
                ("appid", appid),
                ("secret", secret),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    v
}

#[tokio::test]
async fn code_works_once() {
    let env = env().await;
    let code = env.client.login(APP, "openid-alice").await;
    let v = exchange(&env, APP, SECRET, &code).await;
    assert!(v.get("errcode").is_none(), "success omits errcode: {v}");
    assert_eq!(v["openid"], "openid-alice");
    let key = v["session_key"].as_str().expect("session_key");
    assert_eq!(key.len(), 24, "base64 of 16 bytes: {key}");

    let again = exchange(&env, APP, SECRET, &code).await;
    assert_err(&again, 40029);
    assert!(again.get("openid").is_none());
}

#[tokio::test]
async fn code_expires_after_300s() {
    let env = env().await;
    let fresh = env.client.login(APP, "openid-a").await;
    let stale = env.client.login(APP, "openid-b").await;
    env.client.advance_clock(290).await;
    let v = exchange(&env, APP, SECRET, &fresh).await;
    assert_eq!(v["openid"], "openid-a");
    env.client.advance_clock(20).await;
    assert_err(&exchange(&env, APP, SECRET, &stale).await, 40029);
}

#[tokio::test]
async fn codes_belong_to_their_app() {
    let env = env().await;
    let code = env.client.login(APP, "openid-a").await;
    assert_err(&exchange(&env, OTHER_APP, OTHER_SECRET, &code).await, 40029);
    // The wrong app's attempt did not consume it.
    let v = exchange(&env, APP, SECRET, &code).await;
    assert_eq!(v["openid"], "openid-a");
}

#[tokio::test]
async fn codes_are_distinct() {
    let env = env().await;
    let a = env.client.login(APP, "openid-a").await;
    let b = env.client.login(APP, "openid-a").await;
    assert_ne!(a, b);
    assert_eq!(exchange(&env, APP, SECRET, &b).await["openid"], "openid-a");
    assert_eq!(exchange(&env, APP, SECRET, &a).await["openid"], "openid-a");
}

#[tokio::test]
async fn jscode2session_errors() {
    let env = env().await;
    let code = env.client.login(APP, "openid-a").await;
    assert_err(&exchange(&env, APP, "wrong", &code).await, 40125);
    assert_err(&exchange(&env, "wxnope", SECRET, &code).await, 40013);
    assert_err(&exchange(&env, APP, SECRET, "").await, 41008);
    assert_err(&exchange(&env, APP, SECRET, "made-up-code").await, 40029);
    let (_, v) = env
        .get(
            "/sns/jscode2session",
            &[("appid", APP), ("secret", SECRET), ("js_code", &code)],
        )
        .await;
    assert_err(&v, 40002);
    let (_, v) = env
        .get(
            "/sns/jscode2session",
            &[
                ("secret", SECRET),
                ("js_code", &code),
                ("grant_type", "authorization_code"),
            ],
        )
        .await;
    assert_err(&v, 41002);
    // None of the failures consumed the code.
    assert_eq!(
        exchange(&env, APP, SECRET, &code).await["openid"],
        "openid-a"
    );
}

#[tokio::test]
async fn login_hook_rejects_unknown_app() {
    let env = env().await;
    let (status, v) = env
        .post_raw("/__sim/login", None, r#"{"appid":"wxnope","openid":"o"}"#)
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().expect("explanation").contains("appid"));
}
