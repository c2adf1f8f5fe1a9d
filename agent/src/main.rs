//! `atalaya-agent`: collects this machine's inventory and health and reports it to the server.
//!
//! The binary is a thin shell: parse the command line, set up logging, run one command on a
//! current-thread tokio runtime (an agent on thousands of machines should not start a thread per
//! core), and turn the outcome into an exit code (see [`error::AgentError::exit_code`]).

mod agent_config;
mod cli;
mod client;
mod collect;
mod enroll;
mod error;
mod external;
mod fsio;
mod inventory;
mod report;
mod run;
mod spool;
mod state;
#[cfg(target_os = "linux")]
mod sysfs;
mod uploader;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::error::AgentError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_level.as_deref());

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("atalaya-agent: cannot start the async runtime: {e}");
            return ExitCode::from(error::EXIT_FAILURE);
        }
    };

    let state_dir = state::StateDir::new(cli.state_dir.clone().unwrap_or_else(state::default_dir));
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Collect(args) => collect::command(args).await,
            Command::Enroll(args) => enroll::command(&state_dir, args).await,
            Command::Run(args) => run::command(&state_dir, args).await,
        }
    });
    // An inventory helper thread may still be waiting on a slow `smartctl`; do not let it hold
    // up the exit (the unit's stop timeout is 20 s).
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));

    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err
                .downcast_ref::<AgentError>()
                .map_or(error::EXIT_FAILURE, AgentError::exit_code);
            // `{:#}` prints the whole context chain on one line: "loading credential: …: …".
            eprintln!("atalaya-agent: error: {err:#}");
            ExitCode::from(code)
        }
    }
}

/// Logs go to stderr so `collect --json` keeps stdout clean. `--log-level` wins over `RUST_LOG`.
fn init_logging(level: Option<&str>) {
    let filter = match level {
        Some(level) => EnvFilter::try_new(level),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info")),
    }
    .unwrap_or_else(|e| {
        eprintln!("atalaya-agent: invalid log filter ({e}); using `info`");
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
