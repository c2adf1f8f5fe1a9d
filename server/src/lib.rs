//! Atalaya server library: the HTTP API, CMDB, rules, desk and storage. The `atalaya-server`
//! binary is a thin command line over [`run`] and [`quickstart`].

pub mod alerting;
pub mod audit;
pub mod bootstrap;
pub mod ci;
pub mod cmdb;
pub mod config;
pub mod desk;
pub mod enrollment;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod lag;
pub mod notify;
pub mod people;
pub mod quickstart;
pub mod rules;
pub mod secrets;
pub mod serve;
pub mod sla;
pub mod store;

use std::future::Future;

use anyhow::Context;

use crate::config::{redact_url, Config};
use crate::http::AppState;
use crate::store::Store;

/// Open the database (applying migrations) and run the first-start steps, announcing any new
/// secrets once on stdout.
pub async fn prepare(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| format!("opening database {}", redact_url(&config.database_url)))?;
    if let Some(first) =
        bootstrap::first_start(&store, &config.data_dir, config.report_interval_secs).await?
    {
        println!("Atalaya first start: tenant \"default\" created.");
        println!("  admin token:      {}", first.admin_token);
        println!("  enrollment token: {}", first.enrollment_token);
        println!(
            "Both are shown only now; copies are in {} and {} (mode 0600).",
            first.admin_token_path.display(),
            first.enrollment_token_path.display()
        );
    }
    if let Some(admin) =
        bootstrap::first_admin(&store, &config.data_dir, &config.admin_email).await?
    {
        announce_first_admin(&admin);
    }
    Ok(store)
}

/// Tell whoever started the server how to sign in as the first admin: the password itself only
/// on a terminal, never into a redirected log (where anyone reading logs would find it).
fn announce_first_admin(admin: &bootstrap::FirstAdmin) {
    use std::io::IsTerminal;
    println!("Atalaya: first MSP admin {} created.", admin.email);
    if std::io::stdout().is_terminal() {
        println!(
            "  password: {} (shown only now; change it after signing in)",
            admin.password
        );
    }
    println!(
        "  The password is in {} (mode 0600); delete the file once you have changed it.",
        admin.password_path.display()
    );
}

/// Run the server until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = prepare(&config).await?;
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let address = listener.local_addr()?;
    let mut config = config;
    config.settle_public_url(address);
    tracing::info!(%address, scheme, "atalaya-server listening");
    // One stable line on stdout, so scripts and tests can find the port when --listen used port 0.
    println!("atalaya-server listening on {scheme}://{address}");
    let tls = config.tls.clone();
    let ingest = ingest::Ingest::new(store.clone());
    let background = BackgroundJobs::spawn(&ingest, &config).await?;
    let state = AppState::with_ingest(ingest, config);
    serve::serve_with_listener(state, listener, tls.as_ref(), shutdown).await?;
    background.stop(&store).await;
    store.close().await;
    Ok(())
}

/// The periodic jobs of one server process, each running on one replica at a time (see
/// [`jobs`]).
pub struct BackgroundJobs {
    holder: String,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

impl BackgroundJobs {
    /// The jobs of the process whose ingest runtime is `ingest` (the offline sweep reads its lag).
    pub async fn spawn(ingest: &ingest::Ingest, config: &Config) -> anyhow::Result<BackgroundJobs> {
        let store = ingest.store();
        let holder = jobs::holder_name();
        let mut tasks = spawn_sweeps(ingest, config, &holder);
        tasks.extend(spawn_desk_jobs(store, config, &holder).await?);
        Ok(BackgroundJobs { holder, tasks })
    }

