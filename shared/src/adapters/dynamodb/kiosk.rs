//! The kiosk's items: `authinfo#<sha256>`, a cached authinfo for one device
//! and parameters, and `audit#<random>`, one real-name lookup (device,
//! face_sid digest, openid, outcome). Both carry `expires_at` (TTL). No
//! name, credential id, phone or face_sid is ever written.

use async_trait::async_trait;

use super::{DynamoStore, Item, Reader, conditional, n, s, unavailable};
use crate::domain::kiosk::{AuditRecord, AuthinfoToken, CachedAuthinfo};
use crate::error::StoreError;
use crate::ports::KioskStore;

/// How long an audit item is kept: 180 days.
pub const AUDIT_RETENTION_SECS: i64 = 180 * 86_400;

fn authinfo_pk(key: &str) -> String {
    format!("authinfo#{key}")
}

fn cached_from_item(pk: &str, item: &Item) -> Result<CachedAuthinfo, StoreError> {
    let r = Reader {
        pk: pk.to_owned(),
        item,
    };
    let authinfo = AuthinfoToken::from_upstream(r.req_s("authinfo")?)
        .ok_or_else(|| r.corrupt("authinfo is not a usable token"))?;
    Ok(CachedAuthinfo {
        authinfo,
        issued_at: r.req_n("issued_at")?,
        valid_until: r.req_n("valid_until")?,
        reuse_until: r.req_n("reuse_until")?,
    })
}

fn audit_id() -> Result<String, StoreError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| StoreError::Unavailable("no randomness available".into()))?;
    Ok(hex::encode(b))
}

#[async_trait]
impl KioskStore for DynamoStore {
    async fn cached_authinfo(&self, key: &str) -> Result<Option<CachedAuthinfo>, StoreError> {
        let pk = authinfo_pk(key);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .send()
            .await
            .map_err(unavailable)?;
        out.item
            .as_ref()
            .map(|item| cached_from_item(&pk, item))
            .transpose()
    }

    async fn cache_authinfo(&self, key: &str, entry: &CachedAuthinfo) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(authinfo_pk(key)))
            .item("kind", s("authinfo"))
            .item("authinfo", s(entry.authinfo.expose()))
            .item("issued_at", n(entry.issued_at))
            .item("valid_until", n(entry.valid_until))
            .item("reuse_until", n(entry.reuse_until))
            .item("expires_at", n(entry.valid_until))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn audit(&self, r: &AuditRecord) -> Result<(), StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("audit#{}", audit_id()?)))
            .item("kind", s("realname_audit"))
            .item("device_id", s(r.device_id.as_str()))
            .item("face_sid_sha256", s(&r.face_sid_digest))
            .item("info_type", s(r.info_type.as_str()))
            .item("outcome", s(r.outcome))
            .item("at", n(r.at))
            .item("expires_at", n(r.at + AUDIT_RETENTION_SECS))
            // A fresh random pk: never overwrite an audit item.
            .condition_expression("attribute_not_exists(pk)");
        if let Some(openid) = &r.openid {
            req = req.item("openid", s(openid));
        }
        if let Some(sub) = &r.sub_mch_id {
            req = req.item("sub_mch_id", s(sub));
        }
        // The pk is random and fresh: if it exists, a retried request whose
        // answer was lost wrote it.
        conditional(req.send().await).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_cache_items_are_reported() {
        let mut item = Item::from([
            ("authinfo".to_owned(), s("A1")),
            ("issued_at".to_owned(), n(1)),
            ("valid_until".to_owned(), n(3)),
            ("reuse_until".to_owned(), n(2)),
        ]);
        assert_eq!(cached_from_item("p", &item).unwrap().reuse_until, 2);
        item.insert("valid_until".into(), s("x"));
        assert!(matches!(
            cached_from_item("p", &item),
            Err(StoreError::Corrupt { .. })
        ));
        item.insert("valid_until".into(), n(3));
        item.insert("authinfo".into(), s("has space"));
        assert!(cached_from_item("p", &item).is_err());
    }
}
