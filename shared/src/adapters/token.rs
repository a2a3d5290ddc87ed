//! The access-token manager (contract §4): one stable_token per appid for
//! every instance of every function.
//!
//! The token lives in Secrets Manager (the vault) and in memory. When it must
//! be refreshed, the instance that wins a short lease in DynamoDB calls
//! WeChat; the others wait for the vault to show the new token. So thirty
//! cold instances make one stable_token call, not thirty.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::domain::Clock;
use crate::error::WeChatError;

/// Refresh this long before `expires_at`. WeChat's normal mode hands out a new
/// token only in the last 300 s, so this must stay below 300 or a refresh
/// would return the same, still-ageing token.
pub const REFRESH_MARGIN_SECS: i64 = 120;
/// A lease holder that dies frees the lease after this long.
pub const LEASE_SECS: i64 = 10;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Where the token is shared between instances.
#[async_trait]
pub trait TokenVault: Send + Sync {
    async fn load(&self) -> Result<Option<StoredToken>, WeChatError>;
    async fn store(&self, token: &StoredToken) -> Result<(), WeChatError>;
}

/// A lease that lets one instance at a time refresh the token.
#[async_trait]
pub trait TokenLease: Send + Sync {
    async fn try_acquire(&self, holder: &str, now: i64, until: i64) -> Result<bool, WeChatError>;
    async fn release(&self, holder: &str) -> Result<(), WeChatError>;
}

/// WeChat's stable_token in normal mode: (token, expires_in).
#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn fetch(&self) -> Result<(String, i64), WeChatError>;
}

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

    /// A token that is valid for at least `REFRESH_MARGIN_SECS` more.
    pub async fn get(&self) -> Result<String, WeChatError> {
        let mut memo = self.memo.lock().await;
        if let Some(t) = memo.as_ref().filter(|t| self.fresh(t)) {
            return Ok(t.access_token.clone());
        }
        let token = self.obtain(None).await?;
        let value = token.access_token.clone();
        *memo = Some(token);
        Ok(value)
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
                let result = self.refresh_under_lease(rejected).await;
                if let Err(e) = self.lease.release(&self.holder).await {
                    // The lease runs out by itself; a refresh is only delayed.
                    tracing::warn!(error = %e, "could not release the token lease");
                }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::domain::ManualClock;

    #[derive(Default)]
    struct MemVault(std::sync::Mutex<Option<StoredToken>>);
    #[async_trait]
    impl TokenVault for MemVault {
        async fn load(&self) -> Result<Option<StoredToken>, WeChatError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn store(&self, t: &StoredToken) -> Result<(), WeChatError> {
            *self.0.lock().unwrap() = Some(t.clone());
            Ok(())
        }
    }

    #[derive(Default)]
    struct MemLease(std::sync::Mutex<Option<(String, i64)>>);
    #[async_trait]
    impl TokenLease for MemLease {
        async fn try_acquire(
            &self,
            holder: &str,
            now: i64,
            until: i64,
        ) -> Result<bool, WeChatError> {
            let mut l = self.0.lock().unwrap();
            match &*l {
                Some((_, u)) if *u > now => Ok(false),
                _ => {
                    *l = Some((holder.to_owned(), until));
                    Ok(true)
                }
            }
        }
        async fn release(&self, holder: &str) -> Result<(), WeChatError> {
            let mut l = self.0.lock().unwrap();
            if l.as_ref().is_some_and(|(h, _)| h == holder) {
                *l = None;
            }
            Ok(())
        }
    }

    #[derive(Default)]
    struct CountingSource(AtomicU32);
    #[async_trait]
    impl TokenSource for CountingSource {
        async fn fetch(&self) -> Result<(String, i64), WeChatError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok((format!("token-{n}"), 7200))
        }
    }

    struct World {
        vault: Arc<MemVault>,
        lease: Arc<MemLease>,
        source: Arc<CountingSource>,
        clock: Arc<ManualClock>,
    }

    impl World {
        fn new() -> Self {
            Self {
                vault: Arc::default(),
                lease: Arc::default(),
                source: Arc::default(),
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
            self.source.0.load(Ordering::SeqCst)
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
}
