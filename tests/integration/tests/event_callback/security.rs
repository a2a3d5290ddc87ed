//! Forged, altered, replayed and misdirected pushes: each refused or
//! ignored as the contract says, and the table unchanged.

use lambda_http::http::Method;
use serde_json::Value;
use wxface_harness::fixtures::person;

use wxface::config::PushMode;

use crate::builder::{FaceIdentify, Format, Mode, Push};
use crate::world::World;

pub fn push_for(w: &World, mode: Mode, format: Format) -> Push {
    Push {
        token: w.app.push_token.clone(),
        aes_key: w.app.encoding_aes_key.clone(),
        appid: w.app.appid.clone(),
        mode,
        format,
        timestamp: w.clock_now(),
        nonce: "1320562132".into(),
    }
}

/// The push of `openid`'s face_identify event: (uri, body).
pub fn face_identify(
    p: &Push,
    openid: &str,
    out_seq_no: &str,
    verify_result: &str,
) -> (String, String) {
    p.request(&p.message(&FaceIdentify {
        openid,
        out_seq_no,
        verify_result,
    }))
}

/// A v1 session of `owner` whose face check passed: (issued, verify_result).
pub async fn finished_v1(w: &World, owner: &str, i: usize) -> (Value, String) {
    let issued = w.issue_ok(owner, person(i), "v1").await;
    let vr = w.face_v1(owner, &issued, |_| {}).await;
    (issued, vr)
}

/// The table is still `before` and WeChat's getinfo was asked `getinfo` times.
async fn assert_untouched(w: &World, before: &[String], getinfo: u64) {
    assert_eq!(w.snapshot().await, before, "the table changed");
    assert_eq!(w.count(wxface::upstream::Upstream::Getinfo).await, getinfo);
}

/// A finished v1 session of o-owner and WeChat's safe-mode JSON push of
/// its result: (issued, uri, body).
async fn pushed_v1(w: &World, i: usize) -> (Value, String, String) {
    let (issued, vr) = finished_v1(w, "o-owner", i).await;
    let p = push_for(w, Mode::Safe, Format::Json);
    let (uri, body) = face_identify(&p, "o-owner", issued["out_seq_no"].as_str().unwrap(), &vr);
    (issued, uri, body)
}

#[tokio::test]
async fn a_genuine_push_finalizes_in_every_mode_and_format() {
    // A deployment in compatible mode takes both plaintext and encrypted pushes.
    let w = World::with(|s| s.push_mode = PushMode::Compatible).await;
    for (i, mode) in [Mode::Plain, Mode::Compat, Mode::Safe]
        .into_iter()
        .enumerate()
    {
        for format in [Format::Json, Format::Xml] {
            let (issued, vr) = finished_v1(&w, "o-owner", i).await;
            let seq = issued["out_seq_no"].as_str().unwrap();
            let (uri, body) = face_identify(&push_for(&w, mode, format), "o-owner", seq, &vr);
            let (status, text) = w.deliver(&uri, &body).await;
            assert_eq!(
                (status, text.as_str()),
                (200, "success"),
                "{mode:?} {format:?}"
            );
            let getinfo = w.count(wxface::upstream::Upstream::Getinfo).await;
            // verify-result sees the final answer without another getinfo.
            let r = w.verify("o-owner", &issued["out_seq_no"], None).await;
            assert_eq!(
                r.body["status"], "verified",
                "{mode:?} {format:?}: {}",
                r.body
            );
            assert_eq!(w.count(wxface::upstream::Upstream::Getinfo).await, getinfo);
        }
    }
}

