//! `atalaya-server quickstart`: the server on its embedded SQLite default with this machine's own
//! agent enrolled against it, so a new user sees this computer in the CMDB within a minute.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::Command;

use crate::bootstrap::{write_secret, ADMIN_TOKEN_FILE, DEFAULT_TENANT};
use crate::config::Config;
use crate::http::AppState;
use crate::store::tokens::NewEnrollmentToken;
use crate::store::{now_ms, Store, TenantScope};

pub struct QuickstartOptions {
    /// How often the local agent reports, in seconds.
    pub interval_secs: u64,
    /// The agent binary; defaults to `atalaya-agent` beside this executable.
    pub agent_binary: Option<PathBuf>,
}

pub async fn quickstart(config: Config, options: QuickstartOptions) -> anyhow::Result<()> {
    let agent_binary = match options.agent_binary {
        Some(path) => path,
        None => sibling_agent_binary()?,
    };
    let store = crate::prepare(&config).await?;
    let listener = std::net::TcpListener::bind(config.listen).with_context(|| {
        format!(
            "binding {} (is another server running? choose another with --listen)",
            config.listen
        )
    })?;
    let address = listener.local_addr()?;
    let mut config = config;
    config.settle_public_url(address);
    let host = if address.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        address.ip().to_string()
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{host}:{}", address.port());
    let ca_cert = config.tls.as_ref().map(|t| t.cert.clone());

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let tls = config.tls.clone();
    let data_dir = config.data_dir.clone();
    let ingest = crate::ingest::Ingest::new(store.clone());
    let background = crate::BackgroundJobs::spawn(&ingest, &config).await?;
    let state = AppState::with_ingest(ingest, config);
    let server = tokio::spawn(async move {
        crate::serve::serve_with_listener(state, listener, tls.as_ref(), async {
            let _ = stop_rx.await;
        })
        .await
    });

    let agent_state = data_dir.join("agent");
    let admin_token = admin_token(&store, &data_dir).await?;
    if !agent_state.join("credential.json").exists() {
        enroll_local_agent(
            &store,
            &agent_binary,
            &agent_state,
            &url,
            ca_cert.as_deref(),
        )
        .await?;
    }
    let mut agent = agent_command(&agent_binary, &agent_state);
    agent
        .arg("run")
        .arg("--interval")
        .arg(options.interval_secs.to_string())
        .kill_on_drop(true);
    let mut agent = agent
        .spawn()
        .with_context(|| format!("starting {}", agent_binary.display()))?;

    println!();
    println!("atalaya-server listening on {url}");
    println!("Atalaya is running at {url}");
    println!("  admin token: {admin_token}");
    println!(
        "  this machine's agent reports every {}s (state in {})",
        options.interval_secs,
        agent_state.display()
    );
    println!();
    println!("List the CMDB (this computer and its volumes appear within a minute):");
    println!("  curl -s -H 'Authorization: Bearer {admin_token}' {url}/api/v1/cis");
    println!("Incidents opened by rules:");
    println!("  curl -s -H 'Authorization: Bearer {admin_token}' {url}/api/v1/incidents");
    println!();
    println!("Press Ctrl-C to stop.");

    tokio::select! {
        () = crate::serve::shutdown_signal() => {}
        status = agent.wait() => {
            tracing::error!(?status, "the local agent exited; stopping");
        }
    }
    let _ = agent.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), agent.wait()).await;
    let _ = stop_tx.send(());
    server.await??;
    background.stop(&store).await;
    store.close().await;
    Ok(())
}

fn sibling_agent_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let name = format!("atalaya-agent{}", std::env::consts::EXE_SUFFIX);
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found; build the whole workspace first (cargo build --release) or pass --agent-binary",
            path.display()
        );
    }
    Ok(path)
}

fn agent_command(binary: &Path, state_dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command.env("ATALAYA_AGENT_STATE_DIR", state_dir);
    command
}

/// The admin token to show: the first-start one if its file is still there, else a new one.
async fn admin_token(store: &Store, data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let token = text.trim().to_string();
        if crate::people::tokens::authenticate(store, &token, crate::store::now_ms())
            .await?
            .is_ok()
        {
            return Ok(token);
        }
    }
    let token = store.create_api_token(None, "quickstart").await?;
    write_secret(&path, &token)?;
    Ok(token)
}

/// Enroll this machine's agent with a fresh single-use token that expires in ten minutes.
async fn enroll_local_agent(
    store: &Store,
    binary: &Path,
    state_dir: &Path,
    url: &str,
    ca_cert: Option<&Path>,
) -> anyhow::Result<()> {
    let tenant = store
        .tenant_by_name(TenantScope::All, DEFAULT_TENANT)
        .await?;
    let (_, token) = store
        .create_enrollment_token(
            tenant.id,
            &NewEnrollmentToken {
                name: "quickstart".into(),
                site_id: None,
                expires_at_ms: Some(now_ms() + 600_000),
                max_uses: Some(1),
            },
        )
        .await?;
    let mut command = agent_command(binary, state_dir);
    command.args(["enroll", "--server", url, "--token", &token]);
    // The agent keeps the CA path in its credential file for every later connection.
    if let Some(ca) = ca_cert {
        command.arg("--ca-cert").arg(ca);
    }
    let status = command
        .status()
        .await
        .with_context(|| format!("running {}", binary.display()))?;
    if !status.success() {
        bail!("enrolling the local agent failed ({status})");
    }
    Ok(())
}
