//! Shared pieces of the end-to-end tests (see `tests/`): an isolated world of
//! moto, the WeChat simulator and the real handlers, and a local function URL.
//! The kiosk's world (in its test binary) stands on the same [`aws`] and
//! [`reply`] pieces.

pub mod aws;
pub mod function_url;
pub mod inputs;
pub mod reply;
pub mod tenants;
pub mod world;
