//! APIv2 signatures (docs/wechatpay.md §2.1): sort by name, drop `sign`
//! and empty values, join `k=v` with `&`, append `&key=API_KEY`, then MD5 or
//! HMAC-SHA256 (keyed with the API key, over the same string), upper hex.

use std::collections::BTreeMap;

use aws_lc_rs::hmac;
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

pub use crate::config::SignType;

/// `stringSignTemp`: what is hashed. A `BTreeMap` iterates in byte order.
pub fn string_to_sign(params: &BTreeMap<String, String>, api_key: &str) -> String {
    let mut s = String::new();
    for (k, v) in params {
        if k == "sign" || v.is_empty() {
            continue;
        }
        if !s.is_empty() {
            s.push('&');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s.push_str("&key=");
    s.push_str(api_key);
    s
}

pub fn sign(params: &BTreeMap<String, String>, api_key: &str, sign_type: SignType) -> String {
    let tmp = string_to_sign(params, api_key);
    match sign_type {
        SignType::Md5 => hex::encode_upper(Md5::digest(tmp.as_bytes())),
        SignType::HmacSha256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, api_key.as_bytes());
            hex::encode_upper(hmac::sign(&key, tmp.as_bytes()))
        }
    }
}

/// Recomputes the signature over every received field but `sign` (unknown
/// ones included: WeChat Pay may add fields) and compares in constant time.
pub fn verify(params: &BTreeMap<String, String>, api_key: &str, sign_type: SignType) -> bool {
    let Some(received) = params.get("sign") else {
        return false;
    };
    let expected = sign(params, api_key, sign_type);
    expected
        .as_bytes()
        .ct_eq(received.to_ascii_uppercase().as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn official_vector() {
        // docs/wechatpay.md §2.2.
        let p = map(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]);
        assert_eq!(
            string_to_sign(&p, KEY),
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d"
        );
        assert_eq!(
            sign(&p, KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign(&p, KEY, SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    fn authinfo_request(sign_type: &str) -> BTreeMap<String, String> {
        map(&[
            ("store_id", "IMG001"),
            ("store_name", "爱马哥南山店"),
            ("device_id", "DEV001"),
            ("attach", ""),
            ("rawdata", "H0kvnUgGHKuqflNwtNqCdOVpbO4FPSowudTG"),
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("now", "1239878956"),
            ("version", "1"),
            ("sign_type", sign_type),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ])
    }

    #[test]
    fn authinfo_request_vectors() {
        // docs/wechatpay.md §3.5: sign_type is signed, the empty attach is not.
        let p = authinfo_request("MD5");
        assert!(string_to_sign(&p, KEY).starts_with(
            "appid=wxd930ea5d5a258f4f&device_id=DEV001&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&now=1239878956&rawdata=H0kvnUgGHKuqflNwtNqCdOVpbO4FPSowudTG&sign_type=MD5&store_id=IMG001&store_name=爱马哥南山店&version=1&key="
        ));
        assert_eq!(
            sign(&p, KEY, SignType::Md5),
            "780A32F4ECC74974074097724011FA9A"
        );
        let p = authinfo_request("HMAC-SHA256");
        assert_eq!(
            sign(&p, KEY, SignType::HmacSha256),
            "D0CA80827483C0364367799001B02C032BF5F44E5D3EB3C9D9F00F21C0CF6031"
        );
    }

    #[test]
    fn authinfo_response_vectors_verify() {
        // docs/wechatpay.md §3.5 simulated success answer; the empty return_msg is not signed.
        let mut p = map(&[
            ("return_code", "SUCCESS"),
            ("return_msg", ""),
            ("authinfo", "AUTHINFO_SIM_0001"),
            ("expires_in", "3600"),
            ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
        ]);
        assert!(!verify(&p, KEY, SignType::Md5), "no sign, no pass");
        p.insert("sign".into(), "9614DE20C03799AEF30445E8AFE0CDFA".into());
        assert!(verify(&p, KEY, SignType::Md5));
        assert!(!verify(&p, KEY, SignType::HmacSha256));
        p.insert(
            "sign".into(),
            "D5E4F62734EFAC13945893389075FD3BBAFA62531AD2927398CFFB42284467D9".into(),
        );
        assert!(verify(&p, KEY, SignType::HmacSha256));
        // An added field changes the signature: extension fields are signed too.
        p.insert("extra".into(), "1".into());
        assert!(!verify(&p, KEY, SignType::HmacSha256));
        p.remove("extra");
        assert!(!verify(&p, "another-key", SignType::HmacSha256));
    }
}
