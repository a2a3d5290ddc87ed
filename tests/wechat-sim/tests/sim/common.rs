use serde_json::{Value, json};
use wechat_sim::{RunV1, RunningSim, SimApp, SimClient, SimConfig};

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

/// The default config's app, and a second one.
pub const APP: &str = "wx0123456789abcdef";
pub const SECRET: &str = "sim-app-secret-0123456789abcdef0";
pub const OTHER_APP: &str = "wxfedcba9876543210";
pub const OTHER_SECRET: &str = "other-app-secret";

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

/// The person most tests verify.
pub const NAME: &str = "张三";
pub const ID: &str = "310101199801011234";

/// A 1.0 face run of APP in name/ID mode.
pub fn named_run(openid: &str, name: &str, id_card_number: &str) -> RunV1 {
    RunV1 {
        appid: APP.into(),
        openid: openid.into(),
        name: Some(name.into()),
        id_card_number: Some(id_card_number.into()),
        ..RunV1::default()
    }
}

/// A 1.0 face run of APP with a user_id_key.
pub fn keyed_run(openid: &str, user_id_key: &str) -> RunV1 {
    RunV1 {
        appid: APP.into(),
        openid: openid.into(),
        user_id_key: Some(user_id_key.into()),
        ..RunV1::default()
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
        let req = self.http.get(format!("{}{path}", self.base)).query(query);
        sim_kit::send_json(req, path).await
    }

    /// POSTs a raw body with an optional access_token.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let query: Vec<_> = token.map(|t| ("access_token", t)).into_iter().collect();
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .query(&query)
            .header("content-type", "application/json")
            .body(body.to_owned());
        sim_kit::send_json(req, path).await
    }

    /// A business call: expects HTTP 200 and returns the JSON.
    pub async fn call(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, v) = self.post_raw(path, Some(token), &body.to_string()).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    /// `GET /cgi-bin/token` for an app, whatever it answers.
    pub async fn plain_token_raw(&self, appid: &str, secret: &str) -> (u16, Value) {
        let query = [
            ("grant_type", "client_credential"),
            ("appid", appid),
            ("secret", secret),
        ];
        self.get("/cgi-bin/token", &query).await
    }

    pub async fn plain_token_for(&self, appid: &str, secret: &str) -> Value {
        let (status, v) = self.plain_token_raw(appid, secret).await;
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

    /// getuseridkey for NAME / ID, with an out_seq_no if given.
    pub async fn getuseridkey(&self, token: &str, out_seq_no: Option<&str>) -> Value {
        let mut body = json!({"name": NAME, "id_card_number": ID});
        if let Some(seq) = out_seq_no {
            body["out_seq_no"] = json!(seq);
        }
        self.call(GETUSERIDKEY, token, body).await
    }

    /// A user_id_key for NAME / ID.
    pub async fn user_id_key(&self, token: &str, out_seq_no: Option<&str>) -> String {
        let v = self.getuseridkey(token, out_seq_no).await;
        assert_eq!(errcode(&v), 0, "{v}");
        v["user_id_key"].as_str().expect("user_id_key").to_owned()
    }

    /// [`Env::token_status`] after moving the clock `secs` forward.
    pub async fn token_status_after(&self, secs: i64, token: &str) -> i64 {
        self.client.advance_clock(secs).await;
        self.token_status(token).await
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
