//! `wxface-dev`: local-stack helper: setup, demo, scan-pii, soak, cold-start, api-front and
//! manifest, each described in `USAGE` below (`wxface-dev help` prints it).
//!
//! Defaults are those of `make dev` (moto on 127.0.0.1:5005, the simulator on 127.0.0.1:9100,
//! `cargo lambda watch` on 127.0.0.1:9000).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wxface::http::routes::JWKS_PATH;
use wxface_harness::fixtures::{self, mask_id, mask_name};
use wxface_harness::front::Front;
use wxface_harness::{kiosk, pii, sdk_config_for, secrets, template};

const USAGE: &str = "\
usage:
  wxface-dev setup    [--aws URL] [--table NAME] [--app-secret-id ID] [--token-secret-id ID]
                      [--wechat-secret-id ID] [--merchant-secret-id ID] [--identity-secret-id ID]
                      [--stack-secrets yes] [--tenant-prefix PREFIX]
      Creates the sessions table (from template.yaml), the app secret (the simulator's first
      app, a fresh data_key and receipt key), its WeChat credentials secret (default: the app
      secret's id + -credentials), the access-token secret (no value) and the identity
      secret (a fresh identity_key). Idempotent. --stack-secrets yes: the table and secrets are a deployed stack's; only the
      secrets' values are put. --tenant-prefix: also the demo tenant's
      secret PREFIX<appid> (its credentials, a fresh identity_key) and its token secret.
  wxface-dev sim-config
      Prints the WeChat simulator's configuration with the test app and the demo tenant
      (wechat-sim --config), as make dev and the e2e start it.
  wxface-dev api-front [--functions URL] [--listen ADDR]
      An HTTP API-shaped front (the routes of docs/api.md §1, 404 for anything else, 403 for an
      unsigned GET /lookup) at ADDR (default 127.0.0.1:9001), forwarding to the function URLs.
  wxface-dev demo     [--functions URL] [--api URL] [--sim URL] [--timeout SECS]
                      [--receipts FILE] [--aws URL] [--identity-secret-id ID]
                      [--table NAME [--events FILE]] [--reconcile URL] [--tenant-prefix PREFIX]
      Walks v2, v1, v1 by push and the kiosk against a running stack, the business backend
      checking each receipt; exits 1 if a step fails. --api: through an HTTP API at URL (its
      routes, docs/api.md §1) instead of the function URLs. The backend's identity_key comes
      from the identity secret at --aws. --receipts: where to write the receipts
      it checked (for the interop tests). With --aws and --table: then the events of those
      sessions, from the table's stream through publish-events to an SQS queue (--events:
      where to write them, for the PII scan). --reconcile: the Lambda invoke URL of reconcile,
      for the server's own check (default: cargo lambda watch's, beside --functions).
      --tenant-prefix: also a verification by the demo tenant (docs/api.md §9), whose
      identity_key comes from its secret PREFIX<appid> at --aws.
  wxface-dev manifest [--check-env FILE]
      Prints the function manifest (routes, environment, secrets, table items, grants,
      upstreams of each function) as JSON, for the deploy test. --check-env: instead, checks
      an environment file for all functions (cargo lambda watch --env-file): exits 1 if it
      lacks a variable a function requires or sets one no function reads.
  wxface-dev scan-pii [--aws URL] [--logs DIR] [--receipts FILE] [--events FILE]
      Scans every table and every file under DIR for the fixtures' personal data, the keys
      in the secrets and the receipts' identity_hash and signatures (FILE: from demo);
      exits 1 on any finding.
  wxface-dev soak     [--aws URL] [--bin-dir DIR] [--logs DIR] [--seconds N] [--containers N]
                      [--concurrency N]
      Concurrent flows of every kind against N processes per function (the binaries in
      DIR, default target/debug), with random WeChat and AWS faults for N seconds (default
      40), then healing; prints the figures and exits 1 if an invariant broke.
  wxface-dev cold-start [--aws URL] [--bin-dir DIR] [--python PATH] [--logs DIR]
                        [--rounds N] [--warm N] [--memory MB,MB,...]
                        [--tls-dir DIR [--rtt-aws MS] [--rtt-wechat MS] [--rtt-pay MS]]
      The cold-start benchmark: each release bootstrap in DIR (default target/release), the
      floor (cold-start-floor) and the Python peer (tests/cold-start-peer under PATH, a
      Python with its requirements) started N times (default 5) under a local Runtime API,
      N warm invocations after each (default 30); prints init, cold, warm p50/p99, peak RSS
      and the ratios. --memory: each subject under each size's CPU share and memory (cgroups,
      root), then the power-tuning table. --tls-dir (scripts/bench-ca.py's): every upstream over
      TLS and a round trip away (default 4 ms to AWS, 30 ms to WeChat and WeChat Pay), and
      each warm invocation's own time. Run by scripts/bench-cold-start.sh and make bench.

defaults: --aws http://127.0.0.1:5005  --table wxface-dev-sessions
          --app-secret-id wxface/dev/wechat-app  --token-secret-id wxface/dev/access-token
          --functions http://127.0.0.1:9000/lambda-url  --sim http://127.0.0.1:9100
          --timeout 300 (per request: the first call may wait for cargo lambda to compile)
          --logs target/test-logs";

fn parse_flags(args: &[String], allowed: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (key, value) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), v.to_string()),
            _ => {
                let v = it
                    .next()
                    .ok_or_else(|| format!("{a} needs a value"))?
                    .to_string();
                (a.to_string(), v)
            }
        };
        let name = key
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {a}"))?;
        if !allowed.contains(&name) {
            return Err(format!("unknown option --{name}"));
        }
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

fn number_flag<N: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
    default: &str,
) -> Result<N, String> {
    flag(flags, name, default)
        .parse()
        .map_err(|_| format!("--{name} takes a whole number"))
}

