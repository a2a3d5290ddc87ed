//! WeChat's message push (docs/wechat.md §5), inbound: signatures, the
//! AES envelope of safe and compatible mode, and the JSON or XML bodies.

pub mod crypto;
pub mod message;

pub use crypto::{AesKey, PushCryptoError};
pub use message::{Fields, PushEvent, parse_body};
