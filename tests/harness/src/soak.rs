//! The randomized soak: many concurrent flows of every kind (v2; v1 relayed
//! by the mini-program; v1 finished by WeChat's push; the face kiosk)
//! against several containers (processes) per function, with random faults
//! on both sides, then healing. What must hold:
//!
//! - no wrong final answer (each flow's face result is scripted, so the
//!   true answer is known), and a final answer never changes;
//! - nothing lost: once healthy, every session reaches its true state;
//! - no 500, and every 5xx is a 502/503 with a JSON error code;
//! - no panic in any container's log;
//! - containers killed in the middle of an invocation (SIGKILL, as Lambda does at a timeout or
//!   on running out of memory) cost only Lambda's own `502` for what they held, which the
//!   client tries again, as the mini-program module does; at least one is killed.
//!
//! WeChat's faults: busy (-1), 5xx, slow (past the timeout), its rate limit,
//! a revoked token (40001), a reset connection and an answer lost after
//! the work was done. AWS's: throttling, 500, a reset, an answer lost after
//! the write, slow.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::aws_faults::{AwsFault, AwsFaults};
use crate::fixtures::{PEOPLE, Person};
use crate::lambda_host::{FunctionSpec, LambdaHost};
use crate::{kiosk, provision};

/// What a soak is asked to do.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The AWS emulator (moto).
    pub aws: String,
    /// The function binaries (`target/debug`).
    pub bin_dir: PathBuf,
    /// Where the containers' logs go.
    pub logs: PathBuf,
    /// Of chaos; healing follows.
    pub chaos: Duration,
    pub containers: usize,
    /// Flows in flight at once.
    pub concurrency: usize,
}

/// The figures a soak prints.
#[derive(Debug, Default)]
pub struct SoakReport {
    pub flows: BTreeMap<&'static str, u64>,
    pub containers: usize,
    pub aws_faults: BTreeMap<&'static str, u64>,
    pub wechat_faults: BTreeMap<String, u64>,
    pub requests: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub wrong: Vec<String>,
    pub lost: Vec<String>,
    pub five_hundreds: Vec<String>,
    pub bad_5xx: Vec<String>,
    pub changed: Vec<String>,
    pub panics: Vec<String>,
    /// Containers killed mid-invocation, by function.
    pub killed: BTreeMap<String, u64>,
    /// The invocations those containers held, and the `502`s Lambda answered for them.
    pub killed_invocations: u64,
    pub lambda_502: u64,
    /// Invariants of the kills that did not hold.
    pub kill_problems: Vec<String>,
}

impl SoakReport {
    pub fn failures(&self) -> usize {
        self.wrong.len()
            + self.lost.len()
            + self.five_hundreds.len()
            + self.bad_5xx.len()
            + self.changed.len()
            + self.panics.len()
            + self.kill_problems.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    V2,
    V1Relayed,
    V1Pushed,
    Kiosk,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::V2, Kind::V1Relayed, Kind::V1Pushed, Kind::Kiosk];
    fn name(self) -> &'static str {
        match self {
            Kind::V2 => "v2",
            Kind::V1Relayed => "v1 relayed",
            Kind::V1Pushed => "v1 by push",
            Kind::Kiosk => "kiosk",
        }
    }
}

/// One flow's progress, kept across chaos and healing.
#[derive(Debug, Clone)]
struct Flow {
    id: u64,
    kind: Kind,
    person: Person,
    openid: String,
    passes: bool,
    issued: Option<Value>,
    verify_result: Option<String>,
    face_done: bool,
    /// The first final answer seen.
    answer: Option<Value>,
    done: bool,
}

struct Soak {
    http: reqwest::Client,
    functions: String,
    sim: wechat_sim::SimClient,
    pay: wechatpay_sim::SimClient,
    appid: String,
    requests: AtomicU64,
    report: Mutex<SoakReport>,
}

fn random(n: u64) -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).expect("system random generator");
    u64::from_le_bytes(b) % n.max(1)
}

