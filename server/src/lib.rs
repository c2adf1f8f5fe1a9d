//! Atalaya server library: the HTTP API, CMDB, rules, desk and storage. The `atalaya-server`
//! binary is a thin command line over [`run`] and [`quickstart`].

pub mod bootstrap;
pub mod cmdb;
pub mod config;
pub mod desk;
pub mod enrollment;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod notify;
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
    Ok(store)
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
    tracing::info!(%address, scheme, "atalaya-server listening");
    // One stable line on stdout, so scripts and tests can find the port when --listen used port 0.
    println!("atalaya-server listening on {scheme}://{address}");
    let tls = config.tls.clone();
    let holder = jobs::holder_name();
    let background = spawn_background_jobs(&store, &config, &holder);
    let state = AppState::new(store.clone(), config);
    serve::serve_with_listener(state, listener, tls.as_ref(), shutdown).await?;
    for (name, task) in background {
        task.abort();
        if let Err(e) = store.release_lease(name, &holder).await {
            tracing::warn!(job = name, error = %e, "could not release the job's lease");
        }
    }
    store.close().await;
    Ok(())
}

/// Start the periodic jobs; each runs on one replica at a time (see [`jobs`]).
fn spawn_background_jobs(
    store: &Store,
    config: &Config,
    holder: &str,
) -> Vec<(&'static str, tokio::task::JoinHandle<()>)> {
    let mut tasks = Vec::new();
    let policy = config.site_outage;
    let sweep_store = store.clone();
    tasks.push((
        OFFLINE_SWEEP,
        tokio::spawn(jobs::run_leased(
            store.clone(),
            holder.to_string(),
            OFFLINE_SWEEP,
            std::time::Duration::from_secs(30),
            move || {
                let store = sweep_store.clone();
                async move { ingest::offline_sweep_job(&store, &policy).await }
            },
        )),
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

/// Job names, as stored in `job_leases`.
pub const OFFLINE_SWEEP: &str = "offline-sweep";
pub const STALE_SWEEP: &str = "stale-sweep";

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
