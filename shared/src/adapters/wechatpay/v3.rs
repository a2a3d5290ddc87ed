//! APIv3 (wechatpay-face-api.md §4): request signatures and the
//! verification of WeChat Pay's answers.

use super::keys::{KeyError, MerchantKey, VerifyingKey, normalize_serial};

pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// |now − Wechatpay-Timestamp| must stay below this (Go/Java SDKs: `>=` fails).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

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

/// The keys WeChat Pay's answers may be signed with, by `Wechatpay-Serial`.
#[derive(Debug, Clone, Default)]
pub struct ResponseKeys {
    /// `PUB_KEY_ID_…` and the WeChat Pay public key.
    pub public_key: Option<(String, VerifyingKey)>,
    /// Platform certificates: (normalized serial, key).
    pub certificates: Vec<(String, VerifyingKey)>,
}

/// The four `Wechatpay-*` headers of an answer.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub serial: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseRejected {
    #[error("a Wechatpay-* signature header is missing")]
    MissingHeader,
    #[error("Wechatpay-Timestamp is not a number")]
    BadTimestamp,
    #[error("Wechatpay-Timestamp is 300 s or more away from now")]
    StaleTimestamp,
    #[error("Wechatpay-Serial names no configured key")]
    UnknownSerial,
    #[error("the signature does not verify")]
    BadSignature,
}

impl ResponseKeys {
    /// The serial to announce in a request's `Wechatpay-Serial` (the key we
    /// can verify with): the public key id if we have one.
    pub fn preferred_serial(&self) -> Option<&str> {
        self.public_key
            .as_ref()
            .map(|(id, _)| id.as_str())
            .or_else(|| self.certificates.first().map(|(s, _)| s.as_str()))
    }

    fn key_for(&self, serial: &str) -> Option<&VerifyingKey> {
        let serial = serial.trim();
        if let Some((id, key)) = &self.public_key {
            if id == serial {
                return Some(key);
            }
        }
        let wanted = normalize_serial(serial);
        self.certificates
            .iter()
            .find(|(s, _)| *s == wanted)
            .map(|(_, k)| k)
    }