#[tokio::test]
async fn forged_altered_stale_and_misdirected_pushes_change_nothing() {
    let w = World::new().await;
    let (issued, vr) = finished_v1(&w, "o-owner", 0).await;
    let seq = issued["out_seq_no"].as_str().unwrap();
    let before = w.snapshot().await;
    let msg = |p: &Push| {
        p.message(&FaceIdentify {
            openid: "o-owner",
            out_seq_no: seq,
            verify_result: &vr,
        })
    };

    // (what, uri, body, expected status)
    let mut cases: Vec<(&str, String, String, u16)> = Vec::new();
    let good = push_for(&w, Mode::Safe, Format::Json);

    let mut forged = good.clone();
    forged.token = "not-the-token".into();
    let (u, b) = forged.request(&msg(&forged));
    cases.push(("forged signature", u, b, 401));

    let (u, b) = good.request(&msg(&good));
    let mut v: Value = serde_json::from_str(&b).unwrap();
    let enc = v["Encrypt"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if enc.starts_with('A') { "B" } else { "A" },
        &enc[1..]
    );
    v["Encrypt"] = flipped.into();
    cases.push(("altered ciphertext", u.clone(), v.to_string(), 401));

    let mut other_app = good.clone();
    other_app.appid = "wx9999999999999999".into();
    let (u, b) = other_app.request(&msg(&other_app));
    cases.push(("wrong appid", u, b, 401));

    let mut other_key = good.clone();
    other_key.aes_key = "Z".repeat(43);
    let (u, b) = other_key.request(&msg(&other_key));
    cases.push(("wrong EncodingAESKey", u, b, 401));

    for (what, shift) in [("stale timestamp", -301), ("future timestamp", 301)] {
        let mut p = good.clone();
        p.timestamp += shift;
        let (u, b) = p.request(&msg(&p));
        cases.push((what, u, b, 401));
    }

    let plain = push_for(&w, Mode::Plain, Format::Xml);
    let (u, b) = plain.request(&msg(&plain));
    cases.push((
        "plaintext with a bad signature",
        u.replace("signature=", "signature=0"),
        b.clone(),
        401,
    ));
    cases.push(("unparseable body", u.clone(), "{not json".into(), 400));
    cases.push((
        "DTD in the body",
        u.clone(),
        "<!DOCTYPE xml [<!ENTITY e \"x\">]><xml><a>&e;</a></xml>".into(),
        400,
    ));
    cases.push((
        "missing timestamp",
        "/?signature=a&nonce=1".into(),
        b.clone(),
        401,
    ));
    cases.push((
        "unknown encrypt_type",
        format!("{u}&encrypt_type=rot13"),
        b.clone(),
        400,
    ));
    cases.push(("oversized body", u.clone(), "x".repeat(17 * 1024), 413));

    for (what, uri, body, status) in cases {
        let (got, text) = w.deliver(&uri, &body).await;
        assert_eq!(got, status, "{what}: {text}");
    }
    assert_untouched(&w, &before, 0).await;
    let r = w.push(&w.svc, Method::PUT, "/", "").await;
    assert_eq!(r.0, 405);
    let r = w.push(&w.svc, Method::POST, "/elsewhere", "").await;
    assert_eq!(r.0, 404);
}

