//! `atalaya-fleet-sim`: enroll N simulated agents against a running server and make them report.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use atalaya_fleet_sim::probe::ServerProbe;
use atalaya_fleet_sim::{run, Options};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "atalaya-fleet-sim",
    version,
    about = "Enroll N simulated agents against a running atalaya-server and make them report on a schedule",
    after_help = "Use a fresh database (or a new --seed) per run: the same seed makes the same \
                  machines, whose incidents from an earlier run are already open."
)]
struct Cli {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Another replica of the same server (same database); repeat for more. Agents are spread
    /// evenly over --server and the replicas.
    #[arg(long = "replica")]
    replicas: Vec<String>,
    /// Admin API token (MSP-wide); or use --data-dir.
    #[arg(long, env = "ATALAYA_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The server's data directory: read the admin token from its `initial-admin-token`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Tenant the agents enroll into.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Number of simulated agents.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Seconds between two reports of one agent (fractions allowed).
    #[arg(long, default_value_t = 60.0)]
    interval: f64,
    /// Seconds of reporting (after enrollment).
    #[arg(long, default_value_t = 300.0)]
    duration: f64,
    /// Seconds at the start of the reporting phase whose reports are sent but not counted in
    /// the figures (first reports, new CIs): measure the steady state.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Seed of the fleet: the same seed gives the same machines and the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Requests in flight at once (and keep-alive connections).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Share of agents whose root volume crosses the default rule's critical level (95%).
    #[arg(long, default_value_t = 0.01)]
    breach_share: f64,
    /// Share of agents that go offline for a while (no reports) and come back.
    #[arg(long, default_value_t = 0.02)]
    offline_share: f64,
    /// Share of agents whose inventory changes during the run (sent whole on change).
    #[arg(long, default_value_t = 0.02)]
    inventory_change_share: f64,
    /// Send the full inventory with every agent's first report (as after a fresh enrollment).
    #[arg(long)]
    inventory_on_start: bool,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// How often to poll GET /api/v1/incidents, milliseconds.
    #[arg(long, default_value_t = 100)]
    incident_poll_ms: u64,
    /// After reporting ends, seconds agents keep sending their backlog before giving up.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// After reporting ends, how long to wait for incidents not yet visible, seconds.
    #[arg(long, default_value_t = 10.0)]
    incident_timeout: f64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the JSON summary to this file (the human summary still goes to stdout).
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Write each agent's acknowledged sequence numbers to this JSON file.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// The server's process id: measure its CPU time (user + system) per report. Repeat it for
    /// replicas: their CPU times are added.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// A shell command printing the database size in bytes, run when reporting starts and ends,
    /// e.g. `sqlite3 DATA/atalaya.db 'select (page_count-freelist_count)*page_size from
    /// pragma_page_count, pragma_freelist_count, pragma_page_size'` (see bench/ingest.sh).
    #[arg(long)]
    database_size_command: Option<String>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 10.0)]
    progress: f64,
}

fn seconds(name: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero() || matches!(name, "drain" | "warmup"))
        .with_context(|| format!("--{name} must be a positive number of seconds, not {value}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let admin_token = match (&cli.admin_token, &cli.data_dir) {
        (Some(token), _) => token.clone(),
        (None, Some(dir)) => {
            let path = dir.join("initial-admin-token");
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .trim()
                .to_string()
        }
        (None, None) => bail!("give --admin-token (or ATALAYA_ADMIN_TOKEN) or --data-dir"),
    };
    for (name, share) in [
        ("breach-share", cli.breach_share),
        ("offline-share", cli.offline_share),
        ("inventory-change-share", cli.inventory_change_share),
    ] {
        if !(0.0..=1.0).contains(&share) {
            bail!("--{name} must be between 0 and 1");
        }
    }
    let options = Options {
        server: cli.server,
        replicas: cli.replicas,
        admin_token,
        tenant: cli.tenant,
        agents: cli.agents,
        interval: seconds("interval", cli.interval)?,
        duration: seconds("duration", cli.duration)?,
        warmup: seconds("warmup", cli.warmup)?,
        seed: cli.seed,
        concurrency: cli.concurrency,
        breach_share: cli.breach_share,
        offline_share: cli.offline_share,
        inventory_change_share: cli.inventory_change_share,
        inventory_on_start: cli.inventory_on_start,
        request_timeout: seconds("timeout", cli.timeout)?,
        incident_poll: Duration::from_millis(cli.incident_poll_ms.max(1)),
        drain: seconds("drain", cli.drain)?,
        incident_timeout: seconds("incident-timeout", cli.incident_timeout)?,
        progress: (cli.progress > 0.0)
            .then(|| seconds("progress", cli.progress))
            .transpose()?,
        ledger: cli.ledger,
        probe: ServerProbe {
            pids: cli.server_pids,
            size_command: cli.database_size_command,
        },
    };
    let outcome = run(options).await?;
    if let Some(path) = &cli.json_out {
        std::fs::write(path, serde_json::to_vec_pretty(&outcome.summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&outcome.summary)?);
    } else {
        print!("{}", outcome.summary.render());
    }
    Ok(())
}
