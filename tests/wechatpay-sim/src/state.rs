//! Shared simulator state behind one mutex, never held across an await.

use sim_kit::{Core, SimEndpoint};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::{PaySimConfig, SimUser};
use crate::crypto::Keys;
use crate::faults::FaultAction;

/// The WeChat Pay endpoints served; names are those of counters and faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    Authinfo,
    FacemchUsers,
}

impl SimEndpoint for Endpoint {
    const ALL: &'static [Endpoint] = &[Endpoint::Authinfo, Endpoint::FacemchUsers];

    fn name(self) -> &'static str {
        match self {
            Endpoint::Authinfo => "authinfo",
            Endpoint::FacemchUsers => "facemch_users",
        }
    }
}

/// An authinfo this simulator issued, and what it is bound to (appid and
/// mch_id are always the configured merchant's).
#[derive(Debug, Clone)]
pub(crate) struct IssuedAuthinfo {
    pub device_id: String,
    pub store_id: String,
    /// Partner mode: the sub-merchant it was issued for.
    pub sub_mch_id: Option<String>,
    pub sub_appid: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct FaceSid {
    pub user: SimUser,
    pub expires_at: i64,
    pub consented: bool,
    /// Partner mode: the sub-merchant whose kiosk recognised the user; only
    /// it may ask for the user's data. `None`: direct mode.
    pub sub_mch_id: Option<String>,
}

pub(crate) struct Inner {
    pub config: PaySimConfig,
    /// Clock, counters and faults.
    pub core: Core<FaultAction>,
    pub authinfos: HashMap<String, IssuedAuthinfo>,
    pub face_sids: HashMap<String, FaceSid>,
}

impl Inner {
    pub(crate) fn now(&self) -> i64 {
        self.core.now()
    }
}

#[derive(Clone)]
pub(crate) struct Sim {
    inner: Arc<Mutex<Inner>>,
    pub keys: Arc<Keys>,
}

impl Sim {
    pub(crate) fn new(config: PaySimConfig, keys: Keys) -> Self {
        Sim {
            inner: Arc::new(Mutex::new(Inner {
                config,
                core: Core::new(&[]),
                authinfos: HashMap::new(),
                face_sids: HashMap::new(),
            })),
            keys: Arc::new(keys),
        }
    }

    /// A poisoned lock is reused: no half-update matters to a test.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// First thing every WeChat Pay endpoint does: count the call, take its
    /// fault, wait out the fault's delay.
    pub(crate) async fn enter(&self, endpoint: Endpoint) -> Option<FaultAction> {
        let fault = self.lock().core.arrive(endpoint);
        if let Some(ms) = fault.as_ref().and_then(|f| f.delay_ms) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        fault
    }
}
