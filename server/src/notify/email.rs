//! Email over SMTP with `lettre`: a plain-text message per notification (worded by
//! [`super::templates`]), its `Message-ID` made from the idempotency key so a duplicate is
//! recognisable.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on loopback or a trusted network.
    None,
    /// Upgrade with STARTTLS (port 587), required.
    Starttls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

impl FromStr for SmtpTls {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::Starttls),
            "tls" => Ok(SmtpTls::Tls),
            other => Err(format!("smtp tls {other:?} must be none, starttls or tls")),
        }
    }
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `Atalaya <desk@msp.example>`
    pub from: String,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// A rendered email for one outbox message.
pub struct Email<'a> {
    pub to: &'a str,
    pub subject: String,
    pub body: String,
    /// The outbox idempotency key, made into the `Message-ID`.
    pub idempotency_key: &'a str,
}

pub async fn send(settings: &SmtpSettings, email: Email<'_>) -> Result<String, String> {
    let id: String = email
        .idempotency_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '.'
            }
        })
        .collect();
    let message = Message::builder()
        .from(
            settings
                .from
                .parse()
                .map_err(|e| format!("sender address: {e}"))?,
        )
        .to(email
            .to
            .parse()
            .map_err(|e| format!("recipient address: {e}"))?)
        .subject(email.subject)
        .message_id(Some(format!("<{id}@atalaya>")))
        .header(ContentType::TEXT_PLAIN)
        .body(email.body)
        .map_err(|e| format!("building the message: {e}"))?;
    let builder = match settings.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
            .map_err(|e| format!("SMTP relay: {e}"))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
            .map_err(|e| format!("SMTP relay: {e}"))?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
    };
    let mut builder = builder
        .port(settings.port)
        .timeout(Some(Duration::from_secs(10)));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let response = builder
        .build()
        .send(message)
        .await
        .map_err(|e| format!("SMTP: {e}"))?;
    Ok(format!(
        "SMTP {} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_tls_modes_parse() {
        let hidden = format!(
            "{:?}",
            SmtpSettings {
                host: "h".into(),
                port: 25,
                from: "a@b".into(),
                tls: SmtpTls::None,
                username: Some("u".into()),
                password: Some("p4ss".into()),
            }
        );
        assert!(!hidden.contains("p4ss"));
        assert_eq!("STARTTLS".parse(), Ok(SmtpTls::Starttls));
        assert_eq!("tls".parse::<SmtpTls>().map(SmtpTls::default_port), Ok(465));
        assert!("ssl".parse::<SmtpTls>().is_err());
    }
}
