//! Captures everything a test process logs, for the PII scan.
//!
//! [`capture`] installs (once per process) a global tracing subscriber that writes JSON lines:
//! - to `<root>/target/test-logs/<process-id>.log`: DEBUG for the wxface crates (`wxface`,
//!   the function crates, this harness), INFO for everything else, except the simulator;
//! - to `<root>/target/sim-logs/<process-id>.log`: the simulator (`wechat_sim`) at DEBUG.
//!
//! The simulator plays WeChat, which legitimately sees names and ID numbers, so its logs are
//! kept apart and are not part of the PII scan; everything else is.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::{Mutex, Once};

use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Crates (tracing targets) logged at DEBUG in the captured log.
pub const WXFACE_TARGETS: &[&str] = &[
    "wxface",
    "wxface_harness",
    "issue_key",
    "verify_result",
    "event_callback",
    "authinfo",
];

/// Target of the simulator's own logs, which go to [`sim_log_dir`] instead.
pub const SIM_TARGET: &str = "wechat_sim";

/// `<root>/target/test-logs`: scanned for PII by `scripts/test.sh`.
pub fn log_dir() -> PathBuf {
    crate::workspace_root().join("target").join("test-logs")
}

/// `<root>/target/sim-logs`: the simulator's logs (not scanned).
pub fn sim_log_dir() -> PathBuf {
    crate::workspace_root().join("target").join("sim-logs")
}

/// This process's captured log file.
pub fn log_file() -> PathBuf {
    log_dir().join(format!("{}.log", std::process::id()))
}

fn open_append(dir: PathBuf) -> Option<File> {
    std::fs::create_dir_all(&dir).ok()?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}.log", std::process::id())))
        .ok()
}

/// The filter of the captured log: `info`, DEBUG for [`WXFACE_TARGETS`], nothing from the
/// simulator.
pub fn captured_filter() -> EnvFilter {
    let mut directives = String::from("info");
    for t in WXFACE_TARGETS {
        directives.push_str(&format!(",{t}=debug"));
    }
    directives.push_str(&format!(",{SIM_TARGET}=off"));
    EnvFilter::new(directives)
}

/// Installs the capturing subscriber once per process. Later calls do nothing. If another
/// global subscriber was installed first, that one stays (and a note goes to stderr).
pub fn capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(main) = open_append(log_dir()) else {
            eprintln!(
                "wxface-harness: cannot open {}; logs are not captured",
                log_file().display()
            );
            return;
        };
        let main_layer = fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(Mutex::new(main))
            .with_filter(captured_filter());
        let sim_layer = open_append(sim_log_dir()).map(|f| {
            fmt::layer()
                .json()
                .with_writer(Mutex::new(f))
                .with_filter(Targets::new().with_target(SIM_TARGET, tracing::Level::DEBUG))
        });
        if tracing_subscriber::registry()
            .with(main_layer)
            .with(sim_layer)
            .try_init()
            .is_err()
        {
            eprintln!(
                "wxface-harness: a tracing subscriber was already installed; logs are not captured"
            );
        }
    });
}
