//! Email over SMTP with `lettre`: a plain-text message per notification, its `Message-ID` made
//! from the idempotency key so a duplicate is recognisable.

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

use crate::store::outbox::Pending;

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `Atalaya <desk@msp.example>`
    pub from: String,
    /// Upgrade with STARTTLS (anything but a relay on loopback should).
    pub starttls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("starttls", &self.starttls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Subject and body for a notification, by event type.
pub fn render(event: &str, payload: &Value) -> (String, String) {
    let ticket = &payload["ticket"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let number = text(&ticket["number"]);
    let title = text(&ticket["title"]);
    let what = match event {
        "opened" => "Opened",
        "escalated" => "Escalated",
        "resolved" => "Resolved",
        "sla_warning" => "SLA warning",
        "sla_breach" => "SLA breached",
        other => other,
    };
    let subject = format!("[{number}] {what}: {title}");
    let mut body = format!(
        "{what}: {number} {title}\n\nPriority: P{}\nState: {}\n",
        ticket["priority"],
        text(&ticket["state"])
    );
    if let Some(group) = ticket["assignment_group"].as_str() {
        body.push_str(&format!("Group: {group}\n"));
    }
    if let Some(detail) = payload["detail"].as_object().filter(|d| !d.is_empty()) {
        body.push('\n');
        for (key, value) in detail {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            body.push_str(&format!("{key}: {value}\n"));
        }
    }
    (subject, body)
}

pub async fn send(settings: &SmtpSettings, message: &Pending) -> Result<String, String> {
    let (subject, body) = render(&message.event, &message.payload);
    let id: String = message
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
    let email = Message::builder()
        .from(
            settings
                .from
                .parse()
                .map_err(|e| format!("sender address: {e}"))?,
        )
        .to(message
            .target
            .parse()
            .map_err(|e| format!("recipient address: {e}"))?)
        .subject(subject)
        .message_id(Some(format!("<{id}@atalaya>")))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("building the message: {e}"))?;
    let builder = if settings.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
            .map_err(|e| format!("SMTP relay: {e}"))?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
    };
    let mut builder = builder
        .port(settings.port)
        .timeout(Some(Duration::from_secs(10)));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let response = builder
        .build()
        .send(email)
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
    use serde_json::json;

    #[test]
    fn templates_name_the_ticket_and_the_event() {
        let payload = json!({"ticket": {"number": "INC-000007", "title": "Disk full",
                             "priority": 2, "state": "new", "assignment_group": "service-desk"},
                             "detail": {"metric": "resolution"}});
        let (subject, body) = render("sla_breach", &payload);
        assert_eq!(subject, "[INC-000007] SLA breached: Disk full");
        assert!(body.contains("Priority: P2"), "{body}");
        assert!(body.contains("metric: resolution"), "{body}");
        let hidden = format!(
            "{:?}",
            SmtpSettings {
                host: "h".into(),
                port: 25,
                from: "a@b".into(),
                starttls: false,
                username: Some("u".into()),
                password: Some("p4ss".into()),
            }
        );
        assert!(!hidden.contains("p4ss"));
    }
}
