//! Serving a simulator's router on loopback, and its request log.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`RunningSim::shutdown`] waits for in-flight requests (e.g. an
/// injected delay) before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `app` on `bind` (use `127.0.0.1:0` for a free port). `name` labels
/// the log; `client` makes the simulator's hook client from its base URL.
pub async fn serve<C>(
    name: &'static str,
    app: Router,
    bind: SocketAddr,
    client: fn(String) -> C,
) -> io::Result<RunningSim<C>> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stop = async {
            // A dropped sender stops the server too.
            let _ = stop_rx.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!("{name} server stopped: {e}");
        }
    });
    Ok(RunningSim {
        addr,
        client,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// A running simulator; it stops when shut down or dropped. `C` is its hook
/// client.
pub struct RunningSim<C> {
    addr: SocketAddr,
    client: fn(String) -> C,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl<C> RunningSim<C> {
    /// `http://127.0.0.1:PORT`, the API base the backend is pointed at.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A hook client for this simulator.
    pub fn client(&self) -> C {
        (self.client)(self.base_url())
    }

    /// Stops accepting, lets in-flight requests finish (bounded), and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl<C> std::fmt::Debug for RunningSim<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSim")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl<C> Drop for RunningSim<C> {
    fn drop(&mut self) {
        // Graceful stop in the background; nothing to await in a Drop.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response extension the request log appends after the status (e.g.
/// `errcode=40001`).
#[derive(Debug, Clone)]
pub struct LogNote(pub String);

/// Rewrites a path that carries an identifier into its template, for the log.
type Redact = fn(&str) -> Option<&'static str>;

/// Logs `METHOD /path STATUS [note]` per request, never queries or bodies:
/// they carry secrets, tokens and personal data.
pub fn with_request_log<S: Clone + Send + Sync + 'static>(
    app: Router<S>,
    redact: Redact,
) -> Router<S> {
    app.layer(middleware::from_fn_with_state(redact, log_request))
}

async fn log_request(State(redact): State<Redact>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path();
    let path = redact(path).map_or_else(|| path.to_owned(), str::to_owned);
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    match resp.extensions().get::<LogNote>() {
        Some(LogNote(note)) => tracing::info!("{method} {path} {status} {note}"),
        None => tracing::info!("{method} {path} {status}"),
    }
    resp
}
