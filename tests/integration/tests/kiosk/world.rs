//! A fresh, isolated kiosk world per test: its own table, merchant secret,
//! WeChat Pay simulator and injected clock; the real authinfo handler.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use lambda_http::Body;
use lambda_http::http::Method;
use serde_json::{Value, json};
use wechatpay_sim::{FaceAuth, PaySimConfig, RunningSim, SimClient, SimUser};
use wxface::app::build_kiosk_services;
use wxface::config::KioskSettings;
use wxface::domain::ManualClock;
use wxface::service::authinfo::KioskServices;
use wxface_harness::Moto;
use wxface_harness::fixtures::Person;
use wxface_tests::aws::{self, AwsWorld, Item};
pub use wxface_tests::reply::Reply;
use wxface_tests::reply::json_request;

pub const DEVICE: &str = "kiosk-001";
pub const OTHER_DEVICE: &str = "kiosk-002";

pub use wxface_harness::kiosk::KeyMode;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub sign_type: &'static str,
    pub key_mode: KeyMode,
}

impl Options {
    pub fn new(sign_type: &'static str, key_mode: KeyMode) -> Self {
        Options {
            sign_type,
            key_mode,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new("HMAC-SHA256", KeyMode::PublicKey)
    }
}

pub struct World {
    pub _moto: Moto,
    pub _sim: RunningSim,
    pub pay: SimClient,
    pub aws: SdkConfig,
    pub settings: KioskSettings,
    pub clock: Arc<ManualClock>,
    pub svc: KioskServices,
    pub token: String,
    pub other_token: String,
    pub merchant_secret_id: String,
}

fn hex_lower(b: Vec<u8>) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A device token as a deployment would mint one: 32 random bytes, hex.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    wxface::domain::pii::random_bytes(&mut b);
    hex_lower(b.to_vec())
}

/// The merchant secret of docs/api.md §2 for the simulator's merchant.
pub fn merchant_secret(opts: Options, devices: &[(&str, &str)]) -> Value {
    wxface_harness::kiosk::merchant_secret(opts.sign_type, opts.key_mode, devices)
}

/// A fixture person as a WeChat user the kiosk recognises.
pub fn user(p: Person) -> SimUser {
    SimUser::new(p.name, p.id_card_number)
}

impl World {
    pub async fn new() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(opts: Options) -> Self {
        Self::build(opts, PaySimConfig::default(), |_| {}).await
    }

