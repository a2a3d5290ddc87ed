//! A simulator binary: `NAME --listen ADDR:PORT [--config sim.json]`, logs to
//! stderr, runs until Ctrl-C.

use serde::de::DeserializeOwned;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use crate::server::RunningSim;

#[derive(Debug, PartialEq, Eq)]
struct Args {
    listen: SocketAddr,
    config: Option<String>,
}

fn parse_args(args: impl IntoIterator<Item = String>, usage: &str) -> Result<Args, String> {
    let mut listen = None;
    let mut config = None;
    let mut args = args.into_iter();
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
            "-h" | "--help" => return Err(usage.into()),
            other => return Err(format!("unknown argument {other}\n{usage}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(|| format!("--listen is required\n{usage}"))?,
        config,
    })
}

/// The JSON config file, or the default config without one.
fn load_config<C: DeserializeOwned + Default>(path: Option<&str>) -> Result<C, String> {
    let Some(path) = path else {
        return Ok(C::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

/// The whole `main` of simulator `name`. `check` validates the loaded config
/// and describes it for the startup line; `start` starts the simulator.
/// Exits 2 on a bad command line or config, 1 when the simulator cannot
/// start.
pub async fn run_binary<C, Cl, Fut>(
    name: &str,
    check: impl FnOnce(&C) -> Result<String, String>,
    start: impl FnOnce(C, SocketAddr) -> Fut,
) -> ExitCode
where
    C: DeserializeOwned + Default,
    Fut: Future<Output = io::Result<RunningSim<Cl>>>,
{
    init_tracing();
    let usage = format!("usage: {name} --listen ADDR:PORT [--config sim.json]");
    let loaded = parse_args(std::env::args().skip(1), &usage).and_then(|args| {
        let path = args.config.as_deref();
        let config: C = load_config(path)?;
        let description = check(&config).map_err(|e| match path {
            Some(path) => format!("{path}: {e}"),
            None => e,
        })?;
        Ok((args.listen, config, description))
    });
    let (listen, config, description) = match loaded {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = match start(config, listen).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("{name}: cannot start on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!("{name} listening on {} ({description})", sim.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!("waiting for Ctrl-C: {e}");
    }
    tracing::info!("{name} shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| a.to_string()), "usage")
    }

    #[test]
    fn listen_and_config_in_any_order() {
        let want = Args {
            listen: "127.0.0.1:9100".parse().unwrap(),
            config: Some("sim.json".into()),
        };
        assert_eq!(
            parse(&["--listen", "127.0.0.1:9100", "--config", "sim.json"]),
            Ok(want)
        );
        let only_listen = parse(&["--config", "a", "--config", "b", "--listen", "[::1]:0"]);
        assert_eq!(only_listen.unwrap().config.as_deref(), Some("b"));
    }

    #[test]
    fn bad_command_lines_are_explained() {
        for (args, starts) in [
            (&[][..], "--listen is required"),
            (&["--listen"][..], "--listen needs a value"),
            (&["--listen", "localhost"][..], "--listen localhost:"),
            (
                &["--listen", "127.0.0.1:1", "--config"][..],
                "--config needs a value",
            ),
            (&["--verbose"][..], "unknown argument --verbose"),
            (&["-h"][..], "usage"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.starts_with(starts), "{args:?}: {err}");
        }
    }

    #[test]
    fn config_file_or_default() {
        #[derive(serde::Deserialize, Default, Debug, PartialEq)]
        struct C {
            n: u32,
        }
        assert_eq!(load_config::<C>(None), Ok(C::default()));
        let dir = std::env::temp_dir().join(format!("sim-kit-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sim.json");
        std::fs::write(&file, r#"{"n": 3}"#).unwrap();
        assert_eq!(load_config::<C>(file.to_str()), Ok(C { n: 3 }));
        std::fs::write(&file, "{").unwrap();
        assert!(
            load_config::<C>(file.to_str())
                .unwrap_err()
                .contains("sim.json")
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load_config::<C>(file.to_str()).is_err(), "gone");
    }
}
