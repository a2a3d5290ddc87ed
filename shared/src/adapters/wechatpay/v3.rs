//! APIv3 (docs/wechatpay.md §4): request signatures and the
//! verification of WeChat Pay's answers.

use crate::crypto::rsa::{KeyError, MerchantKey};
pub use crate::crypto::rsa::{MAX_CLOCK_SKEW_SECS, ResponseKeys, ResponseRejected, SignedHeaders};

pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// One request, as it goes on the wire.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    pub method: &'a str,
    /// Raw path and query exactly as sent: no re-sorting, no re-encoding.
    pub path_and_query: &'a str,
    pub timestamp: i64,
    pub nonce: &'a str,
    /// "" for a GET.
    pub body: &'a str,
}

impl RequestToSign<'_> {
    /// `METHOD\nPATH?QUERY\nTS\nNONCE\nBODY\n`.
    pub fn message(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n",
            self.method, self.path_and_query, self.timestamp, self.nonce, self.body
        )
    }
}

/// The `Authorization` header value for one request.
pub fn authorization(
    key: &MerchantKey,
    mchid: &str,
    serial_no: &str,
    req: &RequestToSign<'_>,
) -> Result<String, KeyError> {
    let signature = key.sign(req.message().as_bytes())?;
    Ok(format!(
        "{AUTH_SCHEME} mchid=\"{mchid}\",nonce_str=\"{}\",timestamp=\"{}\",serial_no=\"{serial_no}\",signature=\"{signature}\"",
        req.nonce, req.timestamp
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rsa::test_keys::*;

    #[test]
    fn authorization_header_vector() {
        // docs/wechatpay.md §4.5 (b).
        let key = MerchantKey::from_pem(MERCHANT_KEY).unwrap();
        let h = authorization(
            &key,
            "1234567891",
            MERCHANT_SERIAL,
            &RequestToSign {
                method: "GET",
                path_and_query: "/v3/facemch/users/aabbccdd12345?info_type=ASK_REAL_NAME&appid=wx2b029c08a6233333",
                timestamp: 1554208460,
                nonce: "593BEC0C930BF1AFEB40B4A08C8FB242",
                body: "",
            },
        )
        .unwrap();
        assert_eq!(
            h,
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567891\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",timestamp=\"1554208460\",serial_no=\"5F1C72E2A8931B72A2E13AF8DEE92471EB397115\",signature=\"LIILP0huFYuOo6VxvbYcCxzjfL0gudSM2dREbaGEOidO8nYWqK7WsgGIIqwsnhdV6kqt3zkQqx6n7CBxw5FEVWpMAxTJv502ExIsY4rd3cy9HWvFbacnv/4zFzVuNb2tOmY9vdGrbhc3OqOtlmg8aPd8jnx28KzcjihE5JMneqvDr1p2MVg41Nzyzx5ZKl/SgvXMiW14m5aDbwgXS8rhV7mLUwfYaD79R2iKlj/Eryb8Caj6pKmmwQQq258xvsRGvNy6JIari6XWLuQwLwwnhCFNGYD5qdnoOg4X+PbZw3zj2dC/dfmkaJGktjfbz688zcsxgo1ukdkX61sOjSm17Q==\""
        );
    }
}
