//! The face kiosk (docs/api.md §3.6): device authentication, the
//! authinfo cache, and the real-name lookup with its audit trail.

use std::sync::Arc;

use aws_lc_rs::digest;
use tracing::{info, warn};

use super::ServiceError;
use crate::config::{Device, KioskSettings, MerchantSecrets, SubMerchant};
use crate::domain::Clock;
use crate::domain::kiosk::{
    AuditRecord, AuthinfoRequest, AuthinfoToken, CachedAuthinfo, DeviceToken, FaceSid, InfoType,
    KioskCaller, RealName,
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
    pub caller: KioskCaller,
    pub face_sid: FaceSid,
    pub info_type: InfoType,
}

/// Who a request acts for: the merchant, and in partner mode the one
/// sub-merchant the device is registered to.
pub struct Acting {
    pub merchant: Arc<MerchantSecrets>,
    pub sub: Option<SubMerchant>,
    device: Device,
}

/// The device's bearer token must hash to the SHA-256 registered for it
/// (else 401), and a device acts only for its own sub-merchant and store
/// (else 403): decided here, before anything is sent to WeChat Pay.
pub async fn authenticate(
    svc: &KioskServices,
    caller: &KioskCaller,
    token: &DeviceToken,
) -> Result<Acting, ServiceError> {
    let (device_id, claimed_sub_mch_id) = (&caller.device_id, caller.sub_mch_id.as_deref());
    let m = svc.merchant.merchant_secrets().await?;
    let Some(device) = m.device(device_id, token).cloned() else {
        info!(
            event = "unauthorized",
            device_id = device_id.as_str(),
            "device token refused"
        );
        return Err(ServiceError::Unauthorized);
    };
    if claimed_sub_mch_id.is_some() && claimed_sub_mch_id != device.sub_mch_id.as_deref() {
        info!(
            event = "forbidden",
            device_id = device_id.as_str(),
            "the device is not registered to that sub-merchant"
        );
        return Err(ServiceError::DeviceNotAllowed("sub_mch_id"));
    }
    let sub = m.sub_merchant_of(&device).cloned();
    Ok(Acting {
        merchant: m,
        sub,
        device,
    })
}

