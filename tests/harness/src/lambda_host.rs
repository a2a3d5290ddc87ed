//! A local Lambda host: each function as several real processes (its
//! containers), each process talking to its own Runtime API (the
//! 2018-06-01 interface `lambda_runtime` speaks), behind function URLs at
//! `<url>/<function>/<route>` that turn HTTP requests into payload-2.0
//! events and the functions' answers back into HTTP.
//!
//! As on Lambda, a container serves one invocation at a time, and a
//! function's invocations go to whichever of its containers asks for the
//! next one first. Each container's start is timed to its first
//! `/runtime/invocation/next` (its init). [`LambdaHost::kill_busy`] kills a
//! container in the middle of an invocation (SIGKILL, as Lambda does at a
//! timeout or when memory runs out): the caller gets Lambda's own `502`, and a
//! new process takes the container's place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// A function URL's answer when the invocation failed (the function crashed, was killed or timed
/// out): Lambda's, not the function's.
pub const LAMBDA_502: &str = r#"{"Message":"Internal Server Error"}"#;

/// How long a function URL waits for a container to answer.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One function to host.
#[derive(Debug, Clone, Default)]
pub struct FunctionSpec {
    /// The function's name: the first path segment of its URL.
    pub name: String,
    pub binary: PathBuf,
    /// Arguments to `binary` (a Python runtime's module and handler).
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub containers: usize,
    /// The CPU share and memory of a Lambda memory size (none: the whole machine, told 512 MB).
    pub cap: Option<crate::cgroup::Cap>,
}

type Answer = Result<Value, String>;

struct Invocation {
    id: String,
    event: Value,
    reply: oneshot::Sender<Answer>,
}

/// A function's queue, shared by its containers.
struct Queue {
    tx: mpsc::Sender<Invocation>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
}

/// One container's Runtime API state.
struct Container {
    queue: Arc<Queue>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// Set just before the process is spawned.
    started: Mutex<Instant>,
    init: Mutex<Option<Duration>>,
    name: String,
}

/// The running host; its processes are killed when it is dropped.
pub struct LambdaHost {
    url: String,
    queues: Queues,
    containers: Vec<(Arc<Container>, u32)>,
    /// Each container's process, and how to start it again.
    processes: tokio::sync::Mutex<Vec<Process>>,
    log_dir: PathBuf,
}

/// One container's process and what started it.
struct Process {
    child: Child,
    spec: FunctionSpec,
    n: usize,
    api: String,
    container: Arc<Container>,
}

/// Starts container `n` of `spec`'s function against its Runtime API `api`;
/// its output is appended to `<log_dir>/<function>-<n>.log`.
/// `started` is set when the process begins: its init is timed from there.
fn spawn(
    spec: &FunctionSpec,
    n: usize,
    api: &str,
    log_dir: &Path,
    started: &Mutex<Instant>,
) -> std::io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join(format!("{}-{n}.log", spec.name)))?;
    let mut cmd = match &spec.cap {
        None => Command::new(&spec.binary),
        // Held at `read` until it is in its cgroups (see `release_into`).
        Some(_) => {
            let mut sh = Command::new("/bin/sh");
            sh.args(["-c", "read _ && exec \"$0\" \"$@\""])
                .arg(&spec.binary)
                .stdin(std::process::Stdio::piped());
            sh
        }
    };
    cmd.args(&spec.args)
        .envs(spec.env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", api.trim_start_matches("http://"))
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.cap.as_ref().map_or(512, |c| c.memory_mb).to_string(),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("container-{n}"))
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    let Some(cap) = &spec.cap else {
        cmd.stdin(std::process::Stdio::null());
        *lock(started) = Instant::now();
        return cmd.spawn();
    };
    let mut child = cmd.spawn()?;
    release_into(&mut child, &cap.procs, started)?;
    Ok(child)
}

/// Moves a held child into its cgroups, then lets it `exec` the function, so the function runs
/// capped from its first instruction and its init is timed from there. Moving a process between
/// cgroups (v1) can take milliseconds of the kernel's time: it is done before the clock starts,
/// as Lambda's sandbox exists before the function's process does.
fn release_into(
    child: &mut Child,
    procs: &[PathBuf],
    started: &Mutex<Instant>,
) -> std::io::Result<()> {
    use std::io::Write;
    let pid = child.id().unwrap_or_default().to_string();
    for path in procs {
        std::fs::write(path, &pid)?;
    }
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("the held child has no stdin"))?;
    let mut stdin = std::fs::File::from(stdin.into_owned_fd()?);
    *lock(started) = Instant::now();
    stdin.write_all(b"\n")
}

