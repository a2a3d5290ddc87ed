//! The data keyring (docs/operations.md, "Rotating the data key"): the current
//! `data_key` seals and digests everything new; older keys, kept by id, still
//! read what they made, so a rotation never turns a stored session unreadable.
//!
//! Every stored value names its key: `{key id}.{value}`. A value without an
//! id was stored before key ids existed; it was made by the key named
//! [`UNNAMED_KEY_ID`] (the id a `data_key` has when no `data_key_id` is given).

use std::fmt;

use thiserror::Error;

use super::ids::OutSeqNo;
use super::pii::{DataKey, Purpose, Sealed, Sealing};

/// The id of values stored before key ids existed, and of a `data_key` given no id.
pub const UNNAMED_KEY_ID: &str = "k0";

/// How many older keys may be kept: rotations are rare, and each older key
/// costs a lookup on every verify_result claim check.
pub const MAX_OLDER_KEYS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyringError {
    #[error("a data key id must be 1-32 characters of [A-Za-z0-9_-]")]
    BadId,
    #[error("data key id {0} is used twice")]
    DuplicateId(String),
    #[error("at most {MAX_OLDER_KEYS} previous data keys may be kept")]
    TooMany,
    /// A stored value names a key the keyring no longer holds: it was removed
    /// before every session it protected had expired.
    #[error(
        "data key {0} is not in the keyring: keep it in previous_data_keys until its sessions have expired"
    )]
    UnknownKey(String),
    /// The value is damaged, or was made by another key under the same id.
    #[error("a sealed value cannot be opened with data key {0}")]
    CannotOpen(String),
}

