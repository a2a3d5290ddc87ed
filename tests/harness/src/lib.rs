//! Test and local-stack harness for wxface.
//!
//! - [`Moto`]: a local AWS emulator (moto_server from `<root>/.venv`) for DynamoDB and Secrets Manager.
//! - [`template`]: the sessions table exactly as `template.yaml` declares it.
//! - [`secrets`]: Secrets Manager helpers.
//! - [`fixtures`]: every personal datum the tests and the demo use.
//! - [`logs`]: captures what a test process logs into `target/test-logs/`.
//! - [`pii`]: scans tables and logs for the fixtures' personal data (docs/api.md §5).
//! - [`events`]: the sample function URL events under `events/`.
//! - [`event_path`]: the table's stream to publish-events to EventBridge to an SQS queue, on moto.
//! - [`provision`]: one run's table, secrets and the functions' environment.
//! - [`front`]: function URLs or an HTTP API in front of the functions, and a local HTTP API front.
//! - [`lambda_host`]: functions as processes under a local Runtime API, with function URLs.
//! - [`manifest`]: the function manifest as JSON, and the local environment file held to it.
//! - [`soak`] and [`cold_start`]: the randomized soak and the cold-start benchmark; for the
//!   latter, [`cgroup`] (a memory size's CPU share), [`wan`] (upstreams over TLS, a round trip
//!   away) and [`power`] (the power-tuning table).
//!
//! The `wxface-dev` binary (setup / demo / scan-pii / soak / cold-start / manifest) is built on the same modules.

pub mod aws_faults;
pub mod cgroup;
pub mod checks;
pub mod cold_start;
pub mod event_path;
pub mod events;
pub mod fixtures;
pub mod front;
pub mod kiosk;
pub mod lambda_host;
pub mod logs;
pub mod manifest;
mod moto;
pub mod pii;
pub mod power;
pub mod provision;
pub mod secrets;
pub mod soak;
pub mod template;
pub mod wan;

pub use moto::Moto;

use std::path::PathBuf;

/// The workspace root (the directory holding the top-level `Cargo.toml` and `template.yaml`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // tests/harness -> workspace root
    manifest
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or(manifest)
}

/// `<root>/template.yaml`.
pub fn template_path() -> PathBuf {
    workspace_root().join("template.yaml")
}

/// Region, access key and secret key used against the local emulator.
pub const TEST_REGION: &str = "us-east-1";
pub const TEST_ACCESS_KEY_ID: &str = "testing";
pub const TEST_SECRET_ACCESS_KEY: &str = "testing";

/// An SDK configuration for a local AWS endpoint (moto): region us-east-1, static test
/// credentials, every client pointed at `endpoint`. Reads nothing from the environment.
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new(
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
        None,
        None,
        "wxface-harness",
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(TEST_REGION))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        // The functions' own AWS HTTP client: the tests exercise it too.
        .http_client(wxface::adapters::aws_http::client().expect("an HTTP client for AWS"))
        .load()
        .await
}
