//! The cold-start benchmark (`make bench` and `make bench-cold-start`, docs/performance.md).
//!
//! Each subject is started as Lambda starts it: one process under its own
//! Runtime API, the clock running from the spawn to its first
//! `/runtime/invocation/next` (its init). Then its first invocation (cold)
//! and `warm` more, each with a fresh, real request against moto and the
//! simulators, and its peak RSS. The subjects: every function's release
//! bootstrap; a hello-world `lambda_http` function (the floor); and a
//! Python peer doing verify-result's 2.0 work (boto3 + requests under
//! awslambdaric), the baseline a user would write instead. Rounds go
//! through the subjects in turn, so the machine's drift hits all alike.
//!
//! Every answer is checked (a 4xx measured as a success would flatter), and
//! a last pass through a counting proxy lists the AWS calls of each warm
//! invocation.
//!
//! As Lambda runs it (`make bench`): with memory sizes, each process runs
//! under that size's CPU share and memory (`cgroup`), and with a network,
//! every upstream of the subjects is reached over TLS and a round trip away
//! (`wan`); then each warm invocation's own time (its duration less the time
//! it waited on upstreams) is measured too, and the power-tuning table
//! (`power`) is printed.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::aws_faults::AwsFaults;
use crate::cgroup::Cap;
use crate::event_path::EventPath;
use crate::fixtures::PEOPLE;
use crate::kiosk;
use crate::lambda_host::{FunctionSpec, LambdaHost, url_event};
use crate::provision::{Provisioned, provision};
use crate::wan::{Link, Upstream, covered};

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The AWS emulator (moto).
    pub aws: String,
    /// Release builds of the functions and of `cold-start-floor`.
    pub bin_dir: PathBuf,
    /// A Python with the peer's requirements (boto3, requests, awslambdaric).
    pub python: PathBuf,
    /// The peer's directory (`tests/cold-start-peer`).
    pub peer_dir: PathBuf,
    /// Where each process's log goes.
    pub logs: PathBuf,
    /// Cold starts per subject.
    pub rounds: usize,
    /// Warm invocations after each cold start.
    pub warm: usize,
    /// Lambda memory sizes to run each subject under (none: the whole machine).
    pub memory: Vec<u32>,
    /// Upstreams over TLS and a round trip away (none: plain HTTP on loopback).
    pub network: Option<Network>,
}

/// The network of a run as Lambda has it.
#[derive(Debug, Clone)]
pub struct Network {
    /// What `scripts/bench-ca.py` wrote: ca.pem, ca.der, server.pem, server.key.
    pub tls_dir: PathBuf,
    /// Round trips to the AWS services, to WeChat and to WeChat Pay.
    pub rtt_aws: Duration,
    pub rtt_wechat: Duration,
    pub rtt_pay: Duration,
}

/// The subjects' upstreams behind their links, and what the subjects must be told of them.
struct Links {
    all: Vec<Link>,
    env: Vec<(String, String)>,
}

