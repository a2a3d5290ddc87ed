//! Adapters: the ports of `crate::ports` on real services.

pub mod aws_http;
pub mod dynamodb;
pub mod eventbridge;
pub mod http;
pub mod scheduler;
pub mod secrets;
pub mod token;
pub mod webhook;
pub mod wechat;
pub mod wechatpay;

pub use dynamodb::DynamoStore;
pub use eventbridge::EventBridgeBus;
pub use scheduler::EventBridgeScheduler;
pub use secrets::{AppSecretStore, CachedSecret, NoIdentityKey, SecretsTokenVault};
pub use token::AccessTokens;
pub use wechat::{StableTokenSource, WeChatClient};
