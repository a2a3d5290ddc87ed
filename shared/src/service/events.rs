//! publish-events: the table's changes in, one `Verification Finalized`
//! event per session that became final out (docs/api.md §7).
//!
//! Driven by the stream, not by the request path: a function that dies
//! right after its final write still leaves the change in the stream, and
//! Lambda hands it here. A batch is published in order; the first record
//! that could not be published is reported as the batch's failure, so Lambda
//! retries from there (everything before it is done) and, after its retries,
//! hands the rest to the dead-letter queue.
//!
//! A record that can never be published (its image is not a whole session,
//! or a sealed value names a data key the keyring no longer holds) is not
//! retried: it is logged once, counted (`EventsUnreadable`, alarmed), and the
//! batch goes on, so one bad record never holds up every event behind it.

use std::sync::Arc;

use tracing::{error, info};

use super::ServiceError;
use super::receipt::{sign, subject};
use crate::adapters::dynamodb::stream::StreamRecord;
use crate::domain::event::FinalizedEvent;
use crate::domain::{Clock, Sealing};
use crate::ports::{AppSecretsSource, EventBus};
use crate::telemetry::metrics;

/// What publish-events needs, built once per container.
#[derive(Clone)]
pub struct EventServices {
    pub secrets: Arc<dyn AppSecretsSource>,
    pub bus: Arc<dyn EventBus>,
    /// The receipts' `iss` (`RECEIPT_ISSUER`).
    pub receipt_issuer: String,
    /// An event's receipt lives as long as its deliveries may take
    /// (`EVENT_RECEIPT_TTL_SECONDS`).
    pub receipt_ttl_secs: i64,
    pub clock: Arc<dyn Clock>,
}

/// Publishes the finalizations among `records`. `None`: all done;
/// `Some(seq)`: everything before `seq` is done, retry from `seq`.
pub async fn publish_finalized(svc: &EventServices, records: &[StreamRecord]) -> Option<String> {
    let mut events = Vec::new();
    let mut first_bad = None;
    let mut unreadable = 0;
    for (i, record) in records.iter().enumerate() {
        match event_of(svc, record).await {
            Ok(Some(event)) => events.push((i, event)),
            Ok(None) => {}
            Err(Unpublishable::Never(e)) => {
                error!(event = "stream_record_unreadable", sequence_number = record.sequence_number(), detail = %e, "stream record skipped: it can never be published");
                unreadable += 1;
            }
            Err(Unpublishable::NotNow(e)) => {
                error!(event = "event_unpublished", sequence_number = record.sequence_number(), detail = %e, "stream record not published yet");
                first_bad = Some(i);
                break;
            }
        }
    }
    let mut failed_at = first_bad;
    let mut published = 0;
    // Every event comes before `first_bad`: the first refused one is the
    // earliest record to retry from.
    let (at, events): (Vec<usize>, Vec<FinalizedEvent>) = events.into_iter().unzip();
    if !events.is_empty() {
        let taken = match svc.bus.publish(&events).await {
            Ok(taken) => taken,
            Err(e) => {
                error!(event = "events_unpublished", detail = %e, "event bus refused the batch");
                vec![false; events.len()]
            }
        };
        for ((i, e), ok) in at.iter().zip(&events).zip(&taken) {
            if !ok {
                failed_at = Some(*i);
                break;
            }
            published += 1;
            info!(event = "event_published", out_seq_no = %e.facts.out_seq_no, status = %e.facts.status, "verification event published");
        }
    }
    metrics::events(
        published,
        failed_at.map_or(0, |i| records.len() - i),
        unreadable,
    );
    failed_at.map(|i| records[i].sequence_number().to_owned())
}

/// Why a record's event was not made.
enum Unpublishable {
    /// Retrying cannot help: skip it (and say so).
    Never(String),
    /// Secrets Manager, or a receipt key, may work on the next try.
    NotNow(ServiceError),
}