    pub async fn build(
        opts: Options,
        sim_config: PaySimConfig,
        secret: impl FnOnce(&mut Value),
    ) -> Self {
        let base = AwsWorld::start("wxface-kiosk").await;
        let sim = wechatpay_sim::start(sim_config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("simulator starts");
        let token = new_token();
        let other_token = new_token();
        let mut secret_json =
            merchant_secret(opts, &[(DEVICE, &token), (OTHER_DEVICE, &other_token)]);
        secret(&mut secret_json);
        let merchant_secret_id = base
            .secret("wxface/test/merchant", Some(&secret_json))
            .await;
        let env = base.env(&[
            ("MERCHANT_SECRET_ID", merchant_secret_id.clone()),
            ("WECHATPAY_FACE_API_BASE", sim.base_url()),
            ("WECHATPAY_API_BASE", sim.base_url()),
        ]);
        let mut settings = KioskSettings::from_lookup(env).expect("settings");
        settings.wechatpay_timeout = Duration::from_millis(800);
        let clock = Arc::new(ManualClock::new());
        let svc =
            build_kiosk_services(settings.clone(), &base.config, clock.clone()).expect("services");
        let pay = sim.client();
        World {
            _moto: base.moto,
            _sim: sim,
            pay,
            aws: base.config,
            settings,
            clock,
            svc,
            token,
            other_token,
            merchant_secret_id,
        }
    }

    /// Another container: nothing in memory.
    pub fn instance_with(&self, tweak: impl FnOnce(&mut KioskSettings)) -> KioskServices {
        let mut s = self.settings.clone();
        tweak(&mut s);
        build_kiosk_services(s, &self.aws, self.clock.clone()).expect("services")
    }

    pub async fn raw_with(
        &self,
        svc: &KioskServices,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let req = json_request(method, path, authorization, body);
        let r = Reply::read(wxface::http::authinfo::handle(svc, req).await);
        if r.status >= 400 {
            let e = &r.body["error"];
            assert!(
                e["code"].is_string() && e["message"].is_string(),
                "error shape of docs/api.md §3: {}",
                r.body
            );
        }
        r
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        self.raw_with(&self.svc, method, path, authorization, body)
            .await
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_on(&self.svc, path, body).await
    }

    /// A POST as this kiosk to another instance (cold, or broken on purpose).
    pub async fn post_on(&self, svc: &KioskServices, path: &str, body: &Value) -> Reply {
        let auth = self.bearer();
        self.raw_with(svc, Method::POST, path, Some(&auth), body.to_string())
            .await
    }

    pub fn authinfo_body(store_id: &str, rawdata: &str) -> Value {
        json!({
            "device_id": DEVICE,
            "store_id": store_id,
            "store_name": "门诊大厅自助机",
            "rawdata": rawdata,
        })
    }

    pub async fn authinfo(&self, store_id: &str, rawdata: &str) -> Reply {
        self.post("/", &Self::authinfo_body(store_id, rawdata))
            .await
    }

    pub async fn authinfo_ok(&self) -> String {
        let r = self.authinfo("store-1", "rawdata-from-the-sdk").await;
        r.assert_status(200);
        r.body["authinfo"].as_str().expect("authinfo").to_owned()
    }

    /// The kiosk flow: authinfo, FACE_AUTH recognises `u`, the user consents.
    pub async fn consented_face(&self, u: &SimUser) -> FaceAuth {
        let authinfo = self.authinfo_ok().await;
        let face = self.pay.face_auth(&authinfo, u).await.expect("FACE_AUTH");
        self.pay.consent(&face.face_sid, true).await;
        face
    }

    /// The injected clock stands still; WeChat Pay's does not. Before a
    /// signed APIv3 exchange, catch up with it (forward only), so the
    /// 5-minute rule sees the skew a test injects and nothing else.
    pub async fn sync_clock(&self) {
        let lag = self.pay.now().await - self.now();
        if lag > 0 {
            self.clock.advance(lag);
        }
    }

    pub async fn real_name(&self, face_sid: &str, info_type: Option<&str>) -> Reply {
        self.sync_clock().await;
        let mut body = json!({"device_id": DEVICE, "face_sid": face_sid});
        if let Some(t) = info_type {
            body["info_type"] = json!(t);
        }
        self.post("/real-name", &body).await
    }

    pub fn table(&self) -> &str {
        &self.settings.sessions_table
    }

    /// Every item of this world's table.
    pub async fn items(&self) -> Vec<Item> {
        aws::scan(&self.aws, self.table()).await
    }

    pub async fn items_with_prefix(&self, prefix: &str) -> Vec<Item> {
        let mut items = self.items().await;
        items.retain(|i| aws::pk(i).starts_with(prefix));
        items
    }

    /// The table as text, for the PII scan and "nothing changed" checks.
    pub async fn snapshot(&self) -> Vec<String> {
        aws::as_text(&self.items().await)
    }

    /// The table holds none of the fixtures' personal data (docs/api.md §5).
    pub async fn assert_no_pii(&self) {
        let text = self.snapshot().await.join("\n");
        let findings = wxface_harness::pii::scan_text(self.table(), &text);
        assert!(
            findings.is_empty(),
            "personal data in the table: {findings:?}"
        );
    }

    /// How often the WeChat Pay simulator saw `upstream` called.
    pub async fn count(&self, upstream: wxface::upstream::Upstream) -> u64 {
        self.pay.count(sim_endpoint(upstream)).await
    }

    /// How often get_wxpayface_authinfo reached WeChat Pay: what the cache saves.
    pub async fn authinfo_calls(&self) -> u64 {
        self.count(wxface::upstream::Upstream::GetWxpayfaceAuthinfo)
            .await
    }

    pub fn now(&self) -> i64 {
        use wxface::domain::Clock;
        self.clock.now()
    }
}

/// The WeChat Pay simulator's name for `upstream` (its counters and faults).
pub fn sim_endpoint(upstream: wxface::upstream::Upstream) -> &'static str {
    match upstream {
        wxface::upstream::Upstream::GetWxpayfaceAuthinfo => "authinfo",
        other => other.name(),
    }
}