#[tokio::test]
async fn authentic_pushes_for_sessions_that_are_not_theirs_are_ignored() {
    let w = World::new().await;
    let (issued, vr) = finished_v1(&w, "o-owner", 1).await;
    let seq = issued["out_seq_no"].as_str().unwrap();
    let p = push_for(&w, Mode::Safe, Format::Xml);
    let before = w.snapshot().await;
    for (what, openid, out_seq_no) in [
        ("another user's session", "o-intruder", seq),
        ("unknown out_seq_no", "o-owner", "no-such-session-123"),
    ] {
        let (uri, body) = face_identify(&p, openid, out_seq_no, &vr);
        let (status, text) = w.deliver(&uri, &body).await;
        assert_eq!(
            (status, text.as_str()),
            (200, "success"),
            "{what}: acknowledged"
        );
    }
    // Other events are acknowledged and ignored.
    let (uri, body) = p.request(r#"{"MsgType":"event","Event":"debug_demo"}"#);
    let (status, _) = w.deliver(&uri, &body).await;
    assert_eq!(status, 200, "debug_demo");
    assert_untouched(&w, &before, 0).await;
}

#[tokio::test]
async fn a_replayed_push_after_finalization_changes_nothing() {
    let w = World::new().await;
    let (_, uri, body) = pushed_v1(&w, 2).await;
    assert_eq!(w.deliver(&uri, &body).await.0, 200);
    assert_eq!(w.count(wxface::upstream::Upstream::Getinfo).await, 1);
    let after_first = w.snapshot().await;
    // Inside the window: acknowledged, nothing changes, WeChat not asked.
    for _ in 0..3 {
        assert_eq!(w.deliver(&uri, &body).await.0, 200);
    }
    // Outside it: refused.
    w.clock.advance(400);
    assert_eq!(w.deliver(&uri, &body).await.0, 401);
    assert_untouched(&w, &after_first, 1).await;
}

#[tokio::test]
async fn getinfo_down_during_the_push_is_answered_for_a_retry_and_records_nothing() {
    let w = World::new().await;
    let (issued, uri, body) = pushed_v1(&w, 3).await;
    let down = wechat_sim::Fault {
        endpoint: wxface::upstream::Upstream::Getinfo.name().into(),
        status: Some(503),
        ..Default::default()
    };
    w.wx.inject(&down).await;
    let before = w.snapshot().await;
    let (status, _) = w.deliver(&uri, &body).await;
    assert_eq!(status, 503, "not handled, so WeChat sends it again");
    assert_eq!(w.snapshot().await, before, "nothing recorded unchecked");
    w.wx.clear_faults().await;
    // WeChat's retry finishes it; the mini-program need not send verify_result.
    assert_eq!(w.deliver(&uri, &body).await.0, 200);
    let r = w.verify("o-owner", &issued["out_seq_no"], None).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
}

#[tokio::test]
async fn a_replayed_plaintext_signature_cannot_finalize_a_safe_mode_session() {
    // The attack: a safe-mode push URL (from a proxy's log, say) carries a
    // valid plaintext `signature` for its timestamp and nonce. Sent with a
    // forged plaintext body naming the victim's session and the attacker's
    // own verify_result, it must change nothing.
    let w = World::new().await;
    let (victim, _) = finished_v1(&w, "o-victim", 0).await;
    let (_, own) = finished_v1(&w, "o-attacker", 1).await;
    let safe = push_for(&w, Mode::Safe, Format::Json);
    let (logged_uri, _) = face_identify(&safe, "o-victim", "unrelated-seq", "x");
    let plain_uri: String = logged_uri
        .split('&')
        .filter(|kv| !kv.starts_with("encrypt_type") && !kv.starts_with("msg_signature"))
        .collect::<Vec<_>>()
        .join("&");
    let forged = push_for(&w, Mode::Plain, Format::Json).message(&FaceIdentify {
        openid: "o-victim",
        out_seq_no: victim["out_seq_no"].as_str().unwrap(),
        verify_result: &own,
    });
    let before = w.snapshot().await;
    let (status, _) = w.deliver(&plain_uri, &forged).await;
    assert_eq!(status, 401);
    assert_untouched(&w, &before, 0).await;
}

#[tokio::test]
async fn the_previous_encoding_aes_key_is_accepted_while_keys_rotate() {
    let old = "B".repeat(43);
    let old_for_secret = old.clone();
    let w = World::build(
        |_| {},
        move |s| s["previous_encoding_aes_key"] = old_for_secret.into(),
    )
    .await;
    let (issued, vr) = finished_v1(&w, "o-owner", 4).await;
    let mut p = push_for(&w, Mode::Safe, Format::Json);
    p.aes_key = old;
    let seq = issued["out_seq_no"].as_str().unwrap();
    let (uri, body) = face_identify(&p, "o-owner", seq, &vr);
    assert_eq!(w.deliver(&uri, &body).await.0, 200);
    let r = w.verify("o-owner", &issued["out_seq_no"], None).await;
    assert_eq!(r.body["status"], "verified", "{}", r.body);
}