impl Links {
    async fn start(net: &Network, aws: &str, wechat: &str, pay: &str) -> Result<Self, String> {
        let tls = crate::wan::acceptor(&net.tls_dir)?;
        let aws = Link::start(aws, Upstream::ClosesEachAnswer, net.rtt_aws, tls.clone()).await?;
        let wechat = Link::start(wechat, Upstream::KeepsAlive, net.rtt_wechat, tls.clone()).await?;
        let pay = Link::start(pay, Upstream::KeepsAlive, net.rtt_pay, tls).await?;
        let pem = net.tls_dir.join("ca.pem").display().to_string();
        let env = [
            ("AWS_ENDPOINT_URL", aws.url.clone()),
            ("WECHAT_API_BASE", wechat.url.clone()),
            ("WECHATPAY_FACE_API_BASE", pay.url.clone()),
            ("WECHATPAY_API_BASE", pay.url.clone()),
            // The functions (built with `bench-ca`), boto3 and requests trust the local CA.
            (
                "WXFACE_BENCH_CA_DER",
                net.tls_dir.join("ca.der").display().to_string(),
            ),
            ("AWS_CA_BUNDLE", pem.clone()),
            ("REQUESTS_CA_BUNDLE", pem),
        ];
        Ok(Self {
            all: vec![aws, wechat, pay],
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
    }

    /// `env` with the upstreams moved behind the links.
    fn apply(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| !self.env.iter().any(|(o, _)| o == k))
            .cloned()
            .collect();
        out.extend(self.env.iter().cloned());
        out
    }

    fn clear(&self) {
        self.all.iter().for_each(Link::clear);
    }

    /// Per upstream (AWS, WeChat, WeChat Pay): how long within `from..to` the subject waited on
    /// it, and how many connections it opened to it.
    fn apart(&self, from: Instant, to: Instant) -> Vec<(Duration, usize)> {
        self.all
            .iter()
            .map(|l| (covered(&l.waits(), from, to), l.opened(from, to)))
            .collect()
    }

    /// How long within `from..to` the subject waited on any upstream.
    fn waited(&self, from: Instant, to: Instant) -> Duration {
        let spans: Vec<_> = self.all.iter().flat_map(Link::waits).collect();
        covered(&spans, from, to)
    }
}

/// What a subject's invocations do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// The floor: a constant.
    Constant,
    IssueKey,
    /// verify-result's 2.0 work, for the function and the Python peer.
    VerifyV2,
    /// event-callback's URL check (`GET` with `echostr`).
    EventCallback,
    Authinfo,
    Lookup,
    PublishEvents,
    /// A scheduled check of a 2.0 session whose face check passed.
    Reconcile,
}

struct Subject {
    name: &'static str,
    work: Work,
    binary: PathBuf,
    args: Vec<String>,
}

/// One subject's figures over every round.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub name: String,
    pub init: Vec<Duration>,
    pub first: Vec<Duration>,
    pub warm: Vec<Duration>,
    pub peak_rss_kib: Vec<u64>,
    /// CPU time of the process (all its threads) per warm invocation.
    pub warm_cpu: Vec<Duration>,
    /// AWS calls per warm invocation, by operation.
    pub warm_aws_calls: BTreeMap<String, f64>,
    /// The memory size it ran under (none: the whole machine).
    pub memory_mb: Option<u32>,
    /// Each warm invocation's own time: its duration less its waits on upstreams (with a
    /// network only).
    pub own: Vec<Duration>,
    /// Each first invocation's waits on AWS, WeChat and WeChat Pay, and the connections it
    /// opened to each (with a network only).
    pub first_apart: Vec<Vec<(Duration, usize)>>,
}

impl Figures {
    pub fn cold(&self) -> Vec<Duration> {
        self.init
            .iter()
            .zip(&self.first)
            .map(|(i, f)| *i + *f)
            .collect()
    }
}

/// The q-quantile (0..=1) of `xs`, nearest rank.
pub fn quantile(xs: &[Duration], q: f64) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The world the invocations run in, and what they consume.
struct World {
    stack: Provisioned,
    sim: wechat_sim::SimClient,
    /// Issued 2.0 sessions whose face check passed: (openid, out_seq_no).
    verifiable: VecDeque<(String, String)>,
    /// Sessions verify-result finished (lookup reads them).
    finished: Vec<String>,
    events: EventPath,
    /// A finished session's stream record, once found.
    final_record: Option<Value>,
    /// The environment of the functions that prepare the run (plain, uncapped).
    env: Vec<(String, String)>,
    /// The subjects' environment (behind the links, with a network).
    subject_env: Vec<(String, String)>,
    links: Option<Links>,
    serial: u64,
}

