//! The ledger of stored reports: one row per (agent, sequence number).

use std::sync::LazyLock;

use super::agent_configs::{layer_columns, layers_from_columns, AgentConfigLayers};
use super::agents::AgentRecord;
use serde::Serialize;

use super::{Store, StoreResult, Tx};

impl Store {
    /// Whether the computer this agent reports for already has the inventory with this hash (an
    /// empty hash never matches). Read outside any transaction: a hint, checked again inside.
    pub async fn has_applied_inventory(&self, agent_id: &str, hash: &str) -> StoreResult<bool> {
        if hash.is_empty() {
            return Ok(false);
        }
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT c.id FROM agents a JOIN configuration_items c ON c.id = a.computer_id
             WHERE a.id = $1 AND c.inventory_hash = $2",
        )
        .bind(agent_id)
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }
}

/// One report for the ledger: the row [`record`] writes for one report and [`record_batch`] for
/// each of a group commit's (which ones a report has is decided once, in `ingest::rows`).
#[derive(Debug, Serialize)]
pub struct LedgerRow<'a> {
    pub tenant_id: i64,
    pub agent_id: &'a str,
    pub seq: i64,
    pub collected_at: i64,
    pub received_at: i64,
    pub dropped: i64,
}

/// Record a report inside the ingest transaction. Returns the rules revision (migration 0015)
/// for the rules to evaluate it by and the agent's config, or `None` when this sequence number
/// was already stored — the caller then changes nothing else (a replay is a no-op).
///
/// This is the transaction's first statement and a write, so on SQLite the write lock is taken
/// up front instead of being upgraded later (which could fail with `SQLITE_BUSY`).
pub async fn record(tx: &mut Tx<'_>, row: &LedgerRow<'_>) -> StoreResult<Option<Recorded>> {
    // The agent's two config layers come back with the insert, one round trip for both.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO reports (tenant_id, agent_id, seq, collected_at, received_at, dropped)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_id, seq) DO NOTHING
             RETURNING (SELECT revision FROM rules_revision WHERE id = 1), {}",
            layer_columns("$1", "$2")
        )
    });
    let row: Option<RecordedRow> = sqlx::query_as(&SQL)
        .bind(row.tenant_id)
        .bind(row.agent_id)
        .bind(row.seq)
        .bind(row.collected_at)
        .bind(row.received_at)
        .bind(row.dropped)
        .fetch_optional(&mut **tx)
        .await?;
    let Some((rules_revision, d_settings, d_version, d_at, o_settings, o_version, o_at)) = row
    else {
        return Ok(None);
    };
    Ok(Some(Recorded {
        rules_revision,
        config: layers_from_columns((d_settings, d_version, d_at), (o_settings, o_version, o_at))?,
    }))
}

type RecordedRow = (
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// A report newly in the ledger: what its transaction needs to know besides.
pub struct Recorded {
    /// The rules revision (migration 0015).
    pub rules_revision: i64,
    /// The agent's config, as the report's acknowledgement names it.
    pub config: AgentConfigLayers,
}

/// What [`record`] does for many reports in one statement (PostgreSQL, the group commit): the
/// rows go as one JSON document (`json_to_recordset`), so the statement's text, and its prepared
/// plan, is the same whatever their number. Returns, for each report stored (a sequence number
/// already there is skipped), its agent and the agent's config as the acknowledgement names it;
/// the rules revision comes with the batch's CMDB refresh instead.
pub async fn record_batch(
    tx: &mut Tx<'_>,
    reports: &[LedgerRow<'_>],
) -> StoreResult<Vec<(String, AgentConfigLayers)>> {
    let reports = serde_json::to_string(reports).map_err(super::samples::invalid)?;
    let sql = format!(
        "INSERT INTO reports (tenant_id, agent_id, seq, collected_at, received_at, dropped)
         SELECT tenant_id, agent_id, seq, collected_at, received_at, dropped
         FROM json_to_recordset(CAST($1 AS json))
             AS r(tenant_id bigint, agent_id text, seq bigint, collected_at bigint,
                  received_at bigint, dropped bigint)
         ON CONFLICT (agent_id, seq) DO NOTHING
         RETURNING agent_id, {}",
        layer_columns("reports.tenant_id", "reports.agent_id"),
    );
    type Row = (
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(reports)
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter()
        .map(
            |(agent, d_settings, d_version, d_at, o_settings, o_version, o_at)| {
                let layers = layers_from_columns(
                    (d_settings, d_version, d_at),
                    (o_settings, o_version, o_at),
                )?;
                Ok((agent, layers))
            },
        )
        .collect()
}

/// Point the agent's row at the computer it reports for, with its host name and version (its
/// `last_seen_at` and `last_seq` move with every stored report, migration 0016).
pub async fn record_agent(
    tx: &mut Tx<'_>,
    agent_id: &str,
    record: &AgentRecord,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE agents SET computer_id = $1, hostname = $2, agent_version = $3 WHERE id = $4",
    )
    .bind(record.computer_id)
    .bind(&record.hostname)
    .bind(&record.agent_version)
    .bind(agent_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many reports an agent has stored (for tests and the agent list).
pub async fn count_for_agent(store: &super::Store, agent_id: &str) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM reports WHERE agent_id = $1")
        .bind(agent_id)
        .fetch_one(store.pool())
        .await?;
    Ok(n)
}
