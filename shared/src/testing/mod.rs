//! In-memory implementations of every port, with the same conditions as the
//! real adapters (a final state is written once, a verify_result is claimed
//! by one session, the first push is kept), so the services' rules get unit
//! tests without AWS or WeChat. Faults are injected per operation. One file
//! per port family; the fixtures (the test app's secrets, the services on
//! fakes, the people) here.

mod events;
mod secrets;
mod store;
mod wechat;
mod wechatpay;

pub use events::{MemBus, MemScheduler};
pub use secrets::{CountingSource, MemVault, StaticSecret};
pub use store::MemStore;
pub use wechat::{FakeWeChat, GetInfo};
pub use wechatpay::FakeWeChatPay;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::KioskSettings;
use crate::config::{
    AppSecrets, IdentitySecret, MerchantSecrets, PushMode, Settings, WeChatCredentials,
};
use crate::domain::kiosk::{AuthinfoRequest, KioskCaller, RawData, StoreId, StoreName};
use crate::domain::{
    GetInfoEvidence, IdCardNumber, ManualClock, OpenId, OutSeqNo, PersonName, Session,
    SessionState, UserIdKey, VerifyId, VerifyResultToken,
};
use crate::service::{KioskServices, Services};
use crate::upstream::Upstream;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Operations whose next calls can be made to fail.
#[derive(Debug, Default)]
struct Faults(Mutex<HashMap<&'static str, u32>>);

impl Faults {
    fn fail(&self, op: &'static str, times: u32) {
        lock(&self.0).insert(op, times);
    }
    /// Whether this call of `op` fails (and counts it down).
    fn hit(&self, op: &'static str) -> bool {
        let mut f = lock(&self.0);
        match f.get_mut(op) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

/// An upstream's fakes' ledger: every call counted, and the next calls made
/// to fail on demand.
#[derive(Debug, Default)]
struct Upstreams {
    calls: Mutex<HashMap<&'static str, u32>>,
    faults: Faults,
}

impl Upstreams {
    fn fail(&self, op: Upstream, times: u32) {
        self.faults.fail(op.name(), times);
    }
    fn calls(&self, op: Upstream) -> u32 {
        lock(&self.calls)
            .get(op.name())
            .copied()
            .unwrap_or_default()
    }
    /// Counts a call of `op`; whether it is to fail.
    fn call(&self, op: Upstream) -> bool {
        *lock(&self.calls).entry(op.name()).or_default() += 1;
        self.faults.hit(op.name())
    }
}

/// The receipt key of the test app secret (generated once per process).
pub fn receipt_key_pem() -> &'static str {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(crate::crypto::receipt::generate_pem)
}

/// An app secret with a fixed data key and a receipt key, as tests need one.
pub fn app_secrets() -> AppSecrets {
    AppSecrets::from_json("app", &app_secrets_json().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// The tests' `identity_key` (base64).
pub const IDENTITY_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The identity secret the fakes hand issue-key.
pub fn identity_secret() -> IdentitySecret {
    IdentitySecret::from_json(
        "identity",
        &serde_json::json!({"identity_key": IDENTITY_KEY}).to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The test app secret's JSON.
pub fn app_secrets_json() -> serde_json::Value {
    serde_json::json!({
        "receipt_keys": [{"kid": "test-1", "private_key": receipt_key_pem()}],
        "appid": "wx-test-app",
        "data_key": STANDARD.encode([7u8; 32]),
    })
}

/// The tests' WeChat credentials.
pub fn wechat_credentials() -> WeChatCredentials {
    let json = serde_json::json!({
        "appsecret": "secret",
        "push_token": "push-token",
        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    });
    WeChatCredentials::from_json("wechat", &json.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// The mini-program services on fakes, and handles to steer them.
pub struct Fakes {
    pub svc: Services,
    pub store: Arc<MemStore>,
    pub wechat: Arc<FakeWeChat>,
    pub clock: Arc<ManualClock>,
}

pub fn services() -> Fakes {
    services_with(|_| {})
}

pub fn services_with(tweak: impl FnOnce(&mut Settings)) -> Fakes {
    let mut settings = Settings::from_lookup(|k| {
        let v = match k {
            "SESSIONS_TABLE" => "table",
            "WECHAT_APP_SECRET_ID" => "app",
            "ACCESS_TOKEN_SECRET_ID" => "token",
            _ => return None,
        };
        Some(v.to_owned())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    settings.push_mode = PushMode::Safe;
    tweak(&mut settings);
    let store = Arc::new(MemStore::default());
    let wechat = Arc::new(FakeWeChat::default());
    let clock = Arc::new(ManualClock::new());
    let svc = Services {
        settings,
        store: store.clone(),
        wechat: wechat.clone(),
        secrets: Arc::new(StaticSecret::new(app_secrets())),
        identity: Arc::new(StaticSecret::new(identity_secret())),
        clock: clock.clone(),
        tenants: None,
        tenant: None,
    };
    Fakes {
        svc,
        store,
        wechat,
        clock,
    }
}

/// Digests already seen, for "nothing was consumed" checks.
pub fn claims_of(store: &MemStore) -> HashSet<String> {
    lock(&store.claims).keys().cloned().collect()
}

/// A person the tests verify: 曾浩, whose MD5s a real getinfo showed.
pub const NAME: &str = "曾浩";
pub const ID_CARD: &str = "11010519491231002X";

impl Fakes {
    /// A pending 1.0 session for `openid`, as issue-key would have stored it.
    pub fn v1_session(&self, openid: &str) -> Session {
        use crate::domain::pii::{Purpose, md5_hex};
        let key = app_secrets().data_keys;
        let now = crate::domain::Clock::now(self.clock.as_ref());
        let session = Session {
            out_seq_no: OutSeqNo::generate(),
            openid: OpenId::from_wechat(openid).unwrap_or_else(|| panic!("openid")),
            created_at: now,
            valid_until: now + crate::domain::session::SESSION_TTL_SECS,
            binding: crate::domain::FlowBinding::V1 {
                user_id_key: UserIdKey::from_wechat(&self.wechat.mint("uik-"))
                    .unwrap_or_else(|| panic!("user_id_key")),
                name_md5_digest: key.digest(Purpose::NameMd5, &md5_hex(NAME)),
                id_md5_digest: key.digest(Purpose::IdCardMd5, &md5_hex(ID_CARD)),
            },
            state: SessionState::Pending,
            pushed_verify_result: None,
            biz_ref: None,
            identity_hash: None,
        };
        let session = Session {
            identity_hash: Some(key.seal_for(
                crate::domain::Sealing::IdentityHash,
                &session.out_seq_no,
                &crate::domain::receipt::identity_hash(
                    &crate::testing::identity_secret().identity_key,
                    &session.out_seq_no,
                    &PersonName::parse(NAME).unwrap_or_else(|_| panic!("name")),
                    &IdCardNumber::parse(ID_CARD).unwrap_or_else(|_| panic!("id")),
                ),
            )),
            ..session
        };
        self.store.put_session(session.clone());
        session
    }

    /// A pending 2.0 session for `openid`: a v1 session's fields with a
    /// verify_id and its sealed cert_hash.
    pub fn v2_session(&self, openid: &str) -> Session {
        let v1 = self.v1_session(openid);
        let cert_hash = app_secrets().data_keys.seal_for(
            crate::domain::Sealing::CertHash,
            &v1.out_seq_no,
            &crate::domain::pii::cert_hash("IDENTITY_CARD", NAME, ID_CARD),
        );
        let session = Session {
            binding: crate::domain::FlowBinding::V2 {
                verify_id: VerifyId::from_wechat(&self.wechat.mint("vid-"))
                    .unwrap_or_else(|| panic!("verify_id")),
                cert_hash,
            },
            ..v1
        };
        self.store.put_session(session.clone());
        session
    }

    /// What getinfo reports for a face check of `session` by its owner.
    pub fn evidence(session: &Session, identify_ret: i64) -> GetInfoEvidence {
        use crate::domain::pii::md5_hex;
        let crate::domain::FlowBinding::V1 { user_id_key, .. } = &session.binding else {
            panic!("not a v1 session");
        };
        GetInfoEvidence {
            identify_ret,
            openid: session.openid.as_str().to_owned(),
            user_id_key: user_id_key.as_str().to_owned(),
            name_utf8_md5: md5_hex(NAME),
            id_card_number_md5: md5_hex(ID_CARD),
        }
    }

    /// A verify_result WeChat knows, answering getinfo with `evidence`.
    pub fn verify_result(&self, evidence: GetInfoEvidence) -> VerifyResultToken {
        let token = self.wechat.mint("vr-");
        self.wechat
            .script_getinfo(&token, GetInfo::Evidence(evidence));
        VerifyResultToken::parse(&token).unwrap_or_else(|_| panic!("verify_result"))
    }
}

/// A valid kiosk request from `device` (no sub-merchant claimed).
pub fn authinfo_request(device: &str, store: &str, rawdata: &str) -> AuthinfoRequest {
    AuthinfoRequest {
        caller: KioskCaller::parse(device, None).unwrap(),
        store_id: StoreId::parse(store).unwrap(),
        store_name: StoreName::parse("门诊大厅").unwrap(),
        rawdata: RawData::parse(rawdata).unwrap(),
        attach: None,
    }
}

/// The kiosk services on fakes, with the test merchant (device `kiosk-001`,
/// bearer token `abc`), and handles to steer them.
pub struct KioskFakes {
    pub svc: KioskServices,
    pub store: Arc<MemStore>,
    pub pay: Arc<FakeWeChatPay>,
    pub clock: Arc<ManualClock>,
}

#[cfg(test)]
pub fn kiosk_services() -> KioskFakes {
    let json = crate::config::merchant_test_secret().to_string();
    let m = MerchantSecrets::from_json("m", &json).unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(MemStore::default());
    let pay = Arc::new(FakeWeChatPay::default());
    let clock = Arc::new(ManualClock::new());
    let settings = KioskSettings::from_lookup(|k| match k {
        "SESSIONS_TABLE" | "MERCHANT_SECRET_ID" => Some("x".into()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    KioskFakes {
        svc: KioskServices {
            settings,
            store: store.clone(),
            wechatpay: pay.clone(),
            merchant: Arc::new(StaticSecret::new(m)),
            clock: clock.clone(),
        },
        store,
        pay,
        clock,
    }
}
