//! The AWS SDK's HTTP client: reqwest, on the one TLS configuration every
//! client of a function shares ([`super::http::tls_config`]).
//!
//! The SDK's own default client is a second hyper client with its own pool
//! and TLS setup, and it reads the system's root certificates (hundreds of
//! files) when a client is built, in every cold start. Through this one, a
//! function has one HTTP stack and no certificate files to read. Retries,
//! timeouts and signing stay the SDK's: this only carries a request and
//! names a failure the way the SDK's retry rules expect (a timeout, an I/O
//! error: transient; anything else: not).

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use super::http::tls_config;

/// The SDK's default connect timeout (the functions set no other).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// An HTTP client for `SdkConfig::http_client`: one reqwest client, so
/// connections are pooled across calls and services.
pub fn client() -> reqwest::Result<SharedHttpClient> {
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls_config())
        .connect_timeout(CONNECT_TIMEOUT)
        // The SDK signs for one URL, and handles its own answers.
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(SharedHttpClient::new(AwsHttp { http }))
}

#[derive(Debug)]
struct AwsHttp {
    http: reqwest::Client,
}

impl HttpClient for AwsHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            http: self.http.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

/// One attempt's connector: the shared client, the SDK's read timeout.
#[derive(Debug, Clone)]
struct Connector {
    http: reqwest::Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(async move { this.send(request).await })
    }
}

impl Connector {
    async fn send(self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let method = reqwest::Method::from_bytes(request.method().as_bytes())
            .map_err(|e| ConnectorError::user(e.into()))?;
        // DynamoDB, Secrets Manager and EventBridge send JSON held in memory.
        let body = request
            .body()
            .bytes()
            .ok_or_else(|| {
                ConnectorError::user("a streaming request body is not supported".into())
            })?
            .to_vec();
        let mut out = self.http.request(method, request.uri()).body(body);
        for (name, value) in request.headers() {
            out = out.header(name, value);
        }
        if let Some(t) = self.read_timeout {
            out = out.timeout(t);
        }
        let mut resp = out.send().await.map_err(transport)?;
        let status = StatusCode::try_from(resp.status().as_u16())
            .map_err(|e| ConnectorError::other(e.into(), None))?;
        let headers = std::mem::take(resp.headers_mut());
        let body = resp.bytes().await.map_err(transport)?;
        let mut answer = HttpResponse::new(status, SdkBody::from(body));
        for (name, value) in &headers {
            let value = value
                .to_str()
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            answer
                .headers_mut()
                .try_append(name.as_str().to_owned(), value.to_owned())
                .map_err(|e| ConnectorError::other(e.into(), None))?;
        }
        Ok(answer)
    }
}

/// A transport failure as the SDK's retry rules read it: a timeout or an
/// I/O failure (refused, reset, an answer cut off) is transient and retried;
/// the SDK's conditional writes make a retried write safe.
fn transport(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> HttpRequest {
        let mut req = HttpRequest::new(SdkBody::from("{}"));
        req.set_uri(url).unwrap();
        req
    }

    fn connector(read_timeout: Option<Duration>) -> Connector {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config())
            .build()
            .unwrap();
        Connector { http, read_timeout }
    }

    #[tokio::test]
    async fn transport_failures_are_named_for_the_retry_rules() {
        assert!(client().is_ok());
        // Nothing listens: refused, an I/O error (retried).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let e = connector(None).send(request(&closed)).await.unwrap_err();
        assert!(e.is_io(), "{e:?}");
        // Accepted, never answered: a timeout (retried).
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let hold = tokio::spawn(async move {
            let (_conn, _) = silent.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let c = connector(Some(Duration::from_millis(200)));
        let e = c.send(request(&url)).await.unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        hold.abort();
    }
}
