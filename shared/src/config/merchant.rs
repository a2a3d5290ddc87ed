//! The `MERCHANT_SECRET_ID` secret (docs/api.md §2), parsed and checked once
//! per container: keys are decoded at load, so a bad key is a configuration
//! error naming the field, never a failure in the middle of a request.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::crypto::rsa::{MerchantKey, ResponseKeys, VerifyingKey, normalize_serial};
use crate::domain::kiosk::{DeviceId, DeviceToken};
use crate::error::ConfigError;

/// APIv2's two signature types (docs/wechatpay.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    Md5,
    HmacSha256,
}

impl SignType {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "MD5" => Some(Self::Md5),
            "HMAC-SHA256" => Some(Self::HmacSha256),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::HmacSha256 => "HMAC-SHA256",
        }
    }
}

/// The merchant's WeChat Pay credentials. `Debug` shows ids only.
pub struct MerchantSecrets {
    pub mch_id: String,
    pub appid: String,
    /// APIv2 key (32 characters).
    pub api_key: String,
    pub sign_type: SignType,
    /// Serial of the merchant API certificate (uppercase hex).
    pub merchant_serial_no: String,
    pub merchant_key: MerchantKey,
    pub response_keys: ResponseKeys,
    /// Partner mode (服务商模式): the provider's sub-merchants, by sub_mch_id.
    pub sub_merchants: HashMap<String, SubMerchant>,
    devices: HashMap<String, Device>,
}

/// A sub-merchant (a hospital) a service provider acts for. WeChat Pay
/// encrypts its users' real-name fields to the certificate `sub_serial_no`
/// names, whose private key only the sub-merchant holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubMerchant {
    pub sub_mch_id: String,
    pub sub_appid: Option<String>,
    /// Uppercase hex, no leading zeros.
    pub sub_serial_no: String,
}

/// A registered kiosk: its token's SHA-256, and in partner mode the one
/// sub-merchant (and store, if given) it may act for.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    token_sha256: String,
    pub sub_mch_id: Option<String>,
    pub store_id: Option<String>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("sub_mch_id", &self.sub_mch_id)
            .field("store_id", &self.store_id)
            .finish_non_exhaustive()
    }
}

/// A device as the secret writes it: its token's SHA-256 alone (direct
/// mode, the original format), or with its sub-merchant and store.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDevice {
    Hash(String),
    Partner {
        token_sha256: Option<String>,
        sub_mch_id: Option<Value>,
        store_id: Option<String>,
    },
}

#[derive(Deserialize)]
struct RawSubMerchant {
    sub_appid: Option<String>,
    sub_serial_no: Option<String>,
    /// The sub-merchant's API certificate (public), to check the serial.
    certificate: Option<String>,
}

#[derive(Deserialize)]
struct RawCert {
    serial_no: Option<String>,
    certificate: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    mch_id: Option<Value>,
    appid: Option<String>,
    sub_mch_id: Option<Value>,
    sub_appid: Option<String>,
    api_key: Option<String>,
    sign_type: Option<String>,
    merchant_serial_no: Option<String>,
    merchant_private_key: Option<String>,
    wechatpay_public_key_id: Option<String>,
    wechatpay_public_key: Option<String>,
    platform_certificates: Option<Vec<RawCert>>,
    sub_merchants: Option<HashMap<String, RawSubMerchant>>,
    devices: Option<HashMap<String, RawDevice>>,
}

