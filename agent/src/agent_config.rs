//! Config from the server: the report interval, inventory schedule, spool cap and watched
//! services an admin sets per tenant or per agent. The agent fetches it when an acknowledgement
//! names a version other than the one it runs, checks it with the same rules as the server,
//! applies it live and keeps it in `agent_config.json` (0600) so a restart starts with it.
//!
//! A value given on the command line (`--interval`, `--spool-max-bytes`,
//! `--inventory-schedule`) is a local override and wins over the server's.

use std::path::Path;

use anyhow::{Context, Result};
use atalaya_shared::agent_config::{check_schedule, AgentConfigSettings};
use atalaya_shared::protocol::AgentConfig;
use cron::Schedule;

use crate::fsio;
use crate::inventory::DEFAULT_FULL_SEND as DEFAULT_INVENTORY_SCHEDULE;
use crate::spool::DEFAULT_CAP_BYTES as DEFAULT_SPOOL_MAX_BYTES;
use crate::state::StateDir;
use crate::uploader::Uploader;

/// What `run` applies: the server's config (if any) under the local overrides.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's config version these settings come from (`None`: never fetched).
    pub version: Option<u64>,
    pub interval_secs: u64,
    pub schedule: Schedule,
    pub spool_max_bytes: u64,
    pub watched_services: Vec<String>,
}

/// Values from the command line or environment, which the server's config does not replace.
#[derive(Debug, Clone, Default)]
pub struct LocalOverrides {
    pub interval_secs: Option<u64>,
    pub spool_max_bytes: Option<u64>,
    pub inventory_schedule: Option<String>,
}

impl LocalOverrides {
    /// Combines the server's config with these overrides and the built-in defaults. A local
    /// schedule that does not parse is an error; the server's has been checked already.
    pub fn resolve(&self, remote: Option<&AgentConfig>, default_interval: u64) -> Result<Settings> {
        let schedule_text = self
            .inventory_schedule
            .clone()
            .or_else(|| remote.map(|r| r.inventory_schedule.clone()))
            .unwrap_or_else(|| DEFAULT_INVENTORY_SCHEDULE.to_owned());
        let schedule = check_schedule(&schedule_text).map_err(anyhow::Error::msg)?;
        Ok(Settings {
            version: remote.map(|r| r.version),
            interval_secs: self
                .interval_secs
                .or(remote.map(|r| r.report_interval_secs))
                .unwrap_or(default_interval),
            schedule,
            spool_max_bytes: self
                .spool_max_bytes
                .or(remote.map(|r| r.spool_max_bytes))
                .unwrap_or(DEFAULT_SPOOL_MAX_BYTES),
            watched_services: remote
                .map(|r| r.watched_services.clone())
                .unwrap_or_default(),
        })
    }
}

/// Checks a config from the server with the server's own rules (a server of another version,
/// or something in between, may send nonsense), returning it normalised.
pub fn check(config: &AgentConfig) -> Result<AgentConfig, String> {
    let mut settings = AgentConfigSettings::from(config);
    settings.validate()?;
    Ok(settings.resolve(config.version, config.report_interval_secs))
}

/// The config saved by the last fetch; `None` when there is none or it is unreadable (then the
/// agent runs on its defaults until the server's next acknowledgement).
pub fn load(path: &Path) -> Option<AgentConfig> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the saved agent config; using defaults until the server sends it again");
            return None;
        }
    };
    let parsed = serde_json::from_slice::<AgentConfig>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|c| check(&c));
    match parsed {
        Ok(config) => Some(config),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the saved agent config is not valid; using defaults until the server sends it again");
            None
        }
    }
}

pub fn save(path: &Path, config: &AgentConfig) -> Result<()> {
    let json = serde_json::to_vec_pretty(config).context("serialising the agent config")?;
    fsio::write_atomic(path, &json, 0o600).with_context(|| format!("writing {}", path.display()))
}

/// Follows the server's agent config: fetches it when an acknowledgement names another
/// version, checks, saves and resolves it against the local overrides.
pub struct ConfigSync {
    pub dir: StateDir,
    pub overrides: LocalOverrides,
    pub default_interval: u64,
    /// The server's config version now applied (`None`: none fetched yet).
    pub applied: Option<u64>,
    /// The version whose fetch or check failed last, so a failure is logged once per version.
    failed: Option<u64>,
}

impl ConfigSync {
    pub fn new(dir: StateDir, overrides: LocalOverrides, default_interval: u64) -> ConfigSync {
        ConfigSync {
            dir,
            overrides,
            default_interval,
            applied: None,
            failed: None,
        }
    }

