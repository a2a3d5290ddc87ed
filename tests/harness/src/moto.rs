//! A moto_server for the tests: shared (from `WXFACE_TEST_MOTO_ENDPOINT`) or spawned per test.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::workspace_root;

/// Environment variable naming a moto server shared by the whole test run.
pub const MOTO_ENDPOINT_ENV: &str = "WXFACE_TEST_MOTO_ENDPOINT";

/// A running moto server. Spawned servers are killed when this is dropped; a shared one
/// (from [`MOTO_ENDPOINT_ENV`]) is left alone.
pub struct Moto {
    endpoint: String,
    child: Option<Child>,
}

impl Moto {
    /// Reuses the server in `WXFACE_TEST_MOTO_ENDPOINT` if set (the test script starts one for
    /// the whole run); otherwise spawns one on a free port (killed on drop) and waits until it
    /// answers. Panics with a clear message when it cannot.
    ///
    /// The server is moto_server run through `<root>/scripts/moto_server.py`, which handles one
    /// request at a time: plain `moto_server` is not thread-safe (concurrent TransactWriteItems
    /// on one table fail with HTTP 500), while DynamoDB applies every request atomically.
    ///
    /// A shared server is shared: give tables and secrets unique names
    /// ([`crate::fixtures::unique_name`]).
    pub async fn start() -> Moto {
        match std::env::var(MOTO_ENDPOINT_ENV) {
            Ok(url) if !url.trim().is_empty() => {
                let url = url.trim().trim_end_matches('/').to_string();
                wait_until_up(&url, None)
                    .await
                    .unwrap_or_else(|e| panic!("{MOTO_ENDPOINT_ENV}={url}: {e}"));
                Moto {
                    endpoint: url,
                    child: None,
                }
            }
            _ => Moto::spawn().await,
        }
    }

    /// Always spawns a private moto_server on a free port, whatever the environment says.
    /// For tests that must see an empty emulator (e.g. ones that scan every table).
    pub async fn spawn() -> Moto {
        let python = workspace_root().join(".venv/bin/python");
        let script = workspace_root().join("scripts/moto_server.py");
        if !workspace_root().join(".venv/bin/moto_server").exists() {
            panic!(
                "moto is not installed in {}: run `bash scripts/venv.sh` first (or set {MOTO_ENDPOINT_ENV})",
                workspace_root().join(".venv").display()
            );
        }
        let mut last_err = String::new();
        // A free port can be taken between our probe and moto's bind: retry a few times.
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(&python)
                .arg(&script)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
            let endpoint = format!("http://127.0.0.1:{port}");
            match wait_until_up(&endpoint, Some(&mut child)).await {
                Ok(()) => {
                    return Moto {
                        endpoint,
                        child: Some(child),
                    };
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = e;
                }
            }
        }
        panic!("moto_server did not come up: {last_err}");
    }

    /// Base URL, e.g. `http://127.0.0.1:5005` (no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// True when this handle spawned (and owns) the server.
    pub fn is_private(&self) -> bool {
        self.child.is_some()
    }

    /// Region us-east-1, static test credentials, endpoint_url = this server.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        crate::sdk_config_for(&self.endpoint).await
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    pub async fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config().await)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0")
}

/// Waits (up to 30 s) until `endpoint` accepts TCP connections and answers HTTP.
async fn wait_until_up(endpoint: &str, mut child: Option<&mut Child>) -> Result<(), String> {
    let addr: SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|_| format!("cannot parse host:port in {endpoint}"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            return Err(format!("moto_server exited early ({status})"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            // Any HTTP answer (even a 404) means the server is serving.
            if client.get(format!("{endpoint}/")).send().await.is_ok() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no answer from {endpoint} within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
