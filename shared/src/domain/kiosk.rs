//! The face kiosk's inputs and outputs (docs/api.md §3.6), parsed once
//! at the edge. Credentials (device tokens, face_sid, authinfo) and personal
//! data (real name, credential id, phone) redact themselves in `Debug` and
//! have no `Display`, so they cannot be logged by accident.

use std::fmt;

use aws_lc_rs::digest;
use subtle::ConstantTimeEq;

use super::identity::check_char;
use super::ids::{is_token, visible_ascii};

/// Why a kiosk request field was refused; always `400 invalid_request`
/// (docs/api.md §3.6: "Field lengths as in docs/wechatpay.md §3.2").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct KioskFieldError {
    pub field: &'static str,
    pub problem: &'static str,
}

fn field_err(field: &'static str, problem: &'static str) -> KioskFieldError {
    KioskFieldError { field, problem }
}

/// 1..=max bytes of UTF-8 (WeChat Pay's `string(N)` counts bytes), none of
/// them control characters (XML 1.0 cannot carry most of them, and none
/// belongs in these fields).
fn plain_text(
    field: &'static str,
    raw: &str,
    max_bytes: usize,
    problem: &'static str,
) -> Result<String, KioskFieldError> {
    if raw.is_empty() || raw.len() > max_bytes || raw.chars().any(char::is_control) {
        return Err(field_err(field, problem));
    }
    Ok(raw.to_owned())
}

macro_rules! plain_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

plain_id!(
    /// 终端设备编号: merchant-defined, 1-32 visible ASCII characters.
    DeviceId
);

impl DeviceId {
    pub fn parse(raw: &str) -> Result<Self, KioskFieldError> {
        visible_ascii(raw, 32)
            .then(|| Self(raw.to_owned()))
            .ok_or(field_err(
                "device_id",
                "must be 1-32 visible ASCII characters",
            ))
    }
}

plain_id!(
    /// 门店编号: 1-32 bytes, no control characters.
    StoreId
);

impl StoreId {
    pub fn parse(raw: &str) -> Result<Self, KioskFieldError> {
        plain_text(
            "store_id",
            raw,
            32,
            "must be 1-32 bytes of UTF-8 without control characters",
        )
        .map(Self)
    }
}

plain_id!(
    /// 门店名称: 1-128 bytes, no control characters.
    StoreName
);

impl StoreName {
    pub fn parse(raw: &str) -> Result<Self, KioskFieldError> {
        plain_text(
            "store_name",
            raw,
            128,
            "must be 1-128 bytes of UTF-8 without control characters",
        )
        .map(Self)
    }
}

plain_id!(
    /// `getWxpayfaceRawdata`'s opaque output: 1-2048 bytes.
    RawData
);

impl RawData {
    pub fn parse(raw: &str) -> Result<Self, KioskFieldError> {
        plain_text(
            "rawdata",
            raw,
            2048,
            "must be 1-2048 bytes of UTF-8 without control characters",
        )
        .map(Self)
    }
}

plain_id!(
    /// 附加字段: a JSON object, as WeChat Pay specifies it. It gives no
    /// maximum; ours is 2048 bytes.
    Attach
);

impl Attach {
    /// `None` for an empty string: an empty value is not sent (nor signed).
    pub fn parse(raw: &str) -> Result<Option<Self>, KioskFieldError> {
        if raw.is_empty() {
            return Ok(None);
        }
        let text = plain_text(
            "attach",
            raw,
            2048,
            "must be at most 2048 bytes of UTF-8 without control characters",
        )?;
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(_)) => Ok(Some(Self(text))),
            _ => Err(field_err("attach", "must be a JSON object")),
        }
    }
}

/// Who a kiosk request says it comes from: its device and, in partner
/// mode, the sub-merchant it acts for, which must be the one the device is
/// registered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskCaller {
    pub device_id: DeviceId,
    pub sub_mch_id: Option<String>,
}

impl KioskCaller {
    /// A sub_mch_id is 1-32 digits.
    pub fn parse(device_id: &str, sub_mch_id: Option<&str>) -> Result<Self, KioskFieldError> {
        if let Some(s) = sub_mch_id
            && (!(1..=32).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(field_err("sub_mch_id", "must be 1-32 digits"));
        }
        Ok(Self {
            device_id: DeviceId::parse(device_id)?,
            sub_mch_id: sub_mch_id.map(str::to_owned),
        })
    }
}