/// An id WeChat Pay takes as a string, written either as a string or a number.
fn id_value(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl MerchantSecrets {
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, ConfigError> {
        let field = super::field_error(secret_id);
        let raw: Raw = super::secret_json(secret_id, json)?;
        let present = trimmed;
        let mch_id = id_value(raw.mch_id).ok_or_else(|| field("mch_id", "is missing"))?;
        if !(1..=32).contains(&mch_id.len()) || !mch_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(field("mch_id", "must be 1-32 digits"));
        }
        let appid = present(raw.appid).ok_or_else(|| field("appid", "is missing"))?;
        // The older single sub-merchant had no serial to seal its users' real names to, so
        // they would pass through the provider in the clear (实名信息不得经过服务商服务器).
        if id_value(raw.sub_mch_id).is_some() || present(raw.sub_appid).is_some() {
            return Err(field(
                "sub_mch_id",
                "at the top level is no longer accepted: register the sub-merchant under \
                 sub_merchants (\"<sub_mch_id>\": {\"sub_serial_no\": \"…\", \"sub_appid\": …}) and name \
                 its sub_mch_id in each of its kiosks' devices entry (docs/kiosk.md)",
            ));
        }
        let api_key = present(raw.api_key).ok_or_else(|| field("api_key", "is missing"))?;
        if api_key.len() != 32 || !api_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(field("api_key", "must be 32 characters of [A-Za-z0-9]"));
        }
        let sign_type = present(raw.sign_type)
            .ok_or_else(|| field("sign_type", "is missing"))
            .and_then(|s| {
                SignType::parse(&s).ok_or_else(|| field("sign_type", "must be MD5 or HMAC-SHA256"))
            })?;
        let (merchant_serial_no, merchant_key) =
            merchant_key(&field, raw.merchant_serial_no, raw.merchant_private_key)?;

        let response_keys = response_keys(
            &field,
            raw.wechatpay_public_key_id,
            raw.wechatpay_public_key,
            raw.platform_certificates,
        )?;
        let sub_merchants = sub_merchants(&field, raw.sub_merchants)?;
        let devices = devices(&field, raw.devices, &sub_merchants)?;
        Ok(Self {
            mch_id,
            appid,
            api_key,
            sign_type,
            merchant_serial_no: normalize_serial(&merchant_serial_no),
            merchant_key,
            response_keys,
            sub_merchants,
            devices,
        })
    }

    /// The registered device, if `token` is the one registered for it: its
    /// SHA-256 compared in constant time. An unknown device is compared
    /// against a dummy value, so timing says nothing about which exist.
    pub fn device(&self, device: &DeviceId, token: &DeviceToken) -> Option<&Device> {
        const NONE: &str = "0000000000000000000000000000000000000000000000000000000000000000";
        match self.devices.get(device.as_str()) {
            Some(d) => token.matches(&d.token_sha256).then_some(d),
            None => {
                let _ = token.matches(NONE);
                None
            }
        }
    }

    /// The sub-merchant a device acts for, in partner mode.
    pub fn sub_merchant_of(&self, device: &Device) -> Option<&SubMerchant> {
        device
            .sub_mch_id
            .as_ref()
            .and_then(|id| self.sub_merchants.get(id))
    }

    /// Whether `token` is the one registered for `device`.
    pub fn device_token_matches(&self, device: &DeviceId, token: &DeviceToken) -> bool {
        self.device(device, token).is_some()
    }
}

impl fmt::Debug for MerchantSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantSecrets")
            .field("mch_id", &self.mch_id)
            .field("appid", &self.appid)
            .field("sign_type", &self.sign_type)
            .field("devices", &self.devices.len())
            .field("sub_merchants", &self.sub_merchants.len())
            .finish_non_exhaustive()
    }
}

/// A field's error: `field(name, problem)`.
type Field<'a> = &'a dyn Fn(&'static str, &'static str) -> ConfigError;

fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The merchant's API key (APIv3 requests are signed with it) and its certificate's serial.
fn merchant_key(
    field: Field<'_>,
    serial: Option<String>,
    pem: Option<String>,
) -> Result<(String, MerchantKey), ConfigError> {
    let serial = trimmed(serial).ok_or_else(|| field("merchant_serial_no", "is missing"))?;
    if !is_hex(&serial) {
        return Err(field("merchant_serial_no", "must be hexadecimal"));
    }
    let pem = trimmed(pem).ok_or_else(|| field("merchant_private_key", "is missing"))?;
    let key = MerchantKey::from_pem(&pem).map_err(|_| {
        field(
            "merchant_private_key",
            "is not a PEM RSA private key (PKCS#8 or PKCS#1)",
        )
    })?;
    Ok((serial, key))
}

