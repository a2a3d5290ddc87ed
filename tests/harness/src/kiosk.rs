//! The WeChat Pay merchant secret (docs/api.md §2) for the simulator's test
//! merchant: one definition for the kiosk tests, `make dev` and the demo.

use aws_lc_rs::digest;
use serde_json::{Value, json};
use wechatpay_sim::test_keys;

/// The kiosk `make dev` registers, and its bearer token (local use only).
pub const DEV_DEVICE_ID: &str = "kiosk-001";
pub const DEV_DEVICE_TOKEN: &str = "dev-kiosk-001-token-for-local-use-only";

/// How the backend verifies WeChat Pay's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// `wechatpay_public_key_id` + `wechatpay_public_key` (`PUB_KEY_ID_…`).
    PublicKey,
    /// A platform certificate, by serial.
    PlatformCert,
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, s.as_bytes()))
}

/// The secret JSON, registering each (device id, bearer token) by its SHA-256.
pub fn merchant_secret(sign_type: &str, key_mode: KeyMode, devices: &[(&str, &str)]) -> Value {
    let mut v = json!({
        "mch_id": test_keys::MCH_ID,
        "appid": test_keys::APPID,
        "api_key": test_keys::API_KEY,
        "sign_type": sign_type,
        "merchant_serial_no": test_keys::MERCHANT_SERIAL,
        "merchant_private_key": test_keys::MERCHANT_PRIVATE_KEY,
        "devices": devices
            .iter()
            .map(|(d, t)| (d.to_string(), json!(sha256_hex(t))))
            .collect::<serde_json::Map<_, _>>(),
    });
    match key_mode {
        KeyMode::PublicKey => {
            v["wechatpay_public_key_id"] = json!(test_keys::PUBLIC_KEY_ID);
            v["wechatpay_public_key"] = json!(test_keys::PUBLIC_KEY);
        }
        KeyMode::PlatformCert => {
            v["platform_certificates"] = json!([{
                "serial_no": test_keys::PLATFORM_SERIAL,
                "certificate": test_keys::PLATFORM_CERTIFICATE,
            }]);
        }
    }
    v
}

/// The partner-mode kiosk `make dev` registers for sub-merchant A (a
/// hospital), and its bearer token (local use only).
pub const PARTNER_DEVICE_ID: &str = "ward-a-01";
pub const PARTNER_DEVICE_TOKEN: &str = "dev-ward-a-01-token-for-local-use-only";

/// Makes `secret` a service provider's: sub-merchant A (with its
/// `sub_serial_no`) and one kiosk acting for it.
pub fn add_partner(secret: &mut Value, device: &str, token: &str) {
    secret["sub_merchants"][test_keys::SUB_MCH_ID_A] = json!({
        "sub_appid": test_keys::SUB_APPID_A,
        "sub_serial_no": test_keys::SUB_MERCHANT_A_SERIAL,
    });
    secret["devices"][device] = json!({
        "token_sha256": sha256_hex(token),
        "sub_mch_id": test_keys::SUB_MCH_ID_A,
    });
}