fn flag(flags: &HashMap<String, String>, name: &str, default: &str) -> String {
    flags
        .get(name)
        .cloned()
        .unwrap_or_else(|| default.to_string())
        .trim_end_matches('/')
        .to_string()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    // Each command and the options it takes.
    let allowed: &[&str] = match cmd.as_str() {
        "setup" => &[
            "aws",
            "table",
            "app-secret-id",
            "wechat-secret-id",
            "token-secret-id",
            "merchant-secret-id",
            "identity-secret-id",
            "stack-secrets",
            "tenant-prefix",
        ],
        "demo" => &[
            "functions",
            "api",
            "sim",
            "pay-sim",
            "timeout",
            "receipts",
            "aws",
            "identity-secret-id",
            "table",
            "events",
            "reconcile",
            "tenant-prefix",
        ],
        "scan-pii" => &["aws", "logs", "receipts", "events"],
        "soak" => &[
            "aws",
            "bin-dir",
            "logs",
            "seconds",
            "containers",
            "concurrency",
        ],
        "cold-start" => &[
            "aws",
            "bin-dir",
            "python",
            "logs",
            "rounds",
            "warm",
            "memory",
            "tls-dir",
            "rtt-aws",
            "rtt-wechat",
            "rtt-pay",
        ],
        "api-front" => &["functions", "listen"],
        "manifest" => &["check-env"],
        "sim-config" => &[],
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            let _ = usage_error(&format!("unknown command {other}"));
            return ExitCode::from(2);
        }
    };
    let result = match parse_flags(rest, allowed) {
        Err(e) => usage_error(&e),
        Ok(f) if cmd == "setup" => setup(&f).await,
        Ok(f) if cmd == "demo" => demo(&f).await,
        Ok(f) if cmd == "scan-pii" => scan_pii(&f).await,
        Ok(f) if cmd == "cold-start" => cold_start(&f).await,
        Ok(f) if cmd == "api-front" => api_front(&f).await,
        Ok(f) if cmd == "manifest" => manifest(&f),
        Ok(_) if cmd == "sim-config" => {
            let config = fixtures::two_app_sim_config();
            println!(
                "{}",
                serde_json::to_string_pretty(&config).unwrap_or_default()
            );
            Ok(())
        }
        Ok(f) => soak(&f).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage) => ExitCode::from(2),
        Err(Failure::Failed(msg)) => {
            eprintln!("wxface-dev {cmd}: FAILED: {msg}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage,
    Failed(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Failed(s)
    }
}

fn manifest(flags: &HashMap<String, String>) -> Result<(), Failure> {
    use wxface_harness::manifest;
    let Some(file) = flags.get("check-env") else {
        println!("{:#}", manifest::to_json());
        return Ok(());
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    match manifest::check_env_file(&text) {
        p if p.is_empty() => Ok(()),
        p => Err(Failure::Failed(format!("{file}: {}", p.join("; ")))),
    }
}

fn usage_error(msg: &str) -> Result<(), Failure> {
    eprintln!("wxface-dev: {msg}\n{USAGE}");
    Err(Failure::Usage)
}

// ---------------------------------------------------------------- setup

async fn setup(flags: &HashMap<String, String>) -> Result<(), Failure> {
    let aws = flag(flags, "aws", "http://127.0.0.1:5005");
    let table = flag(flags, "table", "wxface-dev-sessions");
    let app_secret_id = flag(flags, "app-secret-id", "wxface/dev/wechat-app");
    let wechat_secret_id = flags
        .get("wechat-secret-id")
        .cloned()
        .unwrap_or_else(|| secrets::wechat_secret_id_for(&app_secret_id));
    let token_secret_id = flag(flags, "token-secret-id", "wxface/dev/access-token");
    let merchant_secret_id = flag(flags, "merchant-secret-id", "wxface/dev/merchant");
    let identity_secret_id = flag(flags, "identity-secret-id", "wxface/dev/identity-key");

    // A deployed stack's own table and secrets (created empty): only the values are put.
    let stack = flags.get("stack-secrets").is_some_and(|v| v == "yes");
    let config = sdk_config_for(&aws).await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);

    if !stack {
        let spec = template::sessions_table_spec(&wxface_harness::template_path())?;
        template::create_table_from_spec(&ddb, &table, &spec).await?;
        println!(
            "setup: table {table} (key {}, {}, TTL on {}) ready at {aws}",
            spec.partition_key,
            spec.billing_mode,
            spec.ttl_attribute.as_deref().unwrap_or("-")
        );
    }
    let ensure_secret = async |id: &str, value: Option<&str>, created: &str| match (stack, value) {
        (true, Some(v)) => {
            secrets::put_secret(&sm, id, v).await?;
            println!("setup: secret {id} of the stack given its value {created}");
            Ok(())
        }
        (true, None) => Ok(()),
        (false, _) => ensure_secret(&sm, id, value, created).await,
    };

    let app = &wechat_sim::SimConfig::default().apps[0];
    let value = secrets::app_secret_json(app).to_string();
    let created = format!("(appid {}, fresh data_key and receipt key)", app.appid);
    ensure_secret(&app_secret_id, Some(&value), &created).await?;
    let value = secrets::wechat_credentials_json(app).to_string();
    ensure_secret(
        &wechat_secret_id,
        Some(&value),
        "(the app's WeChat credentials)",
    )
    .await?;
    let created = "with no value (the functions fill it)";
    ensure_secret(&token_secret_id, None, created).await?;
    if !stack {
        // reconcile's schedule group (the functions' environment names it).
        wxface_harness::checks::Checks::start(&config, "wxface-dev-reconcile").await?;
        println!("setup: schedule group wxface-dev-reconcile ready at {aws}");
    }
    let identity = secrets::identity_secret_json().to_string();
    ensure_secret(
        &identity_secret_id,
        Some(&identity),
        "(a fresh identity_key)",
    )
    .await?;

    // The WeChat Pay simulator's test merchant, with one direct kiosk and
    // one acting for a hospital (partner mode, docs/kiosk.md).
    let mut merchant = kiosk::merchant_secret(
        "HMAC-SHA256",
        kiosk::KeyMode::PublicKey,
        &[(kiosk::DEV_DEVICE_ID, kiosk::DEV_DEVICE_TOKEN)],
    );
    kiosk::add_partner(
        &mut merchant,
        kiosk::PARTNER_DEVICE_ID,
        kiosk::PARTNER_DEVICE_TOKEN,
    );
    let merchant = merchant.to_string();
    let created = format!(
        "(test merchant, devices {} and {} (partner mode) registered)",
        kiosk::DEV_DEVICE_ID,
        kiosk::PARTNER_DEVICE_ID
    );
    ensure_secret(&merchant_secret_id, Some(&merchant), &created).await?;
    if let Some(prefix) = flags.get("tenant-prefix") {
        // A second mini-program served by the same functions (docs/api.md §9).
        let tenant = fixtures::demo_tenant();
        let name = format!("{prefix}{}", tenant.appid);
        let key = secrets::identity_secret_json()["identity_key"].clone();
        let value = secrets::tenant_secret_json(&tenant, key.as_str().unwrap_or_default());
        let created = format!(
            "(tenant {}: its credentials and identity_key)",
            tenant.appid
        );
        ensure_secret(&name, Some(&value.to_string()), &created).await?;
        let token = format!("{name}/access-token");
        ensure_secret(&token, None, "with no value (the functions fill it)").await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- api-front

/// The local HTTP API front (`make dev`, the e2e of `make test`): the routes of docs/api.md §1
/// at `--listen`, handed to the function URLs at `--functions`.
async fn api_front(flags: &HashMap<String, String>) -> Result<(), Failure> {
    let functions = flag(flags, "functions", "http://127.0.0.1:9000/lambda-url");
    let listen = flag(flags, "listen", "127.0.0.1:9001");
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("api-front: cannot listen on {listen}: {e}"))?;
    println!("api-front: the HTTP API's routes at http://{listen} -> {functions}/<function>");
    wxface_harness::front::serve_api(listener, functions)
        .await
        .map_err(|e| format!("api-front: {e}").into())
}

/// Creates secret `id` (holding `value`) unless it exists, which it then leaves as it is.
async fn ensure_secret(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    value: Option<&str>,
    created: &str,
) -> Result<(), String> {
    let existed = secrets::get_secret(sm, id).await.is_ok();
    secrets::create_secret(sm, id, value).await?;
    if existed {
        println!("setup: secret {id} exists, left as it is");
    } else {
        println!("setup: secret {id} created {created}");
    }
    Ok(())
}

// ---------------------------------------------------------------- scan-pii

async fn scan_pii(flags: &HashMap<String, String>) -> Result<(), Failure> {
    let aws = flag(flags, "aws", "http://127.0.0.1:5005");
    let logs = PathBuf::from(flag(
        flags,
        "logs",
        &wxface_harness::logs::log_dir().to_string_lossy(),
    ));
    let config = sdk_config_for(&aws).await;
    // Besides personal data: the keys in the secrets, and what the demo's receipts held
    // (identity_hash values, signatures), none of which may be stored or logged.
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    pii::add_needles(pii::secret_needles(&sm).await?);
    // The events carry identity_hash by design: scanned before those become needles.
    let mut event_findings = Vec::new();
    if let Some(path) = flags.get("events") {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        event_findings = pii::scan_text(path, &text);
        println!("pii scan: {} bytes of events from {path}", text.len());
    }
    if let Some(path) = flags.get("receipts") {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let record: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        for r in record["receipts"].as_array().into_iter().flatten() {
            let seq = r["out_seq_no"].as_str().unwrap_or_default();
            let hash = r["identity_hash"].as_str().unwrap_or_default().to_owned();
            let signature = r["receipt"]
                .as_str()
                .unwrap_or_default()
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_owned();
            pii::add_needles([
                (format!("the identity_hash of {seq}"), hash),
                (format!("the receipt signature of {seq}"), signature),
            ]);
        }
    }
    let needles = pii::needles().len();

    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let (items, mut findings) = pii::scan_tables(&ddb).await?;
    let (lines, log_findings) = pii::scan_log_dir(&logs)?;
    findings.extend(log_findings);
    findings.extend(event_findings);

    println!(
        "pii scan: {needles} needles ({} people) over {items} table items at {aws} and {lines} log lines under {}",
        fixtures::PEOPLE.len(),
        logs.display()
    );
    if findings.is_empty() {
        println!("pii scan: no personal data found");
        return Ok(());
    }
    for f in &findings {
        println!("pii scan: FOUND {} at {}", f.what, f.place);
    }
    Err(Failure::Failed(format!(
        "{} finding(s) of personal data",
        findings.len()
    )))
}

// ---------------------------------------------------------------- cold-start

async fn cold_start(flags: &HashMap<String, String>) -> Result<(), Failure> {
    let root = wxface_harness::workspace_root();
    let number = |name: &str, default: &str| number_flag::<usize>(flags, name, default);
    let path = |name: &str, default: &str| {
        PathBuf::from(flag(flags, name, &root.join(default).to_string_lossy()))
    };
    let cfg = wxface_harness::cold_start::BenchConfig {
        aws: flag(flags, "aws", "http://127.0.0.1:5005"),
        bin_dir: path("bin-dir", "target/release"),
        python: path("python", "target/cold-start/peer-venv/bin/python"),
        peer_dir: root.join("tests/cold-start-peer"),
        logs: path("logs", "target/cold-start/logs"),
        rounds: number("rounds", "5")?.max(1),
        warm: number("warm", "30")?.max(1),
        memory: match flags.get("memory") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|m| {
                    m.trim()
                        .parse::<u32>()
                        .map_err(|_| "--memory takes MB,MB,...".to_owned())
                })
                .collect::<Result<_, _>>()?,
        },
        network: match flags.get("tls-dir") {
            None => None,
            Some(dir) => {
                let ms = |name: &str, default: &str| {
                    number_flag::<u64>(flags, name, default).map(Duration::from_millis)
                };
                Some(wxface_harness::cold_start::Network {
                    tls_dir: PathBuf::from(dir),
                    rtt_aws: ms("rtt-aws", "4")?,
                    rtt_wechat: ms("rtt-wechat", "30")?,
                    rtt_pay: ms("rtt-pay", "30")?,
                })
            }
        },
    };
    wxface_harness::cold_start::run(&cfg).await?;
    Ok(())
}

