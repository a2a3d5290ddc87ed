//! Shared pieces of the end-to-end tests (see `tests/`): an isolated world of
//! moto, the WeChat simulator and the real handlers, and a local function URL.

pub mod function_url;
pub mod world;
