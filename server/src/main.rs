//! `atalaya-server`: the command line over the server library.

use std::path::PathBuf;

use anyhow::Context;
use atalaya_server::config::smtp::SmtpOverrides;
use atalaya_server::config::{Config, Overrides};
use atalaya_server::quickstart::{quickstart, QuickstartOptions};
use atalaya_server::store::{Store, StoreError, TenantScope};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "atalaya-server",
    version,
    about = "Atalaya: proactive service desk and CMDB for MSPs"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct GlobalArgs {
    /// TOML config file (flags and ATALAYA_* environment override it).
    #[arg(long, env = "ATALAYA_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory: the embedded SQLite database and first-start secrets [default: ./atalaya-data].
    #[arg(long, env = "ATALAYA_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB [default: SQLite in the data directory].
    #[arg(
        long,
        env = "ATALAYA_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ATALAYA_LISTEN", global = true)]
    listen: Option<String>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "ATALAYA_TLS_CERT", global = true)]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "ATALAYA_TLS_KEY", global = true)]
    tls_key: Option<PathBuf>,
    /// How often agents should report, in seconds [default: 60].
    #[arg(long, env = "ATALAYA_REPORT_INTERVAL", global = true)]
    report_interval: Option<u64>,
    /// The server's address as people reach it, for links in emails [default: from --listen].
    #[arg(long, env = "ATALAYA_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// The first MSP admin's email, made on the first start without one [default: admin@localhost].
    #[arg(long, env = "ATALAYA_ADMIN_EMAIL", global = true)]
    admin_email: Option<String>,
    /// When the daily digest goes out, a cron expression in each tenant's time zone
    /// (sec min hour day month weekday) [default: "0 0 7 * * *"].
    #[arg(long, env = "ATALAYA_DIGEST_SCHEDULE", global = true)]
    digest_schedule: Option<String>,
    /// SMTP server email goes out through (no email without it).
    #[arg(long, env = "ATALAYA_SMTP_HOST", global = true)]
    smtp_host: Option<String>,
    /// SMTP port [default: 25, 587 or 465 by --smtp-tls].
    #[arg(long, env = "ATALAYA_SMTP_PORT", global = true)]
    smtp_port: Option<u16>,
    /// none, starttls or tls (implicit TLS) [default: starttls].
    #[arg(long, env = "ATALAYA_SMTP_TLS", global = true)]
    smtp_tls: Option<String>,
    /// SMTP user name (with --smtp-password).
    #[arg(long, env = "ATALAYA_SMTP_USERNAME", global = true)]
    smtp_username: Option<String>,
    /// SMTP password.
    #[arg(
        long,
        env = "ATALAYA_SMTP_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    smtp_password: Option<String>,
    /// Sender of every email, e.g. "Atalaya <desk@msp.example>".
    #[arg(long, env = "ATALAYA_SMTP_FROM", global = true)]
    smtp_from: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Run the server with this machine's agent enrolled against it: see the CMDB fill in a minute.
    Quickstart {
        /// Report interval of the local agent, in seconds.
        #[arg(long, default_value_t = 15)]
        interval: u64,
        /// The atalaya-agent binary [default: beside this executable].
        #[arg(long)]
        agent_binary: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Create an admin token and print it: MSP-wide (for when the first one is lost), or bound to
    /// one tenant with `--tenant` (it sees and changes only that tenant's data).
    CreateAdminToken {
        /// A name to recognise the token by.
        #[arg(long, default_value = "admin")]
        name: String,
        /// Bind the token to this tenant (by name).
        #[arg(long)]
        tenant: Option<String>,
    },
}

impl GlobalArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            report_interval_secs: self.report_interval,
            public_url: self.public_url.clone(),
            admin_email: self.admin_email.clone(),
            digest_schedule: self.digest_schedule.clone(),
            smtp: SmtpOverrides {
                host: self.smtp_host.clone(),
                port: self.smtp_port,
                tls: self.smtp_tls.clone(),
                username: self.smtp_username.clone(),
                password: self.smtp_password.clone(),
                from: self.smtp_from.clone(),
            },
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::load(&cli.global.overrides())?;
    tracing::debug!(?config, "configuration");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                atalaya_server::run(config, atalaya_server::serve::shutdown_signal()).await
            }
            Command::Quickstart {
                interval,
                agent_binary,
            } => {
                quickstart(
                    config,
                    QuickstartOptions {
                        interval_secs: interval,
                        agent_binary,
                    },
                )
                .await
            }
            Command::Migrate => {
                let store = Store::connect(&config.database_url).await?;
                store.close().await;
                println!("migrations applied");
                Ok(())
            }
            Command::CreateAdminToken { name, tenant } => {
                let store = atalaya_server::prepare(&config).await?;
                let bound = match tenant.as_deref() {
                    None => None,
                    Some(tenant) => Some(
                        store
                            .tenant_by_name(TenantScope::All, tenant)
                            .await
                            .map_err(|e| match e {
                                StoreError::NotFound => {
                                    anyhow::anyhow!("there is no tenant named {tenant:?}")
                                }
                                other => other.into(),
                            })?
                            .id,
                    ),
                };
                let token = store.create_api_token(bound, &name).await?;
                println!("{token}");
                Ok(())
            }
        }
    })
}
