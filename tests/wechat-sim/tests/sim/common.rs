use serde_json::{Value, json};
use wechat_sim::{RunningSim, SimApp, SimClient, SimConfig};

pub const APP: &str = "wx0123456789abcdef";
pub const SECRET: &str = "sim-app-secret-0123456789abcdef0";
pub const OTHER_APP: &str = "wxfedcba9876543210";
pub const OTHER_SECRET: &str = "other-app-secret";

pub const GETUSERIDKEY: &str = "/cityservice/face/identify/getuseridkey";
pub const GETINFO: &str = "/cityservice/face/identify/getinfo";
pub const GETVERIFYID: &str = "/cityservice/face/identify/getverifyid";
pub const QUERYVERIFYINFO: &str = "/cityservice/face/identify/queryverifyinfo";

pub struct Env {
    pub sim: RunningSim,
    pub client: SimClient,
    pub http: reqwest::Client,
    pub base: String,
}

pub fn two_app_config() -> SimConfig {
    let mut config = SimConfig::default();
    config.apps.push(SimApp {
        appid: OTHER_APP.into(),
        secret: OTHER_SECRET.into(),
        push_token: "otherpushtoken".into(),
        encoding_aes_key: "A".repeat(43),
        original_id: "gh_fedcba987654".into(),
        ..SimApp::test_app()
    });
    config
}

pub async fn env() -> Env {
    env_with(two_app_config()).await
}

pub async fn env_with(config: SimConfig) -> Env {
    let sim = wechat_sim::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts");
    let base = sim.base_url();
    Env {
        client: sim.client(),
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
        base,
        sim,
    }
}

/// errcode of a WeChat answer; absent means 0.
pub fn errcode(v: &Value) -> i64 {
    v.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

/// Asserts the errmsg ends with ` rid: xxxxxxxx-xxxxxxxx-xxxxxxxx`.
pub fn assert_rid(v: &Value) {
    let msg = v["errmsg"]
        .as_str()
        .unwrap_or_else(|| panic!("no errmsg in {v}"));
    let (_, rid) = msg
        .rsplit_once(" rid: ")
        .unwrap_or_else(|| panic!("no rid suffix in {msg:?}"));
    let parts: Vec<&str> = rid.split('-').collect();
    assert_eq!(parts.len(), 3, "rid {rid:?}");
    for p in parts {
        assert_eq!(p.len(), 8, "rid {rid:?}");
        assert!(p.bytes().all(|b| b.is_ascii_hexdigit()), "rid {rid:?}");
    }
}

/// Asserts a WeChat error with this errcode (HTTP 200, rid suffix).
#[track_caller]
pub fn assert_err(v: &Value, code: i64) {
    assert_eq!(errcode(v), code, "expected errcode {code}, got {v}");
    assert_rid(v);
}

impl Env {
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs a raw body with an optional access_token.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.query(&[("access_token", t)]);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A business call: expects HTTP 200 and returns the JSON.
    pub async fn call(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, v) = self.post_raw(path, Some(token), &body.to_string()).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    pub async fn plain_token_for(&self, appid: &str, secret: &str) -> Value {
        let (status, v) = self
            .get(
                "/cgi-bin/token",
                &[
                    ("grant_type", "client_credential"),
                    ("appid", appid),
                    ("secret", secret),
                ],
            )
            .await;
        assert_eq!(status, 200);
        v
    }

    pub async fn plain_token(&self) -> String {
        let v = self.plain_token_for(APP, SECRET).await;
        v["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn stable_token_raw(&self, body: Value) -> Value {
        let (status, v) = self
            .post_raw("/cgi-bin/stable_token", None, &body.to_string())
            .await;
        assert_eq!(status, 200);
        v
    }

    pub async fn stable(&self, appid: &str, secret: &str, force: bool) -> Value {
        self.stable_token_raw(json!({
            "grant_type": "client_credential", "appid": appid, "secret": secret,
            "force_refresh": force,
        }))
        .await
    }

    /// A stable token for APP.
    pub async fn token(&self) -> String {
        let v = self.stable(APP, SECRET, false).await;
        v["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn other_token(&self) -> String {
        let v = self.stable(OTHER_APP, OTHER_SECRET, false).await;
        v["access_token"].as_str().expect("token").to_owned()
    }

    /// 0 if the token is accepted by a business endpoint, else its errcode.
    pub async fn token_status(&self, token: &str) -> i64 {
        let v = self
            .call(GETINFO, token, json!({"verify_result": "probe"}))
            .await;
        match errcode(&v) {
            84001 => 0,
            other => other,
        }
    }
}
