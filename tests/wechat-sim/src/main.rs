//! `wechat-sim --listen 127.0.0.1:9100 [--config sim.json]`

use std::process::ExitCode;

use wechat_sim::SimConfig;

#[tokio::main]
async fn main() -> ExitCode {
    let check = |config: &SimConfig| {
        config.validate()?;
        let apps: Vec<&str> = config.apps.iter().map(|a| a.appid.as_str()).collect();
        Ok(format!("apps: {}", apps.join(", ")))
    };
    sim_kit::run_binary("wechat-sim", check, wechat_sim::start).await
}
