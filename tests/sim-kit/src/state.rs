//! The state every simulator has besides its protocol's: the clock, calls
//! per endpoint, and per-endpoint FIFOs of injected faults. A fault is taken
//! when a call arrives (after it is counted), so the order of calls decides
//! which one gets it.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

use crate::clock::Clock;

/// Longest accepted injected delay: long enough for any client timeout test,
/// short enough that a typo cannot hang a test run for hours.
pub const MAX_DELAY_MS: u64 = 120_000;

/// Refuses a `delay_ms` above [`MAX_DELAY_MS`].
pub fn check_delay(delay_ms: Option<u64>) -> Result<(), String> {
    match delay_ms {
        Some(d) if d > MAX_DELAY_MS => Err(format!("delay_ms is capped at {MAX_DELAY_MS}")),
        _ => Ok(()),
    }
}

/// A simulator's endpoints, named as the counter and fault hooks name them.
pub trait SimEndpoint: Copy + Eq + Hash + Send + 'static {
    const ALL: &'static [Self];

    fn name(self) -> &'static str;

    /// The endpoint called `name`; the error lists the valid names.
    fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|e| e.name()).collect();
                format!(
                    "unknown endpoint {name:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Calls per endpoint (and any other counted events) since start or the
/// last reset; every name is listed from the start, at 0.
#[derive(Debug, Clone)]
pub struct Counters(BTreeMap<&'static str, u64>);

impl Counters {
    /// One counter per endpoint of `E`, plus `extra` ones.
    pub fn new<E: SimEndpoint>(extra: &[&'static str]) -> Self {
        let names = E::ALL.iter().map(|e| e.name()).chain(extra.iter().copied());
        Counters(names.map(|n| (n, 0)).collect())
    }

    pub fn hit(&mut self, name: &'static str) {
        *self.0.entry(name).or_default() += 1;
    }

    pub fn reset(&mut self) {
        self.0.values_mut().for_each(|n| *n = 0);
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.clone()
    }
}

#[derive(Debug)]
struct Queued<A> {
    action: A,
    /// `None`: applies to every call until cleared.
    remaining: Option<u32>,
}

/// Per-endpoint FIFOs of fault actions.
#[derive(Debug)]
pub struct FaultQueues<E, A> {
    queues: HashMap<E, VecDeque<Queued<A>>>,
}

impl<E, A> Default for FaultQueues<E, A> {
    fn default() -> Self {
        FaultQueues {
            queues: HashMap::new(),
        }
    }
}

impl<E: SimEndpoint, A: Clone> FaultQueues<E, A> {
    /// Queues `action` for the next `times` calls (`None`: until cleared),
    /// behind the endpoint's earlier faults.
    pub fn push(&mut self, endpoint: E, action: A, times: Option<u32>) -> Result<(), String> {
        if times == Some(0) {
            return Err("times must be at least 1 (omit it for 'until cleared')".into());
        }
        self.queues.entry(endpoint).or_default().push_back(Queued {
            action,
            remaining: times,
        });
        Ok(())
    }

    /// The fault for the call arriving now, consuming one use of it.
    pub fn take(&mut self, endpoint: E) -> Option<A> {
        let queue = self.queues.get_mut(&endpoint)?;
        let front = queue.front_mut()?;
        let action = front.action.clone();
        if let Some(n) = front.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                queue.pop_front();
            }
        }
        Some(action)
    }

    pub fn clear(&mut self) {
        self.queues.clear();
    }
}

/// The body of `POST /__sim/faults`: the endpoint, the simulator's own
/// fault fields, and for how many calls (absent: until cleared).
#[derive(Debug, Deserialize)]
pub struct FaultRequest<S> {
    pub endpoint: String,
    #[serde(flatten)]
    pub spec: S,
    pub times: Option<u32>,
}

/// A simulator's fault fields as posted, checked into what its endpoints
/// apply. The error explains a bad request.
pub trait FaultSpec: DeserializeOwned + Send + 'static {
    type Endpoint: SimEndpoint;
    type Action: Clone + Send + 'static;

    fn validate(self, endpoint: Self::Endpoint) -> Result<Self::Action, String>;
}

/// Clock, counters and faults, kept inside the simulator's one lock so that
/// a call's count, fault and clock reading are atomic with everything else.
pub struct Core<F: FaultSpec> {
    pub clock: Clock,
    pub counters: Counters,
    pub faults: FaultQueues<F::Endpoint, F::Action>,
}

impl<F: FaultSpec> Core<F> {
    /// `extra_counters`: counted events that are not endpoints.
    pub fn new(extra_counters: &[&'static str]) -> Self {
        Core {
            clock: Clock::default(),
            counters: Counters::new::<F::Endpoint>(extra_counters),
            faults: FaultQueues::default(),
        }
    }

    /// Simulated unix time in seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// What every endpoint does first: count the call, then take its fault.
    pub fn arrive(&mut self, endpoint: F::Endpoint) -> Option<F::Action> {
        self.counters.hit(endpoint.name());
        self.faults.take(endpoint)
    }

    /// Validates a `POST /__sim/faults` body and queues its fault.
    pub fn add_fault(&mut self, req: FaultRequest<F>) -> Result<(), String> {
        let endpoint = F::Endpoint::from_name(&req.endpoint)?;
        let action = req.spec.validate(endpoint)?;
        self.faults.push(endpoint, action, req.times)
    }
}
