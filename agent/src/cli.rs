//! The command line: `collect`, `enroll`, `run`, and the options they share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "atalaya-agent",
    version,
    about = "Atalaya agent: reports this machine's inventory and health to an Atalaya server"
)]
pub struct Cli {
    /// Where the credential, sequence counter and spool live
    /// [default: /var/lib/atalaya-agent as root, else $XDG_DATA_HOME/atalaya-agent]
    #[arg(
        long,
        global = true,
        env = "ATALAYA_AGENT_STATE_DIR",
        value_name = "DIR"
    )]
    pub state_dir: Option<PathBuf>,

    /// Log filter such as `info` or `atalaya_agent=debug` (overrides RUST_LOG) [default: info]
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make one collection of this machine and print it; nothing is sent or stored
    Collect(CollectArgs),
    /// Trade an enrollment token for this agent's credential and store it
    Enroll(EnrollArgs),
    /// Collect at the server's interval, spool every collection on disk and upload it
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Print the report as JSON, exactly as `run` would send it (agent_id "" and seq 0)
    #[arg(long)]
    pub json: bool,
    /// Also collect the full inventory (hardware, network, disks, services, software, users)
    #[arg(long)]
    pub inventory: bool,
    /// Make this many collections and print the last (for measuring the cost of one)
    #[arg(long, hide = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// Base URL of the Atalaya server, e.g. https://atalaya.example.com
    #[arg(long, env = "ATALAYA_SERVER", value_name = "URL")]
    pub server: String,
    /// Enrollment token for the tenant (`ate_…`)
    #[arg(
        long,
        env = "ATALAYA_ENROLL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: String,
    /// PEM file with the CA (or self-signed) certificate that signs the server's certificate
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Make one collection, try to upload the whole spool, then exit
    #[arg(long)]
    pub once: bool,
    /// Seconds between collections; a local override of the server's agent config
    /// [default: the server's config, else the interval given at enrollment]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: Option<u64>,
    /// Largest size of the on-disk spool; the oldest, least important reports are dropped beyond
    /// it. A local override of the server's agent config [default: the server's, else 64 MiB]
    #[arg(long, env = "ATALAYA_AGENT_SPOOL_MAX_BYTES", value_name = "BYTES")]
    pub spool_max_bytes: Option<u64>,
    /// When to re-send the full inventory even if unchanged: cron with seconds, local time
    /// (each agent adds its own delay of up to an hour). A local override of the server's agent
    /// config [default: the server's, else "0 0 3 * * *"]
    #[arg(long, env = "ATALAYA_AGENT_INVENTORY_SCHEDULE", value_name = "CRON")]
    pub inventory_schedule: Option<String>,
    /// Seconds between inventory checks; an inventory is sent only when it changed
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub inventory_check_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent_and_help_lists_every_subcommand() {
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        for sub in ["collect", "enroll", "run"] {
            assert!(help.contains(sub), "--help lacks {sub}: {help}");
        }
    }
}