impl World {
    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// One invocation's event, and a check of its answer.
    async fn event(&mut self, work: Work) -> Result<(Value, Check), String> {
        let n = self.next_serial();
        let id = format!("bench-{n}");
        let post = |body: Value, headers: &[(&str, &str)]| {
            let mut h = vec![("content-type", "application/json")];
            h.extend_from_slice(headers);
            url_event(&id, "POST", "", "", &h, body.to_string().as_bytes())
        };
        Ok(match work {
            Work::Constant => (url_event(&id, "GET", "", "", &[], b""), Check::Status200),
            Work::IssueKey => {
                let (name, id_card_number) = PEOPLE[n as usize % PEOPLE.len()];
                // A new user each time: the per-user hourly limit stays out of the way.
                let code = self.sim.login(&self.stack.app.appid, &openid(n)).await;
                let body = json!({"code": code, "name": name,
                    "id_card_number": id_card_number, "flow": "v2"});
                (post(body, &[]), Check::Status200)
            }
            Work::VerifyV2 => {
                let (openid, out_seq_no) = self
                    .verifiable
                    .pop_front()
                    .ok_or("ran out of prepared sessions")?;
                let code = self.sim.login(&self.stack.app.appid, &openid).await;
                self.finished.push(out_seq_no.clone());
                let body = json!({"code": code, "out_seq_no": out_seq_no});
                (post(body, &[]), Check::Verified)
            }
            Work::EventCallback => {
                let timestamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs().to_string())
                    .unwrap_or_default();
                let (nonce, echostr) = (format!("{n}"), format!("e{n}"));
                let signature =
                    wechat_sim::sha1_signature(&[&self.stack.app.push_token, &timestamp, &nonce]);
                let query = format!(
                    "signature={signature}&timestamp={timestamp}&nonce={nonce}&echostr={echostr}"
                );
                let ev = url_event(&id, "GET", "", &query, &[], b"");
                (ev, Check::Body(echostr))
            }
            Work::Authinfo => {
                let bearer = format!("Bearer {}", kiosk::DEV_DEVICE_TOKEN);
                let body = json!({"device_id": kiosk::DEV_DEVICE_ID, "store_id": "bench",
                    "store_name": "门诊大厅", "rawdata": format!("rawdata-{n}")});
                (post(body, &[("authorization", &bearer)]), Check::Status200)
            }
            Work::Lookup => {
                let out_seq_no = self
                    .finished
                    .get(n as usize % self.finished.len().max(1))
                    .ok_or("no finished session to look up")?;
                let query = format!("out_seq_no={out_seq_no}");
                (url_event(&id, "GET", "", &query, &[], b""), Check::Verified)
            }
            Work::PublishEvents => {
                let record = self.final_record().await?;
                (json!({"Records": [record]}), Check::NoBatchFailures)
            }
            Work::Reconcile => {
                let (_, out_seq_no) = self
                    .verifiable
                    .pop_front()
                    .ok_or("ran out of prepared sessions")?;
                let at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let check = json!({"out_seq_no": out_seq_no, "at": at, "failures": 0});
                (check, Check::Outcome("finalized"))
            }
        })
    }

    /// A stream record of a session becoming final (verify-result's writes).
    async fn final_record(&mut self) -> Result<Value, String> {
        if let Some(r) = &self.final_record {
            return Ok(r.clone());
        }
        for (_, records) in self.events.pending_records().await? {
            if let Some(r) = records.into_iter().find(|r| {
                r["eventName"] == "MODIFY" && r["dynamodb"]["NewImage"]["status"]["S"] == "verified"
            }) {
                self.final_record = Some(r.clone());
                return Ok(r);
            }
        }
        Err("the table's stream holds no finished session".into())
    }
}

fn openid(n: u64) -> String {
    format!("o-bench-{}-{n}", std::process::id())
}

