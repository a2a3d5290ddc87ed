//! `wechatpay-sim --listen 127.0.0.1:9200 [--config sim.json]`

use std::net::SocketAddr;
use std::process::ExitCode;

use wechatpay_sim::PaySimConfig;

const USAGE: &str = "usage: wechatpay-sim --listen ADDR:PORT [--config sim.json]";

fn parse_args() -> Result<(SocketAddr, Option<String>), String> {
    let mut listen = None;
    let mut config = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let v = args.next().ok_or("--listen needs a value")?;
                listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--config" => config = Some(args.next().ok_or("--config needs a value")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok((
        listen.ok_or_else(|| format!("--listen is required\n{USAGE}"))?,
        config,
    ))
}

fn load_config(path: Option<&str>) -> Result<PaySimConfig, String> {
    let Some(path) = path else {
        return Ok(PaySimConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (listen, config) = match parse_args().and_then(|(l, c)| Ok((l, load_config(c.as_deref())?)))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wechatpay-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let mch_id = config.mch_id.clone();
    let sim = match wechatpay_sim::start(config, listen).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("wechatpay-sim: cannot start on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "wechatpay-sim listening on {} (mch_id {mch_id})",
        sim.base_url()
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!("waiting for Ctrl-C: {e}");
    }
    sim.shutdown().await;
    ExitCode::SUCCESS
}
