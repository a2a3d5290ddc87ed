//! The access-token manager (docs/api.md §4): one stable_token per appid for
//! every instance of every function.
//!
//! The token lives in Secrets Manager (the vault) and in memory. When it must
//! be refreshed, the instance that wins a short lease in DynamoDB calls
//! WeChat; the others wait for the vault to show the new token. So thirty
//! cold instances make one stable_token call, not thirty.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::domain::Clock;
use crate::error::WeChatError;
use crate::ports::{StoredToken, TokenLease, TokenSource, TokenVault};

/// Refresh this long before `expires_at`. WeChat's normal mode hands out a new
/// token only in the last 300 s, so this must stay below 300 or a refresh
/// would return the same, still-ageing token.
pub const REFRESH_MARGIN_SECS: i64 = 120;
/// A lease holder that dies frees the lease after this long.
pub const LEASE_SECS: i64 = 10;

pub struct AccessTokens {
    vault: Arc<dyn TokenVault>,
    lease: Arc<dyn TokenLease>,
    source: Arc<dyn TokenSource>,
    clock: Arc<dyn Clock>,
    holder: String,
    /// Held across a refresh: single flight within the instance too.
    memo: Mutex<Option<StoredToken>>,
    /// How long to wait for another instance's refresh.
    pub wait: Duration,
    pub poll: Duration,
}

impl AccessTokens {
    pub fn new(
        vault: Arc<dyn TokenVault>,
        lease: Arc<dyn TokenLease>,
        source: Arc<dyn TokenSource>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut id = [0u8; 8];
        crate::domain::pii::random_bytes(&mut id);
        Self {
            vault,
            lease,
            source,
            clock,
            holder: hex::encode(id),
            memo: Mutex::new(None),
            wait: Duration::from_secs(5),
            poll: Duration::from_millis(100),
        }
    }

    /// A token that is valid for at least `REFRESH_MARGIN_SECS` more; if
    /// the refresh fails, the current one until it really expires.
    pub async fn get(&self) -> Result<String, WeChatError> {
        let mut memo = self.memo.lock().await;
        if let Some(t) = memo.as_ref().filter(|t| self.fresh(t)) {
            return Ok(t.access_token.clone());
        }
        match self.obtain(None).await {
            Ok(token) => {
                let value = token.access_token.clone();
                *memo = Some(token);
                Ok(value)
            }
            Err(e) => match memo.as_ref().filter(|t| self.valid(t)) {
                Some(t) => {
                    tracing::warn!(event = "access_token_refresh_failed", detail = %e, "using the current token until it expires");
                    Ok(t.access_token.clone())
                }
                None => Err(e),
            },
        }
    }

    /// WeChat refused `rejected` (40001/40014/42001): drop it, only if it is
    /// still the current one, and get another. Never force_refresh.
    pub async fn replace(&self, rejected: &str) -> Result<String, WeChatError> {
        let mut memo = self.memo.lock().await;
        if let Some(t) = memo.as_ref()
            && t.access_token != rejected
            && self.fresh(t)
        {
            return Ok(t.access_token.clone());
        }
        *memo = None;
        tracing::info!(
            event = "access_token_rejected",
            "replacing the access token"
        );
        let token = self.obtain(Some(rejected)).await?;
        let value = token.access_token.clone();
        *memo = Some(token);
        Ok(value)
    }

    fn fresh(&self, t: &StoredToken) -> bool {
        !t.access_token.is_empty() && self.clock.now() < t.expires_at - REFRESH_MARGIN_SECS
    }

    /// Not expired, though maybe inside the refresh margin.
    fn valid(&self, t: &StoredToken) -> bool {
        !t.access_token.is_empty() && self.clock.now() < t.expires_at
    }

