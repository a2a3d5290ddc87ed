//! A fresh, isolated kiosk world per test: its own table, merchant secret,
//! WeChat Pay simulator and injected clock; the real authinfo handler.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use lambda_http::Body;
use lambda_http::http::{HeaderMap, Method, Request};
use serde_json::{Value, json};
use wechatpay_sim::{FaceAuth, PaySimConfig, RunningSim, SimClient, SimUser};
use wxface::app::build_kiosk_services;
use wxface::config::KioskSettings;
use wxface::domain::ManualClock;
use wxface::service::authinfo::KioskServices;
use wxface_harness::fixtures::{Person, unique_name};
use wxface_harness::{Moto, logs, secrets, template};

pub const DEVICE: &str = "kiosk-001";
pub const OTHER_DEVICE: &str = "kiosk-002";

pub use wxface_harness::kiosk::KeyMode;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub sign_type: &'static str,
    pub key_mode: KeyMode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sign_type: "HMAC-SHA256",
            key_mode: KeyMode::PublicKey,
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
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

/// The merchant secret of contract §2 for the simulator's merchant.
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
        logs::capture();
        let moto = Moto::start().await;
        let aws = moto.sdk_config().await;
        let sim = wechatpay_sim::start(sim_config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("simulator starts");
        let table = unique_name("wxface-kiosk");
        let merchant_secret_id = unique_name("wxface/test/merchant");
        template::create_sessions_table(&aws_sdk_dynamodb::Client::new(&aws), &table)
            .await
            .expect("table");
        let token = new_token();
        let other_token = new_token();
        let mut secret_json =
            merchant_secret(opts, &[(DEVICE, &token), (OTHER_DEVICE, &other_token)]);
        secret(&mut secret_json);
        secrets::create_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            &merchant_secret_id,
            Some(&secret_json.to_string()),
        )
        .await
        .expect("merchant secret");
        let mut settings = KioskSettings::from_lookup(|k| match k {
            "SESSIONS_TABLE" => Some(table.clone()),
            "MERCHANT_SECRET_ID" => Some(merchant_secret_id.clone()),
            "WECHATPAY_FACE_API_BASE" | "WECHATPAY_API_BASE" => Some(sim.base_url()),
            _ => None,
        })
        .expect("settings");
        settings.wechatpay_timeout = Duration::from_millis(800);
        let clock = Arc::new(ManualClock::new());
        let svc = build_kiosk_services(settings.clone(), &aws, clock.clone()).expect("services");
        let pay = sim.client();
        World {
            _moto: moto,
            _sim: sim,
            pay,
            aws,
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
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let resp =
            wxface::http::authinfo::handle(svc, req.body(body.into()).expect("request")).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "every answer is JSON"
        );
        let body: Value = serde_json::from_slice(resp.body().as_ref()).expect("JSON answer");
        if status >= 400 {
            let e = &body["error"];
            assert!(
                e["code"].is_string() && e["message"].is_string(),
                "error shape of contract §3: {body}"
            );
        }
        Reply {
            status,
            body,
            headers,
        }
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
        let auth = self.bearer();
        self.raw(Method::POST, path, Some(&auth), body.to_string())
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
        assert_eq!(r.status, 200, "{}", r.body);
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

    /// Every item of this world's table, attribute by attribute as text.
    pub async fn items(
        &self,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let out = aws_sdk_dynamodb::Client::new(&self.aws)
            .scan()
            .table_name(self.table())
            .send()
            .await
            .expect("scan");
        out.items().to_vec()
    }

    pub async fn items_with_prefix(
        &self,
        prefix: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.items()
            .await
            .into_iter()
            .filter(|i| {
                i.get("pk")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|pk| pk.starts_with(prefix))
            })
            .collect()
    }

    /// The table as text, for the PII scan and "nothing changed" checks.
    pub async fn snapshot(&self) -> Vec<String> {
        let mut items: Vec<String> = self
            .items()
            .await
            .iter()
            .map(|i| {
                let mut kv: Vec<_> = i.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                kv.sort();
                kv.join(",")
            })
            .collect();
        items.sort();
        items
    }

    /// The table holds none of the fixtures' personal data (contract §5).
    pub async fn assert_no_pii(&self) {
        let text = self.snapshot().await.join("\n");
        let findings = wxface_harness::pii::scan_text(self.table(), &text);
        assert!(
            findings.is_empty(),
            "personal data in the table: {findings:?}"
        );
    }

    pub async fn count(&self, endpoint: &str) -> u64 {
        self.pay.count(endpoint).await
    }

    pub fn now(&self) -> i64 {
        use wxface::domain::Clock;
        self.clock.now()
    }
}
