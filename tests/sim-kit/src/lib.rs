//! What the wxface simulators (`wechat-sim`, `wechatpay-sim`) share: the
//! server handle and request log, the simulated clock, per-endpoint
//! counters and fault queues with their `/__sim/` hooks, the hook client,
//! the binary's command line, and random identifiers. Each simulator keeps
//! its own protocol behaviour and fault effects.

mod cli;
mod client;
mod clock;
mod hooks;
mod random;
mod server;
mod state;

pub use cli::run_binary;
pub use client::{HookClient, poll_until, send_json};
pub use clock::{Clock, MAX_OFFSET_SECS};
pub use hooks::{HookError, HookResult, Simulator, hook_routes, parse_hook};
pub use random::{random_bytes, random_hex, random_in, random_uuid};
pub use server::{LogNote, RunningSim, serve, with_request_log};
pub use state::{
    Core, Counters, FaultQueues, FaultRequest, FaultSpec, MAX_DELAY_MS, SimEndpoint, check_delay,
};