    /// Stop every job and give its lease up, so another replica takes over at once.
    pub async fn stop(self, store: &Store) {
        for (name, task) in self.tasks {
            task.abort();
            if let Err(e) = store.release_lease(name, &self.holder).await {
                tracing::warn!(job = name, error = %e, "could not release the job's lease");
            }
        }
    }
}

/// The CMDB's sweeps: computers gone offline, CIs gone stale.
fn spawn_sweeps(
    ingest: &ingest::Ingest,
    config: &Config,
    holder: &str,
) -> Vec<(&'static str, tokio::task::JoinHandle<()>)> {
    let store = ingest.store();
    let mut tasks = Vec::new();
    let policy = config.site_outage;
    let sweep_ingest = ingest.clone();
    tasks.push((
        OFFLINE_SWEEP,
        tokio::spawn(jobs::run_leased(
            store.clone(),
            holder.to_string(),
            OFFLINE_SWEEP,
            std::time::Duration::from_secs(30),
            move || {
                let ingest = sweep_ingest.clone();
                async move { alerting::offline_sweep_job(ingest.store(), ingest.lag(), &policy).await }
            },
        )),
    ));
    // Every replica, lease or not, tells the others when it was behind on reports.
    let lag_ingest = ingest.clone();
    let lag_holder = holder.to_string();
    tasks.push((
        INGEST_LAG,
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lag::PUBLISH_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) =
                    lag::publish(lag_ingest.store(), lag_ingest.lag(), &lag_holder).await
                {
                    tracing::warn!(error = %e, "could not publish this replica's ingest lag");
                }
            }
        }),
    ));
    let stale_after_ms =
        i64::try_from(config.stale_after_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let stale_store = store.clone();
    tasks.push((
        STALE_SWEEP,
        tokio::spawn(jobs::run_leased(
            store.clone(),
            holder.to_string(),
            STALE_SWEEP,
            std::time::Duration::from_secs(60),
            move || {
                let store = stale_store.clone();
                async move { stale_sweep(&store, stale_after_ms).await }
            },
        )),
    ));
    tasks
}

/// The desk's jobs: SLA sweep and outbox delivery, auto-close, the daily digest.
async fn spawn_desk_jobs(
    store: &Store,
    config: &Config,
    holder: &str,
) -> anyhow::Result<Vec<(&'static str, tokio::task::JoinHandle<()>)>> {
    let links = notify::Links {
        public_url: config.public_url.clone(),
        satisfaction_key: store
            .server_secret(desk::satisfaction::KEY_NAME)
            .await
            .context("reading the satisfaction link key")?,
    };
    let deliverer =
        std::sync::Arc::new(notify::Deliverer::new(config.smtp.clone())?.with_links(links));
    let mut tasks = Vec::new();
    let notify_store = store.clone();
    tasks.push((
        NOTIFICATIONS,
        tokio::spawn(jobs::run_leased(
            store.clone(),
            holder.to_string(),
            NOTIFICATIONS,
            std::time::Duration::from_secs(5),
            move || {
                let store = notify_store.clone();
                let deliverer = deliverer.clone();
                async move { notify::sla_and_delivery_pass(&store, &deliverer).await }
            },
        )),
    ));
    let close_store = store.clone();
    tasks.push((
        AUTO_CLOSE,
        tokio::spawn(jobs::run_leased(
            store.clone(),
            holder.to_string(),
            AUTO_CLOSE,
            std::time::Duration::from_secs(300),
            move || {
                let store = close_store.clone();
                async move { auto_close(&store).await }
            },
        )),
    ));
    let digest_store = store.clone();
    let schedule = config.digest_schedule.clone();
    tasks.push((
        DAILY_DIGEST,
        tokio::spawn(jobs::run_leased(
            store.clone(),
            holder.to_string(),
            DAILY_DIGEST,
            std::time::Duration::from_secs(60),
            move || {
                let store = digest_store.clone();
                let schedule = schedule.clone();
                async move { notify::digest_pass(&store, &schedule).await }
            },
        )),
    ));
    Ok(tasks)
}

/// Job names, as stored in `job_leases`.
pub const OFFLINE_SWEEP: &str = "offline-sweep";
pub const STALE_SWEEP: &str = "stale-sweep";
/// SLA warnings and breaches recorded, then the outbox delivered, every 5 s.
pub const NOTIFICATIONS: &str = "notifications";
/// Resolved tickets closed after their plan's `auto_close_days`, every 5 min.
pub const AUTO_CLOSE: &str = "auto-close";
/// Daily digests queued when their schedule comes, checked every minute.
pub const DAILY_DIGEST: &str = "daily-digest";
/// Not a leased job: every replica's report of its ingest lag, every 5 s (its "lease", released
/// on stop, is never taken).
pub const INGEST_LAG: &str = "ingest-lag";

/// Close resolved tickets whose plan says they have waited long enough.
async fn auto_close(store: &Store) {
    match desk::auto_close(store, store::now_ms()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "resolved tickets closed automatically"),
        Err(e) => tracing::warn!(error = %e, "auto-close failed"),
    }
}

/// Mark CIs not reported for `stale_after_ms` as stale.
async fn stale_sweep(store: &Store, stale_after_ms: i64) {
    match store
        .mark_stale(store::now_ms().saturating_sub(stale_after_ms))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "configuration items marked stale"),
        Err(e) => tracing::warn!(error = %e, "stale sweep failed"),
    }
}
