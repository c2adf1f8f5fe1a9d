//! Server configuration: defaults, then the TOML file, then `ATALAYA_*` environment, then flags.
//!
//! clap reads flags and environment together (a flag wins over its variable); whatever neither
//! sets falls back to the file, then to the defaults here.

pub mod smtp;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::notify::email::SmtpSettings;
use crate::rules::site_outage::SiteOutagePolicy;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./atalaya-data";
pub const DEFAULT_REPORT_INTERVAL_SECS: u64 = 60;
/// Largest request body accepted (after decompression). A full inventory of a machine with a few
/// thousand packages is a few hundred KiB; 8 MiB leaves room without inviting abuse.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// Three days without a report: long enough for a weekend, short enough to notice a dead agent.
pub const DEFAULT_STALE_AFTER_HOURS: u64 = 72;

/// When the daily digest goes out (seconds, minutes, hours, day, month, weekday), in each
/// tenant's time zone: 07:00 every day.
pub const DEFAULT_DIGEST_SCHEDULE: &str = "0 0 7 * * *";

/// The TOML file's shape. Unknown keys are an error, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub report_interval_secs: Option<u64>,
    pub max_request_bytes: Option<usize>,
    pub stale_after_hours: Option<u64>,
    /// `[site_outage]`: when many computers of one site offline make one site incident.
    pub site_outage: Option<SiteOutagePolicy>,
    /// The server's address as people reach it, for links in emails.
    pub public_url: Option<String>,
    /// The email of the first MSP admin, made on the first start with no MSP admin.
    pub admin_email: Option<String>,
    /// Cron expression of the daily digest.
    pub digest_schedule: Option<String>,
    /// `[smtp]`: the server email goes out through.
    pub smtp: Option<smtp::SmtpFile>,
}

/// Values from flags or environment (already merged by clap); `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub report_interval_secs: Option<u64>,
    pub public_url: Option<String>,
    pub admin_email: Option<String>,
    pub digest_schedule: Option<String>,
    pub smtp: smtp::SmtpOverrides,
}

#[derive(Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub tls: Option<TlsFiles>,
    pub report_interval_secs: u64,
    pub max_request_bytes: usize,
    /// A CI not reported for this long becomes `stale`.
    pub stale_after_hours: u64,
    pub site_outage: SiteOutagePolicy,
    /// Base URL of links in emails (satisfaction), without a trailing slash.
    pub public_url: String,
    /// No `public_url` was configured: it is made from the listen address (and, once bound,
    /// from the port actually bound, for `--listen …:0`).
    pub public_url_is_default: bool,
    /// The first MSP admin's email (`admin@localhost` unless configured).
    pub admin_email: String,
    pub digest_schedule: cron::Schedule,
    /// `None`: no SMTP server, so email channels fail (and are retried) until one is set.
    pub smtp: Option<SmtpSettings>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("tls", &self.tls.as_ref().map(|t| (&t.cert, &t.key)))
            .field("report_interval_secs", &self.report_interval_secs)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("stale_after_hours", &self.stale_after_hours)
            .field("site_outage", &self.site_outage)
            .field("public_url", &self.public_url)
            .field("digest_schedule", &self.digest_schedule.to_string())
            .field("smtp", &self.smtp)
            .finish()
    }
}

/// The base URL of links when none is configured: the listen address.
/// The first MSP admin's email when none is configured.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

pub fn default_public_url(tls: bool, listen: SocketAddr) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{listen}")
}

impl Config {
    /// Once the listener is bound: make a default public URL name the bound port, and say when
    /// links in emails will not work from elsewhere.
    pub fn settle_public_url(&mut self, bound: SocketAddr) {
        if !self.public_url_is_default {
            return;
        }
        self.public_url = default_public_url(self.tls.is_some(), bound);
        if self.smtp.is_some() && bound.ip().is_unspecified() {
            tracing::warn!(public_url = %self.public_url,
                           "links in emails use the listen address; set public_url to the address people reach");
        }
    }
}

