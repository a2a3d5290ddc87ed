//! No input makes a function panic or answer 5xx: random bytes, truncated
//! and mutated bodies, at every function of the mini-program side.

use lambda_http::http::Method;
use serde_json::json;

use crate::builder::{Format, Mode};
use crate::security::{face_identify, push_for};
use crate::world::{Function, World};

fn random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    wxface::domain::pii::random_bytes(&mut b);
    b
}

fn random_below(n: usize) -> usize {
    let b = random(4);
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize % n
}

/// A few kinds of nonsense, some of them nearly right.
fn mutate(seed: &str) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    match random_below(5) {
        0 => String::from_utf8_lossy(&random(random_below(300))).into_owned(),
        1 => {
            bytes.truncate(random_below(bytes.len().max(1)));
            String::from_utf8_lossy(&bytes).into_owned()
        }
        2 => {
            for _ in 0..3 {
                let i = random_below(bytes.len().max(1));
                if let Some(b) = bytes.get_mut(i) {
                    *b = random(1)[0];
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        3 => seed.replace('"', "'"),
        _ => format!("{seed}{seed}"),
    }
}

#[tokio::test]
async fn random_and_mutated_requests_get_clear_client_errors() {
    let w = World::new().await;
    let p = push_for(&w, Mode::Safe, Format::Xml);
    let (uri, body) = face_identify(&p, "o-x", "abcdefgh", "vr");
    let seeds = [
        (
            Function::IssueKey,
            json!({"code": "c", "name": "王小明", "id_card_number": "11010519900307283X"})
                .to_string(),
        ),
        (
            Function::VerifyResult,
            json!({"code": "c", "out_seq_no": "abcdefgh", "verify_result": "v"}).to_string(),
        ),
    ];
    for round in 0..300 {
        for (f, seed) in &seeds {
            let r = w.raw(&w.svc, *f, Method::POST, "/", mutate(seed)).await;
            assert!(
                (400..500).contains(&r.status),
                "{f:?} round {round}: {} {}",
                r.status,
                r.body
            );
        }
        let mutated_uri = if round % 2 == 0 {
            uri.clone()
        } else {
            mutate(&uri).replace(' ', "")
        };
        let target = if mutated_uri.starts_with('/') {
            mutated_uri
        } else {
            format!("/?{mutated_uri}")
        };
        if target.parse::<lambda_http::http::Uri>().is_err() {
            continue;
        }
        let (status, text) = w.deliver(&target, &mutate(&body)).await;
        assert!(
            (400..500).contains(&status) || (status == 200 && text == "success"),
            "push round {round}: {status} {text}"
        );
    }
    // None of it reached WeChat's face APIs.
    use wxface::upstream::Upstream;
    for endpoint in [
        Upstream::Getverifyid,
        Upstream::Getuseridkey,
        Upstream::Getinfo,
        Upstream::Queryverifyinfo,
    ] {
        assert_eq!(w.count(endpoint).await, 0, "{endpoint}");
    }
}
