//! A local simulator of the WeChat server APIs wxface calls
//! (`docs/wechat.md` docs/wechat.md §9): access tokens, jscode2session, face
//! verification 1.0 and 2.0, the message-push client (docs/wechat.md §5: the
//! `face_identify` event and the URL handshake), plus `/__sim/` test hooks
//! for the device side, faults, jitter and a simulated clock.

mod client;
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

/// A running simulator; it stops when shut down or dropped.
pub type RunningSim = sim_kit::RunningSim<SimClient>;

/// Starts the simulator on `bind` (use `127.0.0.1:0` for a free port).
/// Fails on an invalid config or when the address cannot be bound.
pub async fn start(config: SimConfig, bind: SocketAddr) -> io::Result<RunningSim> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let app = server::router(state::Sim::new(config));
    sim_kit::serve("wechat-sim", app, bind, SimClient::new).await
}