/// What an answer must be for the invocation to count.
enum Check {
    Status200,
    /// 200 and `status: verified`.
    Verified,
    /// 200 and exactly this body.
    Body(String),
    /// A stream batch with no failed record.
    NoBatchFailures,
    /// reconcile's answer to a check.
    Outcome(&'static str),
}

impl Check {
    fn holds(&self, answer: &Value) -> bool {
        let body = || answer["body"].as_str().unwrap_or_default();
        let ok = answer["statusCode"] == 200;
        match self {
            Self::Status200 => ok,
            Self::Verified => {
                ok && serde_json::from_str::<Value>(body()).is_ok_and(|b| b["status"] == "verified")
            }
            Self::Body(want) => ok && body() == want,
            Self::NoBatchFailures => answer["batchItemFailures"]
                .as_array()
                .is_some_and(Vec::is_empty),
            Self::Outcome(want) => answer["outcome"] == *want,
        }
    }
}

/// Runs the benchmark and prints its tables; the figures per subject (and memory size).
pub async fn run(cfg: &BenchConfig) -> Result<Vec<Figures>, String> {
    let sim = wechat_sim::start(wechat_sim::SimConfig::default(), localhost())
        .await
        .map_err(|e| format!("wechat-sim: {e}"))?;
    let pay = wechatpay_sim::start(wechatpay_sim::PaySimConfig::default(), localhost())
        .await
        .map_err(|e| format!("wechatpay-sim: {e}"))?;
    let mut world = world(cfg, sim.client(), &sim.base_url(), &pay.base_url()).await?;
    if let Some(net) = &cfg.network {
        let links = Links::start(net, &cfg.aws, &sim.base_url(), &pay.base_url()).await?;
        world.subject_env = links.apply(&world.env);
        world.links = Some(links);
    }
    let subjects = subjects(cfg);
    for s in &subjects {
        if !s.binary.is_file() {
            return Err(format!(
                "{} is missing (build it first)",
                s.binary.display()
            ));
        }
    }
    // Each process gets fresh cgroups of its size (Cap::new); this one checks they can be made.
    let sizes: Vec<Option<u32>> = if cfg.memory.is_empty() {
        vec![None]
    } else {
        Cap::new(cfg.memory[0])?;
        cfg.memory.iter().copied().map(Some).collect()
    };
    // verify-result, the peer and reconcile each finish a session per invocation, and the audit
    // pass a few more.
    let per_subject = cfg.rounds * (1 + cfg.warm) * sizes.len() + AUDIT_WARM + 1;
    prepare_sessions(cfg, &mut world, 3 * per_subject).await?;

    let mut figures = Vec::new();
    for &size in &sizes {
        let mut these: Vec<Figures> = subjects
            .iter()
            .map(|s| Figures {
                name: s.name.to_owned(),
                memory_mb: size,
                ..Default::default()
            })
            .collect();
        for round in 0..cfg.rounds {
            for (s, f) in subjects.iter().zip(these.iter_mut()) {
                let logs = format!("{}-{}-{round}", s.name, size.unwrap_or(0));
                let cap = size.map(Cap::new).transpose()?;
                measure(cfg, &mut world, s, f, cap.as_ref(), &logs).await?;
            }
            let size = size.map_or("the whole machine".into(), |mb| format!("{mb} MB"));
            eprintln!(
                "cold-start: {size}: round {} of {} done",
                round + 1,
                cfg.rounds
            );
        }
        figures.extend(these);
    }
    let proxy = AwsFaults::start(&cfg.aws).await;
    for (s, f) in subjects.iter().zip(figures.iter_mut()) {
        if s.work != Work::Constant {
            f.warm_aws_calls = audit(cfg, &mut world, s, &proxy).await?;
        }
    }
    for group in figures.chunks(subjects.len()) {
        print_table(group, cfg);
    }
    if !cfg.memory.is_empty() {
        let rows: Vec<crate::power::Row> = figures
            .iter()
            .filter_map(|f| f.memory_mb.map(|mb| crate::power::Row::of(f, mb)))
            .collect();
        crate::power::print(&rows);
    }
    Ok(figures)
}

/// The run's table and secrets, the event path, and the functions' environment.
async fn world(
    cfg: &BenchConfig,
    sim: wechat_sim::SimClient,
    wechat: &str,
    pay: &str,
) -> Result<World, String> {
    let run = format!("bench-{}", std::process::id());
    let stack = provision(&cfg.aws, &run).await?;
    let mut env = stack.function_env(wechat, pay, &cfg.aws);
    let config = crate::sdk_config_for(&cfg.aws).await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let events = EventPath::start(&cfg.aws, &ddb, &stack.table, &format!("wxface-{run}")).await?;
    env.push(("EVENT_BUS_NAME".into(), events.bus.clone()));
    // reconcile's: a check that finalizes its session books nothing, so these are never called.
    for (k, v) in [
        ("RECONCILE_SCHEDULE_GROUP", format!("{run}-reconcile")),
        (
            "RECONCILE_FUNCTION_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:reconcile".into(),
        ),
        (
            "RECONCILE_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/scheduler".into(),
        ),
    ] {
        env.push((k.into(), v));
    }
    Ok(World {
        stack,
        sim,
        verifiable: VecDeque::new(),
        finished: Vec::new(),
        events,
        final_record: None,
        subject_env: env.clone(),
        env,
        links: None,
        serial: 0,
    })
}

const AUDIT_WARM: usize = 3;

fn localhost() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn subjects(cfg: &BenchConfig) -> Vec<Subject> {
    let bin = |name: &'static str, work| Subject {
        name,
        work,
        binary: cfg.bin_dir.join(name),
        args: Vec::new(),
    };
    vec![
        bin("cold-start-floor", Work::Constant),
        bin("issue-key", Work::IssueKey),
        bin("verify-result", Work::VerifyV2),
        Subject {
            name: "python-peer",
            work: Work::VerifyV2,
            binary: cfg.python.clone(),
            args: ["-m", "awslambdaric", "verify_result.handler"]
                .map(String::from)
                .to_vec(),
        },
        bin("event-callback", Work::EventCallback),
        bin("authinfo", Work::Authinfo),
        bin("lookup", Work::Lookup),
        bin("publish-events", Work::PublishEvents),
        bin("reconcile", Work::Reconcile),
    ]
}

