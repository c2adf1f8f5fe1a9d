//! Delivering notifications from the outbox (see [`crate::store::outbox`]): webhooks signed with
//! HMAC-SHA256 and email over SMTP, retried with backoff, every attempt logged.

pub mod email;
pub mod webhook;

use std::time::Duration;

use crate::store::outbox::{ChannelKind, Pending};
use crate::store::{now_ms, Store, StoreResult};

/// How long a worker may hold a message before another may retry it.
const LEASE_MS: i64 = 5 * 60_000;

pub struct Deliverer {
    http: reqwest::Client,
    smtp: Option<email::SmtpSettings>,
}

impl Deliverer {
    pub fn new(smtp: Option<email::SmtpSettings>) -> anyhow::Result<Deliverer> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("atalaya-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer { http, smtp })
    }

    /// Deliver what is due at `now`; returns how many messages were attempted.
    pub async fn deliver_due(&self, store: &Store, now: i64) -> StoreResult<usize> {
        let batch = store.claim_due(now, LEASE_MS, 50).await?;
        let count = batch.len();
        for message in batch {
            let outcome = self.send(&message, now).await;
            if let Err(error) = &outcome {
                tracing::warn!(id = message.id, attempts = message.attempts + 1, %error,
                               "notification delivery failed");
            }
            store.finish_attempt(message.id, now, outcome).await?;
        }
        Ok(count)
    }

    async fn send(&self, message: &Pending, now: i64) -> Result<String, String> {
        match message.kind {
            ChannelKind::Webhook => webhook::post(&self.http, message, now).await,
            ChannelKind::Email => match &self.smtp {
                Some(smtp) => email::send(smtp, message).await,
                None => Err("no SMTP server is configured".into()),
            },
        }
    }
}

/// The desk's background work, every few seconds until the task is dropped: record (and queue
/// notifications for) SLA warnings and breaches, then deliver what is due. Both steps are safe
/// on several replicas at once (see [`Store::sla_sweep`] and [`Store::claim_due`]).
pub async fn run(store: Store, deliverer: Deliverer) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Err(error) = store.sla_sweep(now_ms()).await {
            tracing::warn!(%error, "SLA sweep failed");
        }
        if let Err(error) = deliverer.deliver_due(&store, now_ms()).await {
            tracing::warn!(%error, "notification delivery pass failed");
        }
    }
}