    /// Checks an answer: all four headers, the 5-minute rule, a key chosen by
    /// serial, and the signature over `TS\nNONCE\nBODY\n` (exact body bytes).
    pub fn verify(
        &self,
        h: SignedHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<(), ResponseRejected> {
        let (Some(ts), Some(nonce), Some(sig), Some(serial)) =
            (h.timestamp, h.nonce, h.signature, h.serial)
        else {
            return Err(ResponseRejected::MissingHeader);
        };
        let ts_num: i64 = ts
            .trim()
            .parse()
            .map_err(|_| ResponseRejected::BadTimestamp)?;
        if now.abs_diff(ts_num) >= MAX_CLOCK_SKEW_SECS.unsigned_abs() {
            return Err(ResponseRejected::StaleTimestamp);
        }
        let key = self
            .key_for(serial)
            .ok_or(ResponseRejected::UnknownSerial)?;
        let mut message = Vec::with_capacity(ts.len() + nonce.len() + body.len() + 3);
        message.extend_from_slice(ts.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(nonce.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(body);
        message.push(b'\n');
        if key.verify(&message, sig) {
            Ok(())
        } else {
            Err(ResponseRejected::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::test_keys::*;
    use super::*;

    #[test]
    fn authorization_header_vector() {
        // §4.5 (b).
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

    const BODY: &str = "{\"openid\":\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\",\"real_name_info\":{\"encrypted_real_name\":\"MSIrPWH5HTKpx4G15r8fPwBQP9R9+IEq7ilGzfiEx81NRqaw+NWAQDfD0+tWnTdDuAGBchAexfa0782mani8t4HlPcMxcuVypdke6gPZcB/0FvzrcpkOh9DAcgrZMHKcjZoAfG/q/RODetQ+2dddJsA7dJtv6Z2hZHMRbxfMNaIfk5+4WdwBUAfbiPweSdI+SQsnUr/QohF+Uj/3kM4ffH0LAnWUrCic4MQ0jU7hEGRViIivbms15BAFQupkVoVaNrZQt/ScI/lgBc+AiflsyvEpnL6L6GyErX3LKZQpMtIJFy/UVW2vhYVAzXZKkdXWhVPSlljev7z71MOy8vCpNQ==\",\"credential_type\":1,\"encrypted_credential_id\":\"OtZAxECcK3R2BFLN5pjj6aUYa1IyWui7uifUmv17WDgKRKEvN9AqK1VsVTOSavtfZzehZ1OsohDuA4UTrRV44foR2GWMkrGIxbkfzoG+e+YhYEPelib5aBBub7CAsDlIXSS5XZxPigoZJXRLL/FE/N9D+scse9SOsaxA3gtOXcwsujU7m5nurmq6gX4dNQ/QC4cJQ6O+ybWA8iYZBdvjC2qXg7t1pkbVK6V/ovUpVeGpFDdTphor16/rqYPqtmpiL840PJ3SXExrPfLw1TUCuJaFBkM13IzBdcVoWBQsp9j9yqA+WQBoxbbYxHbZ8LHxo+78/udJjrOsjLerR8zDdQ==\"}}";
    const SIG: &str = "JMc2Cvpq0HaH5q+oPnlnPZrywT0y2zGx/213ePSc81KG5vOspk/sAX5GLWSrhxbqANvKT+SJkNqLiMO/oGzaTN57k2VceaswZOyxuAqP6lBN8TpkrVaDkb3kcTqvjVNb//HCcp6q9GROgRpgr/A8SFGN72mGji5BfF9ZkpZ8tmeLOwBKtOL0lWsvcWStkqJ6fQf/fFe8OJjZjlnJ/fqguWFqd7yL2aDthKM+xHHUfTZ489l76zOPPXzlmZI9UwxACF3h453SPdMXTNQdKXWcqYU+A15twKBiFLUNDd8v15ia4ONmm/EjtbUtZYIFUBw74Pm9III2b+NnTxvzRrU0/g==";
    const TS: i64 = 1554209980;

    fn headers<'a>(serial: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            timestamp: Some(ts),
            nonce: Some("c5ac7061fccab6bf3e254dcf98995b8c"),
            signature: Some(sig),
            serial: Some(serial),
        }
    }

    #[test]
    fn response_vector_in_both_key_modes() {
        let (cert, serial) = VerifyingKey::from_certificate_pem(PLATFORM_CERT).unwrap();
        let by_cert = ResponseKeys {
            public_key: None,
            certificates: vec![(serial, cert)],
        };
        let by_pk = ResponseKeys {
            public_key: Some((
                "PUB_KEY_ID_0114232134912410000000000001".into(),
                VerifyingKey::from_pem(PUBLIC_KEY).unwrap(),
            )),
            certificates: vec![],
        };
        let ts = TS.to_string();
        assert_eq!(
            by_cert.verify(headers(PLATFORM_SERIAL, &ts, SIG), BODY.as_bytes(), TS + 10),
            Ok(())
        );
        // Serials compare as numbers: lowercase and a leading zero are the same serial.
        let lower = format!("00{}", PLATFORM_SERIAL.to_lowercase());
        assert_eq!(
            by_cert.verify(headers(&lower, &ts, SIG), BODY.as_bytes(), TS),
            Ok(())
        );
        assert_eq!(
            by_pk.verify(
                headers("PUB_KEY_ID_0114232134912410000000000001", &ts, SIG),
                BODY.as_bytes(),
                TS
            ),
            Ok(())
        );
        // The wrong mode's serial is unknown.
        assert_eq!(
            by_pk.verify(headers(PLATFORM_SERIAL, &ts, SIG), BODY.as_bytes(), TS),
            Err(ResponseRejected::UnknownSerial)
        );
        assert_eq!(
            by_cert.verify(
                headers("PUB_KEY_ID_0114232134912410000000000001", &ts, SIG),
                BODY.as_bytes(),
                TS
            ),
            Err(ResponseRejected::UnknownSerial)
        );
        // One byte of body changed.
        let tampered = BODY.replace("oUpF8", "oUpF9");
        assert_eq!(
            by_cert.verify(headers(PLATFORM_SERIAL, &ts, SIG), tampered.as_bytes(), TS),
            Err(ResponseRejected::BadSignature)
        );
        // The 5-minute rule, both ways, at the boundary.
        assert_eq!(
            by_cert.verify(
                headers(PLATFORM_SERIAL, &ts, SIG),
                BODY.as_bytes(),
                TS + 299
            ),
            Ok(())
        );
        for now in [TS + 300, TS - 300, TS + 100_000] {
            assert_eq!(
                by_cert.verify(headers(PLATFORM_SERIAL, &ts, SIG), BODY.as_bytes(), now),
                Err(ResponseRejected::StaleTimestamp)
            );
        }
        assert_eq!(
            by_cert.verify(headers(PLATFORM_SERIAL, "x", SIG), BODY.as_bytes(), TS),
            Err(ResponseRejected::BadTimestamp)
        );
        let mut missing = headers(PLATFORM_SERIAL, &ts, SIG);
        missing.nonce = None;
        assert_eq!(
            by_cert.verify(missing, BODY.as_bytes(), TS),
            Err(ResponseRejected::MissingHeader)
        );
        assert_eq!(
            by_pk.preferred_serial(),
            Some("PUB_KEY_ID_0114232134912410000000000001")
        );
        assert_eq!(by_cert.preferred_serial(), Some(PLATFORM_SERIAL));
    }
}