    async fn obtain(&self, rejected: Option<&str>) -> Result<StoredToken, WeChatError> {
        let deadline = Instant::now() + self.wait;
        loop {
            if let Some(t) = self.usable(self.vault.load().await?, rejected) {
                return Ok(t);
            }
            let now = self.clock.now();
            if self
                .lease
                .try_acquire(&self.holder, now, now + LEASE_SECS)
                .await?
            {
                let guard = LeaseGuard::new(self.lease.clone(), &self.holder);
                let result = self.refresh_under_lease(rejected).await;
                guard.release().await;
                return result;
            }
            if Instant::now() >= deadline {
                return Err(WeChatError::Unavailable(
                    "timed out waiting for another instance to refresh the access token".into(),
                ));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn refresh_under_lease(
        &self,
        rejected: Option<&str>,
    ) -> Result<StoredToken, WeChatError> {
        // Another instance may have stored a token between our read and the lease.
        if let Some(t) = self.usable(self.vault.load().await?, rejected) {
            return Ok(t);
        }
        let (access_token, expires_in) = self.source.fetch().await?;
        let token = StoredToken {
            access_token,
            expires_at: self.clock.now() + expires_in,
        };
        self.vault.store(&token).await?;
        crate::telemetry::metrics::token_refresh();
        tracing::info!(
            event = "access_token_refreshed",
            expires_in,
            "stored a new access token"
        );
        Ok(token)
    }

    fn usable(&self, t: Option<StoredToken>, rejected: Option<&str>) -> Option<StoredToken> {
        t.filter(|t| self.fresh(t) && Some(t.access_token.as_str()) != rejected)
    }
}

/// Releases the lease when the refresh ends, or, if the caller's future is
/// dropped first (event-callback's time budget), in a task of its own: a
/// stuck lease would make every other container wait for it to run out.
struct LeaseGuard {
    lease: Arc<dyn TokenLease>,
    holder: String,
    armed: bool,
}

impl LeaseGuard {
    fn new(lease: Arc<dyn TokenLease>, holder: &str) -> Self {
        Self {
            lease,
            holder: holder.to_owned(),
            armed: true,
        }
    }

    async fn release(mut self) {
        self.armed = false;
        if let Err(e) = self.lease.release(&self.holder).await {
            // The lease runs out by itself; a refresh is only delayed.
            tracing::warn!(error = %e, "could not release the token lease");
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (lease, holder) = (self.lease.clone(), std::mem::take(&mut self.holder));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = lease.release(&holder).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ManualClock;
    use crate::testing::{CountingSource, MemStore, MemVault};

    struct World {
        vault: Arc<MemVault>,
        lease: Arc<MemStore>,
        source: Arc<CountingSource>,
        clock: Arc<ManualClock>,
    }

    impl World {
        fn new() -> Self {
            Self {
                vault: Arc::default(),
                lease: Arc::default(),
                source: Arc::new(CountingSource::slow(30)),
                clock: Arc::new(ManualClock::new()),
            }
        }
        fn instance(&self) -> AccessTokens {
            let mut t = AccessTokens::new(
                self.vault.clone(),
                self.lease.clone(),
                self.source.clone(),
                self.clock.clone(),
            );
            t.poll = Duration::from_millis(5);
            t
        }
        fn fetches(&self) -> u32 {
            self.source.fetches()
        }
    }

    #[tokio::test]
    async fn cached_then_refreshed_before_expiry() {
        let w = World::new();
        let a = w.instance();
        assert_eq!(a.get().await.unwrap(), "token-1");
        assert_eq!(a.get().await.unwrap(), "token-1");
        // A second cold instance reads the vault instead of calling WeChat.
        assert_eq!(w.instance().get().await.unwrap(), "token-1");
        assert_eq!(w.fetches(), 1);
        w.clock.advance(7200 - REFRESH_MARGIN_SECS);
        assert_eq!(a.get().await.unwrap(), "token-2");
        assert_eq!(w.fetches(), 2);
    }

    #[tokio::test]
    async fn concurrent_cold_instances_fetch_once() {
        let w = World::new();
        let instances: Vec<_> = (0..30).map(|_| Arc::new(w.instance())).collect();
        let tasks: Vec<_> = instances
            .iter()
            .map(|i| {
                let i = i.clone();
                tokio::spawn(async move { i.get().await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "token-1");
        }
        assert_eq!(w.fetches(), 1);
    }

    #[tokio::test]
    async fn replace_drops_only_the_rejected_token() {
        let w = World::new();
        let a = w.instance();
        let b = w.instance();
        assert_eq!(a.get().await.unwrap(), "token-1");
        assert_eq!(b.get().await.unwrap(), "token-1");
        assert_eq!(a.replace("token-1").await.unwrap(), "token-2");
        // b learns of the rejection too, but finds a's replacement in the vault.
        assert_eq!(b.replace("token-1").await.unwrap(), "token-2");
        // A stale rejection of a token nobody holds any more changes nothing.
        assert_eq!(a.replace("token-0").await.unwrap(), "token-2");
        assert_eq!(w.fetches(), 2);
    }

    #[tokio::test]
    async fn a_stuck_lease_gives_a_clear_error() {
        let w = World::new();
        let now = w.clock.now();
        assert!(w.lease.try_acquire("dead", now, now + 1000).await.unwrap());
        let mut a = w.instance();
        a.wait = Duration::from_millis(50);
        assert!(matches!(a.get().await, Err(WeChatError::Unavailable(_))));
        assert_eq!(w.fetches(), 0);
    }

    #[tokio::test]
    async fn a_dropped_caller_releases_the_lease() {
        let w = World::new();
        let a = w.instance();
        // The caller gives up while the refresh is in flight.
        let gave_up = tokio::time::timeout(Duration::from_millis(5), a.get()).await;
        assert!(gave_up.is_err());
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = w.clock.now();
        assert!(
            w.lease
                .try_acquire("next", now, now + LEASE_SECS)
                .await
                .unwrap(),
            "the lease was released, not left to run out"
        );
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_token_until_it_expires() {
        let w = World::new();
        let a = w.instance();
        assert_eq!(a.get().await.unwrap(), "token-1");
        w.clock.advance(7200 - REFRESH_MARGIN_SECS + 1);
        w.source.fail(1);
        assert_eq!(a.get().await.unwrap(), "token-1", "still valid for 119 s");
        w.clock.advance(REFRESH_MARGIN_SECS);
        w.source.fail(1);
        assert!(a.get().await.is_err(), "expired: no fallback");
        assert_eq!(a.get().await.unwrap(), "token-2");
    }
}