/// What WeChat Pay's answers are verified with: its public key, or platform certificates.
fn response_keys(
    field: Field<'_>,
    key_id: Option<String>,
    key_pem: Option<String>,
    certs: Option<Vec<RawCert>>,
) -> Result<ResponseKeys, ConfigError> {
    let present = trimmed;
    let public_key = match (present(key_id), present(key_pem)) {
        (None, None) => None,
        (Some(id), Some(pem)) => {
            if !id.starts_with("PUB_KEY_ID_") || !id.is_ascii() || id.len() > 64 {
                return Err(field("wechatpay_public_key_id", "must be PUB_KEY_ID_…"));
            }
            let key = VerifyingKey::from_pem(&pem)
                .map_err(|_| field("wechatpay_public_key", "is not a PEM RSA public key"))?;
            Some((id, key))
        }
        (Some(_), None) => return Err(field("wechatpay_public_key", "is missing")),
        (None, Some(_)) => return Err(field("wechatpay_public_key_id", "is missing")),
    };
    let mut certificates = Vec::new();
    for c in certs.unwrap_or_default() {
        let serial = present(c.serial_no)
            .ok_or_else(|| field("platform_certificates[].serial_no", "is missing"))?;
        let pem = present(c.certificate)
            .ok_or_else(|| field("platform_certificates[].certificate", "is missing"))?;
        let (key, cert_serial) = VerifyingKey::from_certificate_pem(&pem).map_err(|_| {
            field(
                "platform_certificates[].certificate",
                "is not a PEM X.509 certificate with an RSA key",
            )
        })?;
        if normalize_serial(&serial) != cert_serial {
            return Err(field(
                "platform_certificates[].serial_no",
                "does not match the certificate's serial number",
            ));
        }
        certificates.push((cert_serial, key));
    }
    if public_key.is_none() && certificates.is_empty() {
        return Err(field(
            "wechatpay_public_key",
            "or a platform certificate is required to verify WeChat Pay's answers",
        ));
    }

    Ok(ResponseKeys {
        public_key,
        certificates,
    })
}

/// Partner mode's sub-merchants, each with the serial its users' real names are sealed to.
fn sub_merchants(
    field: Field<'_>,
    raw: Option<HashMap<String, RawSubMerchant>>,
) -> Result<HashMap<String, SubMerchant>, ConfigError> {
    let present = trimmed;
    let mut sub_merchants = HashMap::new();
    for (id, sub) in raw.unwrap_or_default() {
        let bad = |problem| field("sub_merchants", problem);
        if !(1..=32).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("must be keyed by sub_mch_id (1-32 digits)"));
        }
        let serial = present(sub.sub_serial_no)
            .filter(|s| is_hex(s))
            .ok_or_else(|| bad("needs each sub-merchant's sub_serial_no (hexadecimal)"))?;
        let serial = normalize_serial(&serial);
        if let Some(pem) = present(sub.certificate) {
            let (_, cert_serial) = VerifyingKey::from_certificate_pem(&pem)
                .map_err(|_| bad("has a certificate that is not a PEM X.509 RSA certificate"))?;
            if cert_serial != serial {
                return Err(bad(
                    "has a sub_serial_no that is not its certificate's serial",
                ));
            }
        }
        let sub = SubMerchant {
            sub_mch_id: id.clone(),
            sub_appid: present(sub.sub_appid),
            sub_serial_no: serial,
        };
        sub_merchants.insert(id, sub);
    }

    Ok(sub_merchants)
}

