//! The official vectors of docs/wechat.md §12, through the real handler.

use lambda_http::http::Method;

use wxface::config::PushMode;

use crate::world::World;

const SAFE_BODY: &str = r#"{"ToUserName":"gh_97417a04a28d","Encrypt":"+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="}"#;

async fn official_app() -> World {
    official_app_in(PushMode::Safe).await
}

/// The vectors' app, accepting the pushes of `mode`.
async fn official_app_in(mode: PushMode) -> World {
    World::build(
        move |s| s.push_mode = mode,
        |secret| {
            secret["appid"] = "wxba5fad812f8e6fb9".into();
            secret["push_token"] = "AAAAA".into();
            secret["encoding_aes_key"] = "A".repeat(43).into();
        },
    )
    .await
}

#[tokio::test]
async fn url_check_vector() {
    let w = official_app().await;
    w.clock.set(1714036504);
    let uri = "/?signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492";
    let (status, ct, body) = w.push(&w.svc, Method::GET, uri, "").await;
    assert_eq!((status, body.as_str()), (200, "4375120948345356249"));
    assert!(ct.starts_with("text/plain"));
    // Behind the HTTP API the same check arrives on /event-callback, and answers the same.
    let api = uri.replacen('/', "/event-callback", 1);
    let (status, _, body) = w.push(&w.svc, Method::GET, &api, "").await;
    assert_eq!((status, body.as_str()), (200, "4375120948345356249"));
    assert_eq!(
        w.push(&w.svc, Method::GET, &uri.replacen('/', "/issue-key", 1), "")
            .await
            .0,
        404
    );
    let forged = uri.replace("f464b24f", "f464b24e");
    assert_eq!(w.push(&w.svc, Method::GET, &forged, "").await.0, 401);
    let missing = "/?timestamp=1714036504&nonce=1514711492&echostr=1";
    assert_eq!(w.push(&w.svc, Method::GET, missing, "").await.0, 401);
    // A signed URL check seen again later (in a log, say) is stale.
    w.clock.set(1714036504 + 301);
    assert_eq!(w.push(&w.svc, Method::GET, uri, "").await.0, 401);
}

#[tokio::test]
async fn plaintext_json_vector() {
    let w = official_app_in(PushMode::Plaintext).await;
    w.clock.set(1714037059);
    let body = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714037059,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;
    let uri =
        "/?signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059&nonce=486452656";
    let (status, ct, text) = w.push(&w.svc, Method::POST, uri, body).await;
    assert_eq!((status, text.as_str()), (200, "success"));
    assert!(ct.starts_with("text/plain"));
    // Ten minutes later the same request is stale.
    w.clock.set(1714037059 + 301);
    assert_eq!(w.push(&w.svc, Method::POST, uri, body).await.0, 401);
    // A safe-mode deployment refuses it: its signature covers no body.
    let safe = official_app().await;
    safe.clock.set(1714037059);
    assert_eq!(safe.push(&safe.svc, Method::POST, uri, body).await.0, 401);
}

#[tokio::test]
async fn safe_mode_json_vector() {
    let w = official_app().await;
    w.clock.set(1714112445);
    let uri = "/?signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670741&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3";
    let (status, _, text) = w.push(&w.svc, Method::POST, uri, SAFE_BODY).await;
    assert_eq!((status, text.as_str()), (200, "success"));
    // `signature` alone must not be accepted in safe mode.
    let no_msg_sig = uri.replace(
        "&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
        "",
    );
    assert_eq!(
        w.push(&w.svc, Method::POST, &no_msg_sig, SAFE_BODY).await.0,
        401
    );
}

#[tokio::test]
async fn wxbizmsgcrypt_xml_vector_and_the_wrong_appid() {
    // Tencent's sample: token spamtest, its key, appid wx2c2769f8efd9abc2.
    let body = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>";
    let uri = "/?signature=x&timestamp=1409735669&nonce=1320562132&encrypt_type=aes&msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa";
    for (appid, expected) in [("wx2c2769f8efd9abc2", 200), ("wx0000000000000000", 401)] {
        let w = World::build(
            |_| {},
            |secret| {
                secret["appid"] = appid.into();
                secret["push_token"] = "spamtest".into();
                secret["encoding_aes_key"] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into();
            },
        )
        .await;
        w.clock.set(1409735669);
        assert_eq!(
            w.push(&w.svc, Method::POST, uri, body).await.0,
            expected,
            "{appid}"
        );
    }
}

/// The sample events, read as Lambda delivers them (payload 2.0), through the handler.
#[tokio::test]
async fn the_sample_events_in_events_dir() {
    let w = World::with(|s| s.push_mode = PushMode::Plaintext).await;
    // Both were signed at the same moment.
    w.clock.set(1795348860);
    let load = |name: &str| {
        let path = wxface_harness::workspace_root().join("events").join(name);
        let text = std::fs::read_to_string(&path).expect("event file");
        lambda_http::request::from_str(&text).expect("a function URL event")
    };
    let resp = crate::world::Function::EventCallback
        .call(&w.svc, load("event-callback-get.json"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body().as_ref(), b"4375120948345356249");

    // Stale on any later day; accepted at the moment it was signed.
    w.clock.set(1795348860 + 301);
    let resp = crate::world::Function::EventCallback
        .call(&w.svc, load("event-callback-post.json"))
        .await;
    assert_eq!(resp.status(), 401);
    w.clock.set(1795348860);
    let resp = crate::world::Function::EventCallback
        .call(&w.svc, load("event-callback-post.json"))
        .await;
    assert_eq!(
        (resp.status().as_u16(), resp.body().as_ref()),
        (200, b"success".as_ref())
    );
}