/// What the kiosk asks `get_wxpayface_authinfo` for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthinfoRequest {
    pub caller: KioskCaller,
    pub store_id: StoreId,
    pub store_name: StoreName,
    pub rawdata: RawData,
    pub attach: Option<Attach>,
}

/// The SDK credential `get_wxpayface_authinfo` issues. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthinfoToken(String);

impl AuthinfoToken {
    /// Only for values from WeChat Pay or our cache: 1-4096 visible ASCII.
    pub fn from_upstream(raw: &str) -> Option<Self> {
        visible_ascii(raw, 4096).then(|| Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthinfoToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthinfoToken(<redacted>)")
    }
}

/// An authinfo and its lifetime in seconds, as WeChat Pay gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authinfo {
    pub authinfo: AuthinfoToken,
    pub expires_in: i64,
}

/// The credential `getWxpayfaceCode(FACE_AUTH)` returns on the kiosk: it lets
/// its holder read a consenting user's real name. Redacted in `Debug`; only a
/// digest of it is ever stored ([`Self::digest`]).
#[derive(Clone, PartialEq, Eq)]
pub struct FaceSid(String);

impl FaceSid {
    /// 1-128 of `[A-Za-z0-9_-]`, the characters WeChat Pay issues (a UUID,
    /// maybe with a suffix such as `_rt1`). Nothing else: the value becomes
    /// a segment of a signed URL path, where `.`, `..`, `/` or `%2e` would
    /// let a request be sent somewhere other than where it was signed for.
    pub fn parse(raw: &str) -> Result<Self, KioskFieldError> {
        let ok = is_token(raw, 1..=128, b"-_");
        ok.then(|| Self(raw.to_owned())).ok_or(field_err(
            "face_sid",
            "must be 1-128 characters of [A-Za-z0-9_-]",
        ))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Lowercase hex SHA-256 under a label: what the audit item keeps. A
    /// face_sid is a random, short-lived value, so an unkeyed digest cannot
    /// be inverted; the label keeps it apart from any other digest.
    pub fn digest(&self) -> String {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"wxface/v1/face_sid\0");
        ctx.update(self.0.as_bytes());
        hex::encode(ctx.finish())
    }
}

impl fmt::Debug for FaceSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaceSid(<redacted>)")
    }
}

/// `info_type` of `/v3/facemch/users/{face_sid}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoType {
    RealName,
    RealNameTel,
    UnionId,
}

impl InfoType {
    /// `ASK_UNION_ID` is the pre-v0.0.4 spelling some kiosk code still uses;
    /// it is accepted and sent as the fixed `ASK_UNIONID`.
    pub fn parse(raw: &str) -> Result<Self, KioskFieldError> {
        match raw {
            "ASK_REAL_NAME" => Ok(Self::RealName),
            "ASK_REAL_NAME_TEL" => Ok(Self::RealNameTel),
            "ASK_UNIONID" | "ASK_UNION_ID" => Ok(Self::UnionId),
            _ => Err(field_err(
                "info_type",
                "must be ASK_REAL_NAME, ASK_REAL_NAME_TEL or ASK_UNIONID",
            )),
        }
    }
    /// The value WeChat Pay expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RealName => "ASK_REAL_NAME",
            Self::RealNameTel => "ASK_REAL_NAME_TEL",
            Self::UnionId => "ASK_UNIONID",
        }
    }
    pub fn wants_real_name(self) -> bool {
        matches!(self, Self::RealName | Self::RealNameTel)
    }
}

/// A device's bearer token, as presented. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

impl DeviceToken {
    /// From an `Authorization` header value: `Bearer <1-512 visible ASCII>`
    /// (scheme case-insensitive). `None` for anything else.
    pub fn from_authorization(header: &str) -> Option<Self> {
        let (scheme, token) = header.trim().split_once(' ')?;
        let token = token.trim_start();
        (scheme.eq_ignore_ascii_case("bearer") && visible_ascii(token, 512))
            .then(|| Self(token.to_owned()))
    }

    /// Lowercase hex SHA-256, the form registered in the merchant secret.
    pub fn sha256_hex(&self) -> String {
        hex::encode(digest::digest(&digest::SHA256, self.0.as_bytes()))
    }

