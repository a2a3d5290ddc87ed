//! The face kiosk (docs/api.md §3.6): device authentication, the
//! authinfo cache, and the real-name lookup with its audit trail.

use std::sync::Arc;

use aws_lc_rs::digest;
use tracing::{info, warn};

use super::ServiceError;
use crate::config::{KioskSettings, MerchantSecrets};
use crate::domain::Clock;
use crate::domain::kiosk::{
    AuditRecord, AuthinfoRequest, AuthinfoToken, CachedAuthinfo, DeviceId, DeviceToken, FaceSid,
    InfoType, RealNameInfo,
};
use crate::ports::{KioskStore, MerchantSecretsSource, WeChatPay};

/// Everything the authinfo function needs, built once per container.
#[derive(Clone)]
pub struct KioskServices {
    pub settings: KioskSettings,
    pub store: Arc<dyn KioskStore>,
    pub wechatpay: Arc<dyn WeChatPay>,
    pub merchant: Arc<dyn MerchantSecretsSource>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAuthinfo {
    pub authinfo: AuthinfoToken,
    /// Seconds it stays valid from now.
    pub expires_in: i64,
    /// Served from the cache (WeChat Pay was not called).
    pub cached: bool,
}

pub struct RealNameInput {
    pub device_id: DeviceId,
    pub face_sid: FaceSid,
    pub info_type: InfoType,
}

/// The device's bearer token must hash to the SHA-256 registered for it.
pub async fn authenticate(
    svc: &KioskServices,
    device: &DeviceId,
    token: &DeviceToken,
) -> Result<Arc<MerchantSecrets>, ServiceError> {
    let m = svc.merchant.merchant_secrets().await?;
    if m.device_token_matches(device, token) {
        Ok(m)
    } else {
        info!(
            event = "unauthorized",
            device_id = device.as_str(),
            "device token refused"
        );
        Err(ServiceError::Unauthorized)
    }
}

/// Cache key: everything WeChat Pay binds an authinfo to (docs/wechatpay.md §3.4: same device,
/// same parameters), never the single-use rawdata. A JSON array keeps the
/// fields apart; the digest keeps the pk short and opaque.
pub fn cache_key(m: &MerchantSecrets, req: &AuthinfoRequest) -> String {
    let parts = serde_json::json!([
        m.appid,
        m.mch_id,
        m.sub_appid,
        m.sub_mch_id,
        req.device_id.as_str(),
        req.store_id.as_str(),
        req.store_name.as_str(),
        req.attach.as_ref().map(|a| a.as_str()),
    ]);
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"wxface/v1/authinfo\0");
    ctx.update(parts.to_string().as_bytes());
    hex::encode(ctx.finish())
}

/// An authinfo is handed out again until 80 % of its life is over, so a
/// kiosk always gets at least a fifth of its lifetime (24 min of 2 h).
pub fn reuse_margin(expires_in: i64) -> i64 {
    (expires_in / 5).max(1)
}

pub async fn authinfo(
    svc: &KioskServices,
    token: &DeviceToken,
    req: AuthinfoRequest,
) -> Result<IssuedAuthinfo, ServiceError> {
    let m = authenticate(svc, &req.device_id, token).await?;
    let key = cache_key(&m, &req);
    let now = svc.clock.now();
    if let Some(c) = svc.store.cached_authinfo(&key).await? {
        // The table's TTL deletes late: the times decide, not the item's presence.
        if now < c.reuse_until && now < c.valid_until {
            info!(
                event = "authinfo_issued",
                device_id = req.device_id.as_str(),
                cached = true,
                "authinfo from cache"
            );
            return Ok(IssuedAuthinfo {
                authinfo: c.authinfo,
                expires_in: c.valid_until - now,
                cached: true,
            });
        }
    }
    let fresh = svc.wechatpay.get_authinfo(&req).await?;
    let now = svc.clock.now();
    let entry = CachedAuthinfo {
        authinfo: fresh.authinfo.clone(),
        issued_at: now,
        valid_until: now + fresh.expires_in,
        reuse_until: now + fresh.expires_in - reuse_margin(fresh.expires_in),
    };
    // The authinfo is good either way; a failed cache write only costs the
    // next scan a WeChat Pay call.
    if let Err(e) = svc.store.cache_authinfo(&key, &entry).await {
        warn!(event = "authinfo_cache_write_failed", detail = %e, "authinfo not cached");
    }
    info!(
        event = "authinfo_issued",
        device_id = req.device_id.as_str(),
        cached = false,
        "authinfo from WeChat Pay"
    );
    Ok(IssuedAuthinfo {
        authinfo: fresh.authinfo,
        expires_in: fresh.expires_in,
        cached: false,
    })
}

