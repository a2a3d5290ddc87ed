//! In-memory implementations of every port, with the same conditions as the
//! real adapters (a final state is written once, a verify_result is claimed
//! by one session, the first push is kept), so the services' rules get unit
//! tests without AWS or WeChat. Faults are injected per operation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::KioskSettings;
use crate::config::{
    AppSecrets, IdentitySecret, MerchantSecrets, PushMode, Settings, SubMerchant, WeChatCredentials,
};
use crate::domain::event::FinalizedEvent;
use crate::domain::kiosk::{
    AuditRecord, Authinfo, AuthinfoRequest, AuthinfoToken, CachedAuthinfo, FaceSid, InfoType,
    KioskCaller, RawData, RealName, RealNameInfo, StoreId, StoreName,
};
use crate::domain::reconcile::Check;
use crate::domain::{
    FinalResult, GetInfoEvidence, IdCardNumber, LoginCode, ManualClock, OpenId, OutSeqNo,
    PersonName, Sealed, Session, SessionState, UserIdKey, VerifyId, VerifyResultToken,
};
use crate::error::{
    ConfigError, EventBusError, SchedulerError, StoreError, WeChatError, WeChatPayError,
};
use crate::ports::{
    AppSecretsSource, CheckScheduler, EventBus, Finalized, IdentityKeySource, IssueSlot,
    KioskStore, MerchantSecretsSource, SessionStore, StoredToken, TokenLease, TokenSource,
    TokenVault, WeChat, WeChatPay,
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

/// The sessions table in memory: sessions, verify_result claims, rate
/// windows, the token lease, the kiosk cache and audit items.
#[derive(Debug, Default)]
pub struct MemStore {
    sessions: Mutex<HashMap<String, Session>>,
    claims: Mutex<HashMap<String, OutSeqNo>>,
    /// The tokens of the slots taken, by (openid, window).
    rate: Mutex<HashMap<(String, i64), HashSet<String>>>,
    lease: Mutex<Option<(String, i64)>>,
    authinfo: Mutex<HashMap<String, CachedAuthinfo>>,
    audits: Mutex<Vec<AuditRecord>>,
    /// When each session was last claimed for a check (lookup's limit).
    checked_at: Mutex<HashMap<String, i64>>,
    faults: Faults,
}

impl MemStore {
    /// The next `times` calls of `op` (a trait method's name) fail as if the
    /// table were unavailable.
    pub fn fail(&self, op: &'static str, times: u32) {
        self.faults.fail(op, times);
    }
    fn check(&self, op: &'static str) -> Result<(), StoreError> {
        if self.faults.hit(op) {
            return Err(StoreError::Unavailable(format!("injected fault in {op}")));
        }
        Ok(())
    }
    pub fn session(&self, out_seq_no: &OutSeqNo) -> Option<Session> {
        lock(&self.sessions).get(out_seq_no.as_str()).cloned()
    }
    pub fn put_session(&self, session: Session) {
        lock(&self.sessions).insert(session.out_seq_no.as_str().to_owned(), session);
    }
    pub fn claim_owner(&self, digest: &str) -> Option<OutSeqNo> {
        lock(&self.claims).get(digest).cloned()
    }
    pub fn audits(&self) -> Vec<AuditRecord> {
        lock(&self.audits).clone()
    }
}

#[async_trait]
impl SessionStore for MemStore {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        self.check("insert")?;
        let mut all = lock(&self.sessions);
        if all.contains_key(session.out_seq_no.as_str()) {
            return Err(StoreError::Duplicate);
        }
        all.insert(session.out_seq_no.as_str().to_owned(), session.clone());
        Ok(())
    }

    async fn get(&self, out_seq_no: &OutSeqNo) -> Result<Option<Session>, StoreError> {
        self.check("get")?;
        Ok(self.session(out_seq_no))
    }

    async fn finalize(
        &self,
        out_seq_no: &OutSeqNo,
        result: &FinalResult,
        consume: Option<&str>,
    ) -> Result<Finalized, StoreError> {
        self.check("finalize")?;
        if let Some(digest) = consume {
            let mut claims = lock(&self.claims);
            match claims.get(digest) {
                Some(owner) if owner != out_seq_no => return Ok(Finalized::VerifyResultTaken),
                _ => {
                    claims.insert(digest.to_owned(), out_seq_no.clone());
                }
            }
        }
        let mut all = lock(&self.sessions);
        let session = all
            .get_mut(out_seq_no.as_str())
            .ok_or_else(|| StoreError::Corrupt {
                pk: out_seq_no.to_string(),
                problem: "no such session".into(),
            })?;
        match &session.state {
            SessionState::Final(winner) => Ok(Finalized::AlreadyFinal(winner.clone())),
            SessionState::Pending => {
                session.state = SessionState::Final(result.clone());
                Ok(Finalized::Applied)
            }
        }
    }

    async fn record_push(
        &self,
        out_seq_no: &OutSeqNo,
        sealed: &Sealed,
    ) -> Result<bool, StoreError> {
        self.check("record_push")?;
        let mut all = lock(&self.sessions);
        match all.get_mut(out_seq_no.as_str()) {
            Some(s) if s.state == SessionState::Pending && s.pushed_verify_result.is_none() => {
                s.pushed_verify_result = Some(sealed.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn claim_check(
        &self,
        out_seq_no: &OutSeqNo,
        now: i64,
        cutoff: i64,
    ) -> Result<bool, StoreError> {
        self.check("claim_check")?;
        let pending = lock(&self.sessions)
            .get(out_seq_no.as_str())
            .is_some_and(|s| s.state == SessionState::Pending);
        let mut checked = lock(&self.checked_at);
        let free = checked
            .get(out_seq_no.as_str())
            .is_none_or(|&at| at <= cutoff);
        if pending && free {
            checked.insert(out_seq_no.as_str().to_owned(), now);
        }
        Ok(pending && free)
    }

    async fn verify_result_owner(&self, digest: &str) -> Result<Option<OutSeqNo>, StoreError> {
        self.check("verify_result_owner")?;
        Ok(self.claim_owner(digest))
    }

    async fn take_issue_slot(
        &self,
        openid: &OpenId,
        window_start: i64,
        limit: u32,
    ) -> Result<Option<IssueSlot>, StoreError> {
        self.check("take_issue_slot")?;
        let mut rate = lock(&self.rate);
        let tokens = rate
            .entry((openid.as_str().to_owned(), window_start))
            .or_default();
        if tokens.len() >= limit as usize {
            return Ok(None);
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let token = format!(
            "slot-{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        tokens.insert(token.clone());
        Ok(Some(IssueSlot {
            openid: openid.clone(),
            window_start,
            token,
        }))
    }

    async fn give_back_issue_slot(&self, slot: &IssueSlot) -> Result<(), StoreError> {
        self.check("give_back_issue_slot")?;
        let mut rate = lock(&self.rate);
        if let Some(tokens) = rate.get_mut(&(slot.openid.as_str().to_owned(), slot.window_start)) {
            tokens.remove(&slot.token);
        }
        Ok(())
    }
}

#[async_trait]
impl TokenLease for MemStore {
    async fn try_acquire(&self, holder: &str, now: i64, until: i64) -> Result<bool, WeChatError> {
        let mut lease = lock(&self.lease);
        match &*lease {
            Some((_, u)) if *u > now => Ok(false),
            _ => {
                *lease = Some((holder.to_owned(), until));
                Ok(true)
            }
        }
    }

    async fn release(&self, holder: &str) -> Result<(), WeChatError> {
        let mut lease = lock(&self.lease);
        if lease.as_ref().is_some_and(|(h, _)| h == holder) {
            *lease = None;
        }
        Ok(())
    }
}

#[async_trait]
impl KioskStore for MemStore {
    async fn cached_authinfo(&self, key: &str) -> Result<Option<CachedAuthinfo>, StoreError> {
        self.check("cached_authinfo")?;
        Ok(lock(&self.authinfo).get(key).cloned())
    }

    async fn cache_authinfo(&self, key: &str, entry: &CachedAuthinfo) -> Result<(), StoreError> {
        self.check("cache_authinfo")?;
        lock(&self.authinfo).insert(key.to_owned(), entry.clone());
        Ok(())
    }

    async fn audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        self.check("audit")?;
        lock(&self.audits).push(record.clone());
        Ok(())
    }
}

/// How the fake WeChat answers getinfo for one verify_result.
#[derive(Debug, Clone)]
pub enum GetInfo {
    Evidence(GetInfoEvidence),
    Errcode(i64),
    Unavailable,
}

/// WeChat in memory: login codes map to openids, sessions it issued are
/// remembered, answers are scripted, every call is counted.
#[derive(Debug, Default)]
pub struct FakeWeChat {
    codes: Mutex<HashMap<String, OpenId>>,
    getinfo: Mutex<HashMap<String, GetInfo>>,
    verify_ret: Mutex<HashMap<String, i64>>,
    calls: Mutex<BTreeMap<&'static str, u32>>,
    next_id: Mutex<u32>,
    faults: Faults,
}

impl FakeWeChat {
    /// A one-time login code for `openid`.
    pub fn code_for(&self, openid: &str) -> LoginCode {
        let mut n = lock(&self.next_id);
        *n += 1;
        let code = format!("code-{}", *n);
        let openid = OpenId::from_wechat(openid).unwrap_or_else(|| panic!("bad openid {openid}"));
        lock(&self.codes).insert(code.clone(), openid);
        LoginCode::parse(&code).unwrap_or_else(|_| panic!("bad code {code}"))
    }
    pub fn script_getinfo(&self, verify_result: &str, answer: GetInfo) {
        lock(&self.getinfo).insert(verify_result.to_owned(), answer);
    }
    pub fn script_verify_ret(&self, verify_id: &VerifyId, verify_ret: i64) {
        lock(&self.verify_ret).insert(verify_id.as_str().to_owned(), verify_ret);
    }
    /// The next `times` calls of `op` fail as unavailable.
    pub fn fail(&self, op: Upstream, times: u32) {
        self.faults.fail(op.name(), times);
    }
    pub fn calls(&self, op: Upstream) -> u32 {
        lock(&self.calls)
            .get(op.name())
            .copied()
            .unwrap_or_default()
    }

    /// A call that issues a fresh handle (valid an hour).
    fn issue<T>(
        &self,
        op: Upstream,
        prefix: &str,
        from_wechat: fn(&str) -> Option<T>,
    ) -> Result<(T, i64), WeChatError> {
        self.called(op)?;
        let handle = from_wechat(&self.mint(prefix))
            .ok_or_else(|| WeChatError::Malformed(format!("{op}: a malformed handle")))?;
        Ok((handle, 3600))
    }

    fn called(&self, op: Upstream) -> Result<(), WeChatError> {
        *lock(&self.calls).entry(op.name()).or_default() += 1;
        if self.faults.hit(op.name()) {
            return Err(WeChatError::Unavailable(format!("injected fault in {op}")));
        }
        Ok(())
    }
    fn mint(&self, prefix: &str) -> String {
        let mut n = lock(&self.next_id);
        *n += 1;
        format!("{prefix}{:08x}", *n)
    }
}

#[async_trait]
impl WeChat for FakeWeChat {
    async fn login(&self, code: &LoginCode) -> Result<OpenId, WeChatError> {
        self.called(Upstream::Jscode2session)?;
        lock(&self.codes)
            .remove(code.expose())
            .ok_or(WeChatError::Api {
                errcode: 40029,
                errmsg: "invalid code".into(),
            })
    }

    async fn get_verify_id(
        &self,
        _out_seq_no: &OutSeqNo,
        _name: &PersonName,
        _id: &IdCardNumber,
        _openid: &OpenId,
    ) -> Result<(VerifyId, i64), WeChatError> {
        self.issue(Upstream::Getverifyid, "vid-", VerifyId::from_wechat)
    }

    async fn query_verify_info(
        &self,
        verify_id: &VerifyId,
        _out_seq_no: &OutSeqNo,
        _cert_hash: &str,
        _openid: &OpenId,
    ) -> Result<i64, WeChatError> {
        self.called(Upstream::Queryverifyinfo)?;
        Ok(lock(&self.verify_ret)
            .get(verify_id.as_str())
            .copied()
            .unwrap_or(10300))
    }

    async fn get_user_id_key(
        &self,
        _name: &PersonName,
        _id: &IdCardNumber,
        _out_seq_no: &OutSeqNo,
    ) -> Result<(UserIdKey, i64), WeChatError> {
        self.issue(Upstream::Getuseridkey, "uik-", UserIdKey::from_wechat)
    }

    async fn get_info(
        &self,
        verify_result: &VerifyResultToken,
    ) -> Result<GetInfoEvidence, WeChatError> {
        self.called(Upstream::Getinfo)?;
        match lock(&self.getinfo).get(verify_result.expose()).cloned() {
            Some(GetInfo::Evidence(e)) => Ok(e),
            Some(GetInfo::Errcode(errcode)) => Err(WeChatError::Api {
                errcode,
                errmsg: "scripted".into(),
            }),
            Some(GetInfo::Unavailable) => Err(WeChatError::Unavailable("scripted".into())),
            None => Err(WeChatError::Api {
                errcode: 84001,
                errmsg: "invalid identify id".into(),
            }),
        }
    }
}

/// The event bus in memory: every event it took, in order. `refuse_nth`
/// makes the next call refuse its nth event (and take the others, as
/// PutEvents does); `down` fails every call.
/// The checks booked, in order; `down` makes booking fail.
#[derive(Default)]
pub struct MemScheduler {
    pub booked: Mutex<Vec<Check>>,
    pub down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl CheckScheduler for MemScheduler {
    async fn book(&self, check: &Check) -> Result<(), SchedulerError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SchedulerError("scheduler down".into()));
        }
        let mut booked = lock(&self.booked);
        if !booked.contains(check) {
            booked.push(check.clone());
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct MemBus {
    pub events: Mutex<Vec<FinalizedEvent>>,
    pub refuse_nth: Mutex<Option<usize>>,
    pub down: std::sync::atomic::AtomicBool,
}

impl MemBus {
    pub fn taken(&self) -> Vec<FinalizedEvent> {
        lock(&self.events).clone()
    }
}

#[async_trait]
impl EventBus for MemBus {
    async fn publish(&self, events: &[FinalizedEvent]) -> Result<Vec<bool>, EventBusError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EventBusError("down".into()));
        }
        let refuse = lock(&self.refuse_nth).take();
        Ok(events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let take = refuse != Some(i);
                if take {
                    lock(&self.events).push(e.clone());
                }
                take
            })
            .collect())
    }
}

/// A secret that is always there (or always fails), for the sources' traits.
pub struct StaticSecret<T>(pub Result<Arc<T>, String>);

impl<T> StaticSecret<T> {
    pub fn new(value: T) -> Self {
        Self(Ok(Arc::new(value)))
    }
    fn get(&self, secret: &str) -> Result<Arc<T>, ConfigError> {
        self.0
            .clone()
            .map_err(|detail| ConfigError::SecretUnavailable {
                secret: secret.into(),
                detail,
            })
    }
}

#[async_trait]
impl AppSecretsSource for StaticSecret<AppSecrets> {
    async fn app_secrets(&self) -> Result<Arc<AppSecrets>, ConfigError> {
        self.get("app")
    }
    /// An app secret of the older layout's own; otherwise the tests' credentials.
    async fn wechat_credentials(&self) -> Result<Arc<WeChatCredentials>, ConfigError> {
        let app = self.get("app")?;
        app.legacy_wechat()
            .unwrap_or_else(|| Ok(Arc::new(wechat_credentials())))
    }
}

#[async_trait]
impl IdentityKeySource for StaticSecret<IdentitySecret> {
    async fn identity_secret(&self) -> Result<Arc<IdentitySecret>, ConfigError> {
        self.get("identity")
    }
}

#[async_trait]
impl MerchantSecretsSource for StaticSecret<MerchantSecrets> {
    async fn merchant_secrets(&self) -> Result<Arc<MerchantSecrets>, ConfigError> {
        self.get("merchant")
    }
}

/// The token vault in memory.
#[derive(Debug, Default)]
pub struct MemVault(pub Mutex<Option<StoredToken>>);

#[async_trait]
impl TokenVault for MemVault {
    async fn load(&self) -> Result<Option<StoredToken>, WeChatError> {
        Ok(lock(&self.0).clone())
    }
    async fn store(&self, t: &StoredToken) -> Result<(), WeChatError> {
        *lock(&self.0) = Some(t.clone());
        Ok(())
    }
}

/// stable_token in memory: `token-1`, `token-2`, … valid 7200 s; counts
/// fetches and can be made to fail.
#[derive(Debug, Default)]
pub struct CountingSource {
    fetches: Mutex<u32>,
    faults: Faults,
    /// How long each fetch takes, so concurrent callers overlap.
    pub delay_ms: u64,
}

impl CountingSource {
    /// Each fetch takes `delay_ms`, so concurrent callers overlap.
    pub fn slow(delay_ms: u64) -> Self {
        Self {
            delay_ms,
            ..Self::default()
        }
    }
    pub fn fetches(&self) -> u32 {
        *lock(&self.fetches)
    }
    pub fn fail(&self, times: u32) {
        self.faults.fail("fetch", times);
    }
}

#[async_trait]
impl TokenSource for CountingSource {
    async fn fetch(&self) -> Result<(String, i64), WeChatError> {
        tokio::time::sleep(std::time::Duration::from_millis(self.delay_ms)).await;
        if self.faults.hit("fetch") {
            return Err(WeChatError::Unavailable("injected fault in fetch".into()));
        }
        let n = {
            let mut f = lock(&self.fetches);
            *f += 1;
            *f
        };
        Ok((format!("token-{n}"), 7200))
    }
}

/// WeChat Pay in memory: scripted authinfo and real-name answers.
#[derive(Debug, Default)]
pub struct FakeWeChatPay {
    real_names: Mutex<HashMap<String, RealNameInfo>>,
    calls: Mutex<BTreeMap<&'static str, u32>>,
    faults: Faults,
}

impl FakeWeChatPay {
    pub fn script_real_name(&self, face_sid: &str, info: RealNameInfo) {
        lock(&self.real_names).insert(face_sid.to_owned(), info);
    }
    pub fn fail(&self, op: Upstream, times: u32) {
        self.faults.fail(op.name(), times);
    }
    pub fn calls(&self, op: Upstream) -> u32 {
        lock(&self.calls)
            .get(op.name())
            .copied()
            .unwrap_or_default()
    }
    fn called(&self, op: Upstream) -> Result<(), WeChatPayError> {
        *lock(&self.calls).entry(op.name()).or_default() += 1;
        if self.faults.hit(op.name()) {
            return Err(WeChatPayError::Unavailable(format!(
                "injected fault in {op}"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl WeChatPay for FakeWeChatPay {
    async fn get_authinfo(
        &self,
        req: &AuthinfoRequest,
        _sub: Option<&SubMerchant>,
    ) -> Result<Authinfo, WeChatPayError> {
        self.called(Upstream::GetWxpayfaceAuthinfo)?;
        let n = self.calls(crate::upstream::Upstream::GetWxpayfaceAuthinfo);
        let token = format!("AUTHINFO-{}-{n}", req.caller.device_id.as_str());
        Ok(Authinfo {
            authinfo: AuthinfoToken::from_upstream(&token)
                .ok_or_else(|| WeChatPayError::Malformed("authinfo".into()))?,
            expires_in: 7200,
        })
    }

    async fn real_name(
        &self,
        face_sid: &FaceSid,
        _info_type: InfoType,
        _sub: Option<&SubMerchant>,
    ) -> Result<RealName, WeChatPayError> {
        self.called(Upstream::FacemchUsers)?;
        lock(&self.real_names)
            .get(face_sid.expose())
            .cloned()
            .map(RealName::Decrypted)
            .ok_or_else(|| WeChatPayError::V3 {
                status: 400,
                code: "INVALID_REQUEST".into(),
                message: "face_sid无效或已过期".into(),
            })
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

/// The kiosk services on fakes, with the test merchant (device `kiosk-001`,
/// bearer token `abc`), and handles to steer them.
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
