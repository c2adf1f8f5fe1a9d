//! The notification outbox: recipients per tenant, messages decided inside the transaction of
//! the change that calls for them, and the delivery bookkeeping (leases, attempts, backoff).
//!
//! Delivery is at least once: a message is marked sent only after the channel accepted it, and
//! a worker that dies holding a lease leaves it to be retried when the lease expires. Every
//! message carries its idempotency key (an `Idempotency-Key` header, an email `Message-ID`), so
//! a receiver can drop the rare duplicate; a message is never enqueued twice because the key is
//! unique.

use serde::Serialize;
use serde_json::Value;
use sqlx::AnyConnection;

use super::{to_time, to_time_opt, Store, StoreError, StoreResult, TenantId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Webhook,
}

impl ChannelKind {
    fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
        }
    }

    fn parse(text: &str) -> ChannelKind {
        if text == "email" {
            ChannelKind::Email
        } else {
            ChannelKind::Webhook
        }
    }
}

/// The events a channel can ask for.
pub const EVENTS: &[&str] = &[
    "opened",
    "escalated",
    "resolved",
    "sla_warning",
    "sla_breach",
    "digest",
];

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: i64,
    pub tenant_id: TenantId,
    pub kind: ChannelKind,
    pub target: String,
    /// Whether webhooks are signed; the secret itself is never shown again.
    pub signed: bool,
    pub events: Vec<String>,
}

/// A message claimed for delivery.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    /// `None` for mail to an MSP person (a password reset, an invitation).
    pub tenant_id: Option<TenantId>,
    pub kind: ChannelKind,
    pub target: String,
    pub secret: Option<String>,
    pub event: String,
    pub payload: Value,
    pub idempotency_key: String,
    pub attempts: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub channel_id: i64,
    pub idempotency_key: String,
    pub event: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub at: chrono::DateTime<chrono::Utc>,
    pub ok: bool,
    pub detail: String,
}

/// Give up after this many attempts (about a day of backoff).
pub const MAX_ATTEMPTS: i64 = 12;

/// Wait before attempt `n + 1` after `n` failures: 30 s, 1 min, 2 min … capped at 2 h.
pub fn backoff_ms(failures: i64) -> i64 {
    let exponent = u32::try_from(failures.clamp(1, 20) - 1).unwrap_or(0);
    30_000i64
        .saturating_mul(2i64.saturating_pow(exponent))
        .min(2 * 3_600_000)
}

/// Queue `payload` for every channel of `tenant` that wants `event`. `key` names the occurrence
/// (for example `incidents:12:resolved:1795000000000`); with the channel it makes the unique
/// idempotency key, so enqueueing the same occurrence again is a no-op. Returns how many
/// messages were queued.
pub async fn enqueue(
    conn: &mut AnyConnection,
    tenant: TenantId,
    event: &str,
    key: &str,
    payload: &Value,
    now: i64,
) -> StoreResult<u64> {
    let channels: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, events, target FROM notification_channels WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_all(&mut *conn)
            .await?;
    let mut queued = 0;
    for (channel, events, target) in channels {
        if !wants(&events, event) {
            continue;
        }
        let Some(recipient) = recipient(&target, payload) else {
            continue;
        };
        let done = sqlx::query(
            "INSERT INTO notification_outbox (tenant_id, channel_id, idempotency_key, event,
                                              payload, next_attempt_at, created_at, recipient)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(channel)
        .bind(format!("{key}:channel-{channel}"))
        .bind(event)
        .bind(payload.to_string())
        .bind(now)
        .bind(recipient)
        .execute(&mut *conn)
        .await?;
        queued += done.rows_affected();
    }
    Ok(queued)
}

