//! A client for a simulator's `/__sim/` hooks, for tests in other crates. It
//! panics on transport errors and refused hooks: it is test code, and a loud
//! failure with the simulator's explanation is what a test wants.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Sends `req` and returns the status and the body as JSON (a body that is
/// not JSON comes back as a string). Panics on a transport error, naming
/// `what`.
pub async fn send_json(req: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
    let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Calls `probe` every 10 ms until `done` accepts its answer, for what
/// happens in the background (pushes); `Err` with the last answer once
/// `timeout` has passed.
pub async fn poll_until<T, Fut>(
    timeout: Duration,
    mut probe: impl FnMut() -> Fut,
    done: impl Fn(&T) -> bool,
) -> Result<T, T>
where
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let got = probe().await;
        if done(&got) {
            return Ok(got);
        }
        if Instant::now() >= deadline {
            return Err(got);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The hook calls every simulator answers; each simulator's `SimClient`
/// adds its own.
#[derive(Debug, Clone)]
pub struct HookClient {
    /// Prefixes panic messages (`wechat-sim`, …).
    name: &'static str,
    base_url: String,
    http: reqwest::Client,
}

impl HookClient {
    pub fn new(name: &'static str, base_url: impl Into<String>) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            // The simulator is on loopback; an HTTP(S)_PROXY must not capture it.
            .no_proxy()
            .build()
            .expect("building the simulator hook client");
        HookClient {
            name,
            base_url,
            http,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// POSTs a JSON body to `path`; the status and JSON answer, whatever
    /// the status.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> (u16, Value) {
        let req = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body);
        send_json(req, &format!("{} {path}", self.name)).await
    }

    /// POSTs a hook and returns its JSON, panicking unless it answered 2xx.
    pub async fn hook(&self, path: &str, body: &impl Serialize) -> Value {
        let (status, body) = self.post(path, body).await;
        assert!(
            (200..300).contains(&status),
            "{} {path} refused ({status}): {body}",
            self.name
        );
        body
    }

    /// GETs a hook and returns its JSON, panicking unless it answered 200.
    pub async fn get(&self, path: &str) -> Value {
        let req = self.http.get(format!("{}{path}", self.base_url));
        let (status, body) = send_json(req, &format!("{} {path}", self.name)).await;
        assert_eq!(status, 200, "{} {path}: {body}", self.name);
        body
    }

    /// A hook's answer as `T`, panicking with the answer if it does not fit.
    pub fn decode<T: DeserializeOwned>(&self, path: &str, body: Value) -> T {
        serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{} {path}: {e}: {body}", self.name))
    }

    /// Calls per endpoint since start or the last reset.
    pub async fn counters(&self) -> BTreeMap<String, u64> {
        let path = "/__sim/counters";
        self.decode(path, self.get(path).await)
    }

    /// Calls to one endpoint; 0 if never called or unknown.
    pub async fn count(&self, endpoint: &str) -> u64 {
        self.counters().await.get(endpoint).copied().unwrap_or(0)
    }

    pub async fn reset_counters(&self) {
        self.hook("/__sim/counters/reset", &json!({})).await;
    }

    /// Queues a fault (`POST /__sim/faults`): the simulator's `Fault`.
    pub async fn inject(&self, fault: &impl Serialize) {
        self.hook("/__sim/faults", fault).await;
    }

    /// Queues a fault and returns the simulator's refusal instead of panicking.
    pub async fn try_inject(&self, fault: &impl Serialize) -> Result<(), String> {
        match self.post("/__sim/faults", fault).await {
            (200, _) => Ok(()),
            (s, body) => Err(format!("{s}: {body}")),
        }
    }

    pub async fn clear_faults(&self) {
        let req = self.http.delete(format!("{}/__sim/faults", self.base_url));
        let what = format!("{} DELETE /__sim/faults", self.name);
        let (status, body) = send_json(req, &what).await;
        assert_eq!(status, 200, "{what}: {body}");
    }

    /// Moves the simulated clock forward.
    pub async fn advance_clock(&self, secs: i64) {
        self.hook("/__sim/clock", &json!({"advance_secs": secs}))
            .await;
    }

    /// The simulated unix time.
    pub async fn now(&self) -> i64 {
        let body = self.get("/__sim/clock").await;
        body.get("now")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("{} /__sim/clock: {body}", self.name))
    }
}

/// Declares a simulator's `SimClient`: a wrapper of [`HookClient`] that
/// derefs to it, so the hooks every simulator has come with it, and that
/// names the simulator in its panic messages. The simulator adds its own
/// hooks in an `impl` block.
///
/// ```
/// sim_kit::hook_client! {
///     /// Client for a running simulator's hooks.
///     pub struct SimClient("some-sim");
/// }
///
/// let client = SimClient::new("http://127.0.0.1:9100/");
/// assert_eq!(client.base_url(), "http://127.0.0.1:9100");
/// ```
#[macro_export]
macro_rules! hook_client {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($sim:literal);) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis struct $name {
            hooks: $crate::HookClient,
        }

        impl ::std::ops::Deref for $name {
            type Target = $crate::HookClient;

            fn deref(&self) -> &$crate::HookClient {
                &self.hooks
            }
        }

        impl $name {
            pub fn new(base_url: impl ::std::convert::Into<::std::string::String>) -> Self {
                $name {
                    hooks: $crate::HookClient::new($sim, base_url),
                }
            }
        }
    };
}
