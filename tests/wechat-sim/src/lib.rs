//! A local simulator of the WeChat server APIs wxface calls
//! (`/work/shared/docs/wechat-face-api.md` §9): access tokens,
//! jscode2session, face verification 1.0 and 2.0, the message-push client
//! (§5: the `face_identify` event and the URL handshake), plus `/__sim/`
//! test hooks for the device side, faults, jitter and a simulated clock.

mod client;
mod clock;
mod config;
mod crypto;
mod face;
mod faults;
mod hooks;
mod push;
mod server;
mod session;
mod state;
mod tokens;
mod wx;

pub use client::{Fault, PushVerification, RunV1, SimClient};
pub use config::{PushFormat, PushMode, SimApp, SimConfig};
pub use crypto::{cert_hash, id_card_number_md5, md5_hex, name_utf8_md5};
pub use push::crypto::{PushCrypto, PushCryptoError, PushEnvelope, sha1_signature};
pub use push::{PushAttempt, PushKind};

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`RunningSim::shutdown`] waits for in-flight requests (e.g. an
/// injected delay) before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Starts the simulator on `bind` (use `127.0.0.1:0` for a free port).
/// Fails on an invalid config or when the address cannot be bound.
pub async fn start(config: SimConfig, bind: SocketAddr) -> io::Result<RunningSim> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let app = server::router(state::Sim::new(config));
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
            tracing::error!("wechat-sim server stopped: {e}");
        }
    });
    Ok(RunningSim {
        addr,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// A running simulator; it stops when shut down or dropped.
pub struct RunningSim {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`, what `WECHAT_API_BASE` should be set to.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A hook client for this simulator.
    pub fn client(&self) -> SimClient {
        SimClient::new(self.base_url())
    }

    /// Stops accepting, lets in-flight requests finish (bounded), and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl std::fmt::Debug for RunningSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSim")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        // Graceful stop in the background; nothing to await in a Drop.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