/// Cache key: everything WeChat Pay binds an authinfo to (docs/wechatpay.md §3.4: same device,
/// same parameters), never the single-use rawdata. A JSON array keeps the
/// fields apart; the digest keeps the pk short and opaque.
pub fn cache_key(m: &MerchantSecrets, sub: Option<&SubMerchant>, req: &AuthinfoRequest) -> String {
    let (sub_appid, sub_mch_id) = crate::adapters::wechatpay::client::sub_ids(sub);
    let parts = serde_json::json!([
        m.appid,
        m.mch_id,
        sub_appid,
        sub_mch_id,
        req.caller.device_id.as_str(),
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
    let acting = authenticate(svc, &req.caller, token).await?;
    if let Some(store) = &acting.device.store_id
        && store != req.store_id.as_str()
    {
        info!(
            event = "forbidden",
            device_id = req.caller.device_id.as_str(),
            "the device is registered to another store"
        );
        return Err(ServiceError::DeviceNotAllowed("store_id"));
    }
    let sub = acting.sub.as_ref();
    let key = cache_key(&acting.merchant, sub, &req);
    let now = svc.clock.now();
    if let Some(c) = svc.store.cached_authinfo(&key).await? {
        // The table's TTL deletes late: the times decide, not the item's presence.
        if now < c.reuse_until && now < c.valid_until {
            info!(
                event = "authinfo_issued",
                device_id = req.caller.device_id.as_str(),
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
    let fresh = svc.wechatpay.get_authinfo(&req, sub).await?;
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
        device_id = req.caller.device_id.as_str(),
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
) -> Result<RealName, ServiceError> {
    let acting = authenticate(svc, &input.caller, token).await?;
    let result = svc
        .wechatpay
        .real_name(&input.face_sid, input.info_type, acting.sub.as_ref())
        .await;
    let openid = result.as_ref().ok().and_then(|r| r.ids().openid.clone());
    let record = AuditRecord {
        device_id: input.caller.device_id.clone(),
        sub_mch_id: acting.sub.as_ref().map(|s| s.sub_mch_id.clone()),
        face_sid_digest: input.face_sid.digest(),
        openid,
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
                device_id = input.caller.device_id.as_str(),
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
    use crate::domain::kiosk::Attach;

    fn req(store: &str, attach: Option<&str>, rawdata: &str) -> AuthinfoRequest {
        AuthinfoRequest {
            attach: attach.and_then(|a| Attach::parse(a).unwrap()),
            ..crate::testing::authinfo_request("kiosk-001", store, rawdata)
        }
    }

    #[test]
    fn cache_key_ignores_rawdata_but_not_parameters() {
        let m = MerchantSecrets::from_json("m", &secret_json().to_string()).unwrap();
        let k = cache_key(&m, None, &req("S1", None, "raw-1"));
        assert_eq!(k, cache_key(&m, None, &req("S1", None, "raw-2")));
        assert_ne!(k, cache_key(&m, None, &req("S2", None, "raw-1")));
        assert_ne!(k, cache_key(&m, None, &req("S1", Some("{}"), "raw-1")));
        assert_eq!(k.len(), 64);
        assert_eq!(reuse_margin(7200), 1440);
        assert_eq!(reuse_margin(3), 1);
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use crate::domain::kiosk::{StoreId, real_name as pii_name};
    use crate::testing::{self, KioskFakes};

    fn kiosk() -> KioskFakes {
        testing::kiosk_services()
    }

    // sha256("abc") is registered for kiosk-001 in the test secret.
    fn token(t: &str) -> DeviceToken {
        DeviceToken::from_authorization(&format!("Bearer {t}")).unwrap()
    }

    fn request() -> AuthinfoRequest {
        testing::authinfo_request("kiosk-001", "S1", "raw")
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
        assert_eq!(
            k.pay.calls(crate::upstream::Upstream::GetWxpayfaceAuthinfo),
            2
        );
        // A wrong token is refused before WeChat Pay.
        let refused = authinfo(&k.svc, &token("abd"), request()).await;
        assert!(matches!(refused, Err(ServiceError::Unauthorized)));
        assert_eq!(
            k.pay.calls(crate::upstream::Upstream::GetWxpayfaceAuthinfo),
            2
        );
    }

    #[tokio::test]
    async fn a_device_acts_only_for_its_own_sub_merchant_and_store() {
        let mut k = kiosk();
        let partner =
            MerchantSecrets::from_json("m", &crate::config::partner_secret_json().to_string())
                .unwrap();
        k.svc.merchant = std::sync::Arc::new(testing::StaticSecret::new(partner));
        let as_device = |device: &str, sub: Option<&str>, store: &str| AuthinfoRequest {
            caller: KioskCaller::parse(device, sub).unwrap(),
            store_id: StoreId::parse(store).unwrap(),
            ..request()
        };
        // Its own: fine (named or not).
        assert!(
            authinfo(
                &k.svc,
                &token("token-a"),
                as_device("kiosk-a", Some("1900000109"), "S-A")
            )
            .await
            .is_ok()
        );
        assert!(
            authinfo(&k.svc, &token("token-b"), as_device("kiosk-b", None, "any"))
                .await
                .is_ok()
        );
        let calls = k.pay.calls(crate::upstream::Upstream::GetWxpayfaceAuthinfo);
        // The other sub-merchant, or another store: refused, nothing called.
        for (device, t, sub, store) in [
            ("kiosk-a", "token-a", Some("1900000110"), "S-A"),
            ("kiosk-b", "token-b", Some("1900000109"), "any"),
            ("kiosk-a", "token-a", None, "S-B"),
            ("kiosk-001", "abc", Some("1900000109"), "S1"),
        ] {
            let r = authinfo(&k.svc, &token(t), as_device(device, sub, store)).await;
            assert!(
                matches!(r, Err(ServiceError::DeviceNotAllowed(_))),
                "{device} {sub:?} {store}: {r:?}"
            );
        }
        let sid = |s: &str| RealNameInput {
            caller: KioskCaller::parse("kiosk-a", Some("1900000110")).unwrap(),
            face_sid: FaceSid::parse(s).unwrap(),
            info_type: InfoType::RealName,
        };
        assert!(matches!(
            real_name(&k.svc, &token("token-a"), sid("sid-1")).await,
            Err(ServiceError::DeviceNotAllowed(_))
        ));
        assert_eq!(
            k.pay.calls(crate::upstream::Upstream::GetWxpayfaceAuthinfo),
            calls
        );
        assert_eq!(k.pay.calls(crate::upstream::Upstream::FacemchUsers), 0);
    }

    #[tokio::test]
    async fn every_lookup_is_audited_and_data_follows_the_audit() {
        let k = kiosk();
        let input = |sid: &str| RealNameInput {
            caller: KioskCaller::parse("kiosk-001", None).unwrap(),
            face_sid: FaceSid::parse(sid).unwrap(),
            info_type: InfoType::RealName,
        };
        k.pay.script_real_name(
            "sid-1",
            crate::domain::kiosk::RealNameInfo {
                ids: crate::domain::kiosk::RealNameIds {
                    openid: Some("o-1".into()),
                    ..Default::default()
                },
                real_name: Some(pii_name("张三").unwrap()),
                ..crate::domain::kiosk::RealNameInfo::default()
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
