//! Signed webhooks per tenant (docs/api.md §9): Standard Webhooks v1
//! (standard-webhooks.com). Each delivery carries `webhook-id` (the event's
//! id, the same on every retry), `webhook-timestamp` (unix seconds) and
//! `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
//! under each of the tenant's secrets, space-separated, so a receiver may
//! rotate its secret without a gap. Pure: what is signed, and how a
//! receiver's answer is read.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A tenant's webhook secret: `whsec_` and the base64 of 24-64 random bytes.
#[derive(Clone)]
pub struct WebhookSecret(hmac::Key);

impl WebhookSecret {
    pub fn parse(raw: &str) -> Option<Self> {
        let bytes = STANDARD.decode(raw.strip_prefix("whsec_")?).ok()?;
        (24..=64)
            .contains(&bytes.len())
            .then(|| Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    /// `v1,<signature>` of one delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(format!("{id}.{timestamp}.").as_bytes());
        ctx.update(body);
        format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The `webhook-signature` header: one signature per secret.
pub fn signature_header(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let signed: Vec<String> = secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect();
    signed.join(" ")
}

/// What a receiver's answer means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver wants no more; the tenant's webhook is disabled.
    Gone,
    /// Anything else (3xx included), or no answer: tried again later.
    Retry,
}

impl Answer {
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Delivered,
            410 => Self::Gone,
            _ => Self::Retry,
        }
    }
}

/// Seconds before the next try after the `receive`-th (1-based) failed
/// one: Standard Webhooks' schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h),
/// then just under 12 h (SQS refuses a visibility past 12 h from the
/// message's receipt, which was a moment ago) until the queue's 10 tries
/// are spent: about 53 h of tries (docs/api.md §9). A receiver's
/// `Retry-After` may ask for longer, never for sooner: a `Retry-After: 1`
/// must not spend every try within seconds.
pub fn retry_delay(receive: u32, retry_after: Option<u64>) -> u64 {
    const SCHEDULE: [u64; 6] = [5, 300, 1_800, 7_200, 18_000, 36_000];
    const MAX: u64 = 42_900;
    let scheduled = SCHEDULE
        .get(receive.saturating_sub(1) as usize)
        .copied()
        .unwrap_or(MAX);
    retry_after.map_or(scheduled, |r| r.clamp(scheduled, MAX.max(scheduled)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's example (secret, id, timestamp,
    /// payload and signature), also computed with Python's hmac.
    #[test]
    fn the_signature_is_standard_webhooks_v1() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_whsec_and_24_to_64_bytes_and_never_shown() {
        let s = WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 32]))).unwrap();
        assert_eq!(format!("{s:?}"), "WebhookSecret(<redacted>)");
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            format!("whsec_{}", STANDARD.encode([7u8; 23])),
            format!("whsec_{}", STANDARD.encode([7u8; 65])),
            "whsec_not base64".to_owned(),
        ] {
            assert!(WebhookSecret::parse(&bad).is_none(), "{bad}");
        }
        let two = [s.clone(), s];
        let header = signature_header(&two, "i", 1, b"{}");
        assert_eq!(header.split(' ').count(), 2);
    }

    #[test]
    fn answers_and_the_retry_schedule() {
        assert_eq!(Answer::of_status(204), Answer::Delivered);
        assert_eq!(Answer::of_status(410), Answer::Gone);
        for s in [301, 400, 404, 429, 500, 503] {
            assert_eq!(Answer::of_status(s), Answer::Retry, "{s}");
        }
        // The waits between the queue's 10 tries: more than a day in all.
        let delays: Vec<u64> = (1..=9).map(|r| retry_delay(r, None)).collect();
        assert_eq!(
            delays,
            [5, 300, 1800, 7200, 18000, 36000, 42900, 42900, 42900]
        );
        assert!(delays.iter().sum::<u64>() >= 2 * 24 * 3600);
        assert!(
            delays.iter().all(|&d| d < 43_200),
            "SQS refuses 12 h and more"
        );
        assert_eq!(retry_delay(1, Some(60)), 60);
        assert_eq!(
            retry_delay(3, Some(1)),
            1800,
            "never sooner than the schedule"
        );
        assert_eq!(retry_delay(1, Some(10_000_000)), 42_900);
    }
}
