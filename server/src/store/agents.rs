//! Enrolled agents and their credentials.

use serde::Serialize;

use super::in_scope;
use super::{now_ms, to_time, to_time_opt, Store, StoreResult, TenantId, TenantScope, Tx};
use crate::secrets;

/// An authenticated agent, as the report handler sees it.
#[derive(Debug, Clone)]
pub struct AgentIdentity {
    pub agent_id: String,
    pub tenant: TenantId,
    pub site_id: Option<i64>,
    /// The agent's row as authentication read it, if it did: a report that changes none of it
    /// writes nothing to the row (its liveness moves with the report ledger, migration 0016).
    pub recorded: Option<AgentRecord>,
}

/// What a report keeps up to date in its agent's row, besides liveness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub computer_id: Option<i64>,
    pub hostname: String,
    pub agent_version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub id: String,
    pub tenant_id: TenantId,
    pub site_id: Option<i64>,
    pub computer_id: Option<i64>,
    pub hostname: String,
    pub agent_version: String,
    pub enrolled_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_seq: Option<i64>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

type AgentRow = (
    String,
    i64,
    Option<i64>,
    Option<i64>,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn agent_from_row(r: AgentRow) -> Agent {
    Agent {
        id: r.0,
        tenant_id: TenantId(r.1),
        site_id: r.2,
        computer_id: r.3,
        hostname: r.4,
        agent_version: r.5,
        enrolled_at: to_time(r.6),
        last_seen_at: to_time_opt(r.7),
        last_seq: r.8,
        revoked_at: to_time_opt(r.9),
    }
}

pub struct NewAgent<'a> {
    pub tenant: TenantId,
    pub site_id: Option<i64>,
    pub enrollment_token_id: i64,
    pub hostname: &'a str,
    pub agent_version: &'a str,
}

impl Store {
    /// Register an agent inside the enrollment transaction; returns its id and credential.
    pub async fn create_agent(
        tx: &mut Tx<'_>,
        new: &NewAgent<'_>,
    ) -> StoreResult<(String, String)> {
        let agent_id = uuid::Uuid::new_v4().to_string();
        let credential = secrets::generate(secrets::AGENT_CREDENTIAL_PREFIX);
        sqlx::query(
            "INSERT INTO agents (id, tenant_id, site_id, enrollment_token_id, credential_hash,
                                 hostname, agent_version, enrolled_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&agent_id)
        .bind(new.tenant.0)
        .bind(new.site_id)
        .bind(new.enrollment_token_id)
        .bind(secrets::hash(&credential))
        .bind(new.hostname)
        .bind(new.agent_version)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok((agent_id, credential))
    }

    /// Resolve a presented agent credential; `None` if unknown or revoked.
    pub async fn authenticate_agent(&self, credential: &str) -> StoreResult<Option<AgentIdentity>> {
        type Row = (String, i64, Option<i64>, Option<i64>, String, String);
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, tenant_id, site_id, computer_id, hostname, agent_version
             FROM agents WHERE credential_hash = $1 AND revoked_at IS NULL",
        )
        .bind(secrets::hash(credential))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(
            |(agent_id, tenant, site_id, computer_id, hostname, agent_version)| AgentIdentity {
                agent_id,
                tenant: TenantId(tenant),
                site_id,
                recorded: Some(AgentRecord {
                    computer_id,
                    hostname,
                    agent_version,
                }),
            },
        ))
    }

    pub async fn list_agents(&self, scope: TenantScope) -> StoreResult<Vec<Agent>> {
        let rows: Vec<AgentRow> = sqlx::query_as(&format!(
            "SELECT id, tenant_id, site_id, computer_id, hostname, agent_version, enrolled_at,
                    last_seen_at, last_seq, revoked_at
             FROM agents WHERE {in_scope} ORDER BY enrolled_at",
            in_scope = in_scope("tenant_id", 1)
        ))
        .bind(scope.filter())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(agent_from_row).collect())
    }

    /// One agent, if it exists in `scope`.
    pub async fn agent(&self, scope: TenantScope, agent_id: &str) -> StoreResult<Agent> {
        let row: Option<AgentRow> = sqlx::query_as(&format!(
            "SELECT id, tenant_id, site_id, computer_id, hostname, agent_version, enrolled_at,
                    last_seen_at, last_seq, revoked_at
             FROM agents WHERE id = $1 AND {in_scope}",
            in_scope = in_scope("tenant_id", 2)
        ))
        .bind(agent_id)
        .bind(scope.filter())
        .fetch_optional(self.pool())
        .await?;
        row.map(agent_from_row).ok_or(super::StoreError::NotFound)
    }

    /// Revoke an agent's credential: its next report is refused with 401.
    pub async fn revoke_agent(&self, scope: TenantScope, agent_id: &str) -> StoreResult<()> {
        let result = sqlx::query(&format!(
            "UPDATE agents SET revoked_at = COALESCE(revoked_at, $1)
             WHERE id = $2 AND {in_scope}",
            in_scope = in_scope("tenant_id", 3)
        ))
        .bind(now_ms())
        .bind(agent_id)
        .bind(scope.filter())
        .execute(self.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(super::StoreError::NotFound);
        }
        Ok(())
    }
}
