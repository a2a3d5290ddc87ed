//! `wechatpay-sim --listen 127.0.0.1:9200 [--config sim.json]`

use std::process::ExitCode;

use wechatpay_sim::PaySimConfig;

#[tokio::main]
async fn main() -> ExitCode {
    // The keys are checked when the simulator starts.
    let check = |config: &PaySimConfig| Ok(format!("mch_id {}", config.mch_id));
    sim_kit::run_binary("wechatpay-sim", check, wechatpay_sim::start).await
}
