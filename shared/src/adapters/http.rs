//! What the WeChat and WeChat Pay clients share: one way to build an HTTP
//! client, to read an answer (bounded) and to name a transport failure.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use rustls::RootCertStore;

/// Neither WeChat nor WeChat Pay answers anything near this; a larger body
/// is refused without being read to its end.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The one TLS configuration of a process, shared by every HTTP client
/// (WeChat, WeChat Pay, AWS): TLS 1.2 and 1.3 on aws-lc-rs, the Mozilla root
/// store compiled in (webpki-roots). Compiled-in roots cost nothing at start,
/// where the system store is hundreds of files read and parsed in every cold
/// start; they change with a rebuild, as the code does.
pub fn tls_config() -> rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            #[allow(unused_mut)] // without `bench-ca`
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            #[cfg(feature = "bench-ca")]
            bench_ca(&mut roots);
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                // aws-lc-rs supports the default versions: not a runtime condition.
                .expect("aws-lc-rs supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
            // reqwest speaks HTTP/1.1 here (no http2 feature).
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config
        })
        .clone()
}

/// `make bench` only (the cargo feature `bench-ca`, off in every other build): the
/// benchmark's own CA, whose DER file `WXFACE_BENCH_CA_DER` names, trusted besides the
/// compiled-in roots, so the functions reach the benchmark's upstreams over TLS. A missing or
/// unreadable file adds nothing.
#[cfg(feature = "bench-ca")]
fn bench_ca(roots: &mut RootCertStore) {
    let Some(path) = std::env::var_os("WXFACE_BENCH_CA_DER") else {
        return;
    };
    if let Ok(der) = std::fs::read(path) {
        let _ = roots.add(rustls::pki_types::CertificateDer::from(der));
    }
}

/// Per-attempt `timeout`, a shorter connect timeout, and no redirects: a
/// signed request goes where it was signed for, or nowhere.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls_config())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .redirect(Policy::none())
        .build()
}

/// A failure as logs and errors name it; never the URL (it carries tokens).
pub fn transport_error(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    }
}

/// One answer, read in full.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    TooLarge,
    /// The connection failed or timed out while the body was read.
    Transport(&'static str),
}

/// Reads the whole body, refusing one over [`MAX_ANSWER_BYTES`].
pub async fn read_answer(mut resp: reqwest::Response) -> Result<Answer, ReadError> {
    let status = resp.status().as_u16();
    let headers = std::mem::take(resp.headers_mut());
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(ReadError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(ReadError::Transport(transport_error(&e))),
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tls_configuration_with_compiled_in_roots() {
        let config = tls_config();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        // Built once: later calls clone the same verifier, not a new root store.
        assert!(Arc::ptr_eq(
            &config.crypto_provider().clone(),
            tls_config().crypto_provider()
        ));
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(client(Duration::from_secs(1)).is_ok());
    }

    /// The roots the compiled-in store must hold for where the functions connect
    /// (docs/deploy-china.md): WeChat's and WeChat Pay's servers chain to DigiCert Global Root G2
    /// since their 2024 certificate change (the root before it, DigiCert Global Root CA, has left
    /// Mozilla's store, which webpki-roots is: a server still on it would be refused); AWS's
    /// endpoints to Amazon Trust Services (Amazon Root CA 1; Starfield Services Root G2 for older
    /// clients). Which root the China regions' endpoints chain to could not be looked at from
    /// here (no network): that is checked by the first deploy there (docs/deploy-china.md).
    #[test]
    fn the_compiled_in_roots_hold_wechats_and_aws_roots() {
        let has = |name: &str| {
            webpki_roots::TLS_SERVER_ROOTS.iter().any(|anchor| {
                let subject: &[u8] = anchor.subject.as_ref();
                subject.windows(name.len()).any(|w| w == name.as_bytes())
            })
        };
        for root in [
            "DigiCert Global Root G2",
            "Amazon Root CA 1",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(has(root), "{root} is not among the compiled-in roots");
        }
        assert!(!has("no such root CA"), "the check can fail");
        assert!(
            !has("DigiCert Global Root CA"),
            "G1 is back: update the comment above"
        );
    }

    /// The SDK clients, given a China region and no endpoint override (as on Lambda there),
    /// resolve the partition `aws-cn`'s endpoints.
    #[tokio::test]
    async fn the_sdk_resolves_the_china_regions_endpoints() {
        // Each SDK's own resolver and parameters: the same three lines per crate.
        macro_rules! resolved {
            ($sdk:ident, $region:expr) => {{
                use $sdk::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
                let params = Params::builder().region($region).build().unwrap();
                let endpoint = DefaultResolver::new().resolve_endpoint(&params).await;
                endpoint.unwrap().url().to_owned()
            }};
        }
        for region in ["cn-north-1", "cn-northwest-1"] {
            assert_eq!(
                [
                    resolved!(aws_sdk_dynamodb, region),
                    resolved!(aws_sdk_secretsmanager, region),
                    resolved!(aws_sdk_eventbridge, region),
                ],
                [
                    format!("https://dynamodb.{region}.amazonaws.com.cn"),
                    format!("https://secretsmanager.{region}.amazonaws.com.cn"),
                    format!("https://events.{region}.amazonaws.com.cn"),
                ]
            );
        }
    }
}