impl LambdaHost {
    /// Starts every container of every function and the function URLs;
    /// process output goes to `<log_dir>/<function>-<n>.log`.
    pub async fn start(specs: &[FunctionSpec], log_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let mut queues = HashMap::new();
        let mut containers = Vec::new();
        let mut processes = Vec::new();
        for spec in specs {
            let (tx, rx) = mpsc::channel(1024);
            let queue = Arc::new(Queue {
                tx,
                rx: tokio::sync::Mutex::new(rx),
            });
            queues.insert(spec.name.clone(), queue.clone());
            for n in 0..spec.containers {
                let container = Arc::new(Container {
                    queue: queue.clone(),
                    in_flight: Mutex::new(HashMap::new()),
                    started: Mutex::new(Instant::now()),
                    init: Mutex::new(None),
                    name: spec.name.clone(),
                });
                let api = serve(runtime_api(container.clone())).await?;
                // A fresh log per run; a restarted container appends to it.
                std::fs::File::create(log_dir.join(format!("{}-{n}.log", spec.name)))?;
                let child = spawn(spec, n, &api, log_dir, &container.started)?;
                containers.push((container.clone(), child.id().unwrap_or_default()));
                processes.push(Process {
                    child,
                    spec: spec.clone(),
                    n,
                    api,
                    container,
                });
            }
        }
        let queues = Arc::new(queues);
        let url = serve(
            Router::new()
                .route(
                    "/lambda-url/{function}",
                    axum::routing::any(function_url_root),
                )
                .route(
                    "/lambda-url/{function}/",
                    axum::routing::any(function_url_root),
                )
                .route(
                    "/lambda-url/{function}/{*route}",
                    axum::routing::any(function_url),
                )
                .with_state(queues.clone()),
        )
        .await?;
        Ok(Self {
            url: format!("{url}/lambda-url"),
            queues,
            containers,
            processes: tokio::sync::Mutex::new(processes),
            log_dir: log_dir.to_owned(),
        })
    }

    /// Kills one container that is in the middle of an invocation (SIGKILL) and starts a new
    /// process in its place, as Lambda does after a timeout or running out of memory; the
    /// invocations it held answer Lambda's `502`. The function killed and how many invocations
    /// it held, or none if no container was busy.
    pub async fn kill_busy(&self) -> Result<Option<(String, usize)>, String> {
        let mut processes = self.processes.lock().await;
        let busy: Vec<usize> = (0..processes.len())
            .filter(|i| !lock(&processes[*i].container.in_flight).is_empty())
            .collect();
        let Some(&i) = busy.get(pick(busy.len())) else {
            return Ok(None);
        };
        let p = &mut processes[i];
        p.child.kill().await.map_err(|e| format!("kill: {e}"))?;
        // What it was doing is lost: its callers get Lambda's answer for a dead invocation.
        let held: Vec<_> = lock(&p.container.in_flight).drain().collect();
        let n = held.len();
        for (_, reply) in held {
            let _ = reply.send(Err(KILLED.into()));
        }
        // A new process gets fresh cgroups, as a new sandbox would (cgroup.rs).
        if let Some(cap) = &p.spec.cap {
            p.spec.cap = Some(crate::cgroup::Cap::new(cap.memory_mb)?);
        }
        p.child = spawn(&p.spec, p.n, &p.api, &self.log_dir, &p.container.started)
            .map_err(|e| format!("respawn: {e}"))?;
        Ok(Some((p.spec.name.clone(), n)))
    }