impl Soak {
    /// One request; its status judged against the invariants. `None` for a
    /// transport failure or a 5xx (the caller tries again later).
    async fn call(
        &self,
        what: &str,
        path: &str,
        body: &Value,
        bearer: Option<&str>,
    ) -> Option<(u16, Value)> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .http
            .post(format!("{}/{path}", self.functions))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut r = self.report.lock().await;
        *r.statuses.entry(status).or_default() += 1;
        if status == 502 && text == crate::lambda_host::LAMBDA_502 {
            // Lambda's own answer for an invocation whose container was killed.
            r.lambda_502 += 1;
        } else if status == 500 {
            r.five_hundreds.push(format!("{what}: {text}"));
        } else if status >= 500
            && (!matches!(status, 502 | 503) || !json["error"]["code"].is_string())
        {
            r.bad_5xx.push(format!("{what}: {status} {text}"));
        }
        drop(r);
        (status < 500).then_some((status, json))
    }

    async fn login(&self, openid: &str) -> String {
        self.sim.login(&self.appid, openid).await
    }

    /// One step of a flow; true when it is done.
    async fn step(&self, f: &mut Flow) -> bool {
        match f.kind {
            Kind::Kiosk => self.kiosk(f).await,
            _ => self.mini_program(f).await,
        }
    }

    async fn mini_program(&self, f: &mut Flow) -> bool {
        let v2 = f.kind == Kind::V2;
        if f.issued.is_none() {
            let body = json!({"code": self.login(&f.openid).await, "name": f.person.name,
                "id_card_number": f.person.id_card_number, "flow": if v2 { "v2" } else { "v1" }});
            match self.call("issue-key", "issue-key/", &body, None).await {
                Some((200, issued)) => f.issued = Some(issued),
                Some((status, b)) if status != 429 => {
                    return self
                        .wrong(format!("flow {}: issue-key {status} {b}", f.id))
                        .await;
                }
                _ => return false,
            }
        }
        let issued = f.issued.clone().unwrap_or_default();
        if !f.face_done {
            // The user's face check, on the device (the simulator's hooks).
            if v2 {
                let verify_id = issued["verify_id"].as_str().unwrap_or_default();
                let ret = if f.passes { 10000 } else { 10004 };
                if self.sim.run_v2(verify_id, &f.openid, ret).await.is_err() {
                    return self.wrong(format!("flow {}: face v2 refused", f.id)).await;
                }
            } else {
                let run = wechat_sim::RunV1 {
                    appid: self.appid.clone(),
                    openid: f.openid.clone(),
                    user_id_key: issued["user_id_key"].as_str().map(str::to_owned),
                    identify_ret: Some(if f.passes { 0 } else { 10004 }),
                    ..Default::default()
                };
                f.verify_result = Some(self.sim.run_v1(&run).await);
            }
            f.face_done = true;
        }
        let mut body =
            json!({"code": self.login(&f.openid).await, "out_seq_no": issued["out_seq_no"]});
        // The push's flow asks without verify_result first, as a mini-program
        // relying on the push would; the relayed one always sends it.
        let relay = f.kind == Kind::V1Relayed
            || (f.kind == Kind::V1Pushed && f.answer.is_none() && random(3) == 0);
        if relay && let Some(vr) = &f.verify_result {
            body["verify_result"] = json!(vr);
        }
        match self
            .call("verify-result", "verify-result/", &body, None)
            .await
        {
            Some((200, a)) if a["status"] == "pending" => false,
            Some((200, a)) => {
                self.judge(f, a).await;
                true
            }
            // Not pushed yet (or the push was lost): the mini-program sends it.
            Some((400, a))
                if a["error"]["code"] == "invalid_request" && f.kind == Kind::V1Pushed =>
            {
                f.kind = Kind::V1Relayed;
                false
            }
            Some((status, a)) => {
                self.wrong(format!("flow {}: verify-result {status} {a}", f.id))
                    .await
            }
            None => false,
        }
    }

    /// Records a wrong answer (what a user would have been told); the flow
    /// is over, so it answers `true` for the steps that end on it.
    async fn wrong(&self, what: String) -> bool {
        self.report.lock().await.wrong.push(what);
        true
    }

    async fn judge(&self, f: &mut Flow, answer: Value) {
        let want = if f.passes { "verified" } else { "failed" };
        if answer["status"] != want {
            self.wrong(format!(
                "flow {} ({}): {answer}, expected {want}",
                f.id,
                f.kind.name()
            ))
            .await;
        }
        f.answer = Some(answer);
    }

    async fn kiosk(&self, f: &mut Flow) -> bool {
        let token = Some(kiosk::DEV_DEVICE_TOKEN);
        let request = json!({"device_id": kiosk::DEV_DEVICE_ID, "store_id": format!("soak-{}", random(4)),
            "store_name": "门诊大厅", "rawdata": format!("rawdata-{}", f.id)});
        let Some((200, a)) = self.call("authinfo", "authinfo/", &request, token).await else {
            return false;
        };
        let authinfo = a["authinfo"].as_str().unwrap_or_default().to_owned();
        let user = wechatpay_sim::SimUser::new(f.person.name, f.person.id_card_number);
        let Ok(auth) = self.pay.face_auth(&authinfo, &user).await else {
            return false;
        };
        self.pay.consent(&auth.face_sid, true).await;
        let body = json!({"device_id": kiosk::DEV_DEVICE_ID, "face_sid": auth.face_sid});
        match self
            .call("real-name", "authinfo/real-name", &body, token)
            .await
        {
            Some((200, a)) => {
                if a["real_name"] != f.person.name || a["credential_id"] != f.person.id_card_number
                {
                    self.wrong(format!("flow {}: real-name answered another person", f.id))
                        .await;
                }
                f.answer = Some(json!({"status": "kiosk"}));
                true
            }
            Some((status, a)) => {
                self.wrong(format!("flow {}: real-name {status} {a}", f.id))
                    .await
            }
            None => false,
        }
    }
}

