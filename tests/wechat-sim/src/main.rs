//! `wechat-sim --listen 127.0.0.1:9100 [--config sim.json]`

use std::net::SocketAddr;
use std::process::ExitCode;

use wechat_sim::SimConfig;

const USAGE: &str = "usage: wechat-sim --listen ADDR:PORT [--config sim.json]";

struct Args {
    listen: SocketAddr,
    config: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut config = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let v = args.next().ok_or("--listen needs a value")?;
                listen = Some(
                    v.parse::<SocketAddr>()
                        .map_err(|e| format!("--listen {v}: {e}"))?,
                );
            }
            "--config" => config = Some(args.next().ok_or("--config needs a value")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(|| format!("--listen is required\n{USAGE}"))?,
        config,
    })
}

fn load_config(path: Option<&str>) -> Result<SimConfig, String> {
    let Some(path) = path else {
        return Ok(SimConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let config: SimConfig = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    config.validate().map_err(|e| format!("{path}: {e}"))?;
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let config = match parse_args().and_then(|a| load_config(a.config.as_deref()).map(|c| (a, c))) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wechat-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let (args, config) = config;
    let apps: Vec<String> = config.apps.iter().map(|a| a.appid.clone()).collect();
    let sim = match wechat_sim::start(config, args.listen).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("wechat-sim: cannot start on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "wechat-sim listening on {} (apps: {})",
        sim.base_url(),
        apps.join(", ")
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!("waiting for Ctrl-C: {e}");
    }
    tracing::info!("wechat-sim shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
}