// ---------------------------------------------------------------- soak

async fn soak(flags: &HashMap<String, String>) -> Result<(), Failure> {
    let root = wxface_harness::workspace_root();
    let number = |name: &str, default: &str| number_flag::<u64>(flags, name, default);
    let cfg = wxface_harness::soak::SoakConfig {
        aws: flag(flags, "aws", "http://127.0.0.1:5005"),
        bin_dir: PathBuf::from(flag(
            flags,
            "bin-dir",
            &root.join("target/debug").to_string_lossy(),
        )),
        logs: PathBuf::from(flag(
            flags,
            "logs",
            &root.join("target/test-logs/soak").to_string_lossy(),
        )),
        chaos: Duration::from_secs(number("seconds", "40")?),
        containers: number("containers", "3")? as usize,
        concurrency: number("concurrency", "8")? as usize,
    };
    println!(
        "soak: {} s of chaos, {} containers per function, {} flows at a time",
        cfg.chaos.as_secs(),
        cfg.containers,
        cfg.concurrency
    );
    let started = Instant::now();
    let r = wxface_harness::soak::run(&cfg).await?;
    println!(
        "soak: {:.0} s in all, {} requests",
        started.elapsed().as_secs_f64(),
        r.requests
    );
    println!("  flows:             {:?}", r.flows);
    println!(
        "  containers:        {} (processes, all functions)",
        r.containers
    );
    println!("  AWS faults:        {:?}", r.aws_faults);
    println!("  WeChat faults:     {:?}", r.wechat_faults);
    println!("  answers by status: {:?}", r.statuses);
    println!(
        "  containers killed mid-invocation: {:?} ({} invocations held, {} answered Lambda's 502)",
        r.killed, r.killed_invocations, r.lambda_502
    );
    println!(
        "  wrong {}, lost {}, 500 {}, 5xx without a 502/503 JSON code {}, changed {}, panics {}",
        r.wrong.len(),
        r.lost.len(),
        r.five_hundreds.len(),
        r.bad_5xx.len(),
        r.changed.len(),
        r.panics.len()
    );
    for problem in r
        .wrong
        .iter()
        .chain(&r.lost)
        .chain(&r.five_hundreds)
        .chain(&r.bad_5xx)
        .chain(&r.changed)
        .chain(&r.panics)
        .chain(&r.kill_problems)
        .take(20)
    {
        println!("  PROBLEM: {problem}");
    }
    if r.failures() > 0 {
        return Err(Failure::Failed(format!(
            "{} invariant violation(s)",
            r.failures()
        )));
    }
    println!("soak: OK");
    Ok(())
}

