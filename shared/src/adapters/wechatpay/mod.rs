//! WeChat Pay's face-kiosk APIs (docs/wechatpay.md): APIv2 XML and its
//! MD5 / HMAC-SHA256 signatures for `get_wxpayface_authinfo`, APIv3 RSA
//! signatures and answer verification for `/v3/facemch/users/{face_sid}`,
//! and the decryption of the real-name fields.

pub mod client;
pub mod v2;
pub mod v3;

pub use client::WeChatPayClient;
pub use v2::SignType;
