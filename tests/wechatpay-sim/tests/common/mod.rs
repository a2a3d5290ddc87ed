//! What both test binaries send the simulator's APIv2 endpoint.

use std::collections::BTreeMap;

use wechatpay_sim::test_keys;
use wxface::adapters::wechatpay::v3::{self, RequestToSign};
use wxface::crypto::rsa::MerchantKey;
use wxface::xml;

/// POSTs a signed XML body to `get_wxpayface_authinfo`; the answer's fields.
pub async fn post_authinfo(
    c: &reqwest::Client,
    base: &str,
    body: String,
) -> BTreeMap<String, String> {
    let text = c
        .post(format!("{base}/face/get_wxpayface_authinfo"))
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml::parse(&text, xml::Nested::Refuse).unwrap()
}

/// Sends a GET to `sent` (path and query) with an APIv3 signature over
/// `signed` (the same, unless a test tampers), by `serial`'s `key` at `ts`;
/// `wanted` is the Wechatpay-Serial asked for.
pub struct SignedGet<'a> {
    pub key: &'a MerchantKey,
    pub serial: &'a str,
    pub signed: &'a str,
    pub sent: &'a str,
    pub ts: i64,
    pub wanted: Option<&'a str>,
}

impl SignedGet<'_> {
    pub async fn send(&self, c: &reqwest::Client, base: &str) -> reqwest::Response {
        let auth = v3::authorization(
            self.key,
            test_keys::MCH_ID,
            self.serial,
            &RequestToSign {
                method: "GET",
                path_and_query: self.signed,
                timestamp: self.ts,
                nonce: "N0NCE",
                body: "",
            },
        )
        .unwrap();
        let mut r = c
            .get(format!("{base}{}", self.sent))
            .header("authorization", auth)
            .header("accept", "application/json")
            .header("user-agent", "test");
        if let Some(w) = self.wanted {
            r = r.header("wechatpay-serial", w);
        }
        r.send().await.unwrap()
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An authinfo request's fields, unsigned.
pub fn authinfo_params(sign_type: Option<&str>) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("appid", test_keys::APPID),
        ("mch_id", test_keys::MCH_ID),
        ("store_id", "S1"),
        ("store_name", "门诊"),
        ("device_id", "D1"),
        ("rawdata", "raw"),
        ("version", "1"),
        ("nonce_str", "abc"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.insert("now".into(), now().to_string());
    if let Some(t) = sign_type {
        p.insert("sign_type".into(), t.into());
    }
    p
}