// ---------------------------------------------------------------- demo

/// The bus `make dev` and `make test` give publish-events (scripts/lib.sh).
const DEV_EVENT_BUS: &str = "wxface-dev-events";

struct Demo {
    /// The Referer WeChat adds to the requests of the mini-program playing now (none: a page
    /// outside WeChat, which the deployment's own mini-program stands for).
    referer: Option<String>,
    /// The business backend's copy of the deployment's identity_key.
    identity_key: wxface::domain::receipt::IdentityKey,
    http: reqwest::Client,
    /// Where the demo calls the functions: their URLs, or an HTTP API (`--api`).
    front: Front,
    /// `cargo lambda watch`'s function URLs (its invoke API serves the events step).
    functions: String,
    sim: wechat_sim::SimClient,
    appid: String,
    step: usize,
    /// The receipts the business backend checked: for the interop tests.
    receipts: Vec<Value>,
}

/// `value` with each `receipt` and `identity_hash` field cut to its first
/// characters: enough to recognise, not to reuse or to match.
fn shorten_secrets(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("receipt" | "identity_hash", Some(t)) => (
                        k.clone(),
                        json!(format!("{}…", t.chars().take(12).collect::<String>())),
                    ),
                    _ => (k.clone(), shorten_secrets(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(shorten_secrets).collect()),
        other => other.clone(),
    }
}

/// What the demo prints instead of the person's data.
struct Masks<'a> {
    name: &'a str,
    id: &'a str,
}

impl Masks<'_> {
    /// `value` as pretty JSON with the name and ID masked, and receipts and
    /// identity hashes cut short (a console is a log too).
    fn show(&self, value: &Value) -> String {
        let text = serde_json::to_string(&shorten_secrets(value)).unwrap_or_default();
        text.replace(self.name, &mask_name(self.name))
            .replace(self.id, &mask_id(self.id))
    }

    fn leaks(&self, text: &str) -> bool {
        text.contains(self.name)
            || text.contains(self.id)
            || text.contains(&self.id.to_ascii_lowercase())
    }
}

async fn demo(flags: &HashMap<String, String>) -> Result<(), Failure> {
    let functions = flag(flags, "functions", "http://127.0.0.1:9000/lambda-url");
    let sim_url = flag(flags, "sim", "http://127.0.0.1:9100");
    let pay_sim_url = flag(flags, "pay-sim", "http://127.0.0.1:9200");
    let timeout: u64 = flag(flags, "timeout", "300")
        .parse()
        .map_err(|_| "--timeout takes seconds".to_string())?;

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(timeout))
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    // The business backend holds the identity_key (docs/api.md §6): read from its secret.
    let identity_secret_id = flag(flags, "identity-secret-id", "wxface/dev/identity-key");
    let aws = flag(flags, "aws", "http://127.0.0.1:5005");
    let sm = aws_sdk_secretsmanager::Client::new(&sdk_config_for(&aws).await);
    let identity_key_b64 = secrets::get_secret(&sm, &identity_secret_id)
        .await
        .ok()
        .flatten()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["identity_key"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            format!("no identity_key in secret {identity_secret_id} at {aws} (run setup first)")
        })?;
    let identity_key = wxface::domain::receipt::IdentityKey::from_base64(&identity_key_b64)
        .map_err(|e| format!("{identity_secret_id}: {e}"))?;
    let mut demo = Demo {
        referer: None,
        identity_key,
        http,
        front: match flags.get("api") {
            Some(api) => Front::HttpApi(api.trim_end_matches('/').to_owned()),
            None => Front::FunctionUrls(functions.clone()),
        },
        functions: functions.clone(),
        sim: wechat_sim::SimClient::new(sim_url.clone()),
        appid: wechat_sim::SimConfig::default().apps[0].appid.clone(),
        step: 0,
        receipts: Vec::new(),
    };
    println!("wxface demo");
    match &demo.front {
        Front::FunctionUrls(base) => println!("  functions: {base}/<function>/ (function URLs)"),
        Front::HttpApi(base) => println!("  functions: {base}/<route> (HTTP API)"),
    }
    println!("  simulator: {sim_url} (plays WeChat's servers and the user's device)");
    println!("  appid:     {}", demo.appid);

    let started = Instant::now();
    demo.mini_program("v2", fixtures::person(0)).await?;
    demo.mini_program("v1", fixtures::person(4)).await?;
    demo.failed_v2(fixtures::person(3)).await?;
    let reconcile = flags.get("reconcile").cloned().unwrap_or_else(|| {
        let base = functions.trim_end_matches("/lambda-url");
        format!("{base}/2015-03-31/functions/reconcile/invocations")
    });
    demo.server_alone(&reconcile, fixtures::person(1)).await?;
    demo.v1_by_push(fixtures::person(5)).await?;
    demo.kiosk(&pay_sim_url, fixtures::person(6)).await?;
    demo.partner_kiosk(&pay_sim_url, fixtures::person(7))
        .await?;
    if let Some(prefix) = flags.get("tenant-prefix") {
        demo.tenant(&sm, prefix, fixtures::person(2)).await?;
    }
    if let (Some(aws), Some(table)) = (flags.get("aws"), flags.get("table")) {
        demo.events(aws, table, flags.get("events")).await?;
    }
    if let Some(path) = flags.get("receipts") {
        // What independent JOSE libraries check again (tests/interop): no
        // personal data, only receipts and the hashes the backend expects.
        let record = json!({
            "jwks_url": demo.front.url("verify-result", JWKS_PATH),
            "audience": demo.appid,
            "issuer": "wxface",
            // The deployment's identity_key, as the backend holds it: the e2e's own backend
            // (examples/miniprogram/test/e2e.test.js) recomputes identity_hash with it.
            "identity_key": identity_key_b64,
            "receipts": demo.receipts,
        });
        std::fs::write(path, record.to_string()).map_err(|e| format!("{path}: {e}"))?;
    }
    println!();
    println!(
        "demo: OK: v2, v1, a failed v2, v2 finished by the server alone, v1 by WeChat's push, a kiosk real-name lookup, direct and for a hospital (partner mode), and a second mini-program (with --tenant-prefix), end to end in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b).expect("system random generator");
    hex::encode(b)
}

/// Runs a simulator hook, turning its panics (the SimClient's way to report a refusal)
/// into an error.
async fn sim_call<T, F>(what: &str, fut: F) -> Result<T, String>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(fut)
        .await
        .map_err(|e| format!("simulator {what} failed (see the message above): {e}"))
}

fn str_field<'a>(body: &'a Value, field: &str, what: &str) -> Result<&'a str, String> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{what}: response has no string field \"{field}\""))
}

