//! Delivering notifications from the outbox (see [`crate::store::outbox`]): webhooks signed with
//! HMAC-SHA256 and email over SMTP worded by the tenant's templates, retried with backoff, every
//! attempt logged.

pub mod digest;
pub mod email;
pub mod templates;
pub mod tenant_templates;
pub mod webhook;

use std::time::Duration;

use crate::desk::satisfaction;
use crate::store::outbox::{ChannelKind, Pending};
use crate::store::tickets::TicketKind;
use crate::store::{now_ms, Store, StoreResult};

/// How long a worker may hold a message before another may retry it.
const LEASE_MS: i64 = 5 * 60_000;

/// Where links in emails point, and the key satisfaction links are signed with.
#[derive(Clone)]
pub struct Links {
    /// `https://desk.msp.example`, without a trailing slash.
    pub public_url: String,
    pub satisfaction_key: String,
}

impl Links {
    pub fn satisfaction_url(&self, kind: TicketKind, ticket_id: i64) -> String {
        format!(
            "{}/satisfaction/{}",
            self.public_url,
            satisfaction::token(&self.satisfaction_key, kind, ticket_id)
        )
    }
}

pub struct Deliverer {
    http: reqwest::Client,
    smtp: Option<email::SmtpSettings>,
    links: Option<Links>,
}

impl Deliverer {
    pub fn new(smtp: Option<email::SmtpSettings>) -> anyhow::Result<Deliverer> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("atalaya-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer {
            http,
            smtp,
            links: None,
        })
    }

    /// Put links (the satisfaction link in "resolved" emails) into emails.
    pub fn with_links(mut self, links: Links) -> Deliverer {
        self.links = Some(links);
        self
    }

    /// Deliver what is due at `now`; returns how many messages were attempted.
    pub async fn deliver_due(&self, store: &Store, now: i64) -> StoreResult<usize> {
        let batch = store.claim_due(now, LEASE_MS, 50).await?;
        let count = batch.len();
        for message in batch {
            let outcome = match message.kind {
                ChannelKind::Webhook => webhook::post(&self.http, &message, now).await,
                ChannelKind::Email => self.send_email(store, &message).await?,
            };
            if let Err(error) = &outcome {
                tracing::warn!(id = message.id, attempts = message.attempts + 1, %error,
                               "notification delivery failed");
            }
            store.finish_attempt(message.id, now, outcome).await?;
        }
        Ok(count)
    }

    /// Word the email with the tenant's template for the event (the built-in one when the
    /// tenant has none, or when its own fails on this message), then send it.
    async fn send_email(
        &self,
        store: &Store,
        message: &Pending,
    ) -> StoreResult<Result<String, String>> {
        let Some(smtp) = &self.smtp else {
            return Ok(Err("no SMTP server is configured".into()));
        };
        let satisfaction_url = match (&self.links, message.event.as_str()) {
            (Some(links), "resolved") => {
                ticket_of(&message.payload).map(|(kind, id)| links.satisfaction_url(kind, id))
            }
            _ => None,
        };
        let context = templates::context(
            &message.event,
            &message.payload,
            satisfaction_url.as_deref(),
        );
        let custom = match message.tenant_id {
            Some(tenant) => tenant_templates::custom(store, tenant, &message.event).await?,
            None => None,
        };
        let rendered = match custom.map(|t| templates::render(&t, &context)) {
            Some(Ok(rendered)) => rendered,
            other => {
                if let Some(Err(error)) = other {
                    tracing::warn!(tenant = ?message.tenant_id, event = %message.event, %error,
                                   "the tenant's template failed; using the built-in one");
                }
                match templates::render(&templates::builtin(&message.event), &context) {
                    Ok(rendered) => rendered,
                    Err(error) => return Ok(Err(format!("rendering the email: {error}"))),
                }
            }
        };
        let (subject, body) = rendered;
        Ok(email::send(
            smtp,
            email::Email {
                to: &message.target,
                subject,
                body,
                idempotency_key: &message.idempotency_key,
            },
        )
        .await)
    }
}

/// The ticket a notification payload is about.
fn ticket_of(payload: &serde_json::Value) -> Option<(TicketKind, i64)> {
    let kind = match payload["kind"].as_str()? {
        "incident" => TicketKind::Incident,
        "service_request" => TicketKind::ServiceRequest,
        _ => return None,
    };
    Some((kind, payload["ticket"]["id"].as_i64()?))
}

/// One pass of the desk's notification work: record (and queue notifications for) SLA warnings
/// and breaches, then deliver what is due. Both steps are safe on several replicas at once (see
/// [`crate::desk::sla_sweep`] and [`Store::claim_due`]); the job lease only saves the duplicate work.
pub async fn sla_and_delivery_pass(store: &Store, deliverer: &Deliverer) {
    if let Err(error) = crate::desk::sla_sweep(store, now_ms()).await {
        tracing::warn!(%error, "SLA sweep failed");
    }
    if let Err(error) = deliverer.deliver_due(store, now_ms()).await {
        tracing::warn!(%error, "notification delivery pass failed");
    }
}

/// Queue the daily digests whose time has come.
pub async fn digest_pass(store: &Store, schedule: &cron::Schedule) {
    match digest::enqueue_digests(store, schedule, now_ms()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "daily digests queued"),
        Err(error) => tracing::warn!(%error, "queueing daily digests failed"),
    }
}