/// `count` 2.0 sessions issued by the issue-key function and passed at the
/// simulator's face check.
async fn prepare_sessions(
    cfg: &BenchConfig,
    world: &mut World,
    count: usize,
) -> Result<(), String> {
    let spec = FunctionSpec {
        name: "prepare".into(),
        binary: cfg.bin_dir.join("issue-key"),
        env: world.env.clone(),
        containers: 1,
        ..Default::default()
    };
    let host = LambdaHost::start(&[spec], &cfg.logs.join("prepare"))
        .await
        .map_err(|e| format!("lambda host: {e}"))?;
    host.ready(Duration::from_secs(30)).await?;
    for _ in 0..count {
        let n = world.next_serial();
        let (name, id_card_number) = PEOPLE[n as usize % PEOPLE.len()];
        let openid = openid(n);
        let code = world.sim.login(&world.stack.app.appid, &openid).await;
        let body =
            json!({"code": code, "name": name, "id_card_number": id_card_number, "flow": "v2"});
        let ev = url_event("prepare", "POST", "", "", &[], body.to_string().as_bytes());
        let answer = host.invoke("prepare", ev).await?;
        let issued: Value =
            serde_json::from_str(answer["body"].as_str().unwrap_or_default()).unwrap_or_default();
        let (Some(verify_id), Some(out_seq_no)) =
            (issued["verify_id"].as_str(), issued["out_seq_no"].as_str())
        else {
            return Err(format!("issue-key did not issue a session: {answer}"));
        };
        world.sim.run_v2(verify_id, &openid, 10000).await?;
        world.verifiable.push_back((openid, out_seq_no.to_owned()));
    }
    Ok(())
}

/// The process of `s`, as Lambda would start it.
async fn start(
    cfg: &BenchConfig,
    s: &Subject,
    env: &[(String, String)],
    cap: Option<&Cap>,
    logs: &str,
) -> Result<LambdaHost, String> {
    let mut env = env.to_vec();
    if !s.args.is_empty() {
        // The Python peer's handler module.
        env.push(("PYTHONPATH".into(), cfg.peer_dir.display().to_string()));
    }
    let spec = FunctionSpec {
        name: s.name.into(),
        binary: s.binary.clone(),
        args: s.args.clone(),
        env,
        containers: 1,
        cap: cap.cloned(),
    };
    let host = LambdaHost::start(&[spec], &cfg.logs.join(logs))
        .await
        .map_err(|e| format!("lambda host: {e}"))?;
    host.ready(Duration::from_secs(30)).await?;
    Ok(host)
}

/// One invocation of `s` with a fresh request, checked; how long it took, and its own part of
/// that (less its waits on upstreams) where the upstreams are behind links.
async fn invoke(
    world: &mut World,
    host: &LambdaHost,
    s: &Subject,
) -> Result<(Duration, Option<Duration>), String> {
    invoke_apart(world, host, s)
        .await
        .map(|(took, own, _)| (took, own))
}

