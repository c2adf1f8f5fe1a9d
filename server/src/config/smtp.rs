//! The `[smtp]` table and its `ATALAYA_SMTP_*` / `--smtp-*` overrides: where email goes out.

use serde::Deserialize;

use super::ConfigError;
use crate::notify::email::{SmtpSettings, SmtpTls};

/// `[smtp]` in the TOML file. Every key is optional there because the environment or a flag may
/// give it; `host` and `from` must come from somewhere once any is given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `none`, `starttls` or `tls`.
    pub tls: Option<SmtpTls>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `Atalaya <desk@msp.example>`
    pub from: Option<String>,
}

/// The same keys from flags or environment (merged by clap).
#[derive(Debug, Default, Clone)]
pub struct SmtpOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
}

/// The settings email is sent with, or `None` when no SMTP server is configured at all.
pub fn resolve(
    file: Option<SmtpFile>,
    overrides: &SmtpOverrides,
) -> Result<Option<SmtpSettings>, ConfigError> {
    let file = file.unwrap_or_default();
    let tls = match &overrides.tls {
        Some(text) => text.parse().map_err(ConfigError::Smtp)?,
        None => file.tls.unwrap_or(SmtpTls::Starttls),
    };
    let host = overrides.host.clone().or(file.host);
    let from = overrides.from.clone().or(file.from);
    let username = overrides.username.clone().or(file.username);
    let password = overrides.password.clone().or(file.password);
    let port = overrides.port.or(file.port);
    let anything = host.is_some()
        || from.is_some()
        || username.is_some()
        || password.is_some()
        || port.is_some()
        || overrides.tls.is_some()
        || file.tls.is_some();
    if !anything {
        return Ok(None);
    }
    let Some(host) = host.filter(|h| !h.trim().is_empty()) else {
        return Err(ConfigError::Smtp(
            "smtp.host (ATALAYA_SMTP_HOST, --smtp-host) is required once SMTP is configured".into(),
        ));
    };
    let Some(from) = from else {
        return Err(ConfigError::Smtp(
            "smtp.from (ATALAYA_SMTP_FROM, --smtp-from) is required once SMTP is configured".into(),
        ));
    };
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(ConfigError::Smtp(format!(
            "smtp.from {from:?} is not an address such as \"Atalaya <desk@msp.example>\""
        )));
    }
    if username.is_some() != password.is_some() {
        return Err(ConfigError::Smtp(
            "smtp.username and smtp.password go together".into(),
        ));
    }
    Ok(Some(SmtpSettings {
        port: port.unwrap_or(tls.default_port()),
        host,
        from,
        tls,
        username,
        password,
    }))
}
