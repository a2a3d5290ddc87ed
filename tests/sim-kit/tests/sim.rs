//! The core and the shared hooks with their client, against a minimal
//! simulator: two endpoints that answer their fault's status, and one
//! boolean setting.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use sim_kit::{Core, FaultSpec, HookClient, MAX_DELAY_MS, SimEndpoint, Simulator, check_delay};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ep {
    Ping,
    Pong,
}

impl SimEndpoint for Ep {
    const ALL: &'static [Self] = &[Ep::Ping, Ep::Pong];

    fn name(self) -> &'static str {
        ["ping", "pong"][self as usize]
    }
}

/// `{"status"}`: answer this 4xx/5xx instead of 200.
#[derive(Deserialize)]
struct StatusFault {
    status: u16,
}

impl FaultSpec for StatusFault {
    type Endpoint = Ep;
    type Action = u16;

    fn validate(self, _: Ep) -> Result<u16, String> {
        if !(400..=599).contains(&self.status) {
            return Err("status must be a 4xx or 5xx".into());
        }
        Ok(self.status)
    }
}

fn add(core: &mut Core<StatusFault>, body: Value) -> Result<(), String> {
    core.add_fault(serde_json::from_value(body).expect("fault body"))
}

#[test]
fn counted_faults_run_out_then_the_next_one_applies() {
    let mut core = Core::<StatusFault>::new(&[]);
    add(
        &mut core,
        json!({"endpoint": "ping", "status": 500, "times": 2}),
    )
    .unwrap();
    add(
        &mut core,
        json!({"endpoint": "ping", "status": 503, "times": 1}),
    )
    .unwrap();
    let taken: Vec<Option<u16>> = (0..4).map(|_| core.arrive(Ep::Ping)).collect();
    assert_eq!(taken, [Some(500), Some(500), Some(503), None]);
    // Other endpoints were never affected, but every call counted.
    assert_eq!(core.arrive(Ep::Pong), None);
    let counts = core.counters.snapshot();
    assert_eq!(counts, BTreeMap::from([("ping", 4), ("pong", 1)]));
}

#[test]
fn uncounted_fault_lasts_until_cleared() {
    let mut core = Core::<StatusFault>::new(&["extra"]);
    add(&mut core, json!({"endpoint": "pong", "status": 429})).unwrap();
    assert!((0..5).all(|_| core.arrive(Ep::Pong) == Some(429)));
    core.faults.clear();
    assert_eq!(core.arrive(Ep::Pong), None);
    core.counters.hit("extra");
    core.counters.reset();
    let counts = core.counters.snapshot();
    assert_eq!(
        counts,
        BTreeMap::from([("extra", 0), ("ping", 0), ("pong", 0)])
    );
}

#[test]
fn bad_fault_requests_are_refused_and_queue_nothing() {
    let mut core = Core::<StatusFault>::new(&[]);
    let unknown = add(&mut core, json!({"endpoint": "pang", "status": 500}));
    let expected = r#"unknown endpoint "pang"; expected one of ping, pong"#;
    assert_eq!(unknown.unwrap_err(), expected);
    assert!(add(&mut core, json!({"endpoint": "ping", "status": 200})).is_err());
    let never = json!({"endpoint": "ping", "status": 500, "times": 0});
    assert!(add(&mut core, never).is_err());
    assert_eq!(core.arrive(Ep::Ping), None);
    assert!(check_delay(Some(MAX_DELAY_MS)).is_ok() && check_delay(None).is_ok());
    assert!(check_delay(Some(MAX_DELAY_MS + 1)).is_err());
}

struct Locked {
    core: Core<StatusFault>,
    loud: bool,
}

#[derive(Clone)]
struct Sim(Arc<Mutex<Locked>>);

#[derive(Deserialize)]
struct Settings {
    loud: Option<bool>,
}

impl Simulator for Sim {
    type Faults = StatusFault;
    type Settings = Settings;

    fn settings(&self) -> Value {
        json!({"loud": self.0.lock().unwrap().loud})
    }

    fn configure(&self, change: Settings) -> Result<Value, String> {
        let mut s = self.0.lock().unwrap();
        s.loud = change.loud.unwrap_or(s.loud);
        Ok(json!({"loud": s.loud}))
    }

    fn with_core<R>(&self, f: impl FnOnce(&mut Core<StatusFault>) -> R) -> R {
        f(&mut self.0.lock().unwrap().core)
    }
}

async fn ping(State(sim): State<Sim>) -> axum::http::StatusCode {
    let fault = sim.with_core(|c| c.arrive(Ep::Ping));
    axum::http::StatusCode::from_u16(fault.unwrap_or(200)).unwrap()
}

#[tokio::test]
async fn counters_faults_clock_and_config_over_http() {
    let sim = Sim(Arc::new(Mutex::new(Locked {
        core: Core::new(&["extra"]),
        loud: false,
    })));
    let app = Router::new()
        .route("/ping", get(ping))
        .merge(sim_kit::hook_routes())
        .with_state(sim);
    let client = |url: String| HookClient::new("mini-sim", url);
    let running = sim_kit::serve("mini-sim", app, "127.0.0.1:0".parse().unwrap(), client)
        .await
        .unwrap();
    let hooks = running.client();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let ping = || http.get(format!("{}/ping", running.base_url())).send();

    hooks
        .inject(&json!({"endpoint": "ping", "status": 503, "times": 1}))
        .await;
    assert_eq!(ping().await.unwrap().status(), 503);
    assert_eq!(ping().await.unwrap().status(), 200);
    assert_eq!(hooks.count("ping").await, 2);
    assert_eq!(hooks.count("pong").await, 0);
    assert_eq!(hooks.count("extra").await, 0);
    let refused = hooks
        .try_inject(&json!({"endpoint": "pang", "status": 500}))
        .await;
    assert!(refused.unwrap_err().contains("expected one of ping, pong"));
    hooks
        .inject(&json!({"endpoint": "ping", "status": 500}))
        .await;
    hooks.clear_faults().await;
    assert_eq!(ping().await.unwrap().status(), 200);
    hooks.reset_counters().await;
    assert_eq!(hooks.counters().await.values().sum::<u64>(), 0);

    let t0 = hooks.now().await;
    hooks.advance_clock(3600).await;
    assert!(hooks.now().await >= t0 + 3600);
    assert!(hooks.try_inject(&json!({})).await.is_err(), "no endpoint");
    let (status, _) = hooks
        .post("/__sim/clock", &json!({"advance_secs": -1}))
        .await;
    assert_eq!(status, 400, "time never goes back");

    assert_eq!(
        hooks.hook("/__sim/config", &json!({"loud": true})).await,
        json!({"loud": true})
    );
    assert_eq!(hooks.get("/__sim/config").await, json!({"loud": true}));

    let base = running.base_url();
    running.shutdown().await;
    assert!(http.get(format!("{base}/ping")).send().await.is_err());
}
