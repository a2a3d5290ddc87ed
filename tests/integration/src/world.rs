//! A fresh, isolated world per test: its own table, secrets and simulator.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use lambda_http::Body;
use lambda_http::http::{Method, Request};
use serde_json::{Value, json};
use wechat_sim::{RunningSim, SimApp, SimClient, SimConfig};
use wxface::app::build_services;
use wxface::config::Settings;
use wxface::domain::ManualClock;
use wxface::service::Services;
use wxface_harness::fixtures::Person;
use wxface_harness::{Moto, secrets};

use crate::aws::{self, AwsWorld};
pub use crate::reply::Reply;
use crate::reply::json_request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    IssueKey,
    VerifyResult,
    EventCallback,
}

impl Function {
    /// The function's handler, as its binary calls it.
    pub async fn call(
        self,
        svc: &Services,
        req: lambda_http::Request,
    ) -> lambda_http::Response<Body> {
        match self {
            Self::IssueKey => wxface::http::issue_key::handle(svc, req).await,
            Self::VerifyResult => wxface::http::verify_result::handle(svc, req).await,
            Self::EventCallback => wxface::http::event_callback::handle(svc, req).await,
        }
    }
}

pub struct World {
    // Kept alive for the test.
    pub _moto: Moto,
    pub _sim: RunningSim,
    pub wx: SimClient,
    pub app: SimApp,
    pub aws: SdkConfig,
    pub settings: Settings,
    pub clock: Arc<ManualClock>,
    pub svc: Services,
    pub app_secret_id: String,
    pub wechat_secret_id: String,
}