/// A data key's id: 1-32 characters of `[A-Za-z0-9_-]` (never a `.`, which
/// separates it from the value it names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(raw: &str) -> Result<Self, KeyringError> {
        super::ids::is_token(raw, 1..=32, b"_-")
            .then(|| Self(raw.to_owned()))
            .ok_or(KeyringError::BadId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The current data key and the older ones still kept for reading.
#[derive(Clone)]
pub struct DataKeyring {
    current: (KeyId, DataKey),
    older: Vec<(KeyId, DataKey)>,
}

impl DataKeyring {
    pub fn new(
        current: (KeyId, DataKey),
        older: Vec<(KeyId, DataKey)>,
    ) -> Result<Self, KeyringError> {
        if older.len() > MAX_OLDER_KEYS {
            return Err(KeyringError::TooMany);
        }
        let mut seen = vec![current.0.as_str()];
        for (id, _) in &older {
            if seen.contains(&id.as_str()) {
                return Err(KeyringError::DuplicateId(id.0.clone()));
            }
            seen.push(id.as_str());
        }
        Ok(Self { current, older })
    }

    /// One key under the unnamed id: a keyring before any rotation.
    pub fn single(key: DataKey) -> Self {
        Self {
            current: (KeyId(UNNAMED_KEY_ID.into()), key),
            older: Vec::new(),
        }
    }

    pub fn current_id(&self) -> &KeyId {
        &self.current.0
    }

    /// Every key, the current one first.
    fn keys(&self) -> impl Iterator<Item = &(KeyId, DataKey)> {
        std::iter::once(&self.current).chain(&self.older)
    }

    fn key(&self, id: &str) -> Result<&DataKey, KeyringError> {
        self.keys()
            .find(|(k, _)| k.as_str() == id)
            .map(|(_, key)| key)
            .ok_or_else(|| KeyringError::UnknownKey(id.to_owned()))
    }

    /// A stored value's key id and the value itself.
    fn split(stored: &str) -> (&str, &str) {
        stored.split_once('.').unwrap_or((UNNAMED_KEY_ID, stored))
    }

    fn named(&self, value: &str) -> String {
        format!("{}.{value}", self.current.0)
    }

    /// Seals one of a session's values under the current key.
    pub fn seal_for(&self, what: Sealing, out_seq_no: &OutSeqNo, plaintext: &str) -> Sealed {
        let sealed = self.current.1.seal_for(what, out_seq_no, plaintext);
        Sealed(self.named(&sealed.0))
    }

    /// Opens a value with the key it names.
    pub fn open_for(
        &self,
        what: Sealing,
        out_seq_no: &OutSeqNo,
        sealed: &Sealed,
    ) -> Result<String, KeyringError> {
        let (id, body) = Self::split(&sealed.0);
        self.key(id)?
            .open_for(what, out_seq_no, &Sealed(body.to_owned()))
            .map_err(|_| KeyringError::CannotOpen(id.to_owned()))
    }

    /// A keyed digest to store, under the current key.
    pub fn digest(&self, purpose: Purpose, data: &str) -> String {
        self.named(&self.current.1.digest(purpose, data))
    }

    /// Whether `data` is what the stored digest was made of, under the key it names.
    pub fn matches(
        &self,
        purpose: Purpose,
        data: &str,
        stored: &str,
    ) -> Result<bool, KeyringError> {
        let (id, hex) = Self::split(stored);
        Ok(self.key(id)?.matches(purpose, data, hex))
    }

    /// The bare digests of `data` under every key, the current one first: what
    /// a value looked up by its digest may have been stored under.
    pub fn lookup_digests(&self, purpose: Purpose, data: &str) -> Vec<String> {
        self.keys().map(|(_, k)| k.digest(purpose, data)).collect()
    }
}

impl fmt::Debug for DataKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys().map(|(id, _)| id.as_str()).collect();
        write!(f, "DataKeyring({ids:?}, keys redacted)")
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn key(b: u8) -> DataKey {
        DataKey::from_base64(&STANDARD.encode([b; 32])).unwrap()
    }
    fn id(s: &str) -> KeyId {
        KeyId::parse(s).unwrap()
    }
    fn out() -> OutSeqNo {
        OutSeqNo::parse("out-1").unwrap()
    }

    #[test]
    fn values_name_their_key_and_older_keys_still_read_them() {
        let before = DataKeyring::single(key(1));
        let sealed = before.seal_for(Sealing::CertHash, &out(), "hash");
        let digest = before.digest(Purpose::NameMd5, "md5");
        assert!(sealed.0.starts_with("k0.") && digest.starts_with("k0."));
        let after = DataKeyring::new((id("2027-01"), key(2)), vec![(id("k0"), key(1))]).unwrap();
        assert_eq!(
            after.open_for(Sealing::CertHash, &out(), &sealed).unwrap(),
            "hash"
        );
        assert_eq!(after.matches(Purpose::NameMd5, "md5", &digest), Ok(true));
        assert_eq!(after.matches(Purpose::NameMd5, "other", &digest), Ok(false));
        // New values are made by the new key, which the old ring cannot read.
        let new = after.seal_for(Sealing::CertHash, &out(), "hash");
        assert!(new.0.starts_with("2027-01."));
        assert_eq!(
            before.open_for(Sealing::CertHash, &out(), &new),
            Err(KeyringError::UnknownKey("2027-01".into()))
        );
        // Removed too early: named, not mistaken for a mismatch.
        let dropped = DataKeyring::new((id("2027-01"), key(2)), vec![]).unwrap();
        assert_eq!(
            dropped.matches(Purpose::NameMd5, "md5", &digest),
            Err(KeyringError::UnknownKey("k0".into()))
        );
    }

    #[test]
    fn values_from_before_key_ids_are_the_unnamed_keys() {
        let k = key(1);
        let bare = k.seal_for(Sealing::IdentityHash, &out(), "h");
        let bare_digest = k.digest(Purpose::IdCardMd5, "x");
        let ring =
            DataKeyring::new((id("new"), key(2)), vec![(id(UNNAMED_KEY_ID), key(1))]).unwrap();
        assert_eq!(
            ring.open_for(Sealing::IdentityHash, &out(), &bare).unwrap(),
            "h"
        );
        assert_eq!(
            ring.matches(Purpose::IdCardMd5, "x", &bare_digest),
            Ok(true)
        );
        assert_eq!(
            ring.lookup_digests(Purpose::VerifyResult, "t")[1],
            k.digest(Purpose::VerifyResult, "t")
        );
    }

    #[test]
    fn a_key_under_a_reused_id_or_a_damaged_value_cannot_open() {
        let ring = DataKeyring::single(key(1));
        let sealed = ring.seal_for(Sealing::CertHash, &out(), "hash");
        let impostor = DataKeyring::single(key(9));
        assert_eq!(
            impostor.open_for(Sealing::CertHash, &out(), &sealed),
            Err(KeyringError::CannotOpen("k0".into()))
        );
        for bad in ["k0.", ".", "k0.!!", ""] {
            assert!(
                ring.open_for(Sealing::CertHash, &out(), &Sealed(bad.into()))
                    .is_err()
            );
        }
    }

    #[test]
    fn ids_are_checked_and_keys_stay_hidden() {
        for bad in ["", "a.b", "a b", &"x".repeat(33), "ключ"] {
            assert_eq!(KeyId::parse(bad), Err(KeyringError::BadId), "{bad}");
        }
        assert_eq!(
            DataKeyring::new((id("a"), key(1)), vec![(id("a"), key(2))]).unwrap_err(),
            KeyringError::DuplicateId("a".into())
        );
        let many = (0..9).map(|i| (id(&format!("o{i}")), key(i))).collect();
        assert_eq!(
            DataKeyring::new((id("a"), key(1)), many).unwrap_err(),
            KeyringError::TooMany
        );
        let ring = DataKeyring::new((id("a"), key(1)), vec![(id("b"), key(2))]).unwrap();
        assert_eq!(
            format!("{ring:?}"),
            r#"DataKeyring(["a", "b"], keys redacted)"#
        );
    }
}
