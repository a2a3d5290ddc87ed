//! Static configuration: one merchant, its certificate, its sub-merchants
//! (partner mode), WeChat Pay's keys.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

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

    // Partner mode (服务商模式): two sub-merchants (hospitals) of the
    // merchant above acting as service provider. Generated for this project
    // (not SDK fixtures), test only.
    pub const SUB_MERCHANT_A_PRIVATE_KEY: &str =
        include_str!("../../testdata/wechatpay-keys/sub_merchant_private_key.pem");
    pub const SUB_MERCHANT_A_CERTIFICATE: &str =
        include_str!("../../testdata/wechatpay-keys/sub_merchant_certificate.pem");
    pub const SUB_MERCHANT_A_SERIAL: &str = "6B2F4A1C9E83D75F20A4C1B7E95D3F8012AB34CD";
    pub const SUB_MCH_ID_A: &str = "1900000109";
    pub const SUB_APPID_A: &str = "wxsub0000000000a1";
    pub const SUB_MERCHANT_B_PRIVATE_KEY: &str =
        include_str!("../../testdata/wechatpay-keys/sub_merchant_b_private_key.pem");
    pub const SUB_MERCHANT_B_CERTIFICATE: &str =
        include_str!("../../testdata/wechatpay-keys/sub_merchant_b_certificate.pem");
    pub const SUB_MERCHANT_B_SERIAL: &str = "7C3E5B2D0F94E86A31B5D2C8FA6E4091BC45DE01";
    pub const SUB_MCH_ID_B: &str = "1900000110";
    pub const SUB_APPID_B: &str = "wxsub0000000000b2";
}

/// A sub-merchant (子商户, a hospital) the configured merchant serves as
/// service provider (服务商模式).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubMerchant {
    pub sub_mch_id: String,
    /// The sub-merchant's own appid; requests may name it, and its users'
    /// `sub_openid`s are under it.
    #[serde(default)]
    pub sub_appid: Option<String>,
    /// Serial of its API certificate: what `sub_serial_no` must name.
    pub serial_no: String,
    /// Its API certificate (PEM); the real-name fields are encrypted to it.
    pub certificate: String,
}

impl SubMerchant {
    /// Sub-merchant A of the test keys.
    pub fn test_a() -> Self {
        use test_keys::*;
        SubMerchant {
            sub_mch_id: SUB_MCH_ID_A.into(),
            sub_appid: Some(SUB_APPID_A.into()),
            serial_no: SUB_MERCHANT_A_SERIAL.into(),
            certificate: SUB_MERCHANT_A_CERTIFICATE.into(),
        }
    }

    /// Sub-merchant B of the test keys.
    pub fn test_b() -> Self {
        use test_keys::*;
        SubMerchant {
            sub_mch_id: SUB_MCH_ID_B.into(),
            sub_appid: Some(SUB_APPID_B.into()),
            serial_no: SUB_MERCHANT_B_SERIAL.into(),
            certificate: SUB_MERCHANT_B_CERTIFICATE.into(),
        }
    }
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
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    /// Generated when empty.
    #[serde(default)]
    pub openid: String,
    /// Answered as is when set; otherwise, in partner mode, derived from
    /// `openid` and the sub-merchant's `sub_appid`.
    #[serde(default)]
    pub sub_openid: Option<String>,
    #[serde(default)]
    pub union_id: Option<String>,
    pub name: String,
    /// 1 身份证 … 11 其他证件.
    #[serde(default = "one")]
    pub credential_type: i64,
    pub credential_id: String,
    #[serde(default)]
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
    /// Pins partner mode to one sub-merchant (one of `sub_merchants`): every
    /// request must name it, direct-mode ones are refused. `None`: requests
    /// may name any of `sub_merchants`, or none (direct mode).
    pub sub_mch_id: Option<String>,
    /// With `sub_mch_id`: requests must also send this `sub_appid` (the
    /// pinned sub-merchant's).
    pub sub_appid: Option<String>,
    /// Partner mode: the sub-merchants this merchant is service provider of.
    pub sub_merchants: Vec<SubMerchant>,
    pub api_key: String,
    pub merchant_serial_no: String,
    /// Verifies requests; in direct mode the real-name fields are encrypted
    /// to its key.
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
            sub_merchants: vec![SubMerchant::test_a(), SubMerchant::test_b()],
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
        for (i, sub) in self.sub_merchants.iter().enumerate() {
            if sub.sub_mch_id.is_empty() || sub.sub_mch_id == self.mch_id {
                return Err("sub_merchants[].sub_mch_id must be set and not mch_id".into());
            }
            if self.sub_merchants[..i]
                .iter()
                .any(|s| s.sub_mch_id == sub.sub_mch_id)
            {
                return Err(format!(
                    "sub_merchants: sub_mch_id {} twice",
                    sub.sub_mch_id
                ));
            }
        }
        match (&self.sub_mch_id, &self.sub_appid) {
            (None, None) => {}
            (None, Some(_)) => return Err("sub_appid needs sub_mch_id".into()),
            (Some(pin), appid) => {
                let sub = self
                    .sub_merchant(pin)
                    .ok_or("sub_mch_id must be one of sub_merchants")?;
                if appid.is_some() && appid != &sub.sub_appid {
                    return Err("sub_appid must be that sub-merchant's sub_appid".into());
                }
            }
        }
        Keys::load(self)
    }

    pub(crate) fn sub_merchant(&self, sub_mch_id: &str) -> Option<&SubMerchant> {
        self.sub_merchants
            .iter()
            .find(|s| s.sub_mch_id == sub_mch_id)
    }

    /// The sub-merchant a request names by `sub_mch_id` (APIv2) or
    /// `sub_mchid` (APIv3), checked with its `sub_appid`; `Ok(None)` is
    /// direct mode. Empty values count as absent, as in APIv2 signing.
    pub(crate) fn resolve_sub(
        &self,
        sub_mch_id: Option<&str>,
        sub_appid: Option<&str>,
    ) -> Result<Option<&SubMerchant>, SubRefusal> {
        let sub_mch_id = sub_mch_id.filter(|v| !v.is_empty());
        let sub_appid = sub_appid.filter(|v| !v.is_empty());
        if self.sub_mch_id.is_some() && sub_mch_id != self.sub_mch_id.as_deref() {
            return Err(SubRefusal::SubMchId);
        }
        let Some(id) = sub_mch_id else {
            return Ok(None);
        };
        let sub = self.sub_merchant(id).ok_or(SubRefusal::SubMchId)?;
        let pinned = self.sub_appid.is_some() && sub_appid != self.sub_appid.as_deref();
        if pinned || sub_appid.is_some_and(|a| Some(a) != sub.sub_appid.as_deref()) {
            return Err(SubRefusal::SubAppid);
        }
        Ok(Some(sub))
    }
}

/// Why a request's sub-merchant ids are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubRefusal {
    /// Not a sub-merchant of this provider (or not the pinned one).
    SubMchId,
    /// Not that sub-merchant's appid.
    SubAppid,
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