    /// `http://127.0.0.1:PORT/lambda-url`: a function is at `<url>/<name>/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits until every container has asked for its first invocation.
    pub async fn ready(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while self.init_times().iter().any(|(_, _, t)| t.is_none()) {
            if Instant::now() > deadline {
                return Err("a container did not start (see its log)".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// One invocation of `function` with `event` as its payload, as an event
    /// source or `aws lambda invoke` hands it over: the function's answer,
    /// or its error.
    pub async fn invoke(&self, function: &str, event: Value) -> Result<Value, String> {
        let queue = self.queues.get(function).ok_or("no such function")?;
        dispatch(queue, request_id(), event).await
    }

    /// (function, pid, init: process start to its first `next`).
    pub fn init_times(&self) -> Vec<(String, u32, Option<Duration>)> {
        self.containers
            .iter()
            .map(|(c, pid)| (c.name.clone(), *pid, *lock(&c.init)))
            .collect()
    }
}

/// What a killed container's invocations end with.
const KILLED: &str = "the container was killed";

/// Invocations of this process's hosts that failed for another reason than a kill (a crash, a
/// timeout, a function error): Lambda answers them with the same `502`, so the host counts them.
static OTHER_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// See [`OTHER_FAILURES`].
pub fn failures_other_than_kills() -> u64 {
    OTHER_FAILURES.load(std::sync::atomic::Ordering::Relaxed)
}

/// A random index below `n` (0 when `n` is 0).
fn pick(n: usize) -> usize {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).expect("system random generator");
    (u64::from_le_bytes(b) % (n.max(1) as u64)) as usize
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(app: Router) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

fn runtime_api(container: Arc<Container>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(container)
}

async fn next(State(c): State<Arc<Container>>) -> Response {
    let started = *lock(&c.started);
    lock(&c.init).get_or_insert_with(|| started.elapsed());
    let Some(inv) = c.queue.rx.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    lock(&c.in_flight).insert(inv.id.clone(), inv.reply);
    let deadline = std::time::SystemTime::now() + INVOCATION_TIMEOUT;
    let deadline_ms = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", inv.id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:us-east-1:000000000000:function:{}", c.name),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".into(),
    );
    // As Lambda's: a runtime (awslambdaric) decodes the event by it.
    set("content-type", "application/json".into());
    (headers, inv.event.to_string()).into_response()
}

async fn response(
    State(c): State<Arc<Container>>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let answer = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"));
    finish(&c, &id, answer)
}

async fn error(
    State(c): State<Arc<Container>>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    finish(&c, &id, Err(String::from_utf8_lossy(&body).into_owned()))
}

async fn init_error(body: axum::body::Bytes) -> StatusCode {
    eprintln!(
        "lambda host: init error: {}",
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}

fn finish(c: &Container, id: &str, answer: Answer) -> StatusCode {
    match lock(&c.in_flight).remove(id) {
        Some(reply) => {
            let _ = reply.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

type Queues = Arc<HashMap<String, Arc<Queue>>>;

async fn function_url_root(
    State(q): State<Queues>,
    UrlPath(function): UrlPath<String>,
    req: Request,
) -> Response {
    invoke(q, function, String::new(), req).await
}

async fn function_url(
    State(q): State<Queues>,
    UrlPath((function, route)): UrlPath<(String, String)>,
    req: Request,
) -> Response {
    invoke(q, function, route, req).await
}

/// HTTP → payload-2.0 event → a container → HTTP.
async fn invoke(q: Queues, function: String, route: String, req: Request) -> Response {
    let Some(queue) = q.get(&function).cloned() else {
        return (StatusCode::NOT_FOUND, "no such function").into_response();
    };
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, 6 << 20).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let id = request_id();
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let query = parts.uri.query().unwrap_or_default();
    let event = url_event(&id, parts.method.as_str(), &route, query, &headers, &body);
    match dispatch(&queue, id, event).await {
        Ok(v) => http_response(&v),
        // A function error, a crash or a timeout: what a function URL gives.
        Err(e) => {
            if !e.contains(KILLED) {
                eprintln!("lambda host: {function}: {e}");
                OTHER_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (
                StatusCode::BAD_GATEWAY,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                LAMBDA_502,
            )
                .into_response()
        }
    }
}

/// Hands `event` to whichever of the function's containers asks first.
async fn dispatch(queue: &Queue, id: String, event: Value) -> Answer {
    let (reply, answer) = oneshot::channel();
    queue
        .tx
        .send(Invocation { id, event, reply })
        .await
        .map_err(|_| "the function's queue is closed".to_owned())?;
    match tokio::time::timeout(INVOCATION_TIMEOUT, answer).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(format!("function error: {e}")),
        _ => Err("no answer from the function".into()),
    }
}

fn request_id() -> String {
    sim_kit::random_uuid()
}

/// The payload-2.0 event a function URL hands its function for one request
/// (`route` without its leading `/`; header names in lower case).
pub fn url_event(
    id: &str,
    method: &str,
    route: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Value {
    let path = format!("/{route}");
    let user_agent = headers
        .iter()
        .find(|(k, _)| *k == "user-agent")
        .map_or("", |(_, v)| *v);
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "local.lambda-url.us-east-1.on.aws",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent,
            },
            "requestId": id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": now,
        },
        "body": body,
        "isBase64Encoded": base64,
    })
}

fn http_response(v: &Value) -> Response {
    let status = v["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let text = v["body"].as_str().unwrap_or_default();
    let body = if v["isBase64Encoded"].as_bool() == Some(true) {
        STANDARD.decode(text).unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    if let Some(h) = v["headers"].as_object() {
        for (k, val) in h {
            if let (Ok(name), Some(Ok(val))) = (
                axum::http::HeaderName::from_bytes(k.as_bytes()),
                val.as_str().map(HeaderValue::from_str),
            ) {
                resp.headers_mut().insert(name, val);
            }
        }
    }
    resp
}