    /// Constant-time check against a registered lowercase hex SHA-256.
    pub fn matches(&self, registered_hex: &str) -> bool {
        self.sha256_hex()
            .as_bytes()
            .ct_eq(registered_hex.as_bytes())
            .into()
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken(<redacted>)")
    }
}

/// A personal datum from WeChat Pay (name, credential id, phone): returned
/// to the kiosk, never stored or logged. Redacted in `Debug`, no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pii(String);

impl Pii {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pii(<redacted>)")
    }
}

/// Why a decrypted field was refused (it decrypted to garbage, or to a value
/// that cannot be what it claims to be). Names the field, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} does not hold a valid value")]
pub struct InvalidPlaintext(pub &'static str);

/// A decrypted real name: 1-64 characters, no control characters, not blank.
pub fn real_name(plain: &str) -> Result<Pii, InvalidPlaintext> {
    let n = plain.chars().count();
    if plain.trim().is_empty() || n > 64 || plain.chars().any(char::is_control) {
        return Err(InvalidPlaintext("real_name"));
    }
    Ok(Pii(plain.to_owned()))
}

/// A decrypted credential number. Type 1 (身份证) must be 17 digits and the
/// right GB 11643 check character; others 1-64 non-control characters.
pub fn credential_id(credential_type: i64, plain: &str) -> Result<Pii, InvalidPlaintext> {
    let bad = InvalidPlaintext("credential_id");
    if credential_type == 1 {
        let b = plain.as_bytes();
        let ok = b.len() == 18
            && b[..17].iter().all(u8::is_ascii_digit)
            && b[17] == check_char(&b[..17]);
        return ok.then(|| Pii(plain.to_owned())).ok_or(bad);
    }
    let n = plain.chars().count();
    if n == 0 || n > 64 || plain.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad);
    }
    Ok(Pii(plain.to_owned()))
}

/// A decrypted phone number: 5-20 of `0-9 + - space`, at least 5 digits.
pub fn phone_number(plain: &str) -> Result<Pii, InvalidPlaintext> {
    let ok = (5..=20).contains(&plain.len())
        && plain
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b' '))
        && plain.bytes().filter(u8::is_ascii_digit).count() >= 5;
    ok.then(|| Pii(plain.to_owned()))
        .ok_or(InvalidPlaintext("phone_number"))
}

/// Credential types 1..=11 of the facemch schema.
pub fn valid_credential_type(t: i64) -> bool {
    (1..=11).contains(&t)
}

/// What a real-name lookup answers. In partner mode the fields stay as WeChat
/// Pay encrypted them, for the sub-merchant's key: the service provider that
/// runs this function never holds them in the clear (docs/kiosk.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealName {
    Decrypted(RealNameInfo),
    PassedThrough(EncryptedRealName),
}

impl RealName {
    pub fn ids(&self) -> &RealNameIds {
        match self {
            Self::Decrypted(i) => &i.ids,
            Self::PassedThrough(e) => &e.ids,
        }
    }
}

/// The user's ids in a real-name answer: in the clear in either mode, so
/// one type serves both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealNameIds {
    pub openid: Option<String>,
    pub sub_openid: Option<String>,
    pub union_id: Option<String>,
}

/// What `/v3/facemch/users/{face_sid}` told us, decrypted and checked.
/// Every field is optional: which ones come back depends on `info_type`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealNameInfo {
    pub ids: RealNameIds,
    pub real_name: Option<Pii>,
    pub credential_type: Option<i64>,
    pub credential_id: Option<Pii>,
    pub phone_number: Option<Pii>,
}

/// A partner-mode answer: ids in the clear, personal data still encrypted
/// to the sub-merchant's certificate (`sub_serial_no`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptedRealName {
    pub ids: RealNameIds,
    pub credential_type: Option<i64>,
    pub encrypted_real_name: Option<String>,
    pub encrypted_credential_id: Option<String>,
    pub encrypted_phone_number: Option<String>,
    /// The sub-merchant certificate the fields are encrypted to.
    pub sub_serial_no: String,
}

/// An authinfo kept for reuse by the same device and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAuthinfo {
    pub authinfo: AuthinfoToken,
    pub issued_at: i64,
    /// When WeChat Pay stops accepting it.
    pub valid_until: i64,
    /// Until when it is handed out again; after that a new one is fetched,
    /// so a kiosk never gets one about to expire.
    pub reuse_until: i64,
}