/// [`invoke`], and the waits per upstream.
async fn invoke_apart(
    world: &mut World,
    host: &LambdaHost,
    s: &Subject,
) -> Result<(Duration, Option<Duration>, Vec<(Duration, usize)>), String> {
    let (event, check) = world.event(s.work).await?;
    if let Some(links) = &world.links {
        links.clear();
    }
    let started = Instant::now();
    let answer = host.invoke(s.name, event).await?;
    let took = started.elapsed();
    if !check.holds(&answer) {
        return Err(format!("{}: unexpected answer: {answer}", s.name));
    }
    let own = world
        .links
        .as_ref()
        .map(|l| took.saturating_sub(l.waited(started, started + took)));
    let apart = world
        .links
        .as_ref()
        .map(|l| l.apart(started, started + took))
        .unwrap_or_default();
    Ok((took, own, apart))
}

/// One cold start of `s`, its first invocation and `cfg.warm` more.
async fn measure(
    cfg: &BenchConfig,
    world: &mut World,
    s: &Subject,
    f: &mut Figures,
    cap: Option<&Cap>,
    logs: &str,
) -> Result<(), String> {
    let env = world.subject_env.clone();
    let host = start(cfg, s, &env, cap, logs).await?;
    let (_, pid, init) = host.init_times().remove(0);
    f.init.push(init.unwrap_or_default());
    let (first, _, apart) = invoke_apart(world, &host, s).await?;
    f.first.push(first);
    if !apart.is_empty() {
        f.first_apart.push(apart);
    }
    let cpu_before = cpu_time(pid)?;
    for _ in 0..cfg.warm {
        let (took, own) = invoke(world, &host, s).await?;
        f.warm.push(took);
        f.own.extend(own);
    }
    f.warm_cpu
        .push(cpu_time(pid)?.saturating_sub(cpu_before) / cfg.warm as u32);
    f.peak_rss_kib.push(peak_rss_kib(pid)?);
    Ok(())
}

/// The AWS calls of `s`'s warm invocations: a container with AWS behind
/// `proxy` serves one request, then [`AUDIT_WARM`] are counted.
async fn audit(
    cfg: &BenchConfig,
    world: &mut World,
    s: &Subject,
    proxy: &AwsFaults,
) -> Result<BTreeMap<String, f64>, String> {
    let mut env = world.env.clone();
    for (k, v) in env.iter_mut() {
        if k == "AWS_ENDPOINT_URL" {
            *v = proxy.url().to_owned();
        }
    }
    let host = start(cfg, s, &env, None, &format!("{}-audit", s.name)).await?;
    invoke(world, &host, s).await?;
    let _ = proxy.take_forwarded_by_target();
    for _ in 0..AUDIT_WARM {
        invoke(world, &host, s).await?;
    }
    Ok(proxy
        .take_forwarded_by_target()
        .into_iter()
        .map(|(k, v)| (k, v as f64 / AUDIT_WARM as f64))
        .collect())
}

/// The CPU time of every thread of the process so far (`schedstat`, in ns).
fn cpu_time(pid: u32) -> Result<Duration, String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| format!("/proc/{pid}/task: {e}"))?;
    let mut ns = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(ns))
}

/// The first request's waits on each upstream (medians over the rounds) and the connections it
/// opened: where a cold request's time beyond a warm one goes.
fn print_first_apart(figures: &[Figures]) {
    if figures.iter().all(|f| f.first_apart.is_empty()) {
        return;
    }
    println!(
        "first request: time waiting on AWS / WeChat / WeChat Pay (new connections), medians:"
    );
    for f in figures.iter().filter(|f| !f.first_apart.is_empty()) {
        let parts: Vec<String> = (0..3)
            .map(|i| {
                let waits: Vec<Duration> = f.first_apart.iter().map(|a| a[i].0).collect();
                let mut conns: Vec<usize> = f.first_apart.iter().map(|a| a[i].1).collect();
                conns.sort_unstable();
                format!("{:.1} ms ({})", median_ms(&waits), conns[conns.len() / 2])
            })
            .collect();
        println!(
            "  {:<17} first {:.1} ms: {}",
            f.name,
            median_ms(&f.first),
            parts.join(" / ")
        );
    }
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmHWM for {pid}"))
}

