//! A local simulator of the WeChat Pay face-kiosk APIs wxface calls
//! (`docs/wechatpay.md` docs/wechatpay.md §8):
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
//! - partner mode (服务商模式): the merchant as service provider, signing
//!   for its configured `sub_merchants` (`sub_mch_id` / `sub_mchid`); their
//!   authinfos and face_sids are bound to the sub-merchant, and real-name
//!   fields are encrypted to the certificate `sub_serial_no` names;
//! - `/__sim/` hooks that play the kiosk SDK (`getWxpayfaceCode(FACE_AUTH)`,
//!   `getWxpayAuth`), count calls, inject faults and move the clock.
//!
//! Like WeChat Pay, it sees personal data (the synthetic users'); it never
//! logs it: the request log has method, path and status only.

mod client;
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
pub use config::{Padding, PaySimConfig, ResponseSigner, SimUser, SubMerchant, test_keys};
pub use crypto::v2_sign;

use std::io;
use std::net::SocketAddr;

/// A running simulator; it stops when shut down or dropped. Its
/// `base_url()` is what both `WECHATPAY_FACE_API_BASE` and
/// `WECHATPAY_API_BASE` point at.
pub type RunningSim = sim_kit::RunningSim<SimClient>;

/// Starts the simulator on `bind` (use `127.0.0.1:0` for a free port).
/// Fails on an invalid config or when the address cannot be bound.
pub async fn start(config: PaySimConfig, bind: SocketAddr) -> io::Result<RunningSim> {
    let keys = config
        .load_keys()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let app = server::router(state::Sim::new(config, keys));
    sim_kit::serve("wechatpay-sim", app, bind, SimClient::new).await
}