    /// New settings when the server wants a config version other than the applied one and it
    /// could be fetched; `None` otherwise (the next acknowledgement tries again).
    pub async fn sync(&mut self, uploader: &Uploader, wanted: u64) -> Option<Settings> {
        if self.applied == Some(wanted) {
            return None;
        }
        let first_failure = self.failed != Some(wanted);
        let fetched = uploader
            .fetch_config()
            .await
            .map_err(|e| e.to_string())
            .and_then(|c| {
                check(&c).map_err(|e| format!("the server sent an invalid agent config: {e}"))
            })
            .and_then(|c| {
                self.overrides
                    .resolve(Some(&c), self.default_interval)
                    .map(|s| (c, s))
                    .map_err(|e| format!("{e:#}"))
            });
        let (config, settings) = match fetched {
            Ok(ok) => ok,
            Err(e) => {
                if first_failure {
                    tracing::warn!(wanted, error = %e, "agent config not applied; keeping the current one");
                } else {
                    tracing::debug!(wanted, error = %e, "agent config still not applied");
                }
                self.failed = Some(wanted);
                return None;
            }
        };
        if let Err(e) = save(&self.dir.agent_config_path(), &config) {
            tracing::warn!(error = %format!("{e:#}"), "agent config applied but not saved; a restart will fetch it again");
        }
        tracing::info!(
            version = config.version,
            interval_secs = settings.interval_secs,
            inventory_schedule = %config.inventory_schedule,
            spool_max_bytes = settings.spool_max_bytes,
            watched_services = ?settings.watched_services,
            "agent config applied"
        );
        self.applied = Some(config.version);
        self.failed = None;
        Some(settings)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use atalaya_shared::protocol::PROTOCOL_VERSION;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::{Json, Router};

    use super::*;
    use crate::state::Credential;

    fn config(version: u64) -> AgentConfig {
        AgentConfig {
            protocol: PROTOCOL_VERSION,
            version,
            report_interval_secs: 30,
            inventory_schedule: "0 30 2 * * *".into(),
            spool_max_bytes: 8 << 20,
            watched_services: vec!["nginx".into()],
        }
    }

    #[test]
    fn saved_config_survives_a_restart_with_private_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = StateDir::new(dir.path().into()).agent_config_path();
        assert!(load(&path).is_none());
        save(&path, &check(&config(4)).expect("valid")).expect("saved");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("file").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let back = load(&path).expect("loaded");
        assert_eq!(back.version, 4);
        assert_eq!(back.watched_services, ["nginx.service"]);

        std::fs::write(&path, b"{garbage").expect("write");
        assert!(load(&path).is_none(), "corrupt file: defaults");
    }

    #[test]
    fn local_overrides_win_over_the_server_and_defaults_fill_the_rest() {
        let remote = config(2);
        let none = LocalOverrides::default();
        let s = none.resolve(Some(&remote), 60).expect("settings");
        assert_eq!(
            (s.version, s.interval_secs, s.spool_max_bytes),
            (Some(2), 30, 8 << 20)
        );
        let local = LocalOverrides {
            interval_secs: Some(5),
            spool_max_bytes: Some(2 << 20),
            inventory_schedule: Some("0 0 4 * * *".into()),
        };
        let s = local.resolve(Some(&remote), 60).expect("settings");
        assert_eq!((s.interval_secs, s.spool_max_bytes), (5, 2 << 20));
        assert_eq!(s.watched_services, ["nginx"]);
        let s = none.resolve(None, 60).expect("settings");
        assert_eq!(
            (s.version, s.interval_secs, s.spool_max_bytes),
            (None, 60, DEFAULT_SPOOL_MAX_BYTES)
        );
        let bad = LocalOverrides {
            inventory_schedule: Some("nightly".into()),
            ..Default::default()
        };
        assert!(bad.resolve(None, 60).is_err());
    }

    #[test]
    fn nonsense_from_the_server_is_refused() {
        let mut c = config(3);
        c.spool_max_bytes = 10;
        assert!(check(&c).expect_err("refused").contains("too small"));
    }

    #[tokio::test]
    async fn garbage_failing_or_invalid_agent_config_is_never_applied() {
        // The config endpoint answers, in turn: an HTML page, a 503, a config with nonsense values.
        let answers = Arc::new(Mutex::new(0u32));
        let app = Router::new().route(
            "/api/v1/agent/config",
            axum::routing::get(move || {
                let answers = answers.clone();
                async move {
                    let n = {
                        let mut a = answers.lock().unwrap();
                        *a += 1;
                        *a
                    };
                    match n {
                        1 => "<html>captive portal</html>".into_response(),
                        2 => (StatusCode::SERVICE_UNAVAILABLE, "upstream down").into_response(),
                        _ => Json(serde_json::json!({
                            "protocol": 1, "version": 9, "report_interval_secs": 0,
                            "inventory_schedule": "whenever", "spool_max_bytes": 10,
                        }))
                        .into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let uploader = Uploader::new(&Credential {
            server_url: format!("http://{addr}"),
            agent_id: "agent-now".into(),
            credential: "ata_test".into(),
            tenant: "default".into(),
            report_interval_secs: 60,
            ca_cert: None,
            enrolled_at: chrono::Utc::now(),
        })
        .unwrap();

        let err = uploader.fetch_config().await.expect_err("garbage");
        assert!(err.to_string().contains("not valid"), "{err}");
        let err = uploader.fetch_config().await.expect_err("5xx");
        assert!(err.to_string().contains("503"), "{err}");
        let config = uploader.fetch_config().await.expect("parses");
        let why = check(&config).expect_err("nonsense refused");
        assert!(why.contains("out of range"), "{why}");
    }
}
