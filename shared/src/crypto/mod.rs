//! Key material and its operations, below every other layer: the WeChat Pay
//! RSA keys (request signing, answer verification, real-name decryption)
//! and the receipt keys (ES256 signing, the JWKS).

pub mod receipt;
pub mod rsa;
