//! The network between a function and its upstreams as Lambda has it, for the benchmark: every
//! upstream behind TLS (a certificate of a local CA that only the benchmark trusts,
//! `scripts/bench-ca.py`) and a round-trip delay.
//!
//! A [`Link`] listens on loopback. Each connection's bytes cross a delay line (half the round
//! trip each way, TLS handshake included, as on a real network), then a TLS terminator, then a
//! plain connection to the upstream. Each chunk the function sends or receives is logged, so the
//! benchmark can tell the time a function spent waiting on its upstreams from its own.
//!
//! moto closes its connection after every answer (werkzeug's development server does), where
//! AWS's endpoints keep theirs open; a link to it ([`Upstream::ClosesEachAnswer`]) keeps the
//! function's connection open and opens a new plain one to moto per request, so the function
//! pays one TLS handshake per connection, as on AWS, and not one per call.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The server side of the benchmark's TLS: the certificate `scripts/bench-ca.py` made.
pub fn acceptor(dir: &Path) -> Result<TlsAcceptor, String> {
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}/server.pem: {e}", dir.display()))?;
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key"))
        .map_err(|e| format!("{}/server.key: {e}", dir.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| format!("TLS server: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Which way a chunk went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From the function (logged when it sent it).
    Out,
    /// To the function (logged when it got it).
    In,
}

#[derive(Debug, Clone, Copy)]
struct Chunk {
    conn: u64,
    at: Instant,
    way: Way,
}

type Log = Arc<Mutex<Vec<Chunk>>>;

/// How an upstream treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// Keeps them open between requests (the simulators).
    KeepsAlive,
    /// Closes each after its answer (moto).
    ClosesEachAnswer,
}

/// One upstream behind TLS and a delay.
pub struct Link {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    log: Log,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// `upstream` (`http://127.0.0.1:<port>`) behind TLS, `rtt` away.
    pub async fn start(
        upstream: &str,
        kind: Upstream,
        rtt: Duration,
        tls: TlsAcceptor,
    ) -> Result<Self, String> {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let log: Log = Arc::default();
        let task = tokio::spawn(serve(listener, target, kind, rtt / 2, tls, log.clone()));
        Ok(Self {
            url: format!("https://127.0.0.1:{port}"),
            log,
            task,
        })
    }

    /// The spans in which the function waited on this upstream: on each connection, from a
    /// chunk it sent after the last answer to the last chunk it got before it sent again.
    pub fn waits(&self) -> Vec<(Instant, Instant)> {
        waits_of(self.log.lock().map(|l| l.clone()).unwrap_or_default())
    }

    /// How many connections the function opened within `from..to`.
    pub fn opened(&self, from: Instant, to: Instant) -> usize {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        let mut first: std::collections::BTreeMap<u64, Instant> = Default::default();
        for c in log {
            let at = first.entry(c.conn).or_insert(c.at);
            *at = (*at).min(c.at);
        }
        first.values().filter(|&&at| from <= at && at < to).count()
    }

    /// Forgets what was logged so far.
    pub fn clear(&self) {
        if let Ok(mut l) = self.log.lock() {
            l.clear();
        }
    }
}

/// See [`Link::waits`].
fn waits_of(mut log: Vec<Chunk>) -> Vec<(Instant, Instant)> {
    log.sort_by_key(|c| (c.conn, c.at));
    let mut out = Vec::new();
    let mut open: Option<(u64, Instant, Option<Instant>)> = None;
    for c in log {
        match (open, c.way) {
            (Some((conn, start, end)), Way::Out) if conn == c.conn && end.is_none() => {
                open = Some((conn, start, None));
            }
            (Some((conn, start, end)), Way::In) if conn == c.conn => {
                open = Some((conn, start, end.max(Some(c.at))));
            }
            (prev, way) => {
                if let Some((_, start, Some(end))) = prev {
                    out.push((start, end));
                }
                // A chunk in with nothing asked (a TLS 1.3 ticket) opens nothing.
                open = (way == Way::Out).then_some((c.conn, c.at, None));
            }
        }
    }
    if let Some((_, start, Some(end))) = open {
        out.push((start, end));
    }
    out
}

/// How long at least one of `spans` was open within `from..to`.
pub fn covered(spans: &[(Instant, Instant)], from: Instant, to: Instant) -> Duration {
    let mut clipped: Vec<(Instant, Instant)> = spans
        .iter()
        .map(|&(a, b)| (a.max(from), b.min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    clipped.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (a, b) in clipped {
        current = match current {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

async fn serve(
    listener: TcpListener,
    target: String,
    kind: Upstream,
    half: Duration,
    tls: TlsAcceptor,
    log: Log,
) {
    let mut conn = 0u64;
    while let Ok((client, _)) = listener.accept().await {
        conn += 1;
        let _ = client.set_nodelay(true);
        // The wire (delayed, logged) on one side of an in-memory pipe, TLS on the other.
        let (near, far) = tokio::io::duplex(256 * 1024);
        let (client_in, client_out) = client.into_split();
        let (near_in, near_out) = tokio::io::split(near);
        tokio::spawn(delay(
            client_in,
            near_out,
            half,
            log.clone(),
            conn,
            Way::Out,
        ));
        tokio::spawn(delay(near_in, client_out, half, log.clone(), conn, Way::In));
        let (tls, target) = (tls.clone(), target.clone());
        tokio::spawn(async move {
            let Ok(mut plain) = tls.accept(far).await else {
                return;
            };
            if kind == Upstream::ClosesEachAnswer {
                let _ = one_connection_per_request(plain, &target).await;
                return;
            }
            let Ok(mut upstream) = TcpStream::connect(&target).await else {
                return;
            };
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut plain, &mut upstream).await;
        });
    }
}

/// Serves the requests of one client connection, each over its own connection to `target`,
/// which answers and closes; its `Connection: close` is dropped, so the client keeps its
/// connection (every answer is framed by its Content-Length or chunking).
async fn one_connection_per_request(
    mut client: impl AsyncRead + AsyncWrite + Unpin,
    target: &str,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let head = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if read_more(&mut client, &mut buf).await? == 0 {
                return Ok(());
            }
        };
        let body = content_length(&buf[..head]);
        while buf.len() < head + body {
            if read_more(&mut client, &mut buf).await? == 0 {
                return Ok(());
            }
        }
        let request: Vec<u8> = buf.drain(..head + body).collect();
        let mut upstream = TcpStream::connect(target).await?;
        upstream.set_nodelay(true)?;
        upstream.write_all(&request).await?;
        let mut answer = Vec::new();
        // The upstream closes after its answer; a bound, so a server that does not cannot hang
        // the bench.
        tokio::time::timeout(Duration::from_secs(30), upstream.read_to_end(&mut answer))
            .await
            .map_err(|_| std::io::Error::other("the upstream neither answered nor closed"))??;
        client.write_all(&without_close(&answer)).await?;
        client.flush().await?;
    }
}

async fn read_more(
    from: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = from.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// A request head's Content-Length (0 without one: the SDK frames every body it sends).
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// `answer` without its head's `Connection` header.
fn without_close(answer: &[u8]) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let kept: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut out = kept.join("\r\n").into_bytes();
    out.extend_from_slice(&answer[end..]);
    out
}

/// Copies `from` to `to`, each chunk `half` later than it was read, in order; logs chunks out of
/// the function when read and into it when written.
async fn delay(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    half: Duration,
    log: Log,
    conn: u64,
    way: Way,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let note = |at: Instant| {
        if let Ok(mut l) = log.lock() {
            l.push(Chunk { conn, at, way });
        }
    };
    let reader = async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            let now = Instant::now();
            if way == Way::Out {
                note(now);
            }
            if tx.send((now + half, buf[..n].to_vec())).is_err() {
                break;
            }
        }
        drop(tx);
    };
    let writer = async {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
            if way == Way::In {
                note(Instant::now());
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closing_upstreams_answer_keeps_the_clients_connection() {
        let answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(
            without_close(answer),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec()
        );
        let head = b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 17\r\n\r\n";
        assert_eq!(content_length(head), 17);
        assert_eq!(content_length(b"GET / HTTP/1.1\r\n\r\n"), 0);
    }

    #[test]
    fn covered_counts_overlapping_spans_once_and_clips_them() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let spans = [
            (ms(0), ms(10)),
            (ms(5), ms(20)),
            (ms(30), ms(40)),
            (ms(50), ms(60)),
        ];
        assert_eq!(covered(&spans, ms(0), ms(100)), Duration::from_millis(40));
        assert_eq!(covered(&spans, ms(15), ms(35)), Duration::from_millis(10));
        assert_eq!(covered(&[], ms(0), ms(10)), Duration::ZERO);
    }

    #[test]
    fn a_wait_runs_from_a_request_to_the_last_chunk_of_its_answer() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let chunk = |conn, at, way| Chunk { conn, at, way };
        let log = vec![
            // conn 1: a request in two chunks, its answer in two, then another request.
            chunk(1, ms(0), Way::Out),
            chunk(1, ms(1), Way::Out),
            chunk(1, ms(10), Way::In),
            chunk(1, ms(12), Way::In),
            chunk(1, ms(20), Way::Out),
            chunk(1, ms(30), Way::In),
            // conn 2: a chunk in before anything was asked opens nothing.
            chunk(2, ms(5), Way::In),
            chunk(2, ms(40), Way::Out),
        ];
        assert_eq!(waits_of(log), vec![(ms(0), ms(12)), (ms(20), ms(30))]);
    }
}
