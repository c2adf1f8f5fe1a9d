//! The audit log: who changed what, when, from where — for tickets (every change the lifecycle
//! core records, by people and jobs alike, is one more reaction in [`crate::desk::reactions`]),
//! and soon for CIs, rules, suppressions, plans, users, tokens, agent configs and enrollment.
//! Append-only: entries are written in the transaction of the change they describe, and nothing
//! edits or deletes them.

use serde::Serialize;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::store::audit_log::{self, AuditFilter, AuditRow};
use crate::store::{to_time, Store, StoreResult, TenantId, TenantScope};

/// Who made a change, as the log names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person (signed in, or a requester through a link they were sent).
    User,
    /// An API token (until people sign in, every API caller).
    Token,
    Agent,
    /// The server itself: rules, SLA sweeps, auto-close, site outages.
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::Agent => "agent",
            ActorKind::System => "system",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditActor {
    pub kind: ActorKind,
    pub id: Option<i64>,
    pub name: String,
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub at: i64,
    pub tenant: Option<TenantId>,
    pub actor: &'a AuditActor,
    /// `object_kind.verb`, e.g. `incident.assigned`.
    pub action: String,
    pub object_kind: &'a str,
    pub object_id: String,
    pub before: Option<&'a Value>,
    pub after: Option<&'a Value>,
}

/// Append `record` on the change's own connection, so the entry commits (or not) with it.
pub async fn record(conn: &mut AnyConnection, record: &Record<'_>) -> StoreResult<i64> {
    record_with_request(conn, record, None, None).await
}

/// [`record`], with the request the change came in and the client's address.
pub async fn record_with_request(
    conn: &mut AnyConnection,
    record: &Record<'_>,
    request_id: Option<&str>,
    client_address: Option<&str>,
) -> StoreResult<i64> {
    audit_log::append(
        conn,
        &AuditRow {
            id: 0,
            at: record.at,
            tenant_id: record.tenant.map(|t| t.0),
            actor_kind: record.actor.kind.as_str().to_string(),
            actor_id: record.actor.id,
            actor_name: record.actor.name.clone(),
            action: record.action.clone(),
            object_kind: record.object_kind.to_string(),
            object_id: record.object_id.clone(),
            before: record.before.map(Value::to_string),
            after: record.after.map(Value::to_string),
            request_id: request_id.map(str::to_string),
            client_address: client_address.map(str::to_string),
        },
    )
    .await
}

/// An entry as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub tenant_id: Option<i64>,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
}

impl From<AuditRow> for Entry {
    fn from(row: AuditRow) -> Self {
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        Entry {
            id: row.id,
            at: to_time(row.at),
            tenant_id: row.tenant_id,
            actor_kind: row.actor_kind,
            actor_id: row.actor_id,
            actor: row.actor_name,
            action: row.action,
            object_kind: row.object_kind,
            object_id: row.object_id,
            before: json(row.before),
            after: json(row.after),
            request_id: row.request_id,
            client_address: row.client_address,
        }
    }
}

pub const MAX_PAGE: i64 = 1000;

/// Entries within the scope, newest first, at most [`MAX_PAGE`] a page.
pub async fn entries(
    store: &Store,
    scope: TenantScope,
    filter: &AuditFilter,
) -> StoreResult<Vec<Entry>> {
    let filter = AuditFilter {
        limit: filter.limit.clamp(1, MAX_PAGE),
        ..filter.clone()
    };
    Ok(store
        .audit_entries(scope, &filter)
        .await?
        .into_iter()
        .map(Entry::from)
        .collect())
}
