//! Identifiers that cross our API or WeChat's. Each is parsed once at the edge.

use std::fmt;
use std::ops::RangeInclusive;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::error::ValidationError;

/// Which WeChat face flow a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// Legacy 1.0: getuseridkey / getinfo, result pushed to event-callback.
    V1,
    /// 2.0: getverifyid / queryverifyinfo.
    V2,
}

impl Flow {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "v1" => Ok(Self::V1),
            "v2" => Ok(Self::V2),
            _ => Err(ValidationError::Flow),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

/// 1 to `max` printable ASCII bytes: an opaque value we only pass on.
pub(crate) fn visible_ascii(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

/// `len` bytes of `[A-Za-z0-9]` and of `also`: the one rule of every id we
/// mint or accept as a plain token (out_seq_no, biz_ref, data key ids,
/// face_sid, receipt kids), so each names only its own bounds and extras.
pub(crate) fn is_token(raw: &str, len: RangeInclusive<usize>, also: &[u8]) -> bool {
    len.contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || also.contains(&b))
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        string_id!($(#[$doc])* $name, |f, v| write!(f, "{}({v:?})", stringify!($name)));
    };
    // A credential of the face flow: `Debug` names the type only.
    ($(#[$doc:meta])* $name:ident, redacted) => {
        string_id!($(#[$doc])* $name, |f, _v| write!(f, "{}(<redacted>)", stringify!($name)));
    };
    // An id a caller sends: `parse` takes a token of `$len` bytes of
    // `[A-Za-z0-9]` and `$also` (see `is_token`), and refuses the rest with `$err`.
    ($(#[$doc:meta])* $name:ident, token $len:expr, $also:literal, $err:expr) => {
        string_id!($(#[$doc])* $name);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                is_token(raw, $len, $also)
                    .then(|| Self(raw.to_owned()))
                    .ok_or($err)
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $debug:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let debug: fn(&mut fmt::Formatter<'_>, &str) -> fmt::Result = $debug;
                debug(f, &self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// Our serial number for one verification: `[A-Za-z0-9_-]{5,32}`, unique.
    OutSeqNo,
    token 5..=32, b"_-", ValidationError::OutSeqNo
);

impl OutSeqNo {
    /// 24 random bytes as 32 base64url characters: unguessable, so one
    /// session's number says nothing about another's.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        super::random::random_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }
}

string_id!(
    /// The business's own reference for a verification (docs/api.md §3.3):
    /// `[A-Za-z0-9._:-]{1,64}`, opaque to us, echoed in answers and receipts.
    BizRef,
    token 1..=64, b"._:-", ValidationError::BizRef
);

string_id!(
    /// A mini-program's appid: `wx` and 16 hex digits, as WeChat issues them
    /// (a tenant's, docs/api.md §9; `domain::tenant` reads it from a request).
    AppId
);

impl AppId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let hex = raw.strip_prefix("wx").ok_or(ValidationError::AppId)?;
        if hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::AppId)
        }
    }
}

string_id!(
    /// A mini-program user's openid, as WeChat's jscode2session returned it.
    OpenId
);

impl OpenId {
    /// Only for values that came from WeChat (jscode2session, getinfo, a push).
    pub fn from_wechat(raw: &str) -> Option<Self> {
        visible_ascii(raw, 128).then(|| Self(raw.to_owned()))
    }
}

string_id!(
    /// The 2.0 face session id from getverifyid (at most 256 characters).
    VerifyId,
    redacted
);

impl VerifyId {
    pub fn from_wechat(raw: &str) -> Option<Self> {
        visible_ascii(raw, 256).then(|| Self(raw.to_owned()))
    }
}

string_id!(
    /// The 1.0 key from getuseridkey.
    UserIdKey,
    redacted
);

impl UserIdKey {
    pub fn from_wechat(raw: &str) -> Option<Self> {
        visible_ascii(raw, 256).then(|| Self(raw.to_owned()))
    }
}

// A credential the phone hands us: visible ASCII up to a bound, exposed
// only to be sent on to WeChat, and named but never shown by `Debug`.
macro_rules! credential {
    ($(#[$doc:meta])* $name:ident, max $max:literal, $err:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                visible_ascii(raw, $max)
                    .then(|| Self(raw.to_owned()))
                    .ok_or($err)
            }
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

credential!(
    /// A wx.login code. Single use; redacted in `Debug` because it is a credential.
    LoginCode,
    max 128,
    ValidationError::LoginCode
);

credential!(
    /// The 1.0 `verifyResult` the front end got from wx.startFacialRecognitionVerify.
    /// A credential for getinfo: redacted in `Debug`.
    VerifyResultToken,
    max 1024,
    ValidationError::VerifyResult
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_seq_no_format() {
        assert!(OutSeqNo::parse("abc_-").is_ok());
        assert!(OutSeqNo::parse(&"a".repeat(32)).is_ok());
        for bad in ["abcd", &"a".repeat(33), "abc def", "abcd!", "序列号序列号"] {
            assert_eq!(
                OutSeqNo::parse(bad),
                Err(ValidationError::OutSeqNo),
                "{bad}"
            );
        }
    }

    #[test]
    fn biz_refs() {
        for ok in [
            "order-42",
            "a",
            "HIS:2026.12/x".replace('/', "_").as_str(),
            &"r".repeat(64),
        ] {
            assert!(BizRef::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            &"r".repeat(65),
            "a b",
            "订单",
            "a/b",
            "a\n",
            "x@y",
            "<script>",
        ] {
            assert_eq!(BizRef::parse(bad), Err(ValidationError::BizRef), "{bad}");
        }
    }

    #[test]
    fn generated_out_seq_nos_are_valid_and_distinct() {
        let a = OutSeqNo::generate();
        let b = OutSeqNo::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(OutSeqNo::parse(a.as_str()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn flows_and_codes() {
        assert_eq!(Flow::parse("v1"), Ok(Flow::V1));
        assert_eq!(Flow::parse("V2"), Err(ValidationError::Flow));
        assert!(LoginCode::parse("").is_err());
        assert!(LoginCode::parse("has space").is_err());
        assert!(LoginCode::parse(&"c".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", LoginCode::parse("secret").unwrap()),
            "LoginCode(<redacted>)"
        );
        let key = UserIdKey::from_wechat("e96a6009c20156a7147737d041be00a3").unwrap();
        assert_eq!(format!("{key:?}"), "UserIdKey(<redacted>)");
        assert!(!format!("{:?}", VerifyId::from_wechat("vid-1").unwrap()).contains("vid-1"));
    }
}
