//! The authinfo function (face kiosk) end to end: the real handler,
//! DynamoDB and Secrets Manager on moto, WeChat Pay on `wechatpay-sim`,
//! all over real HTTP, with an injected clock.

mod auth;
mod authinfo;
mod events;
mod faults;
mod inputs;
mod partner;
mod real_name;
mod world;
