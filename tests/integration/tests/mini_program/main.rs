//! issue-key and verify-result end to end: the real handlers, DynamoDB and
//! Secrets Manager on moto, WeChat on the simulator, all over real HTTP.

mod aws_faults;
mod events;
mod failures;
mod flows;
mod fronts;
mod inputs;
mod reconcile;
mod rotation;
mod store;
mod tenants;
mod tokens;
mod webhooks;
pub use wxface_tests::world;