impl World {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::build(tweak, |_| {}).await
    }

    /// A world whose secrets' JSON is changed by `secret` before it is stored.
    pub async fn build(
        tweak: impl FnOnce(&mut Settings),
        secret: impl FnOnce(&mut serde_json::Value),
    ) -> Self {
        Self::build_in(SimConfig::default(), tweak, secret).await
    }

    /// A world whose simulated WeChat knows `sim`'s mini-programs (the
    /// first is the deployment's own).
    pub async fn build_in(
        sim: SimConfig,
        tweak: impl FnOnce(&mut Settings),
        secret: impl FnOnce(&mut serde_json::Value),
    ) -> Self {
        let base = AwsWorld::start("wxface-test").await;
        let sim = wechat_sim::start(sim, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator starts");
        let app = SimApp::test_app();
        // `secret` sees both secrets' fields in one object; they are stored apart, as deployed.
        let mut app_json = secrets::legacy_app_secret_json(&app);
        secret(&mut app_json);
        let mut wechat_json = json!({});
        for field in secrets::WECHAT_FIELDS {
            if let Some(v) = app_json.as_object_mut().and_then(|o| o.remove(field)) {
                wechat_json[field] = v;
            }
        }
        let app_secret_id = base.secret("wxface/test/app", Some(&app_json)).await;
        let wechat_secret_id = base.secret("wxface/test/wechat", Some(&wechat_json)).await;
        // A fresh deploy: the token secret exists with no value.
        let token_secret_id = base.secret("wxface/test/token", None).await;
        let identity = secrets::identity_secret_json();
        let identity_secret_id = base.secret("wxface/test/identity", Some(&identity)).await;
        let env = base.env(&[
            ("WECHAT_APP_SECRET_ID", app_secret_id.clone()),
            ("WECHAT_CREDENTIALS_SECRET_ID", wechat_secret_id.clone()),
            ("ACCESS_TOKEN_SECRET_ID", token_secret_id),
            ("IDENTITY_KEY_SECRET_ID", identity_secret_id),
            ("WECHAT_API_BASE", sim.base_url()),
            ("ISSUE_KEY_LIMIT_PER_HOUR", "1000".into()),
        ]);
        let mut settings = Settings::from_lookup(env).expect("settings");
        settings.wechat_timeout = Duration::from_millis(800);
        tweak(&mut settings);
        let clock = Arc::new(ManualClock::new());
        let svc = build_services(settings.clone(), &base.config, clock.clone()).expect("services");
        let wx = sim.client();
        Self {
            _moto: base.moto,
            _sim: sim,
            wx,
            app,
            aws: base.config,
            settings,
            clock,
            svc,
            app_secret_id,
            wechat_secret_id,
        }
    }

    /// Another container of the same deployment: nothing in memory.
    pub fn cold_instance(&self) -> Services {
        build_services(self.settings.clone(), &self.aws, self.clock.clone()).expect("services")
    }

    /// A container whose AWS calls go through `endpoint` (a fault proxy in
    /// front of this world's moto).
    pub async fn instance_via(&self, endpoint: &str) -> Services {
        let aws = wxface_harness::sdk_config_for(endpoint).await;
        build_services(self.settings.clone(), &aws, self.clock.clone()).expect("services")
    }

    /// reconcile as a container would build it, its AWS calls through `aws`,
    /// booking its checks in `checks`' group.
    pub fn reconciler(
        &self,
        aws: &SdkConfig,
        checks: &wxface_harness::checks::Checks,
    ) -> wxface::service::reconcile::ReconcileServices {
        let target = wxface::config::ScheduleTarget {
            group: checks.group.clone(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:wxface-test-reconcile"
                .into(),
            role_arn: "arn:aws:iam::123456789012:role/wxface-test-scheduler".into(),
            dead_letter_arn: None,
        };
        let settings = wxface::config::ReconcileSettings {
            base: self.settings.clone(),
            target,
        };
        wxface::app::build_reconcile_services(settings, aws, self.clock.clone()).expect("services")
    }

    pub fn moto_url(&self) -> &str {
        self._moto.endpoint()
    }

    pub fn instance_with(&self, tweak: impl FnOnce(&mut Settings)) -> Services {
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        build_services(settings, &self.aws, self.clock.clone()).expect("services")
    }

    pub async fn code(&self, openid: &str) -> String {
        self.wx.login(&self.app.appid, openid).await
    }

    pub async fn raw(
        &self,
        svc: &Services,
        f: Function,
        method: Method,
        path: &str,
        body: impl Into<Body>,
    ) -> Reply {
        Reply::read(f.call(svc, json_request(method, path, None, body)).await)
    }

    /// A request to event-callback: (status, content type, body text).
    pub async fn push(
        &self,
        svc: &Services,
        method: Method,
        uri: &str,
        body: &str,
    ) -> (u16, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_owned()))
            .expect("request");
        let resp = Function::EventCallback.call(svc, req).await;
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = String::from_utf8_lossy(resp.body().as_ref()).into_owned();
        (resp.status().as_u16(), ct, text)
    }

    /// A push POSTed to this world's event-callback: (status, body text).
    pub async fn deliver(&self, uri: &str, body: &str) -> (u16, String) {
        let (status, _, text) = self.push(&self.svc, Method::POST, uri, body).await;
        (status, text)
    }

    pub async fn post(&self, f: Function, body: &Value) -> Reply {
        self.post_on(&self.svc, f, body).await
    }

    /// A POST to `f` of another instance (cold, or broken on purpose).
    pub async fn post_on(&self, svc: &Services, f: Function, body: &Value) -> Reply {
        self.raw(svc, f, Method::POST, "/", body.to_string()).await
    }

    /// An issue-key body for `p` that names no flow (the default applies).
    pub fn issue_request(code: &str, p: Person) -> Value {
        json!({"code": code, "name": p.name, "id_card_number": p.id_card_number})
    }

    /// issue-key for `openid` with a fresh login code.
    pub async fn issue(&self, openid: &str, p: Person, flow: &str) -> Reply {
        let mut body = Self::issue_request(&self.code(openid).await, p);
        body["flow"] = json!(flow);
        self.post(Function::IssueKey, &body).await
    }

    pub async fn issue_ok(&self, openid: &str, p: Person, flow: &str) -> Value {
        let r = self.issue(openid, p, flow).await;
        assert_eq!(r.status, 200, "issue-key: {}", r.body);
        r.body
    }

    /// verify-result for `openid` with a fresh login code.
    pub async fn verify(
        &self,
        openid: &str,
        out_seq_no: &Value,
        verify_result: Option<&str>,
    ) -> Reply {
        let code = self.code(openid).await;
        let mut body = json!({"code": code, "out_seq_no": out_seq_no});
        if let Some(vr) = verify_result {
            body["verify_result"] = json!(vr);
        }
        self.post(Function::VerifyResult, &body).await
    }

    /// The face check of a v1 session by `openid` (who may not be the owner).
    pub async fn face_v1(
        &self,
        openid: &str,
        issued: &Value,
        tweak: impl FnOnce(&mut wechat_sim::RunV1),
    ) -> String {
        let mut run = wechat_sim::RunV1 {
            appid: self.app.appid.clone(),
            openid: openid.to_owned(),
            user_id_key: Some(
                issued["user_id_key"]
                    .as_str()
                    .expect("user_id_key")
                    .to_owned(),
            ),
            ..Default::default()
        };
        tweak(&mut run);
        self.wx.run_v1(&run).await
    }

    pub async fn face_v2(&self, openid: &str, issued: &Value, verify_ret: i64) {
        self.wx
            .run_v2(
                issued["verify_id"].as_str().expect("verify_id"),
                openid,
                verify_ret,
            )
            .await
            .expect("face check runs");
    }

    /// How often the simulator saw `upstream` called (its counters use the endpoints' names).
    pub async fn count(&self, upstream: wxface::upstream::Upstream) -> u64 {
        self.wx.count(upstream.name()).await
    }

    /// One of the simulator's own counters: an endpoint wxface must never call.
    pub async fn sim_count(&self, endpoint: &str) -> u64 {
        self.wx.count(endpoint).await
    }

    pub async fn total_wechat_calls(&self) -> u64 {
        self.wx.counters().await.values().sum()
    }

    pub fn ddb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.aws)
    }

    pub fn table(&self) -> &str {
        &self.settings.sessions_table
    }

    /// Every item of this world's table, as debug text (for "nothing changed" checks).
    pub async fn snapshot(&self) -> Vec<String> {
        let items = aws::scan(&self.aws, self.table()).await;
        // The token lease comes and goes with token refreshes.
        aws::as_text(items.iter().filter(|i| !aws::pk(i).starts_with("lease#")))
    }
}

impl World {
    pub fn clock_now(&self) -> i64 {
        use wxface::domain::Clock;
        self.clock.now()
    }
}