fn median_ms(xs: &[Duration]) -> f64 {
    ms(quantile(xs, 0.5))
}

fn print_table(figures: &[Figures], cfg: &BenchConfig) {
    let floor = figures.iter().find(|f| f.name == "cold-start-floor");
    let floor_init = floor.map_or(0.0, |f| median_ms(&f.init));
    let size = figures
        .first()
        .and_then(|f| f.memory_mb)
        .map_or("the whole machine".to_owned(), |mb| {
            format!("{mb} MB's CPU share")
        });
    println!(
        "\ncold start, on {size}: {} cold starts per subject, {} warm invocations after each; medians, warm over all rounds",
        cfg.rounds, cfg.warm
    );
    println!("(warm CPU: the process's own CPU time per warm invocation, all threads)");
    println!(
        "{:<17} {:>8} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "subject",
        "init ms",
        "first ms",
        "cold ms",
        "warm p50",
        "warm p99",
        "warm CPU",
        "RSS MiB",
        "init/floor"
    );
    for f in figures {
        let rss = {
            let mut v = f.peak_rss_kib.clone();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or_default() as f64 / 1024.0
        };
        println!(
            "{:<17} {:>8.2} {:>9.2} {:>8.2} {:>9.2} {:>9.2} {:>9.2} {:>9.1} {:>10.1}x",
            f.name,
            median_ms(&f.init),
            median_ms(&f.first),
            median_ms(&f.cold()),
            ms(quantile(&f.warm, 0.5)),
            ms(quantile(&f.warm, 0.99)),
            median_ms(&f.warm_cpu),
            rss,
            median_ms(&f.init) / floor_init.max(f64::MIN_POSITIVE),
        );
    }
    let by = |name: &str| figures.iter().find(|f| f.name == name);
    if let (Some(rust), Some(py)) = (by("verify-result"), by("python-peer")) {
        let ratio = |a: f64, b: f64| a / b.max(f64::MIN_POSITIVE);
        println!(
            "verify-result 2.0 vs the Python peer: cold total {:.3}x, warm p50 {:.3}x, warm CPU {:.3}x",
            ratio(median_ms(&rust.cold()), median_ms(&py.cold())),
            ratio(ms(quantile(&rust.warm, 0.5)), ms(quantile(&py.warm, 0.5))),
            ratio(median_ms(&rust.warm_cpu), median_ms(&py.warm_cpu)),
        );
    }
    print_first_apart(figures);
    if figures.iter().all(|f| f.warm_aws_calls.is_empty()) {
        return;
    }
    println!("\nAWS calls per warm invocation (through a counting proxy):");
    for f in figures.iter().filter(|f| !f.warm_aws_calls.is_empty()) {
        let calls: Vec<String> = f
            .warm_aws_calls
            .iter()
            .map(|(k, v)| format!("{k} {v:.1}"))
            .collect();
        println!("  {:<17} {}", f.name, calls.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let xs: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&xs, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&xs, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&xs[..1], 0.99), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn only_the_expected_answer_counts() {
        let answer = |status: u16, body: &str| json!({"statusCode": status, "body": body});
        assert!(Check::Verified.holds(&answer(200, r#"{"status":"verified"}"#)));
        assert!(!Check::Verified.holds(&answer(200, r#"{"status":"pending"}"#)));
        assert!(!Check::Status200.holds(&answer(400, "{}")));
        assert!(Check::Body("e1".into()).holds(&answer(200, "e1")));
        assert!(!Check::Body("e1".into()).holds(&answer(200, "e2")));
        assert!(Check::NoBatchFailures.holds(&json!({"batchItemFailures": []})));
        let failed = json!({"batchItemFailures": [{"itemIdentifier": "1"}]});
        assert!(!Check::NoBatchFailures.holds(&failed));
    }
}