/// Looks the user up, then records the lookup. Every call that reached
/// WeChat Pay is audited, failures included (outcome = the error code). On
/// success the personal data is returned only once the audit item is
/// written: no disclosure without a trace.
pub async fn real_name(
    svc: &KioskServices,
    token: &DeviceToken,
    input: RealNameInput,
) -> Result<RealNameInfo, ServiceError> {
    authenticate(svc, &input.device_id, token).await?;
    let result = svc
        .wechatpay
        .real_name(&input.face_sid, input.info_type)
        .await;
    let record = AuditRecord {
        device_id: input.device_id.clone(),
        face_sid_digest: input.face_sid.digest(),
        openid: result.as_ref().ok().and_then(|r| r.openid.clone()),
        info_type: input.info_type,
        outcome: match &result {
            Ok(_) => "ok",
            Err(e) => e.public_code(),
        },
        at: svc.clock.now(),
    };
    match result {
        Ok(info) => {
            svc.store.audit(&record).await?;
            info!(
                event = "real_name_returned",
                device_id = input.device_id.as_str(),
                info_type = input.info_type.as_str(),
                "real-name lookup answered"
            );
            Ok(info)
        }
        Err(e) => {
            if let Err(se) = svc.store.audit(&record).await {
                warn!(event = "audit_write_failed", detail = %se, "failed lookup not audited");
            }
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::merchant_test_secret as secret_json;
    use crate::domain::kiosk::{Attach, RawData, StoreId, StoreName};

    fn req(store: &str, attach: Option<&str>, rawdata: &str) -> AuthinfoRequest {
        AuthinfoRequest {
            device_id: DeviceId::parse("kiosk-001").unwrap(),
            store_id: StoreId::parse(store).unwrap(),
            store_name: StoreName::parse("门诊大厅").unwrap(),
            rawdata: RawData::parse(rawdata).unwrap(),
            attach: attach.and_then(|a| Attach::parse(a).unwrap()),
        }
    }

    #[test]
    fn cache_key_ignores_rawdata_but_not_parameters() {
        let m = MerchantSecrets::from_json("m", &secret_json().to_string()).unwrap();
        let k = cache_key(&m, &req("S1", None, "raw-1"));
        assert_eq!(k, cache_key(&m, &req("S1", None, "raw-2")));
        assert_ne!(k, cache_key(&m, &req("S2", None, "raw-1")));
        assert_ne!(k, cache_key(&m, &req("S1", Some("{}"), "raw-1")));
        assert_eq!(k.len(), 64);
        assert_eq!(reuse_margin(7200), 1440);
        assert_eq!(reuse_margin(3), 1);
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use crate::domain::kiosk::{RawData, StoreId, StoreName, real_name as pii_name};
    use crate::testing::{self, KioskFakes};

    fn kiosk() -> KioskFakes {
        testing::kiosk_services()
    }

    // sha256("abc") is registered for kiosk-001 in the test secret.
    fn token(t: &str) -> DeviceToken {
        DeviceToken::from_authorization(&format!("Bearer {t}")).unwrap()
    }

    fn request() -> AuthinfoRequest {
        AuthinfoRequest {
            device_id: DeviceId::parse("kiosk-001").unwrap(),
            store_id: StoreId::parse("S1").unwrap(),
            store_name: StoreName::parse("门诊大厅").unwrap(),
            rawdata: RawData::parse("raw").unwrap(),
            attach: None,
        }
    }

    #[tokio::test]
    async fn authinfo_is_reused_until_most_of_its_life_is_over() {
        let k = kiosk();
        let first = authinfo(&k.svc, &token("abc"), request()).await.unwrap();
        let again = authinfo(&k.svc, &token("abc"), request()).await.unwrap();
        assert!(!first.cached && again.cached);
        assert_eq!(first.authinfo, again.authinfo);
        k.clock.advance(7200 - reuse_margin(7200));
        let fresh = authinfo(&k.svc, &token("abc"), request()).await.unwrap();
        assert!(!fresh.cached);
        assert_eq!(k.pay.calls("get_authinfo"), 2);
        // A wrong token is refused before WeChat Pay.
        let refused = authinfo(&k.svc, &token("abd"), request()).await;
        assert!(matches!(refused, Err(ServiceError::Unauthorized)));
        assert_eq!(k.pay.calls("get_authinfo"), 2);
    }

    #[tokio::test]
    async fn every_lookup_is_audited_and_data_follows_the_audit() {
        let k = kiosk();
        let input = |sid: &str| RealNameInput {
            device_id: DeviceId::parse("kiosk-001").unwrap(),
            face_sid: FaceSid::parse(sid).unwrap(),
            info_type: InfoType::RealName,
        };
        k.pay.script_real_name(
            "sid-1",
            RealNameInfo {
                openid: Some("o-1".into()),
                real_name: Some(pii_name("张三").unwrap()),
                ..RealNameInfo::default()
            },
        );
        assert!(
            real_name(&k.svc, &token("abc"), input("sid-1"))
                .await
                .is_ok()
        );
        assert!(
            real_name(&k.svc, &token("abc"), input("sid-unknown"))
                .await
                .is_err()
        );
        let outcomes: Vec<_> = k.store.audits().iter().map(|a| a.outcome).collect();
        assert_eq!(outcomes, ["ok", "invalid_face_sid"]);
        // No audit, no disclosure.
        k.store.fail("audit", 1);
        assert!(matches!(
            real_name(&k.svc, &token("abc"), input("sid-1")).await,
            Err(ServiceError::Store(_))
        ));
        assert!(!format!("{:?}", k.store.audits()).contains("张三"));
    }
}
