//! wxface: the shared crate of the wxface Lambda functions.
//!
//! - `domain`: parsed inputs, the session state machine, the acceptance rules,
//!   PII protection. No AWS, no HTTP.
//! - `ports`: the traits the services need (storage, secrets, WeChat).
//! - `adapters`: those traits on DynamoDB, Secrets Manager and WeChat.
//! - `service`: the use cases (issue-key, verify-result).
//! - `http`: routes, JSON, and the one error-to-status mapping.
//! - `app`: wiring, done once per container.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod ports;
pub mod push;
pub mod service;
pub mod telemetry;
