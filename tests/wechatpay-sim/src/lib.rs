//! A local simulator of the WeChat Pay face-kiosk APIs wxface calls
//! (`wechatpay-face-api.md` §8):
//!
//! - `POST /face/get_wxpayface_authinfo` (APIv2 XML): verifies the request's
//!   MD5 / HMAC-SHA256 signature, issues an authinfo bound to the device and
//!   store, signs its answer with the request's `sign_type`;
//! - `GET /v3/facemch/users/{face_sid}` (APIv3): verifies the merchant's RSA
//!   signature, serial and 5-minute timestamp, checks the face_sid's consent
//!   and expiry, encrypts the real-name fields to the merchant certificate
//!   (PKCS#1 v1.5 by default, OAEP-SHA1 if configured), signs the answer with
//!   the platform certificate's key or the `PUB_KEY_ID_…` key, whichever the
//!   request's `Wechatpay-Serial` names;
//! - `/__sim/` hooks that play the kiosk SDK (`getWxpayfaceCode(FACE_AUTH)`,
//!   `getWxpayAuth`), count calls, inject faults and move the clock.
//!
//! Like WeChat Pay, it sees personal data (the synthetic users'); it never
//! logs it: the request log has method, path and status only.

mod client;
mod clock;
mod config;
mod crypto;
mod faults;
mod hooks;
mod server;
mod state;
mod v2;
mod v3;
mod xml;

pub use client::{FaceAuth, Fault, SimClient, SimSettings};
pub use config::{Padding, PaySimConfig, ResponseSigner, SimUser, test_keys};
pub use crypto::v2_sign;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`RunningSim::shutdown`] waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Starts the simulator on `bind` (use `127.0.0.1:0` for a free port).
/// Fails on an invalid config or when the address cannot be bound.
pub async fn start(config: PaySimConfig, bind: SocketAddr) -> io::Result<RunningSim> {
    let keys = config
        .load_keys()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let app = server::router(state::Sim::new(config, keys));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stop = async {
            let _ = stop_rx.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!("wechatpay-sim server stopped: {e}");
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
    /// `http://127.0.0.1:PORT`: both `WECHATPAY_FACE_API_BASE` and
    /// `WECHATPAY_API_BASE` point here.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
