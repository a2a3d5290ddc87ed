//! A push and a verify-result for the same session at the same moment end
//! in one final state, the one both report.

use std::collections::BTreeMap;

use wxface::service::event_callback::{PushOutcome, PushQuery, receive};

use crate::builder::{FaceIdentify, Format, Mode};
use crate::security::push_for;
use crate::world::World;

fn query(uri: &str) -> PushQuery {
    let mut q = PushQuery::default();
    for pair in uri.trim_start_matches("/?").split('&') {
        let (k, v) = pair.split_once('=').unwrap();
        let v = Some(v.to_owned());
        match k {
            "signature" => q.signature = v,
            "timestamp" => q.timestamp = v,
            "nonce" => q.nonce = v,
            "encrypt_type" => q.encrypt_type = v,
            "msg_signature" => q.msg_signature = v,
            _ => {}
        }
    }
    q
}

#[tokio::test]
async fn push_and_verify_result_race_to_one_final_state() {
    let w = World::new().await;
    // WeChat answers with random delays, so either side may win.
    w.wx.set_jitter(0, 15).await;
    let mut winners = BTreeMap::new();
    for round in 0..100 {
        let owner = format!("o-race-{round}");
        // Some rounds fail the name check, so not every final state is the same.
        let issued = w
            .issue_ok(&owner, wxface_harness::fixtures::person(round), "v1")
            .await;
        let vr = w
            .face_v1(&owner, &issued, |run| {
                if round % 3 == 0 {
                    run.verified_name =
                        Some(wxface_harness::fixtures::person(round + 1).name.into());
                }
            })
            .await;
        let seq = issued["out_seq_no"].as_str().unwrap();
        let p = push_for(&w, Mode::Safe, Format::Json);
        let (uri, body) = p.request(&p.message(&FaceIdentify {
            openid: &owner,
            out_seq_no: seq,
            verify_result: &vr,
        }));
        let q = query(&uri);
        let pushed = async { receive(&w.svc, &q, &body).await };
        let cold = w.cold_instance();
        let code = w.code(&owner).await;
        let getinfo_before = w.count(wxface::upstream::Upstream::Getinfo).await;
        let asked = async {
            let body = serde_json::json!({"code": code, "out_seq_no": seq, "verify_result": vr});
            w.raw(
                &cold,
                crate::world::Function::VerifyResult,
                lambda_http::http::Method::POST,
                "/",
                body.to_string(),
            )
            .await
        };
        let (pushed, asked) = tokio::join!(pushed, asked);
        let asked_wechat = w.count(wxface::upstream::Upstream::Getinfo).await - getinfo_before;
        *winners
            .entry(format!("getinfo calls: {asked_wechat}"))
            .or_insert(0) += 1;
        assert_eq!(asked.status, 200, "round {round}: {}", asked.body);
        let stored = w.verify(&owner, &issued["out_seq_no"], None).await.answer();
        assert_eq!(
            asked.answer(),
            stored,
            "round {round}: verify-result reported another state"
        );
        match pushed.expect("push accepted") {
            PushOutcome::Finalized(r) => {
                assert_eq!(stored["status"], r.status.as_str(), "round {round}");
                assert_eq!(
                    stored["reason"].as_str(),
                    r.status.reason(),
                    "round {round}"
                );
                *winners.entry("push reported final".into()).or_insert(0) += 1;
            }
            PushOutcome::Ignored(why) => {
                assert!(
                    why.contains("already final") || why.contains("no longer pending"),
                    "round {round}: {why}"
                );
                *winners.entry("push found it final".into()).or_insert(0) += 1;
            }
        }
        let expected = if round % 3 == 0 {
            "rejected"
        } else {
            "verified"
        };
        assert_eq!(stored["status"], expected, "round {round}");
    }
    println!("race outcomes over 100 rounds: {winners:?}");
}
