//! A fault-injecting HTTP proxy in front of the AWS emulator (or the WeChat
//! simulator): what a flaky network does to the calls. Each request is
//! matched by its `X-Amz-Target` (e.g. `DynamoDB_20120810.PutItem`), or its
//! path where it has none (`/cityservice/face/identify/getinfo?...`), and
//! forwarded, or throttled, failed, reset before it reaches AWS, slowed, or
//! performed with its answer lost (the write happened, the client never
//! hears of it, and the SDK's retry meets its own item).
//!
//! One request per connection (the forwarded request asks for `Connection:
//! close`), which is all the AWS SDK needs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFault {
    /// 400 ThrottlingException, which the SDK retries.
    Throttle,
    /// 500 InternalServerError.
    ServerError,
    /// The connection is dropped before the request reaches AWS.
    Reset,
    /// Forwarded after a delay.
    Slow(Duration),
    /// Forwarded and performed; the answer is dropped.
    LostAnswer,
}

impl AwsFault {
    pub fn name(self) -> &'static str {
        match self {
            Self::Throttle => "throttle",
            Self::ServerError => "server_error",
            Self::Reset => "reset",
            Self::Slow(_) => "slow",
            Self::LostAnswer => "lost_answer",
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    /// A substring of `X-Amz-Target`; "" matches every request.
    target: String,
    fault: AwsFault,
    /// Left to inject; `u32::MAX` for as long as the rule stands.
    times: u32,
    /// Of the matching requests, the share that gets the fault.
    rate: f64,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    injected: BTreeMap<&'static str, u64>,
    forwarded: u64,
    by_target: BTreeMap<String, u64>,
}

/// The running proxy; it stops with the test process.
#[derive(Clone)]
pub struct AwsFaults {
    url: String,
    state: Arc<Mutex<State>>,
}

impl AwsFaults {
    /// Listens on a free loopback port, forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (state, upstream) = (shared.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &upstream, &state).await;
                });
            }
        });
        Self { url, state }
    }

    /// What `AWS_ENDPOINT_URL` should be.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next `times` requests whose target contains `target` get `fault`.
    pub fn inject(&self, target: &str, fault: AwsFault, times: u32) {
        self.add(target, fault, times, 1.0);
    }

    /// Until [`Self::heal`], a share `rate` of the requests matching `target`
    /// gets `fault`.
    pub fn inject_randomly(&self, target: &str, fault: AwsFault, rate: f64) {
        self.add(target, fault, u32::MAX, rate);
    }

    fn add(&self, target: &str, fault: AwsFault, times: u32, rate: f64) {
        self.lock().rules.push(Rule {
            target: target.to_owned(),
            fault,
            times,
            rate,
        });
    }

    /// Every rule dropped: requests go through as they are.
    pub fn heal(&self) {
        self.lock().rules.clear();
    }

    /// How many faults of each kind were injected so far.
    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        self.lock().injected.clone()
    }

    pub fn forwarded(&self) -> u64 {
        self.lock().forwarded
    }

    /// The requests forwarded so far, by target (AWS) or path (anything
    /// else), emptied: what a stretch of work called.
    pub fn take_forwarded_by_target(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut self.lock().by_target)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn pick(state: &Mutex<State>, target: &str) -> Option<AwsFault> {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let rule = s
        .rules
        .iter_mut()
        .find(|r| r.times > 0 && target.contains(&r.target) && random_unit() < r.rate)?;
    if rule.times != u32::MAX {
        rule.times -= 1;
    }
    let fault = rule.fault;
    *s.injected.entry(fault.name()).or_default() += 1;
    Some(fault)
}

fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).expect("system random generator");
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// One request: read it, then fault it or forward it.
async fn serve(mut conn: TcpStream, upstream: &str, state: &Mutex<State>) -> std::io::Result<()> {
    let (head, body) = read_request(&mut conn).await?;
    // AWS calls are told apart by their target; anything else (WeChat) by its path.
    let target = header(&head, "x-amz-target").unwrap_or_else(|| {
        head.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    });
    let fault = pick(state, &target);
    match fault {
        Some(AwsFault::Reset) => return Ok(()),
        Some(AwsFault::Throttle) => {
            return reply(
                &mut conn,
                "400 Bad Request",
                "ThrottlingException",
                "Rate exceeded",
            )
            .await;
        }
        Some(AwsFault::ServerError) => {
            return reply(
                &mut conn,
                "500 Internal Server Error",
                "InternalServerError",
                "injected",
            )
            .await;
        }
        Some(AwsFault::Slow(d)) => tokio::time::sleep(d).await,
        Some(AwsFault::LostAnswer) | None => {}
    }
    let answer = forward(upstream, &head, &body).await?;
    {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.forwarded += 1;
        *s.by_target.entry(target).or_default() += 1;
    }
    if fault == Some(AwsFault::LostAnswer) {
        // Performed, never answered.
        return Ok(());
    }
    conn.write_all(&answer).await?;
    conn.shutdown().await
}

async fn read_request(conn: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    if header(&head, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let len: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((head, body))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

async fn forward(upstream: &str, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = TcpStream::connect(upstream).await?;
    let mut lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let mut request = lines.join("\r\n").into_bytes();
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body);
    out.write_all(&request).await?;
    let mut answer = Vec::new();
    out.read_to_end(&mut answer).await?;
    Ok(answer)
}

async fn reply(
    conn: &mut TcpStream,
    status: &str,
    kind: &str,
    message: &str,
) -> std::io::Result<()> {
    let body = format!(r#"{{"__type":"{kind}","message":"{message}"}}"#);
    let text = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-errortype: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(text.as_bytes()).await?;
    conn.shutdown().await
}