/// WeChat's faults the soak draws from: name, errcode, HTTP status, delay (ms).
type WeChatFault = (&'static str, Option<i64>, Option<u16>, Option<u64>);
const WECHAT_FAULTS: [WeChatFault; 5] = [
    ("busy", Some(-1), None, None),
    ("5xx", None, Some(503), None),
    ("slow", None, None, Some(1500)),
    ("rate limited", Some(45011), None, None),
    ("token revoked", Some(40001), None, None),
];

/// Random faults on both sides until `until`.
async fn chaos(soak: &Soak, host: &LambdaHost, aws: &AwsFaults, wx: &AwsFaults, until: Instant) {
    let aws_kinds = [
        AwsFault::Throttle,
        AwsFault::ServerError,
        AwsFault::Reset,
        AwsFault::LostAnswer,
        AwsFault::Slow(Duration::from_millis(300)),
    ];
    for k in aws_kinds {
        aws.inject_randomly("DynamoDB", k, 0.02);
    }
    aws.inject_randomly("secretsmanager", AwsFault::Throttle, 0.05);
    wx.inject_randomly("/cityservice/", AwsFault::Reset, 0.02);
    wx.inject_randomly("/cityservice/", AwsFault::LostAnswer, 0.02);
    wx.inject_randomly("/sns/jscode2session", AwsFault::LostAnswer, 0.01);
    use wxface::upstream::Upstream;
    let endpoints = [
        Upstream::Jscode2session,
        Upstream::Getverifyid,
        Upstream::Queryverifyinfo,
        Upstream::Getuseridkey,
        Upstream::Getinfo,
        Upstream::StableToken,
    ];
    while Instant::now() < until {
        let endpoint = endpoints[random(endpoints.len() as u64) as usize];
        let (name, errcode, status, delay_ms) =
            WECHAT_FAULTS[random(WECHAT_FAULTS.len() as u64) as usize];
        // Only the calls that carry the token can see it revoked.
        if name == "token revoked"
            && matches!(endpoint, Upstream::StableToken | Upstream::Jscode2session)
        {
            continue;
        }
        let fault = wechat_sim::Fault {
            endpoint: endpoint.name().into(),
            errcode,
            status,
            delay_ms,
            times: Some(1 + random(2) as u32),
        };
        if soak.sim.try_inject(&fault).await.is_ok() {
            *soak
                .report
                .lock()
                .await
                .wechat_faults
                .entry(format!("{name} ({endpoint})"))
                .or_default() += 1;
        }
        // Now and then a container dies mid-invocation.
        if random(3) == 0 {
            match host.kill_busy().await {
                Ok(Some((function, held))) => {
                    let mut r = soak.report.lock().await;
                    *r.killed.entry(function).or_default() += 1;
                    r.killed_invocations += held as u64;
                }
                Ok(None) => {}
                Err(e) => soak.report.lock().await.kill_problems.push(e),
            }
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// Runs the soak; the report says what held.
pub async fn run(cfg: &SoakConfig) -> Result<SoakReport, String> {
    let sim = wechat_sim::start(
        wechat_sim::SimConfig::default(),
        "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
    )
    .await
    .map_err(|e| format!("wechat-sim: {e}"))?;
    let pay = wechatpay_sim::start(
        wechatpay_sim::PaySimConfig::default(),
        "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
    )
    .await
    .map_err(|e| format!("wechatpay-sim: {e}"))?;
    let aws = AwsFaults::start(&cfg.aws).await;
    let wx = AwsFaults::start(&sim.base_url()).await;

    // The table and secrets of this run.
    let run = format!("soak-{}-{}", std::process::id(), random(1 << 20));
    let stack = provision::provision(&cfg.aws, &run).await?;
    let app = &stack.app;
    let mut env = stack.function_env(wx.url(), &pay.base_url(), aws.url());
    // Short, so a slow WeChat is a timeout within the soak.
    env.push(("WECHAT_HTTP_TIMEOUT_MS".into(), "1000".into()));
    let specs: Vec<FunctionSpec> = ["issue-key", "verify-result", "event-callback", "authinfo"]
        .iter()
        .map(|name| FunctionSpec {
            name: name.to_string(),
            binary: cfg.bin_dir.join(name),
            env: env.clone(),
            containers: cfg.containers,
            ..Default::default()
        })
        .collect();
    let host = LambdaHost::start(&specs, &cfg.logs)
        .await
        .map_err(|e| format!("lambda host: {e}"))?;
    host.ready(Duration::from_secs(30)).await?;
    let soak = Arc::new(Soak {
        http: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(35))
            .build()
            .map_err(|e| e.to_string())?,
        functions: host.url().to_owned(),
        sim: sim.client(),
        pay: pay.client(),
        appid: app.appid.clone(),
        requests: AtomicU64::new(0),
        report: Mutex::new(SoakReport {
            containers: cfg.containers * specs.len(),
            ..SoakReport::default()
        }),
    });
    soak.sim
        .configure_push(
            &app.appid,
            &format!("{}/event-callback/", host.url()),
            wechat_sim::PushMode::Safe,
            wechat_sim::PushFormat::Json,
        )
        .await;

    // Chaos: workers start flows and step them, faults come and go.
    let until = Instant::now() + cfg.chaos;
    let next_id = Arc::new(AtomicU64::new(0));
    let unfinished = Arc::new(Mutex::new(Vec::<Flow>::new()));
    let mut workers = Vec::new();
    for _ in 0..cfg.concurrency {
        let (soak, next_id, unfinished) = (soak.clone(), next_id.clone(), unfinished.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < until {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let (name, number) = PEOPLE[(id as usize) % PEOPLE.len()];
                let mut f = Flow {
                    id,
                    kind: Kind::ALL[(id % 4) as usize],
                    person: Person {
                        name,
                        id_card_number: number,
                    },
                    openid: format!("o-soak-{id}"),
                    passes: random(4) != 0,
                    issued: None,
                    verify_result: None,
                    face_done: false,
                    answer: None,
                    done: false,
                };
                *soak
                    .report
                    .lock()
                    .await
                    .flows
                    .entry(f.kind.name())
                    .or_default() += 1;
                for _ in 0..8 {
                    if soak.step(&mut f).await {
                        f.done = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                unfinished.lock().await.push(f);
            }
        }));
    }
    chaos(&soak, &host, &aws, &wx, until).await;
    for w in workers {
        let _ = w.await;
    }

    // Healing: every fault cleared; every flow must now finish, correctly.
    aws.heal();
    wx.heal();
    soak.sim.clear_faults().await;
    let mut flows = std::mem::take(&mut *unfinished.lock().await);
    let heal_until = Instant::now() + Duration::from_secs(60);
    for f in flows.iter_mut().filter(|f| !f.done) {
        while !f.done && Instant::now() < heal_until {
            f.done = soak.step(f).await;
            if !f.done {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // A final answer never changes: asked once more, the same status.
    for f in &flows {
        let mut r = soak.report.lock().await;
        if !f.done || (f.kind != Kind::Kiosk && f.answer.is_none()) {
            r.lost
                .push(format!("flow {} ({}) never finished", f.id, f.kind.name()));
            continue;
        }
        drop(r);
        if let (Some(first), Some(issued)) = (&f.answer, &f.issued) {
            let body =
                json!({"code": soak.login(&f.openid).await, "out_seq_no": issued["out_seq_no"]});
            if let Some((200, again)) = soak
                .call("verify-result again", "verify-result/", &body, None)
                .await
                && (again["status"] != first["status"] || again["reason"] != first["reason"])
            {
                soak.report
                    .lock()
                    .await
                    .changed
                    .push(format!("flow {}: {first} then {again}", f.id));
            }
        }
    }
    drop(host);
    let mut report = std::mem::take(&mut *soak.report.lock().await);
    report.requests = soak.requests.load(Ordering::Relaxed);
    if cfg.containers > 0 && report.killed.is_empty() {
        report
            .kill_problems
            .push("no container was killed mid-invocation: the kills were not tested".into());
    }
    let crashed = crate::lambda_host::failures_other_than_kills();
    if crashed > 0 {
        report.bad_5xx.push(format!(
            "{crashed} invocations failed (crash, timeout or function error) without a kill"
        ));
    }
    if report.lambda_502 > report.killed_invocations {
        report.kill_problems.push(format!(
            "{} of Lambda's 502s for {} killed invocations: something else failed invocations",
            report.lambda_502, report.killed_invocations
        ));
    }
    report.aws_faults = aws.injected();
    for (k, v) in wx.injected() {
        *report
            .wechat_faults
            .entry(format!("{k} (network)"))
            .or_default() += v;
    }
    for entry in std::fs::read_dir(&cfg.logs)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if text.contains("panicked") {
            report
                .panics
                .push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(report)
}
