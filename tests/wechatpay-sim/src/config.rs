//! Static configuration: one merchant, its certificate, WeChat Pay's keys.

use serde::{Deserialize, Serialize};

use crate::crypto::Keys;

/// The wechatpay-java test fixtures (`tests/testdata/wechatpay-keys/`),
/// compiled in so nothing reads them at run time. Published test keys:
/// never valid for real payments.
pub mod test_keys {
    pub const MERCHANT_PRIVATE_KEY: &str =
        include_str!("../../testdata/wechatpay-keys/merchant_private_key.pem");
    pub const MERCHANT_CERTIFICATE: &str =
        include_str!("../../testdata/wechatpay-keys/merchant_certificate.pem");
    pub const PLATFORM_PRIVATE_KEY: &str =
        include_str!("../../testdata/wechatpay-keys/wechat_pay_private_key.pem");
    pub const PLATFORM_CERTIFICATE: &str =
        include_str!("../../testdata/wechatpay-keys/wechat_pay_certificate.pem");
    /// The public half of [`PLATFORM_PRIVATE_KEY`], as WeChat Pay publishes
    /// it for public-key mode.
    pub const PUBLIC_KEY: &str =
        include_str!("../../testdata/wechatpay-keys/wechat_pay_public_key.pem");
    pub const MERCHANT_SERIAL: &str = "5F1C72E2A8931B72A2E13AF8DEE92471EB397115";
    pub const PLATFORM_SERIAL: &str = "440024045C4A427599D09BB4E3DE0279F2E813FD";
    pub const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000001";
    pub const MCH_ID: &str = "1234567891";
    pub const APPID: &str = "wx0123456789abcdef";
    /// APIv2 key (32 characters).
    pub const API_KEY: &str = "wxfacesimapikey0123456789abcdefG";
}

/// Padding of the encrypted real-name fields (docs/wechatpay.md §6.2: PKCS#1 v1.5 in practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    #[default]
    Pkcs1v15,
    OaepSha1,
}

/// Which key signs APIv3 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseSigner {
    /// The one the request's `Wechatpay-Serial` names (public key id →
    /// public key; otherwise the platform certificate), as WeChat Pay does
    /// during the migration to public keys.
    #[default]
    Auto,
    PublicKey,
    Platform,
}

/// A synthetic WeChat user the kiosk may recognise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    /// Generated when empty.
    #[serde(default)]
    pub openid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_openid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub union_id: Option<String>,
    pub name: String,
    /// 1 身份证 … 11 其他证件.
    #[serde(default = "one")]
    pub credential_type: i64,
    pub credential_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

fn one() -> i64 {
    1
}

impl SimUser {
    pub fn new(name: &str, credential_id: &str) -> Self {
        SimUser {
            openid: String::new(),
            sub_openid: None,
            union_id: None,
            name: name.to_owned(),
            credential_type: 1,
            credential_id: credential_id.to_owned(),
            phone: None,
        }
    }
}

/// Simulator configuration (`--config sim.json` for the binary; every field
/// has the test-key default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PaySimConfig {
    pub mch_id: String,
    pub appid: String,
    pub sub_mch_id: Option<String>,
    pub sub_appid: Option<String>,
    pub api_key: String,
    pub merchant_serial_no: String,
    /// Verifies requests; the real-name fields are encrypted to its key.
    pub merchant_certificate: String,
    pub platform_serial_no: String,
    pub platform_private_key: String,
    pub public_key_id: String,
    /// The private half of the WeChat Pay public key.
    pub public_key_private_key: String,
    /// `expires_in` of issued authinfos (ORIG default 7200).
    pub authinfo_expires_in: i64,
    /// Lifetime of a face_sid (UNCONFIRMED upstream; 10 minutes here).
    pub face_sid_ttl_secs: i64,
    pub padding: Padding,
    /// Accept the pre-fix spelling `ASK_UNION_ID` (off: WeChat Pay fixed it).
    pub accept_ask_union_id: bool,
    pub response_signer: ResponseSigner,
}

impl Default for PaySimConfig {
    fn default() -> Self {
        use test_keys::*;
        PaySimConfig {
            mch_id: MCH_ID.into(),
            appid: APPID.into(),
            sub_mch_id: None,
            sub_appid: None,
            api_key: API_KEY.into(),
            merchant_serial_no: MERCHANT_SERIAL.into(),
            merchant_certificate: MERCHANT_CERTIFICATE.into(),
            platform_serial_no: PLATFORM_SERIAL.into(),
            platform_private_key: PLATFORM_PRIVATE_KEY.into(),
            public_key_id: PUBLIC_KEY_ID.into(),
            public_key_private_key: PLATFORM_PRIVATE_KEY.into(),
            authinfo_expires_in: 7200,
            face_sid_ttl_secs: 600,
            padding: Padding::default(),
            accept_ask_union_id: false,
            response_signer: ResponseSigner::default(),
        }
    }
}

impl PaySimConfig {
    /// Checks the values and decodes the keys.
    pub(crate) fn load_keys(&self) -> Result<Keys, String> {
        if self.api_key.len() != 32 {
            return Err("api_key must be 32 characters".into());
        }
        if self.mch_id.is_empty() || self.appid.is_empty() {
            return Err("mch_id and appid are required".into());
        }
        if !(1..=86_400).contains(&self.authinfo_expires_in) {
            return Err("authinfo_expires_in must be in 1..=86400".into());
        }
        if !(1..=86_400).contains(&self.face_sid_ttl_secs) {
            return Err("face_sid_ttl_secs must be in 1..=86400".into());
        }
        if !self.public_key_id.starts_with("PUB_KEY_ID_") {
            return Err("public_key_id must start with PUB_KEY_ID_".into());
        }
        Keys::load(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_loads_and_partial_json_fills_in() {
        assert!(PaySimConfig::default().load_keys().is_ok());
        let c: PaySimConfig = serde_json::from_str(r#"{"padding":"oaep_sha1"}"#).unwrap();
        assert_eq!(c.padding, Padding::OaepSha1);
        assert_eq!(c.mch_id, test_keys::MCH_ID);
        let bad = PaySimConfig {
            api_key: "short".into(),
            ..PaySimConfig::default()
        };
        assert!(bad.load_keys().is_err());
        let bad = PaySimConfig {
            platform_private_key: "nope".into(),
            ..PaySimConfig::default()
        };
        assert!(bad.load_keys().is_err());
    }
}