/// The kiosks: each device id's token hash, and in partner mode its sub-merchant and store.
fn devices(
    field: Field<'_>,
    raw: Option<HashMap<String, RawDevice>>,
    sub_merchants: &HashMap<String, SubMerchant>,
) -> Result<HashMap<String, Device>, ConfigError> {
    let present = trimmed;
    let mut devices = HashMap::new();
    for (id, raw_device) in raw.ok_or_else(|| field("devices", "is missing"))? {
        if DeviceId::parse(&id).is_err() {
            return Err(field(
                "devices",
                "has a device id that is not 1-32 visible ASCII",
            ));
        }
        let device = match raw_device {
            RawDevice::Hash(h) => Device {
                token_sha256: h,
                sub_mch_id: None,
                store_id: None,
            },
            RawDevice::Partner {
                token_sha256,
                sub_mch_id,
                store_id,
            } => Device {
                token_sha256: token_sha256.unwrap_or_default(),
                sub_mch_id: id_value(sub_mch_id),
                store_id: present(store_id),
            },
        };
        let hash = &device.token_sha256;
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(field(
                "devices",
                "must map each device id to a lowercase hex SHA-256",
            ));
        }
        if device
            .sub_mch_id
            .as_ref()
            .is_some_and(|s| !sub_merchants.contains_key(s))
        {
            return Err(field(
                "devices",
                "names a sub_mch_id that sub_merchants does not list",
            ));
        }
        devices.insert(id, device);
    }

    Ok(devices)
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::crypto::rsa::test_keys::*;

    pub(crate) fn secret_json() -> Value {
        json!({
            "mch_id": "1234567891",
            "appid": "wx0123456789abcdef",
            "sub_mch_id": null,
            "sub_appid": null,
            "api_key": "192006250b4c09247ec02edce69f6a2d",
            "sign_type": "HMAC-SHA256",
            "merchant_serial_no": MERCHANT_SERIAL,
            "merchant_private_key": MERCHANT_KEY,
            "wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000001",
            "wechatpay_public_key": PUBLIC_KEY,
            "platform_certificates": [{"serial_no": PLATFORM_SERIAL, "certificate": PLATFORM_CERT}],
            // sha256("abc")
            "devices": {"kiosk-001": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
        })
    }

    /// A service provider with two sub-merchants, one kiosk each (bearer
    /// tokens `token-a` and `token-b`), kiosk A bound to store S-A.
    pub(crate) fn partner_secret_json() -> Value {
        let hash = |t: &str| {
            DeviceToken::from_authorization(&format!("Bearer {t}"))
                .unwrap()
                .sha256_hex()
        };
        let mut v = secret_json();
        v["sub_merchants"] = json!({
            "1900000109": {"sub_appid": "wxsub0000000000a1", "sub_serial_no": "6B2F4A1C9E83D75F20A4C1B7E95D3F8012AB34CD"},
            "1900000110": {"sub_serial_no": "7C3E5B2D0F94E86A31B5D2C8FA6E4091BC45DE01"},
        });
        v["devices"] = json!({
            "kiosk-001": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "kiosk-a": {"token_sha256": hash("token-a"), "sub_mch_id": "1900000109", "store_id": "S-A"},
            "kiosk-b": {"token_sha256": hash("token-b"), "sub_mch_id": 1900000110},
        });
        v
    }

    #[test]
    fn partner_mode_fields_parse_and_are_checked() {
        let m = parse(&partner_secret_json()).unwrap();
        let token = |t: &str| DeviceToken::from_authorization(&format!("Bearer {t}")).unwrap();
        let a = m
            .device(&DeviceId::parse("kiosk-a").unwrap(), &token("token-a"))
            .unwrap();
        assert_eq!(
            (a.sub_mch_id.as_deref(), a.store_id.as_deref()),
            (Some("1900000109"), Some("S-A"))
        );
        let sub = m.sub_merchant_of(a).unwrap();
        assert_eq!(sub.sub_appid.as_deref(), Some("wxsub0000000000a1"));
        assert!(
            m.device(&DeviceId::parse("kiosk-a").unwrap(), &token("token-b"))
                .is_none()
        );
        // The original format still holds: a direct-mode device.
        let direct = m
            .device(&DeviceId::parse("kiosk-001").unwrap(), &token("abc"))
            .unwrap();
        assert!(m.sub_merchant_of(direct).is_none());
        let mut v = partner_secret_json();
        v["devices"]["kiosk-b"]["sub_mch_id"] = json!("1900000999");
        assert!(parse(&v).unwrap_err().to_string().contains("devices"));
        let mut v = partner_secret_json();
        v["sub_merchants"]["1900000110"]["sub_serial_no"] = json!("not hex");
        assert!(parse(&v).unwrap_err().to_string().contains("sub_merchants"));
        // A certificate given with the serial must be the serial's.
        let mut v = partner_secret_json();
        v["sub_merchants"]["1900000109"]["certificate"] = json!(MERCHANT_CERT);
        assert!(parse(&v).unwrap_err().to_string().contains("sub_serial_no"));
        assert!(!format!("{m:?}").contains("token"));
    }

    /// The older single sub-merchant (a top-level sub_mch_id, no serial) would have WeChat Pay
    /// encrypt its users' real names to the provider: refused at load, saying what to write.
    #[test]
    fn a_top_level_sub_merchant_is_refused_with_what_to_write_instead() {
        for (key, value) in [
            ("sub_mch_id", json!("1900000109")),
            ("sub_mch_id", json!(1900000109)),
            ("sub_appid", json!("wxsub0000000000a1")),
        ] {
            let mut v = partner_secret_json();
            v[key] = value;
            let e = parse(&v).unwrap_err().to_string();
            assert!(
                e.contains("sub_mch_id")
                    && e.contains("sub_merchants")
                    && e.contains("sub_serial_no"),
                "{e}"
            );
        }
        // null, as the original template wrote it, is still read.
        let mut v = partner_secret_json();
        v["sub_mch_id"] = Value::Null;
        v["sub_appid"] = Value::Null;
        assert!(parse(&v).is_ok());
    }

    fn parse(v: &Value) -> Result<MerchantSecrets, ConfigError> {
        MerchantSecrets::from_json("merchant", &v.to_string())
    }

    #[test]
    fn the_documented_shape_parses_and_debug_hides_keys() {
        let m = parse(&secret_json()).unwrap();
        assert_eq!(m.sign_type, SignType::HmacSha256);
        assert!(m.response_keys.public_key.is_some());
        assert_eq!(m.response_keys.certificates.len(), 1);
        let dbg = format!("{m:?}");
        assert!(
            !dbg.contains("192006250b4c") && !dbg.contains("PRIVATE"),
            "{dbg}"
        );
        let dev = DeviceId::parse("kiosk-001").unwrap();
        let good = DeviceToken::from_authorization("Bearer abc").unwrap();
        let bad = DeviceToken::from_authorization("Bearer abd").unwrap();
        assert!(m.device_token_matches(&dev, &good));
        assert!(!m.device_token_matches(&dev, &bad));
        assert!(!m.device_token_matches(&DeviceId::parse("kiosk-002").unwrap(), &good));
        // A numeric mch_id is read as a string.
        let mut v = secret_json();
        v["mch_id"] = json!(1234567891);
        assert_eq!(parse(&v).unwrap().mch_id, "1234567891");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("mch_id", Value::Null, "mch_id"),
            ("mch_id", json!("12ab"), "mch_id"),
            ("api_key", json!("short"), "api_key"),
            ("sign_type", json!("SHA1"), "sign_type"),
            ("sign_type", Value::Null, "sign_type"),
            ("merchant_serial_no", json!("xyz"), "merchant_serial_no"),
            (
                "merchant_private_key",
                json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
                "merchant_private_key",
            ),
            (
                "wechatpay_public_key",
                json!("nope"),
                "wechatpay_public_key",
            ),
            (
                "wechatpay_public_key_id",
                json!("KEY_1"),
                "wechatpay_public_key_id",
            ),
            (
                "wechatpay_public_key_id",
                Value::Null,
                "wechatpay_public_key_id",
            ),
            ("devices", json!({"kiosk-001": "ABC"}), "devices"),
            ("devices", Value::Null, "devices"),
        ];
        for (key, value, named) in cases {
            let mut v = secret_json();
            if value.is_null() {
                v.as_object_mut().unwrap().remove(key);
            } else {
                v[key] = value;
            }
            let err = parse(&v).unwrap_err().to_string();
            assert!(err.contains(named), "{key}: {err}");
            assert!(!err.contains("192006250b4c"), "{err}");
        }
        let mut v = secret_json();
        v["platform_certificates"][0]["serial_no"] = json!("1234");
        assert!(parse(&v).unwrap_err().to_string().contains("serial"));
        let mut v = secret_json();
        v["platform_certificates"] = json!([]);
        v.as_object_mut().unwrap().remove("wechatpay_public_key");
        v.as_object_mut().unwrap().remove("wechatpay_public_key_id");
        assert!(parse(&v).is_err(), "no way to verify answers");
        assert!(MerchantSecrets::from_json("m", "[]").is_err());
        // Either mode alone is enough.
        let mut v = secret_json();
        v["platform_certificates"] = json!([]);
        assert!(parse(&v).is_ok());
        let mut v = secret_json();
        v.as_object_mut().unwrap().remove("wechatpay_public_key");
        v.as_object_mut().unwrap().remove("wechatpay_public_key_id");
        assert!(parse(&v).is_ok());
    }
}
