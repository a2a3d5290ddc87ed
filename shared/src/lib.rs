//! wxface: the shared crate of the wxface Lambda functions.
//!
//! Layers, each importing only those above it in this list:
//!
//! | module      | what it holds                                                        |
//! |-------------|----------------------------------------------------------------------|
//! | `domain`    | parsed inputs (names, ID numbers, ids), the session state machine, the acceptance rules, PII protection (keyed digests, sealing, the data keyring). No AWS, no HTTP. |
//! | `crypto`    | WeChat Pay's RSA keys: request signing, answer verification, decryption |
//! | `xml`       | the one flat-XML reader and writer (WeChat Pay APIv2, XML pushes)    |
//! | `push`      | WeChat's message push: signatures, the AES envelope, message bodies  |
//! | `config`    | the environment and the secrets (app, WeChat credentials, identity, merchant), parsed and checked |
//! | `error`     | the adapters' errors                                                 |
//! | `upstream`  | every WeChat and WeChat Pay endpoint called: name, path, retry class |
//! | `functions` | every function, listed once: its secrets, table items, upstreams (the manifest the template and docs tests check) |
//! | `telemetry` | logs and CloudWatch embedded-metric-format metrics                   |
//! | `ports`     | every trait the services are written against                         |
//! | `adapters`  | the ports on DynamoDB (and its stream), Secrets Manager, EventBridge, WeChat and WeChat Pay; the one HTTP/TLS setup, which the AWS SDK sends through too |
//! | `testing`   | the ports in memory, for unit tests (feature `testing`)              |
//! | `service`   | the use cases: issue-key, verify-result (+ `finalize`), event-callback, authinfo, lookup, events, reconcile; which mini-program (tenant) a request is for |
//! | `http`      | routes (each function's route enum, behind either front), JSON in and out, the one error-to-status mapping |
//! | `stream`    | the table's change stream in, batch item failures out (publish-events) |
//! | `reconcile` | reconcile's edge: new sessions from the stream, scheduled checks in    |
//! | `webhooks`  | deliver-webhooks' edge: queued events in, the undelivered out         |
//! | `app`       | wiring, done once per container (a tenant's, when a request first names it): settings, the AWS configuration from Lambda's environment, the clients |
//!
//! Each function under `functions/` is a thin binary: `app` builds its
//! services, `http::<function>::handle` answers each request (publish-events:
//! `stream::handle` each stream batch; reconcile: `reconcile::handle` each
//! stream batch and scheduled check; deliver-webhooks: `webhooks::handle`
//! each queue batch).

pub mod adapters;
pub mod app;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod functions;
pub mod http;
pub mod ports;
#[cfg(test)]
mod props;
pub mod push;
pub mod reconcile;
pub mod service;
pub mod stream;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod upstream;
pub mod webhooks;
pub mod xml;
