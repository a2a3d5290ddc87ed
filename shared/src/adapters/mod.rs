//! Adapters: the ports of `crate::ports` on real services.

pub mod dynamodb;
pub mod kiosk_store;
pub mod secrets;
pub mod token;
pub mod wechat;
pub mod wechatpay;

pub use dynamodb::DynamoStore;
pub use secrets::{CachedAppSecrets, SecretsTokenVault};
pub use token::AccessTokens;
pub use wechat::{StableTokenSource, WeChatClient};