/// One real-name lookup that reached WeChat Pay: who asked, for which
/// (digested) face_sid, and how it ended. Never any personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub device_id: DeviceId,
    /// Partner mode: the sub-merchant the device acted for.
    pub sub_mch_id: Option<String>,
    /// [`FaceSid::digest`].
    pub face_sid_digest: String,
    pub openid: Option<String>,
    pub info_type: InfoType,
    /// `ok`, or the public error code the kiosk got.
    pub outcome: &'static str,
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_limits_follow_the_spec() {
        assert!(DeviceId::parse(&"d".repeat(32)).is_ok());
        for bad in ["", "has space", &"d".repeat(33), "设备"] {
            assert!(DeviceId::parse(bad).is_err(), "{bad}");
        }
        // Bytes, as WeChat Pay counts them: 门 is 3 bytes of UTF-8.
        assert!(StoreId::parse(&"门".repeat(10)).is_ok());
        assert!(StoreId::parse(&"门".repeat(11)).is_err());
        assert!(StoreId::parse(&"s".repeat(32)).is_ok());
        assert!(StoreName::parse(&"店".repeat(42)).is_ok());
        assert!(StoreName::parse(&"店".repeat(43)).is_err());
        assert!(StoreName::parse("a\nb").is_err());
        assert!(RawData::parse(&"r".repeat(2048)).is_ok());
        assert!(RawData::parse(&"r".repeat(2049)).is_err());
        assert_eq!(Attach::parse(""), Ok(None));
        assert!(Attach::parse("{\"a\":1}").unwrap().is_some());
        assert!(Attach::parse(&"a".repeat(2049)).is_err());
        for bad in ["not json", "[1]", "\"s\"", "{\"a\":"] {
            assert!(Attach::parse(bad).is_err(), "{bad}");
        }
        assert!(FaceSid::parse("bbaf113f-4171-4332-9c79-dace6d35a917_rt1").is_ok());
        assert!(FaceSid::parse("a b").is_err());
        assert!(FaceSid::parse(&"f".repeat(129)).is_err());
        // Dot segments and encodings of them would rewrite the signed path.
        for bad in [".", "..", "%2e%2e", "%2E", "a/b", "a.b", "a%2fb", "..;"] {
            assert!(FaceSid::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn info_type_spellings() {
        assert_eq!(InfoType::parse("ASK_UNION_ID"), Ok(InfoType::UnionId));
        assert_eq!(
            InfoType::parse("ASK_UNIONID").unwrap().as_str(),
            "ASK_UNIONID"
        );
        assert_eq!(InfoType::parse("ASK_REAL_NAME"), Ok(InfoType::RealName));
        assert!(InfoType::parse("ask_real_name").is_err());
        assert!(InfoType::parse("ASK_NOTHING").is_err());
    }

    #[test]
    fn device_tokens() {
        let t = DeviceToken::from_authorization("Bearer abc").unwrap();
        assert!(DeviceToken::from_authorization("bearer  abc").is_some());
        // sha256("abc")
        let h = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert!(t.matches(h));
        assert!(!t.matches(&h.to_uppercase()));
        assert!(!t.matches(&h[..63]));
        for bad in ["abc", "Basic abc", "Bearer", "Bearer ", "Bearer a b"] {
            assert!(DeviceToken::from_authorization(bad).is_none(), "{bad}");
        }
        assert_eq!(format!("{t:?}"), "DeviceToken(<redacted>)");
    }

    #[test]
    fn plaintext_validation() {
        assert!(real_name("张三").is_ok());
        assert!(real_name(" ").is_err());
        assert!(real_name("a\u{0}").is_err());
        assert!(credential_id(1, "11010519491231002X").is_ok());
        assert!(credential_id(1, "11010519491231002x").is_err());
        assert!(credential_id(1, "110105194912310021").is_err());
        assert!(credential_id(2, "E12345678").is_ok());
        assert!(credential_id(2, "").is_err());
        assert!(phone_number("+86 138-0000-0000").is_ok());
        assert!(phone_number("abc").is_err());
        let p = real_name("张三").unwrap();
        assert_eq!(format!("{p:?}"), "Pii(<redacted>)");
        let sid = FaceSid::parse("sid-1").unwrap();
        assert_eq!(format!("{sid:?}"), "FaceSid(<redacted>)");
        assert_eq!(sid.digest().len(), 64);
        assert!(!sid.digest().contains("sid-1"));
    }
}