/// Queue an email to one person (not a tenant's channel): a password reset, an invitation.
/// `key` names the occurrence, so queueing it again is a no-op.
pub async fn enqueue_personal(
    conn: &mut AnyConnection,
    tenant: Option<TenantId>,
    recipient: &str,
    event: &str,
    key: &str,
    payload: &Value,
    now: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "INSERT INTO notification_outbox (tenant_id, channel_id, idempotency_key, event, payload,
                                          next_attempt_at, created_at, recipient)
         VALUES ($1, NULL, $2, $3, $4, $5, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(tenant.map(|t| t.0))
    .bind(key)
    .bind(event)
    .bind(payload.to_string())
    .bind(now)
    .bind(recipient)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// The messages just queued for occurrence `key` of incident `incident_id` wait (state `held`)
/// if the incident is flapping.
pub async fn hold_if_flapping(
    conn: &mut AnyConnection,
    incident_id: i64,
    key: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE notification_outbox SET state = 'held'
          WHERE state = 'pending' AND substr(idempotency_key, 1, length($1)) = $1
            AND EXISTS (SELECT 1 FROM incidents WHERE id = $2 AND flapping = 1)",
    )
    .bind(format!("{key}:channel-"))
    .bind(incident_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Hold (`hold`) the messages of incident `incident_id` never attempted, or release the held
/// ones, due at `now` in their order. A retry in progress is left to finish.
pub async fn hold_incident_messages(
    conn: &mut AnyConnection,
    incident_id: i64,
    hold: bool,
    now: i64,
) -> StoreResult<()> {
    let prefix = format!("incidents:{incident_id}:");
    let (from, to) = if hold {
        ("pending", "held")
    } else {
        ("held", "pending")
    };
    sqlx::query(
        "UPDATE notification_outbox SET state = $1, next_attempt_at = $2
          WHERE state = $3 AND attempts = 0 AND substr(idempotency_key, 1, length($4)) = $4",
    )
    .bind(to)
    .bind(now)
    .bind(from)
    .bind(&prefix)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The channel target that stands for "the ticket's requester".
pub const REQUESTER: &str = "requester";

/// Where a channel's copy of a message goes: `Some(None)` to the channel's own target,
/// `Some(Some(address))` to the ticket's requester, `None` nowhere (a requester channel and a
/// message without a requester's email address, such as the digest).
fn recipient(target: &str, payload: &Value) -> Option<Option<String>> {
    if target != REQUESTER {
        return Some(None);
    }
    payload["ticket"]["requester"]
        .as_str()
        .map(str::trim)
        .filter(|r| r.contains('@') && !r.contains(char::is_whitespace))
        .map(|r| Some(r.to_string()))
}

/// Whether a channel's stored event list (JSON) asks for `event`.
fn wants(events: &str, event: &str) -> bool {
    let wanted: Vec<String> = serde_json::from_str(events).unwrap_or_default();
    wanted.iter().any(|e| e == "*" || e == event)
}

/// Whether every channel of `tenant` that wants `event` already has the occurrence `key`
/// queued (or sent): lets a job skip building a payload it would not queue anyway.
pub async fn all_queued(
    pool: &sqlx::AnyPool,
    tenant: TenantId,
    event: &str,
    key: &str,
) -> StoreResult<bool> {
    let channels: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, events, target FROM notification_channels WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_all(pool)
            .await?;
    for (channel, events, target) in channels {
        // A requester channel never gets tenant-wide messages such as the digest.
        if !wants(&events, event) || target == REQUESTER {
            continue;
        }
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM notification_outbox WHERE idempotency_key = $1")
                .bind(format!("{key}:channel-{channel}"))
                .fetch_optional(pool)
                .await?;
        if found.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

type PendingRow = (
    i64,
    Option<i64>,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    i64,
);

impl Store {
    pub async fn create_channel(
        &self,
        tenant: TenantId,
        kind: ChannelKind,
        target: &str,
        secret: Option<&str>,
        events: &[String],
        now: i64,
    ) -> StoreResult<Channel> {
        let target = target.trim();
        let valid_target = match kind {
            ChannelKind::Email => {
                target == REQUESTER
                    || (target.contains('@') && !target.contains(char::is_whitespace))
            }
            ChannelKind::Webhook => target.starts_with("https://") || target.starts_with("http://"),
        };
        if !valid_target {
            return Err(StoreError::Invalid(match kind {
                ChannelKind::Email => {
                    "target must be an email address, or \"requester\" (each ticket's requester)"
                        .into()
                }
                ChannelKind::Webhook => "target must be an http:// or https:// URL".into(),
            }));
        }
        if let Some(unknown) = events
            .iter()
            .find(|e| *e != "*" && !EVENTS.contains(&e.as_str()))
        {
            return Err(StoreError::Invalid(format!(
                "unknown event {unknown:?}; events are {} or \"*\"",
                EVENTS.join(", ")
            )));
        }
        let events = if events.is_empty() {
            vec!["*".to_string()]
        } else {
            events.to_vec()
        };
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO notification_channels (tenant_id, kind, target, secret, events, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(tenant.0)
        .bind(kind.as_str())
        .bind(target)
        .bind(secret)
        .bind(serde_json::to_string(&events).unwrap_or_else(|_| "[\"*\"]".into()))
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(Channel {
            id,
            tenant_id: tenant,
            kind,
            target: target.to_string(),
            signed: secret.is_some(),
            events,
        })
    }

    pub async fn list_channels(&self, tenant: TenantId) -> StoreResult<Vec<Channel>> {
        let rows: Vec<(i64, String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, kind, target, secret, events FROM notification_channels
              WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, target, secret, events)| Channel {
                id,
                tenant_id: tenant,
                kind: ChannelKind::parse(&kind),
                target,
                signed: secret.is_some(),
                events: serde_json::from_str(&events).unwrap_or_default(),
            })
            .collect())
    }

    /// Claim up to `limit` due messages for `lease_ms`. Each claim is a conditional update, so
    /// two workers (or replicas) never hold the same message at once.
    pub async fn claim_due(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<Pending>> {
        let candidates: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM notification_outbox
              WHERE state = 'pending' AND next_attempt_at <= $1
                AND (lease_until IS NULL OR lease_until < $1)
              ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::new();
        for (id,) in candidates {
            let won = sqlx::query(
                "UPDATE notification_outbox SET lease_until = $1
                  WHERE id = $2 AND state = 'pending' AND (lease_until IS NULL OR lease_until < $3)",
            )
            .bind(now + lease_ms)
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
            if won.rows_affected() != 1 {
                continue;
            }
            let row: PendingRow = sqlx::query_as(
                "SELECT o.id, o.tenant_id, COALESCE(c.kind, 'email'), COALESCE(o.recipient, c.target),
                        c.secret, o.event, o.payload, o.idempotency_key, o.attempts
                   FROM notification_outbox o LEFT JOIN notification_channels c ON c.id = o.channel_id
                  WHERE o.id = $1",
            )
            .bind(id)
            .fetch_one(self.pool())
            .await?;
            let (id, tenant_id, kind, target, secret, event, payload, idempotency_key, attempts) =
                row;
            claimed.push(Pending {
                id,
                tenant_id: tenant_id.map(TenantId),
                kind: ChannelKind::parse(&kind),
                target,
                secret,
                event,
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                idempotency_key,
                attempts,
            });
        }
        Ok(claimed)
    }

    /// Record one delivery attempt: sent, or failed and retried after a backoff (or given up
    /// after [`MAX_ATTEMPTS`]).
    pub async fn finish_attempt(
        &self,
        id: i64,
        now: i64,
        outcome: Result<String, String>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let (ok, detail) = match &outcome {
            Ok(detail) => (1i64, detail.clone()),
            Err(error) => (0i64, error.clone()),
        };
        sqlx::query(
            "INSERT INTO notification_attempts (outbox_id, at, ok, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(now)
        .bind(ok)
        .bind(&detail)
        .execute(&mut *tx)
        .await?;
        match outcome {
            Ok(_) => {
                sqlx::query(
                    "UPDATE notification_outbox SET state = 'sent', sent_at = $1,
                            attempts = attempts + 1, lease_until = NULL, last_error = NULL
                      WHERE id = $2",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            Err(error) => {
                let (attempts,): (i64,) =
                    sqlx::query_as("SELECT attempts FROM notification_outbox WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                let failures = attempts + 1;
                let state = if failures >= MAX_ATTEMPTS {
                    "failed"
                } else {
                    "pending"
                };
                sqlx::query(
                    "UPDATE notification_outbox SET state = $1, attempts = $2,
                            next_attempt_at = $3, lease_until = NULL, last_error = $4
                      WHERE id = $5",
                )
                .bind(state)
                .bind(failures)
                .bind(now + backoff_ms(failures))
                .bind(error)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn outbox(&self, tenant: TenantId) -> StoreResult<Vec<OutboxEntry>> {
        type Row = (
            i64,
            i64,
            String,
            String,
            String,
            i64,
            i64,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, channel_id, idempotency_key, event, state, attempts, next_attempt_at,
                    sent_at, last_error
               FROM notification_outbox WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, channel_id, key, event, state, attempts, next, sent, error)| OutboxEntry {
                    id,
                    channel_id,
                    idempotency_key: key,
                    event,
                    state,
                    attempts,
                    next_attempt_at: to_time(next),
                    sent_at: to_time_opt(sent),
                    last_error: error,
                },
            )
            .collect())
    }

    pub async fn outbox_attempts(&self, outbox_id: i64) -> StoreResult<Vec<Attempt>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT at, ok, detail FROM notification_attempts WHERE outbox_id = $1 ORDER BY id",
        )
        .bind(outbox_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, ok, detail)| Attempt {
                at: to_time(at),
                ok: ok == 1,
                detail,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(4), 240_000);
        assert_eq!(backoff_ms(50), 2 * 3_600_000);
    }
}