/// A database URL with any password replaced, safe to log.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("listen address {0:?} is not HOST:PORT (for example 0.0.0.0:8443)")]
    Listen(String),
    #[error("TLS needs both tls_cert and tls_key")]
    TlsIncomplete,
    #[error("report_interval_secs must be between 5 and 86400")]
    Interval,
    #[error("{0}")]
    SiteOutage(String),
    #[error("{0}")]
    Smtp(String),
    #[error(
        "digest_schedule {0:?} is not a cron expression (sec min hour day month weekday): {1}"
    )]
    DigestSchedule(String, String),
    #[error("public_url {0:?} must start with http:// or https://")]
    PublicUrl(String),
}

impl Config {
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = match &overrides.config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen_text = overrides
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text
            .parse()
            .map_err(|_| ConfigError::Listen(listen_text.clone()))?;
        let data_dir = overrides
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = overrides
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| default_database_url(&data_dir));
        let tls = match (
            overrides.tls_cert.clone().or(file.tls_cert),
            overrides.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err(ConfigError::TlsIncomplete),
        };
        let report_interval_secs = overrides
            .report_interval_secs
            .or(file.report_interval_secs)
            .unwrap_or(DEFAULT_REPORT_INTERVAL_SECS);
        if !(5..=86_400).contains(&report_interval_secs) {
            return Err(ConfigError::Interval);
        }
        let site_outage = file.site_outage.unwrap_or_default();
        site_outage.validate().map_err(ConfigError::SiteOutage)?;
        let configured_url = overrides.public_url.clone().or(file.public_url);
        let public_url_is_default = configured_url.is_none();
        let public_url = match configured_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_string()
            }
            Some(url) => return Err(ConfigError::PublicUrl(url)),
            None => default_public_url(tls.is_some(), listen),
        };
        let digest_text = overrides
            .digest_schedule
            .clone()
            .or(file.digest_schedule)
            .unwrap_or_else(|| DEFAULT_DIGEST_SCHEDULE.to_string());
        let digest_schedule = digest_text
            .parse::<cron::Schedule>()
            .map_err(|e| ConfigError::DigestSchedule(digest_text.clone(), e.to_string()))?;
        let smtp = smtp::resolve(file.smtp, &overrides.smtp)?;
        let admin_email = overrides
            .admin_email
            .clone()
            .or(file.admin_email)
            .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_string());
        Ok(Config {
            public_url,
            public_url_is_default,
            admin_email,
            digest_schedule,
            smtp,
            site_outage,
            listen,
            data_dir,
            database_url,
            tls,
            report_interval_secs,
            max_request_bytes: file.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
            stale_after_hours: file.stale_after_hours.unwrap_or(DEFAULT_STALE_AFTER_HOURS),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// The embedded default: SQLite in the data directory, created on first start.
pub fn default_database_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("atalaya.db").display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::email::SmtpTls;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("atalaya.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nreport_interval_secs = 30\n\n[site_outage]\nmin_computers = 5\n",
        )
        .expect("write");
        let from_file = Config::load(&Overrides {
            config_file: Some(file.clone()),
            ..Overrides::default()
        })
        .expect("loads");
        assert_eq!(from_file.listen.port(), 9000);
        assert_eq!(from_file.report_interval_secs, 30);
        assert_eq!(from_file.site_outage.min_computers, 5);
        assert_eq!(
            from_file.site_outage.window_secs, 300,
            "unset keys keep defaults"
        );
        assert!(from_file.database_url.starts_with("sqlite://"));

        let flagged = Config::load(&Overrides {
            config_file: Some(file),
            listen: Some("127.0.0.1:7000".into()),
            ..Overrides::default()
        })
        .expect("loads");
        assert_eq!(flagged.listen.port(), 7000);
        assert_eq!(flagged.report_interval_secs, 30);
    }

    #[test]
    fn unknown_keys_and_half_tls_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listn = \"x\"\n").expect("write");
        let err = Config::load(&Overrides {
            config_file: Some(file),
            ..Overrides::default()
        })
        .expect_err("typo is refused");
        assert!(err.to_string().contains("listn"), "{err}");
        let err = Config::load(&Overrides {
            tls_cert: Some("c.pem".into()),
            ..Overrides::default()
        })
        .expect_err("cert without key");
        assert!(matches!(err, ConfigError::TlsIncomplete));
    }

    #[test]
    fn smtp_layers_and_validates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("atalaya.toml");
        std::fs::write(
            &file,
            "public_url = \"https://desk.msp.example/\"\ndigest_schedule = \"0 30 6 * * Mon-Fri\"\n\n\
             [smtp]\nhost = \"mail.msp.example\"\ntls = \"tls\"\nusername = \"desk\"\n\
             password = \"s3cret\"\nfrom = \"Atalaya <desk@msp.example>\"\n",
        )
        .expect("write");
        let config = Config::load(&Overrides {
            config_file: Some(file.clone()),
            ..Overrides::default()
        })
        .expect("loads");
        let mail = config.smtp.clone().expect("smtp configured");
        assert_eq!((mail.host.as_str(), mail.port), ("mail.msp.example", 465));
        assert_eq!(mail.tls, SmtpTls::Tls);
        assert_eq!(config.public_url, "https://desk.msp.example");
        assert!(!format!("{config:?}").contains("s3cret"), "password hidden");

        let flagged = Config::load(&Overrides {
            config_file: Some(file),
            smtp: smtp::SmtpOverrides {
                host: Some("127.0.0.1".into()),
                port: Some(2525),
                tls: Some("none".into()),
                ..smtp::SmtpOverrides::default()
            },
            ..Overrides::default()
        })
        .expect("loads");
        let mail = flagged.smtp.expect("smtp");
        assert_eq!((mail.host.as_str(), mail.port), ("127.0.0.1", 2525));
        assert_eq!(mail.tls, SmtpTls::None);
        assert_eq!(
            mail.username.as_deref(),
            Some("desk"),
            "file fills the rest"
        );

        let defaults = Config::load(&Overrides::default()).expect("defaults");
        assert!(defaults.smtp.is_none());
        assert_eq!(defaults.public_url, "http://127.0.0.1:8080");
        let mut bound = defaults.clone();
        bound.settle_public_url("127.0.0.1:41234".parse().expect("address"));
        assert_eq!(bound.public_url, "http://127.0.0.1:41234", "the port bound");
        let mut explicit = config.clone();
        explicit.settle_public_url("127.0.0.1:41234".parse().expect("address"));
        assert_eq!(
            explicit.public_url, "https://desk.msp.example",
            "configured wins"
        );
        assert_eq!(
            defaults.digest_schedule.to_string(),
            DEFAULT_DIGEST_SCHEDULE
        );

        let refused = |overrides: Overrides| Config::load(&overrides).expect_err("refused");
        let no_from = refused(Overrides {
            smtp: smtp::SmtpOverrides {
                host: Some("mail".into()),
                ..smtp::SmtpOverrides::default()
            },
            ..Overrides::default()
        });
        assert!(no_from.to_string().contains("smtp.from"), "{no_from}");
        let bad_tls = refused(Overrides {
            smtp: smtp::SmtpOverrides {
                host: Some("mail".into()),
                from: Some("a@b.example".into()),
                tls: Some("ssl3".into()),
                ..smtp::SmtpOverrides::default()
            },
            ..Overrides::default()
        });
        assert!(bad_tls.to_string().contains("starttls"), "{bad_tls}");
        let bad_cron = refused(Overrides {
            digest_schedule: Some("every morning".into()),
            ..Overrides::default()
        });
        assert!(
            bad_cron.to_string().contains("digest_schedule"),
            "{bad_cron}"
        );

        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "[smtp]\nhots = \"mail\"\n").expect("write");
        let err = Config::load(&Overrides {
            config_file: Some(typo),
            ..Overrides::default()
        })
        .expect_err("unknown smtp key");
        assert!(err.to_string().contains("hots"), "{err}");
    }

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("postgres://atalaya:s3cret@db:5432/atalaya"),
            "postgres://atalaya:***@db:5432/atalaya"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
