//! The DynamoDB adapter on moto, through the real SDK: conditional writes
//! make a session final once and a verify_result consumable once.

use std::sync::Arc;

use wxface::adapters::DynamoStore;
use wxface::domain::{
    FinalResult, FinalStatus, FlowBinding, OpenId, OutSeqNo, RejectReason, Sealed, Session,
    SessionState, VerifyId,
};
use wxface::error::StoreError;
use wxface::ports::TokenLease;
use wxface::ports::{Finalized, SessionStore};

use crate::world::World;

fn session(seq: &str) -> Session {
    Session {
        out_seq_no: OutSeqNo::parse(seq).unwrap(),
        openid: OpenId::from_wechat("o-store").unwrap(),
        created_at: 1000,
        valid_until: 4600,
        binding: FlowBinding::V2 {
            verify_id: VerifyId::from_wechat("vid").unwrap(),
            cert_hash: Sealed("c2VhbGVk".into()),
        },
        state: SessionState::Pending,
        pushed_verify_result: None,
        biz_ref: None,
        identity_hash: None,
    }
}

fn result(status: FinalStatus, at: i64) -> FinalResult {
    FinalResult {
        status,
        identify_ret: Some(0),
        verify_ret: None,
        decided_at: at,
    }
}

#[tokio::test]
async fn a_session_becomes_final_once() {
    let w = World::new().await;
    let store = Arc::new(DynamoStore::new(w.ddb(), w.table()));
    let s = session("store-final");
    store.insert(&s).await.unwrap();
    assert!(matches!(store.insert(&s).await, Err(StoreError::Duplicate)));
    assert_eq!(store.get(&s.out_seq_no).await.unwrap(), Some(s.clone()));

    // Eight writers race with different results: one wins, all see it.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let seq = s.out_seq_no.clone();
        tasks.push(tokio::spawn(async move {
            let status = if i % 2 == 0 {
                FinalStatus::Verified
            } else {
                FinalStatus::Failed
            };
            let mine = result(status, 2000 + i);
            match store.finalize(&seq, &mine, None).await.unwrap() {
                Finalized::Applied => mine,
                Finalized::AlreadyFinal(winner) => winner,
                Finalized::VerifyResultTaken => panic!("no verify_result involved"),
            }
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    let stored = store.get(&s.out_seq_no).await.unwrap().unwrap();
    let winner = stored.final_result().unwrap().clone();
    assert!(seen.iter().all(|r| *r == winner), "{seen:?}");
}

#[tokio::test]
async fn a_verify_result_is_consumed_by_one_session() {
    let w = World::new().await;
    let store = DynamoStore::new(w.ddb(), w.table());
    let a = session("store-a");
    let b = session("store-b");
    store.insert(&a).await.unwrap();
    store.insert(&b).await.unwrap();
    let ok = result(FinalStatus::Verified, 10);
    let digest = Some("digest-1");
    let first = store.finalize(&a.out_seq_no, &ok, digest).await.unwrap();
    assert_eq!(first, Finalized::Applied);
    let owner = store.verify_result_owner("digest-1").await.unwrap();
    assert_eq!(owner, Some(a.out_seq_no.clone()));
    let second = store.finalize(&b.out_seq_no, &ok, digest).await.unwrap();
    assert_eq!(second, Finalized::VerifyResultTaken);
    // b is untouched by the failed transaction.
    let stored_b = store.get(&b.out_seq_no).await.unwrap().unwrap();
    assert_eq!(stored_b.state, SessionState::Pending);
    let reused = result(FinalStatus::Rejected(RejectReason::VerifyResultReused), 11);
    let applied = store.finalize(&b.out_seq_no, &reused, None).await.unwrap();
    assert_eq!(applied, Finalized::Applied);
    let stored_b = store.get(&b.out_seq_no).await.unwrap().unwrap();
    assert_eq!(stored_b.final_result(), Some(&reused));
    assert_eq!(store.verify_result_owner("digest-2").await.unwrap(), None);
}

#[tokio::test]
async fn rate_slots_and_the_token_lease() {
    let w = World::new().await;
    let store = DynamoStore::new(w.ddb(), w.table());
    let who = OpenId::from_wechat("o-rate").unwrap();
    let got: Vec<bool> = futures_take(&store, &who).await;
    assert_eq!(got, vec![true, true, true, false, false]);
    // Another window (7200), limit 3.
    let take = async || store.take_issue_slot(&who, 7200, 3).await.unwrap();
    let slot = take().await.expect("a new window");
    // A slot given back (twice: a retried give-back) frees exactly one.
    for _ in 0..2 {
        take().await.unwrap();
    }
    assert!(take().await.is_none());
    store.give_back_issue_slot(&slot).await.unwrap();
    store.give_back_issue_slot(&slot).await.unwrap();
    assert!(take().await.is_some());
    assert!(take().await.is_none());

    assert!(store.try_acquire("me", 100, 110).await.unwrap());
    assert!(!store.try_acquire("you", 105, 115).await.unwrap());
    store.release("you").await.unwrap(); // not theirs: no effect
    assert!(!store.try_acquire("you", 105, 115).await.unwrap());
    assert!(
        store.try_acquire("you", 111, 121).await.unwrap(),
        "expired lease is taken over"
    );
    store.release("you").await.unwrap();
    assert!(store.try_acquire("me", 112, 122).await.unwrap());
}

async fn futures_take(store: &DynamoStore, who: &OpenId) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..5 {
        out.push(store.take_issue_slot(who, 3600, 3).await.unwrap().is_some());
    }
    out
}

#[tokio::test]
async fn the_table_is_the_one_template_yaml_declares() {
    let w = World::new().await;
    let (ddb, table) = (w.ddb(), w.table());
    let d = ddb.describe_table().table_name(table).send().await.unwrap();
    let t = d.table().unwrap();
    let keys: Vec<_> = t
        .key_schema()
        .iter()
        .map(|k| k.attribute_name().to_owned())
        .collect();
    assert_eq!(keys, vec!["pk"]);
    let ttl = ddb.describe_time_to_live().table_name(table).send().await;
    let ttl = ttl.unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expires_at")
    );
}
