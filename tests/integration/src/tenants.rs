//! Two mini-programs in one deployment (docs/api.md §9): the world's own
//! (`A`, the app secret's appid) and a tenant (`B`, a secret under the
//! world's `TENANT_SECRET_PREFIX`), each known to the simulated WeChat with
//! its own secret, push token and key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::{HeaderValue, Method};
use serde_json::{Value, json};
use wechat_sim::{SimApp, SimConfig};
use wxface::service::Services;
use wxface_harness::fixtures::{Person, unique_name};
use wxface_harness::secrets;

use crate::reply::json_request;
use crate::world::{Function, Reply, World};

/// The tenant's identity_key (base64 of 32 bytes), so tests can compute its hashes.
pub const B_IDENTITY_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

pub struct Tenants {
    pub w: World,
    /// The deployment's own mini-program.
    pub a: SimApp,
    /// The tenant.
    pub b: SimApp,
    /// `TENANT_SECRET_PREFIX`.
    pub prefix: String,
}

pub use wxface_harness::fixtures::tenant_app as sim_app;

impl Tenants {
    /// A deployment serving A and B; B has `b_daily_limit`. `more` are
    /// known to the simulator but not (yet) tenants.
    pub async fn start(b_daily_limit: Option<u32>, more: &[SimApp]) -> Self {
        Self::start_with(b_daily_limit, more, |_| {}).await
    }

    pub async fn start_with(
        b_daily_limit: Option<u32>,
        more: &[SimApp],
        tweak: impl FnOnce(&mut wxface::config::Settings),
    ) -> Self {
        let a = SimApp::test_app();
        let b = wxface_harness::fixtures::demo_tenant();
        let prefix = format!("{}/", unique_name("wxface/test/tenants"));
        let mut apps = vec![a.clone(), b.clone()];
        apps.extend(more.iter().cloned());
        let sim = SimConfig {
            apps,
            ..SimConfig::default()
        };
        let p = prefix.clone();
        let w = World::build_in(
            sim,
            move |s| {
                s.tenant_secret_prefix = Some(p);
                tweak(s);
            },
            |_| {},
        )
        .await;
        let t = Self { w, a, b, prefix };
        t.add(&t.b, b_daily_limit).await;
        t
    }

    /// Onboards `app` as a tenant: its secret (with `daily_limit`), and its (empty) token secret.
    pub async fn add(&self, app: &SimApp, daily_limit: Option<u32>) {
        let mut json = secrets::tenant_secret_json(app, B_IDENTITY_KEY);
        if let Some(limit) = daily_limit {
            json["daily_limit"] = json!(limit);
        }
        let name = format!("{}{}", self.prefix, app.appid);
        self.put(&name, &json).await;
        let sm = aws_sdk_secretsmanager::Client::new(&self.w.aws);
        secrets::create_secret(&sm, &format!("{name}/access-token"), None)
            .await
            .expect("tenant token secret");
    }

    /// Sets `app`'s webhook (its secret `<prefix><appid>/webhook`): `{"url", "secrets"}`.
    pub async fn set_webhook(&self, app: &SimApp, webhook: Value) {
        let name = format!("{}{}/webhook", self.prefix, app.appid);
        self.put(&name, &webhook).await;
    }

    /// Secret `name` holds `value` after this (created now, or there already).
    async fn put(&self, name: &str, value: &Value) {
        let sm = aws_sdk_secretsmanager::Client::new(&self.w.aws);
        let text = value.to_string();
        secrets::create_secret(&sm, name, Some(&text))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let put = sm.put_secret_value().secret_id(name).secret_string(text);
        put.send().await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    /// A request to `f` as mini-program `appid`'s pages send it: WeChat's Referer.
    pub async fn post_as(&self, svc: &Services, appid: &str, f: Function, body: &Value) -> Reply {
        let mut req = json_request(Method::POST, "/", None, body.to_string());
        let referer = format!("https://servicewechat.com/{appid}/0/page-frame.html");
        let referer = HeaderValue::from_str(&referer).expect("header");
        req.headers_mut().insert("referer", referer);
        Reply::read(f.call(svc, req).await)
    }

    /// issue-key from `app`'s pages, with a login code `code_of` minted.
    pub async fn issue_as(
        &self,
        app: &SimApp,
        code_of: &SimApp,
        openid: &str,
        p: Person,
        flow: &str,
    ) -> Reply {
        let code = self.w.wx.login(&code_of.appid, openid).await;
        let mut body = World::issue_request(&code, p);
        body["flow"] = json!(flow);
        self.post_as(&self.w.svc, &app.appid, Function::IssueKey, &body)
            .await
    }

    /// verify-result from `app`'s pages.
    pub async fn verify_as(&self, app: &SimApp, openid: &str, out_seq_no: &Value) -> Reply {
        let code = self.w.wx.login(&app.appid, openid).await;
        let body = json!({"code": code, "out_seq_no": out_seq_no});
        self.post_as(&self.w.svc, &app.appid, Function::VerifyResult, &body)
            .await
    }
}

/// A receipt's claims (its signature is checked by the receipt tests).
pub fn claims(receipt: &Value) -> Value {
    let jws = receipt.as_str().expect("a receipt");
    let payload = jws.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}