fn valid_out_seq_no(s: &str) -> bool {
    (5..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl<'a> Masks<'a> {
    fn of(person: &'a fixtures::Person) -> Self {
        Masks {
            name: person.name,
            id: person.id_card_number,
        }
    }
}

/// The heading of one demo flow, with the person shown masked.
fn banner(title: &str, person: fixtures::Person) {
    println!("\n=== {title} ===");
    println!(
        "person: {} / {} (a made-up fixture)",
        mask_name(person.name),
        mask_id(person.id_card_number)
    );
}

impl Demo {
    fn step(&mut self, text: &str) {
        self.step += 1;
        println!("\n[{}] {text}", self.step);
    }

    async fn login(&mut self, openid: &str) -> Result<String, String> {
        self.step(&format!(
            "wx.login on the device → a one-time code (simulator hook POST /__sim/login, openid {openid})"
        ));
        let sim = self.sim.clone();
        let (appid, oid) = (self.appid.clone(), openid.to_string());
        let code = sim_call("login", async move { sim.login(&appid, &oid).await }).await?;
        println!("    code: {code}");
        Ok(code)
    }

    /// POSTs `body` to `<functions>/<function>/`, prints both sides (masked) and returns the
    /// JSON answer of a 200.
    async fn call(
        &mut self,
        function: &str,
        body: &Value,
        masks: &Masks<'_>,
    ) -> Result<Value, String> {
        self.call_as(function, "", body, masks, None).await
    }

    /// POST to `{functions}/{function}/{route}`, optionally as a kiosk (bearer
    /// token). Only the kiosk's real-name answer may carry the person's data.
    async fn call_as(
        &mut self,
        function: &str,
        route: &str,
        body: &Value,
        masks: &Masks<'_>,
        bearer: Option<&str>,
    ) -> Result<Value, String> {
        let url = self.front.url(function, &format!("/{route}"));
        self.step(&format!("POST {url}"));
        println!("    request:  {}", masks.show(body));
        let t = Instant::now();
        let mut req = self
            .http
            .post(&url)
            .header("content-type", "application/json");
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(referer) = &self.referer {
            req = req.header("referer", referer);
        }
        let resp = req
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e} (is the stack running? `make dev`)"))?;
        let status = resp.status().as_u16();
        let content_type = match resp.headers().get("content-type") {
            Some(v) => v.to_str().unwrap_or("").to_string(),
            None => String::new(),
        };
        let text = resp
            .text()
            .await
            .map_err(|e| format!("POST {url}: reading the body: {e}"))?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let shown = match &parsed {
            Some(v) => masks.show(v),
            None => masks.show(&Value::String(text.clone())),
        };
        println!(
            "    response: {status} ({:.0} ms) {shown}",
            t.elapsed().as_secs_f64() * 1000.0
        );
        if route != "real-name" && masks.leaks(&text) {
            return Err(format!(
                "{function}: the response contains the person's name or ID number"
            ));
        }
        if status != 200 {
            return Err(format!("{function}: expected 200, got {status}"));
        }
        if !content_type.starts_with("application/json") {
            return Err(format!(
                "{function}: expected Content-Type application/json, got {content_type:?}"
            ));
        }
        parsed.ok_or_else(|| format!("{function}: the 200 answer is not JSON"))
    }

    /// wx.login, then issue-key for `flow`: checks the answer's flow and out_seq_no and
    /// returns (out_seq_no, the answer's `key` field: verify_id or user_id_key).
    async fn issue(
        &mut self,
        openid: &str,
        person: fixtures::Person,
        flow: &str,
        key: &str,
    ) -> Result<(String, String), String> {
        let what = "issue-key";
        let code = self.login(openid).await?;
        let body = json!({"code": code, "name": person.name,
                          "id_card_number": person.id_card_number, "flow": flow});
        let issued = self.call(what, &body, &Masks::of(&person)).await?;
        if str_field(&issued, "flow", what)? != flow {
            return Err(format!("{what}: expected flow \"{flow}\""));
        }
        let out_seq_no = str_field(&issued, "out_seq_no", what)?.to_string();
        if !valid_out_seq_no(&out_seq_no) {
            return Err(format!("{what}: out_seq_no is not [A-Za-z0-9_-]{{5,32}}"));
        }
        Ok((out_seq_no, str_field(&issued, key, what)?.to_string()))
    }

    /// wx.login, then verify-result (with the device's verify_result, if any): the session must
    /// end in `flow` with the final status `expect` (`verified`, or a failure the backend must
    /// not take for a pass although its receipt verifies).
    async fn verify(
        &mut self,
        openid: &str,
        person: fixtures::Person,
        out_seq_no: &str,
        verify_result: Option<&str>,
        flow: &str,
        expect: &str,
    ) -> Result<(), String> {
        let what = "verify-result";
        let code = self.login(openid).await?;
        let mut body = json!({"code": code, "out_seq_no": out_seq_no});
        if let Some(vr) = verify_result {
            body["verify_result"] = json!(vr);
        }
        let answer = self.call(what, &body, &Masks::of(&person)).await?;
        if str_field(&answer, "out_seq_no", what)? != out_seq_no {
            return Err(format!("{what}: out_seq_no differs from issue-key's"));
        }
        if str_field(&answer, "flow", what)? != flow {
            return Err(format!("{what}: expected flow {flow}"));
        }
        let status = str_field(&answer, "status", what)?;
        let passed = expect == "verified";
        if status != expect || answer.get("verified") != Some(&Value::Bool(passed)) {
            return Err(format!(
                "{what}: expected status {expect:?} and verified {passed}, got status {status:?}"
            ));
        }
        self.business_backend(&answer, person, out_seq_no).await
    }

    /// The user's face check of a v2 session on the device, ending with `verify_ret`.
    async fn face_v2(&self, verify_id: &str, openid: &str, verify_ret: i64) -> Result<(), String> {
        let (sim, key, oid) = (self.sim.clone(), verify_id.to_owned(), openid.to_owned());
        sim_call("face/v2/run", async move {
            sim.run_v2(&key, &oid, verify_ret).await
        })
        .await?
        .map_err(|e| format!("simulator /__sim/face/v2/run refused: {e}"))
    }

    /// v2 where the user fails the face check: a final `failed` with a receipt that verifies,
    /// which a backend must still not take for a pass (the examples refuse it by default).
    async fn failed_v2(&mut self, person: fixtures::Person) -> Result<(), String> {
        let openid = format!("o-demo-failed-{}", random_hex(6));
        banner("v2 flow, the face check failed: a failed receipt", person);
        let (out_seq_no, key) = self.issue(&openid, person, "v2", "verify_id").await?;
        self.step("wx.requestFacialVerify({verifyId}) on the device: the user fails the face check (simulator hook POST /__sim/face/v2/run, verify_ret 90100)");
        self.face_v2(&key, &openid, 90100).await?;
        self.verify(&openid, person, &out_seq_no, None, "v2", "failed")
            .await?;
        println!("    ✔ v2: failed, and the backend knows it (a signed receipt is not a pass)");
        Ok(())
    }

    /// v2 where the phone never comes back after a passed face check: the
    /// server's own check (what EventBridge Scheduler invokes reconcile with,
    /// docs/api.md §7.4) finishes it; the user reopening the mini-program
    /// later gets the stored answer, without WeChat being asked again.
    async fn server_alone(&mut self, url: &str, person: fixtures::Person) -> Result<(), String> {
        let openid = format!("o-demo-closed-{}", random_hex(6));
        banner(
            "v2 flow, the phone never comes back: the server finishes it",
            person,
        );
        let (out_seq_no, key) = self.issue(&openid, person, "v2", "verify_id").await?;
        self.step("wx.requestFacialVerify({verifyId}) on the device: the user passes (verify_ret 10000), then closes the mini-program: no verify-result");
        self.face_v2(&key, &openid, 10000).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let check = json!({"out_seq_no": out_seq_no, "at": now});
        self.step(&format!(
            "the server's own check, as EventBridge Scheduler invokes reconcile: POST {url} {check}"
        ));
        // An (unchecked) SigV4 header: an emulator's Lambda tells its service by it.
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00";
        let r = self
            .http
            .post(url)
            .header("Authorization", auth)
            .json(&check)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let outcome: Value = r.json().await.map_err(|e| format!("{url}: {e}"))?;
        println!("    ← {outcome}");
        if outcome["outcome"] != "finalized" {
            return Err(format!(
                "reconcile: expected outcome finalized, got {outcome}"
            ));
        }
        self.step("later, the user reopens the mini-program: verify-result answers what the server decided");
        self.verify(&openid, person, &out_seq_no, None, "v2", "verified")
            .await?;
        println!("    ✔ v2: verified by the server alone; the backend also gets its event");
        Ok(())
    }

    /// The business's own backend, handed the answer by the mini-program:
    /// it trusts nothing the phone says, only the receipt, checked against
    /// the published keys, and the person it holds.
    async fn business_backend(
        &mut self,
        answer: &Value,
        person: fixtures::Person,
        out_seq_no: &str,
    ) -> Result<(), String> {
        let receipt = str_field(answer, "receipt", "verify-result")?;
        let url = self.front.url("verify-result", JWKS_PATH);
        self.step(&format!(
            "business backend: GET {url}, then verify the receipt (ES256) and its identity_hash"
        ));
        let claims = self.receipt_claims(receipt).await?;
        let expected = wxface::domain::receipt::identity_hash(
            &self.identity_key,
            &wxface::domain::OutSeqNo::parse(out_seq_no).map_err(|e| e.to_string())?,
            &wxface::domain::PersonName::parse(person.name).map_err(|e| e.to_string())?,
            &wxface::domain::IdCardNumber::parse(person.id_card_number)
                .map_err(|e| e.to_string())?,
        );
        if claims["identity_hash"] != expected || claims["out_seq_no"] != out_seq_no {
            return Err("the receipt is for another person or session".into());
        }
        println!("    claims: {}", shorten_secrets(&claims));
        println!("    ✔ signature, audience, issuer, expiry and identity_hash hold");
        self.receipts.push(json!({
            "receipt": receipt,
            "identity_hash": expected,
            "out_seq_no": out_seq_no,
            "status": claims["status"],
        }));
        Ok(())
    }

    /// A receipt's claims, verified against the JWKS the deployment publishes: signature,
    /// audience, issuer and expiry.
    async fn receipt_claims(&self, receipt: &str) -> Result<Value, String> {
        use jsonwebtoken::jwk::JwkSet;
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
        let url = self.front.url("verify-result", JWKS_PATH);
        let jwks: JwkSet = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("GET {url}: not a JWKS: {e}"))?;
        let kid = decode_header(receipt)
            .map_err(|e| format!("receipt header: {e}"))?
            .kid
            .ok_or("the receipt names no kid")?;
        let jwk = jwks
            .find(&kid)
            .ok_or("the receipt's kid is not published")?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("JWK: {e}"))?;
        let mut rules = Validation::new(Algorithm::ES256);
        rules.set_audience(&[&self.appid]);
        rules.set_issuer(&["wxface"]);
        decode::<Value>(receipt, &key, &rules)
            .map(|d| d.claims)
            .map_err(|e| format!("the receipt does not verify: {e}"))
    }

    /// The business backend's other way in (docs/api.md §7): the table's
    /// stream handed to publish-events (under `cargo lambda watch`) as
    /// Lambda's event source mapping does, its events on EventBridge, a rule
    /// delivering them to an SQS queue, the consumer. Every session the demo
    /// finished must arrive, with its receipt's status and identity_hash, and a receipt of its
    /// own that verifies.
    async fn events(&mut self, aws: &str, table: &str, out: Option<&String>) -> Result<(), String> {
        use wxface_harness::event_path::EventPath;
        self.step("business backend: Verification Finalized events, stream -> publish-events -> EventBridge -> SQS");
        let config = sdk_config_for(aws).await;
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let mut path = EventPath::start(aws, &ddb, table, DEV_EVENT_BUS).await?;
        let base = self.functions.trim_end_matches("/lambda-url").to_owned();
        let url = format!("{base}/2015-03-31/functions/publish-events/invocations");
        let http = self.http.clone();
        let invoke = |event: Value| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http
                    .post(&url)
                    .json(&event)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                r.json::<Value>().await.map_err(|e| format!("{url}: {e}"))
            }
        };
        let (handed, failed) = path.deliver(invoke).await?;
        println!(
            "    the stream: {handed} changes handed to publish-events, {failed} failures reported"
        );
        let events = path.consume().await?;
        let mut seen = std::collections::BTreeMap::new();
        for e in &events {
            let d = &e["detail"];
            seen.insert(
                d["out_seq_no"].as_str().unwrap_or_default().to_owned(),
                d.clone(),
            );
        }
        for r in &self.receipts {
            let seq = r["out_seq_no"].as_str().unwrap_or_default();
            let d = seen.get(seq).ok_or(format!("no event for session {seq}"))?;
            if d["status"] != r["status"] || d["identity_hash"] != r["identity_hash"] {
                return Err(format!("the event of {seq} disagrees with its receipt"));
            }
            // The event's own receipt is the proof (docs/api.md §7.1), not its other fields.
            let receipt = d["receipt"]
                .as_str()
                .ok_or(format!("the event of {seq} has no receipt"))?;
            let claims = self.receipt_claims(receipt).await?;
            if claims["status"] != d["status"] || claims["out_seq_no"] != seq {
                return Err(format!("the event of {seq} says other than its receipt"));
            }
            println!("    SQS ← {}", shorten_secrets(d));
        }
        let of_tenants = (seen.values())
            .filter(|d| d["appid"] != self.appid.as_str())
            .count();
        println!(
            "    ✔ {} events received ({} distinct event_id): one for each of the {} finished sessions of {}, and {of_tenants} of the tenant's",
            events.len(),
            seen.len(),
            self.receipts.len(),
            self.appid
        );
        if let Some(path) = out {
            let text = serde_json::to_string(&events).unwrap_or_default();
            std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?;
        }
        Ok(())
    }

    /// The user passes the v1 face check on the device (simulator hook POST
    /// /__sim/face/v1/run): its verify_result.
    async fn face_v1(&self, openid: &str, user_id_key: String) -> Result<String, String> {
        let sim = self.sim.clone();
        let run = wechat_sim::RunV1 {
            appid: self.appid.clone(),
            openid: openid.to_owned(),
            user_id_key: Some(user_id_key),
            ..Default::default()
        };
        sim_call("face/v1/run", async move { sim.run_v1(&run).await }).await
    }

    /// A mini-program flow, "v2" or "v1": issue-key, the face check on the device, then
    /// verify-result.
    async fn mini_program(&mut self, flow: &str, person: fixtures::Person) -> Result<(), String> {
        let openid = format!("o-demo-{flow}-{}", random_hex(6));
        let (title, key, device) = if flow == "v2" {
            (
                "v2 flow: getverifyid → wx.requestFacialVerify → queryverifyinfo",
                "verify_id",
                "wx.requestFacialVerify({verifyId}) on the device: the user passes the face \
                 check (simulator hook POST /__sim/face/v2/run, verify_ret 10000)",
            )
        } else {
            (
                "v1 flow (legacy): getuseridkey → wx.startFacialRecognitionVerify → getinfo",
                "user_id_key",
                "wx.startFacialRecognitionVerify({userIdKey}) on the device: the user passes \
                 (simulator hook POST /__sim/face/v1/run) → verifyResult",
            )
        };
        banner(title, person);
        let (out_seq_no, key) = self.issue(&openid, person, flow, key).await?;
        self.step(device);
        let verify_result = if flow == "v2" {
            self.face_v2(&key, &openid, 10000).await?;
            println!("    done: the mini-program now asks our backend for the result");
            None
        } else {
            let vr = self.face_v1(&openid, key).await?;
            let shown: String = vr.chars().take(16).collect();
            println!("    verify_result: {shown}…");
            Some(vr)
        };
        let vr = verify_result.as_deref();
        self.verify(&openid, person, &out_seq_no, vr, flow, "verified")
            .await?;
        println!("    ✔ {flow}: verified");
        Ok(())
    }

    /// A second mini-program served by the same functions (a tenant, docs/api.md §9): its
    /// pages name it in WeChat's Referer, its login codes are its own, its receipt carries its
    /// appid and the hash under its identity_key; its code on the other's pages is refused.
    async fn tenant(
        &mut self,
        sm: &aws_sdk_secretsmanager::Client,
        prefix: &str,
        person: fixtures::Person,
    ) -> Result<(), String> {
        let tenant = fixtures::demo_tenant();
        let name = format!("{prefix}{}", tenant.appid);
        let key = (secrets::get_secret(sm, &name).await.ok().flatten())
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|v| v["identity_key"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("no tenant secret {name} (run setup with --tenant-prefix)"))?;
        let key = wxface::domain::receipt::IdentityKey::from_base64(&key)
            .map_err(|e| format!("{name}: {e}"))?;
        println!(
            "\n=== a second mini-program (tenant {}) on the same functions ===",
            tenant.appid
        );
        let referer = format!(
            "https://servicewechat.com/{}/0/page-frame.html",
            tenant.appid
        );
        let own = (
            std::mem::replace(&mut self.appid, tenant.appid.clone()),
            std::mem::replace(&mut self.identity_key, key),
            self.referer.replace(referer),
            self.receipts.len(),
        );
        let run = self.mini_program("v2", person).await;
        let refused = self.foreign_code_refused(&own.0).await;
        (self.appid, self.identity_key, self.referer) = (own.0, own.1, own.2);
        // The interop tests check the own mini-program's receipts (its audience and key).
        self.receipts.truncate(own.3);
        run.and(refused)
    }

    /// The tenant's login code sent from the own mini-program's pages: `401 invalid_code`.
    async fn foreign_code_refused(&mut self, own_appid: &str) -> Result<(), String> {
        let code = self.login("o-demo-tenant-x").await?;
        let url = self.front.url("issue-key", "/");
        let own_pages = format!("https://servicewechat.com/{own_appid}/0/page-frame.html");
        self.step(&format!(
            "POST {url} from {own_appid}'s pages with the tenant's code"
        ));
        let p = fixtures::person(3);
        let body = json!({"code": code, "name": p.name, "id_card_number": p.id_card_number});
        let resp = (self.http.post(&url))
            .header("referer", own_pages)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap_or_default();
        println!("    response: {status} {}", answer["error"]["code"]);
        if (status, answer["error"]["code"].as_str()) != (401, Some("invalid_code")) {
            return Err(format!(
                "a tenant's code on another's pages: {status} {answer}"
            ));
        }
        println!("    ✔ refused: each mini-program's codes are exchanged with its own secret");
        Ok(())
    }

    /// v1 again, but WeChat's push (safe mode) finishes the session before
    /// the mini-program asks, and the mini-program sends no verify_result.
    async fn v1_by_push(&mut self, person: fixtures::Person) -> Result<(), String> {
        let openid = format!("o-demo-push-{}", random_hex(6));
        println!("\n=== v1 flow finished by WeChat's message push (safe mode, JSON) ===");
        let push_url = self.front.url("event-callback", "/");
        self.step(&format!(
            "admin console: message-push URL = {push_url}; WeChat checks it with a signed GET"
        ));
        let sim = self.sim.clone();
        let (appid, url) = (self.appid.clone(), push_url.clone());
        sim_call("push/config", async move {
            sim.configure_push(
                &appid,
                &url,
                wechat_sim::PushMode::Safe,
                wechat_sim::PushFormat::Json,
            )
            .await
        })
        .await?;
        let sim = self.sim.clone();
        let appid = self.appid.clone();
        if !sim_call(
            "push/verify",
            async move { sim.verify_push_url(&appid).await },
        )
        .await?
        {
            return Err("event-callback did not echo the URL check".into());
        }
        println!("    ✔ event-callback echoed echostr");

        let (out_seq_no, user_id_key) = self.issue(&openid, person, "v1", "user_id_key").await?;
        self.step(
            "the user passes the face check; WeChat pushes face_identify (encrypted) to \
             event-callback, which checks it and asks getinfo",
        );
        let sim = self.sim.clone();
        let before = sim.push_log().await.len();
        self.face_v1(&openid, user_id_key).await?;
        let log = sim_call("push/log", async move {
            sim.wait_for_push_log(before + 1, Duration::from_secs(60))
                .await
        })
        .await?;
        let attempt = log.last().ok_or("no push was sent")?;
        println!(
            "    push: HTTP {} reply {:?}",
            attempt.status.map_or("-".into(), |s| s.to_string()),
            attempt.reply.as_deref().unwrap_or("")
        );
        if !attempt.delivered {
            return Err("event-callback did not acknowledge the push".into());
        }
        self.verify(&openid, person, &out_seq_no, None, "v1", "verified")
            .await?;
        println!("    ✔ v1 by push: verified (the mini-program sent no verify_result)");
        Ok(())
    }

    /// A WeChat Pay face kiosk: authinfo (cached), the user's face and
    /// consent on the kiosk, then the authorised real-name lookup.
    async fn kiosk(&mut self, pay_sim_url: &str, person: fixtures::Person) -> Result<(), String> {
        let masks = Masks::of(&person);
        let pay = wechatpay_sim::SimClient::new(pay_sim_url);
        println!(
            "\n=== face kiosk (WeChat Pay 刷脸): authinfo → face + consent on the kiosk → real name ==="
        );
        println!(
            "  WeChat Pay simulator: {pay_sim_url}; device {}",
            kiosk::DEV_DEVICE_ID
        );
        // A store of its own, so this run's first scan is never already cached.
        let store_id = format!("store-{}", random_hex(4));
        let request = json!({"device_id": kiosk::DEV_DEVICE_ID, "store_id": store_id,
                             "store_name": "门诊大厅", "rawdata": format!("rawdata-{}", random_hex(8))});
        let token = Some(kiosk::DEV_DEVICE_TOKEN);
        let authinfo_calls = || {
            let pay = pay.clone();
            sim_call("counters", async move { pay.count("authinfo").await })
        };
        let before = authinfo_calls().await?;
        let first = self
            .call_as("authinfo", "", &request, &masks, token)
            .await?;
        let authinfo = str_field(&first, "authinfo", "authinfo")?.to_string();
        let mut again = request.clone();
        again["rawdata"] = json!(format!("rawdata-{}", random_hex(8)));
        let second = self.call_as("authinfo", "", &again, &masks, token).await?;
        let calls = authinfo_calls().await? - before;
        if str_field(&second, "authinfo", "authinfo")? != authinfo || calls != 1 {
            return Err(format!(
                "authinfo: expected one WeChat Pay call and a cached answer, saw {calls} calls"
            ));
        }
        println!("    ✔ the second scan reused the cached authinfo (WeChat Pay was called once)");

        let face_sid = self.face_on_kiosk(&pay, &authinfo, &person).await?;

        let answer = self
            .call_as(
                "authinfo",
                "real-name",
                &json!({"device_id": kiosk::DEV_DEVICE_ID, "face_sid": face_sid}),
                &masks,
                token,
            )
            .await?;
        if str_field(&answer, "real_name", "real-name")? != person.name
            || str_field(&answer, "credential_id", "real-name")? != person.id_card_number
        {
            return Err("real-name: the decrypted name or ID number is not the user's".into());
        }
        println!("    ✔ real name and ID number decrypted for the kiosk (never stored or logged)");
        Ok(())
    }

    /// The kiosk SDK on the device: getWxpayfaceCode(FACE_AUTH) recognises
    /// the user, getWxpayAuth records consent. Returns the face_sid.
    async fn face_on_kiosk(
        &mut self,
        pay: &wechatpay_sim::SimClient,
        authinfo: &str,
        person: &fixtures::Person,
    ) -> Result<String, String> {
        self.step("the kiosk SDK: getWxpayfaceCode(FACE_AUTH) recognises the user, getWxpayAuth: the user consents");
        let (pay2, authinfo) = (pay.clone(), authinfo.to_string());
        let user = wechatpay_sim::SimUser::new(person.name, person.id_card_number);
        let auth = sim_call("face/auth", async move {
            pay2.face_auth(&authinfo, &user).await
        })
        .await?
        .map_err(|e| format!("face/auth: {e}"))?;
        let (pay2, face_sid) = (pay.clone(), auth.face_sid.clone());
        sim_call("face/consent", async move {
            pay2.consent(&face_sid, true).await
        })
        .await?;
        println!(
            "    face_sid: {}…",
            auth.face_sid.chars().take(8).collect::<String>()
        );
        Ok(auth.face_sid)
    }

    /// Partner mode: a provider's kiosk acting for a hospital. wxface passes
    /// the real-name fields through still encrypted to the hospital's
    /// certificate; only the hospital's own key (on its own server) opens them.
    async fn partner_kiosk(
        &mut self,
        pay_sim_url: &str,
        person: fixtures::Person,
    ) -> Result<(), String> {
        use wechatpay_sim::test_keys;
        let masks = Masks::of(&person);
        let pay = wechatpay_sim::SimClient::new(pay_sim_url);
        println!(
            "\n=== partner mode (服务商): a kiosk acting for hospital {} ===",
            test_keys::SUB_MCH_ID_A
        );
        let device = kiosk::PARTNER_DEVICE_ID;
        let token = Some(kiosk::PARTNER_DEVICE_TOKEN);
        let request = json!({"device_id": device, "store_id": format!("ward-{}", random_hex(4)),
                             "store_name": "住院部", "rawdata": format!("rawdata-{}", random_hex(8))});
        let first = self
            .call_as("authinfo", "", &request, &masks, token)
            .await?;
        let authinfo = str_field(&first, "authinfo", "authinfo")?.to_string();
        let face_sid = self.face_on_kiosk(&pay, &authinfo, &person).await?;
        let answer = self
            .call_as(
                "authinfo",
                "real-name",
                &json!({"device_id": device, "face_sid": face_sid}),
                &masks,
                token,
            )
            .await?;
        if answer.get("real_name").is_some() || answer.get("credential_id").is_some() {
            return Err("partner real-name: the provider's answer carries plaintext".into());
        }
        if str_field(&answer, "sub_serial_no", "real-name")? != test_keys::SUB_MERCHANT_A_SERIAL {
            return Err("partner real-name: not encrypted to the hospital's certificate".into());
        }
        println!(
            "    ✔ the provider saw only ciphertexts (encrypted to certificate {}…)",
            &test_keys::SUB_MERCHANT_A_SERIAL[..8]
        );

        self.step("the hospital's server decrypts with its own key (examples/hospital/decrypt_real_name.py does the same)");
        let key = wxface::crypto::rsa::MerchantKey::from_pem(test_keys::SUB_MERCHANT_A_PRIVATE_KEY)
            .map_err(|e| format!("hospital key: {e}"))?;
        let open = |field: &str| -> Result<String, String> {
            let sealed = str_field(&answer, field, "real-name")?;
            key.decrypt(sealed).map_err(|e| format!("{field}: {e}"))
        };
        let (name, id) = (
            open("encrypted_real_name")?,
            open("encrypted_credential_id")?,
        );
        if name != person.name || id != person.id_card_number {
            return Err("partner real-name: the hospital's decryption is not the user's".into());
        }
        println!(
            "    ✔ the hospital decrypted {} / {}",
            mask_name(&name),
            mask_id(&id)
        );
        Ok(())
    }
}