/// The event of one change, if it made a session final.
async fn event_of(
    svc: &EventServices,
    record: &StreamRecord,
) -> Result<Option<FinalizedEvent>, Unpublishable> {
    let never = |e: &dyn std::fmt::Display| Unpublishable::Never(e.to_string());
    let Some(session) = record.finalized_session().map_err(|e| never(&e))? else {
        return Ok(None);
    };
    let Some(result) = session.final_result() else {
        return Ok(None);
    };
    let app = (svc.secrets.app_secrets().await).map_err(|e| Unpublishable::NotNow(e.into()))?;
    // A tenant's session (its key names it) is that mini-program's: its receipt's audience.
    let aud = record
        .tenant()
        .map_or_else(|| app.appid.clone(), |t| t.as_str().to_owned());
    let identity_hash = match &session.identity_hash {
        None => None,
        Some(sealed) => Some(
            (app.data_keys)
                .open_for(Sealing::IdentityHash, &session.out_seq_no, sealed)
                .map_err(|e| never(&format_args!("session {}: {e}", session.out_seq_no)))?,
        ),
    };
    let subject = subject(&session, identity_hash.as_deref());
    let lifetime = (svc.clock.now(), svc.receipt_ttl_secs);
    let receipt = sign(&app, &aud, &svc.receipt_issuer, lifetime, &subject, result)
        .map_err(Unpublishable::NotNow)?;
    Ok(Some(FinalizedEvent::new(&aud, &subject, result, receipt)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::adapters::dynamodb::stream::change;
    use crate::domain::receipt::identity_hash;
    use crate::domain::{
        FinalResult, FinalStatus, FlowBinding, IdCardNumber, PersonName, RejectReason, Session,
        SessionState, VerifyId,
    };
    use crate::testing::{self, ID_CARD, MemBus, NAME, StaticSecret};

    fn events() -> (EventServices, Arc<MemBus>) {
        let bus = Arc::new(MemBus::default());
        let svc = EventServices {
            secrets: Arc::new(StaticSecret::new(testing::app_secrets())),
            bus: bus.clone(),
            receipt_issuer: "wxface".into(),
            receipt_ttl_secs: 172_800,
            clock: Arc::new(crate::domain::ManualClock::new()),
        };
        (svc, bus)
    }

    fn pending(v2: bool) -> Session {
        let mut s = testing::services().v1_session("o-user");
        if v2 {
            s.binding = FlowBinding::V2 {
                verify_id: VerifyId::from_wechat("vid-1").unwrap(),
                cert_hash: crate::domain::Sealed("sealed".into()),
            };
        }
        s
    }

    fn finished(
        s: &Session,
        status: FinalStatus,
        verify_ret: Option<i64>,
        identify_ret: Option<i64>,
    ) -> Session {
        Session {
            state: SessionState::Final(FinalResult {
                status,
                verify_ret,
                identify_ret,
                decided_at: 1_700_000_000,
            }),
            ..s.clone()
        }
    }

    /// Every final state of both flows: (flow is v2, status, verify_ret, identify_ret).
    fn every_final_state() -> Vec<(bool, FinalStatus, Option<i64>, Option<i64>)> {
        let mut all = vec![
            (true, FinalStatus::Verified, Some(10000), None),
            (true, FinalStatus::Failed, Some(10004), None),
            (false, FinalStatus::Verified, None, Some(0)),
            (false, FinalStatus::Failed, None, Some(10003)),
        ];
        all.extend(RejectReason::ALL.map(|r| (false, FinalStatus::Rejected(r), None, Some(0))));
        all
    }

    #[tokio::test]
    async fn every_final_state_of_both_flows_is_one_event_with_the_receipts_facts() {
        let (svc, bus) = events();
        let mut records = Vec::new();
        let mut expected = Vec::new();
        for (i, (v2, status, verify_ret, identify_ret)) in
            every_final_state().into_iter().enumerate()
        {
            let before = pending(v2);
            let after = finished(&before, status, verify_ret, identify_ret);
            // The insert and a kept push are not finalizations; the final write is.
            records.push(change(&format!("{i}0"), None, &before));
            records.push(change(&format!("{i}1"), Some(&before), &before));
            records.push(change(&format!("{i}2"), Some(&before), &after));
            expected.push((after, status, verify_ret, identify_ret));
        }
        assert_eq!(publish_finalized(&svc, &records).await, None);
        let taken = bus.taken();
        assert_eq!(taken.len(), expected.len());
        let hash_of = |s: &Session| {
            identity_hash(
                &crate::testing::identity_secret().identity_key,
                &s.out_seq_no,
                &PersonName::parse(NAME).unwrap(),
                &IdCardNumber::parse(ID_CARD).unwrap(),
            )
        };
        for (e, (s, status, verify_ret, identify_ret)) in taken.iter().zip(&expected) {
            assert_eq!(e.event_id, format!("final-{}", s.out_seq_no));
            assert_eq!(e.facts.out_seq_no, s.out_seq_no.as_str());
            assert_eq!(e.openid, "o-user");
            assert_eq!(e.facts.flow, s.flow().as_str());
            assert_eq!(e.facts.status, status.as_str());
            assert_eq!(e.facts.verified, *status == FinalStatus::Verified);
            assert_eq!(e.facts.reason, status.reason());
            assert_eq!(
                (e.facts.verify_ret, e.facts.identify_ret),
                (*verify_ret, *identify_ret)
            );
            assert_eq!(e.facts.verified_at, 1_700_000_000);
            assert_eq!(e.facts.identity_hash.as_deref(), Some(hash_of(s).as_str()));
            let text = serde_json::to_string(e).unwrap();
            assert!(!text.contains(NAME) && !text.contains(ID_CARD), "{text}");
            // The receipt makes it proof: signed by the published key, the event's facts.
            let claims = receipt_claims(&e.receipt);
            let facts = serde_json::to_value(&e.facts).unwrap();
            for (k, v) in facts.as_object().unwrap() {
                assert_eq!(&claims[k], v, "{k}");
            }
            assert_eq!(
                (claims["sub"].as_str(), claims["iss"].as_str()),
                (Some("o-user"), Some("wxface"))
            );
            let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
            assert_eq!(lifetime, 172_800, "it outlives the deliveries' retries");
        }
    }

    /// A receipt's claims, verified against the test app's published keys (its expiry
    /// aside: the test clock is not now).
    fn receipt_claims(receipt: &str) -> serde_json::Value {
        use jsonwebtoken::{
            Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet,
        };
        let keys = testing::app_secrets().receipt_keys().unwrap();
        let set: JwkSet = serde_json::from_value(keys.jwks()).unwrap();
        let kid = decode_header(receipt).unwrap().kid.unwrap();
        let key = DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[testing::app_secrets().appid]);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        decode::<serde_json::Value>(receipt, &key, &v)
            .unwrap()
            .claims
    }

    #[tokio::test]
    async fn a_refused_event_is_retried_from_its_record_and_keeps_its_id() {
        let (svc, bus) = events();
        let sessions: Vec<_> = (0..3).map(|_| pending(true)).collect();
        let records: Vec<_> = sessions
            .iter()
            .enumerate()
            .map(|(i, s)| {
                change(
                    &format!("{i}"),
                    Some(s),
                    &finished(s, FinalStatus::Verified, Some(10000), None),
                )
            })
            .collect();
        // The bus refuses the second (and takes the third): the first is
        // done, Lambda retries from the second's record.
        *bus.refuse_nth.lock().unwrap() = Some(1);
        assert_eq!(publish_finalized(&svc, &records).await, Some("1".into()));
        let rest = &records[1..];
        assert_eq!(publish_finalized(&svc, rest).await, None);
        // The bus down: nothing done, retry from the first record.
        bus.down.store(true, Ordering::SeqCst);
        assert_eq!(publish_finalized(&svc, rest).await, Some("1".into()));
        bus.down.store(false, Ordering::SeqCst);
        // Redelivered (Lambda retried after a lost answer): the same ids.
        assert_eq!(publish_finalized(&svc, rest).await, None);
        let ids: Vec<_> = bus.taken().into_iter().map(|e| e.event_id).collect();
        let unique: std::collections::BTreeSet<_> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), 3, "{ids:?}");
        assert!(
            ids.len() > 3,
            "duplicates were delivered and are recognizable"
        );
    }

    /// A record that can never be published (a sealed value under a key the
    /// keyring lost, or damaged) is skipped and counted; the batch goes on.
    #[tokio::test]
    async fn an_unreadable_record_is_skipped_and_the_batch_goes_on() {
        use crate::domain::Sealed;
        let (svc, bus) = events();
        let mut lost_key = pending(true);
        lost_key.identity_hash = Some(Sealed(
            "2026-01.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        ));
        let mut damaged = pending(true);
        damaged.identity_hash = Some(Sealed("k0.AAAA".into()));
        let good = pending(true);
        let records: Vec<_> = [&lost_key, &damaged, &good]
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                change(
                    &i.to_string(),
                    Some(s),
                    &finished(s, FinalStatus::Verified, Some(10000), None),
                )
            })
            .collect();
        assert_eq!(
            publish_finalized(&svc, &records).await,
            None,
            "nothing to retry"
        );
        let taken = bus.taken();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].facts.out_seq_no, good.out_seq_no.as_str());
    }

    #[tokio::test]
    async fn an_unreadable_secret_stops_the_batch_there() {
        let (mut svc, bus) = events();
        let s = pending(true);
        let records = vec![change(
            "7",
            Some(&s),
            &finished(&s, FinalStatus::Failed, Some(10004), None),
        )];
        svc.secrets = Arc::new(StaticSecret::<crate::config::AppSecrets>(
            Err("down".into()),
        ));
        assert_eq!(publish_finalized(&svc, &records).await, Some("7".into()));
        assert!(bus.taken().is_empty());
    }
}
