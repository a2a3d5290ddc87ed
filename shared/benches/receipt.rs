//! What a receipt costs per final answer, beside what the answer cost before
//! receipts, in one run: `cargo bench -p wxface --bench receipt`.
//!
//! - baseline: the answer's JSON (what verify-result built per call);
//! - receipt: its claims built and signed (ES256, aws-lc-rs via jsonwebtoken);
//! - issue-key's new work: identity_hash computed and sealed (AES-256-GCM).

use std::hint::black_box;
use std::time::{Duration, Instant};

use wxface::crypto::receipt::{ReceiptKeys, generate_pem};
use wxface::domain::receipt::{IdentityKey, ReceiptClaims, ReceiptSubject, identity_hash};
use wxface::domain::{
    DataKey, FinalResult, FinalStatus, Flow, IdCardNumber, OpenId, OutSeqNo, PersonName, Sealing,
};

/// Median and p99 of `f` per call, over batches for `budget`.
fn measure(name: &str, budget: Duration, mut f: impl FnMut()) -> f64 {
    const BATCH: u32 = 200;
    let mut per_call = Vec::new();
    let started = Instant::now();
    while started.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..BATCH {
            f();
        }
        per_call.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
    }
    per_call.sort_by(f64::total_cmp);
    let median = per_call[per_call.len() / 2];
    let p99 = per_call[per_call.len() * 99 / 100];
    println!(
        "{name:<48} median {median:>8.2} µs   p99 {p99:>8.2} µs   ({} batches of {BATCH})",
        per_call.len()
    );
    median
}

fn main() {
    let keys = ReceiptKeys::from_json(
        &serde_json::json!([{"kid": "bench-1", "private_key": generate_pem()}]),
    )
    .expect("a receipt key");
    let data_key =
        DataKey::from_base64("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=").expect("data key");
    let seq = OutSeqNo::generate();
    let openid = OpenId::from_wechat("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").expect("openid");
    let name = PersonName::parse("张三").expect("name");
    let id = IdCardNumber::parse("11010519491231002X").expect("id");
    let identity_key =
        IdentityKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("key");
    let hash = identity_hash(&identity_key, &seq, &name, &id);
    let result = FinalResult {
        status: FinalStatus::Verified,
        identify_ret: None,
        verify_ret: Some(10000),
        decided_at: 1_796_000_000,
    };
    let budget = Duration::from_secs(2);
    println!("receipt cost per call (this machine, optimised build, one thread)\n");
    let base = measure("baseline: the answer's JSON", budget, || {
        let body = serde_json::json!({"out_seq_no": seq.as_str(), "flow": "v2", "status": "verified",
            "verified": true, "verify_ret": 10000, "verified_at": result.decided_at});
        black_box(body.to_string());
    });
    let subject = ReceiptSubject {
        out_seq_no: &seq,
        openid: &openid,
        flow: Flow::V2,
        biz_ref: None,
        identity_hash: Some(&hash),
    };
    let sign = measure("receipt: claims built and signed (ES256)", budget, || {
        let claims = ReceiptClaims::new(
            "wxface",
            "wx0123456789abcdef",
            &subject,
            &result,
            1_796_000_000,
            600,
            "jti".into(),
        );
        black_box(keys.sign(&claims).expect("signed"));
    });
    measure(
        "issue-key: identity_hash computed and sealed",
        budget,
        || {
            let h = identity_hash(&identity_key, &seq, &name, &id);
            black_box(data_key.seal_for(Sealing::IdentityHash, &seq, &h));
        },
    );
    println!(
        "\nreceipt / baseline: {:.0}x; a receipt adds {:.3} ms to a final answer",
        sign / base,
        sign / 1000.0
    );
}
