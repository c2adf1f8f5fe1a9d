//! Steady reports of many agents stored together (PostgreSQL): one statement per step for the
//! whole batch — the computers and volumes refreshed, the ledger, the samples — instead of one
//! per report. Each statement takes its rows as one JSON document (`json_to_recordset`), so its
//! text, and PostgreSQL's prepared plan, is the same whatever the batch's size.
//!
//! What a steady report is, and what leaves the batch, is decided in `ingest::steady`.

use serde::Serialize;

use super::agent_configs::{layer_columns, layers_from_columns, AgentConfigLayers};
use super::{StoreError, StoreResult, Tx};
use crate::ci::class;

/// One report's computer, to refresh if its fingerprint is unchanged.
#[derive(Debug, Serialize)]
pub struct ComputerRow<'a> {
    pub agent_id: &'a str,
    pub seq: i64,
    /// The computer the agent reported for last time (its volumes were fingerprinted for it).
    pub computer_id: i64,
    pub hash: &'a str,
    pub metrics: &'a str,
    pub seen_at: i64,
}

/// One volume of a report's computer, to refresh if its fingerprint is unchanged.
#[derive(Debug, Serialize)]
pub struct VolumeRow<'a> {
    pub computer_id: i64,
    pub hash: &'a str,
    pub metrics: &'a str,
    pub seen_at: i64,
}

/// What [`refresh`] found and did.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// The rules revision (migration 0015) as the statement saw it.
    pub rules_revision: i64,
    /// Per refreshed computer: (computer id, whether an alert on it or its parts is unsettled,
    /// its live volumes).
    pub computers: Vec<(i64, bool, i64)>,
    /// Refreshed volumes: (computer id, volume id, fingerprint).
    pub volumes: Vec<(i64, i64, String)>,
    /// The live disks and services of the refreshed computers: (computer id, CI id, class,
    /// name, measurements as JSON).
    pub parts: Vec<(i64, i64, String, String, Option<String>)>,
}

/// Refresh every computer whose fingerprint is unchanged, is still the one its agent reports
/// for, and whose report is not in the ledger yet; the volumes of those computers whose
/// fingerprints are unchanged; and read back what the batch's rules need — in one statement.
pub async fn refresh(
    tx: &mut Tx<'_>,
    computers: &[ComputerRow<'_>],
    volumes: &[VolumeRow<'_>],
) -> StoreResult<Refreshed> {
    let computers = serde_json::to_string(computers).map_err(invalid)?;
    let volumes = serde_json::to_string(volumes).map_err(invalid)?;
    let sql = format!(
        "WITH input AS (
             SELECT * FROM json_to_recordset(CAST($1 AS json))
                 AS i(agent_id text, seq bigint, computer_id bigint, hash text, metrics text,
                      seen_at bigint)),
         computer AS (
             UPDATE configuration_items c SET metrics = i.metrics,
                 last_seen_at = CASE WHEN c.last_seen_at < i.seen_at THEN i.seen_at
                                     ELSE c.last_seen_at END
             FROM input i JOIN agents a ON a.id = i.agent_id
             WHERE c.id = a.computer_id AND c.id = i.computer_id AND c.observed_hash = i.hash
               AND c.status = 'active'
               AND NOT EXISTS (SELECT 1 FROM reports r
                               WHERE r.agent_id = i.agent_id AND r.seq = i.seq)
             RETURNING c.id, CAST(CASE WHEN EXISTS (
                 SELECT 1 FROM alert_states s
                 WHERE s.computer_id = c.id AND (s.state <> 'ok' OR s.flapping = 1)
             ) THEN 1 ELSE 0 END AS BIGINT) AS unsettled),
         volume_input AS (
             SELECT * FROM json_to_recordset(CAST($2 AS json))
                 AS v(computer_id bigint, hash text, metrics text, seen_at bigint)),
         volume AS (
             UPDATE configuration_items p SET metrics = v.metrics,
                 last_seen_at = CASE WHEN p.last_seen_at < v.seen_at THEN v.seen_at
                                     ELSE p.last_seen_at END
             FROM volume_input v JOIN computer ON computer.id = v.computer_id
             WHERE p.computer_id = v.computer_id AND p.class = '{volume}'
               AND p.status = 'active' AND p.observed_hash = v.hash
             RETURNING p.id, p.computer_id, p.observed_hash)
         SELECT 'computer', c.id, c.id, CAST(NULL AS TEXT), CAST(NULL AS TEXT),
             CAST(NULL AS TEXT), c.unsettled,
             (SELECT COUNT(*) FROM configuration_items l
              WHERE l.computer_id = c.id AND l.class = '{volume}' AND l.status <> 'retired')
         FROM computer c
         UNION ALL
         SELECT 'volume', v.computer_id, v.id, v.observed_hash, CAST(NULL AS TEXT),
             CAST(NULL AS TEXT), 0, 0
         FROM volume v
         UNION ALL
         SELECT 'part', p.computer_id, p.id, p.class, p.name, p.metrics, 0, 0
         FROM configuration_items p
         WHERE p.computer_id IN (SELECT id FROM computer)
           AND p.class IN ('{disk}', '{service}') AND p.status <> 'retired'
         UNION ALL
         SELECT 'revision', revision, revision, CAST(NULL AS TEXT), CAST(NULL AS TEXT),
             CAST(NULL AS TEXT), 0, 0
         FROM rules_revision WHERE id = 1",
        volume = class::VOLUME,
        disk = class::PHYSICAL_DISK,
        service = class::SERVICE,
    );
    type Row = (
        String,
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(computers)
        .bind(volumes)
        .fetch_all(&mut **tx)
        .await?;
    let mut refreshed = Refreshed::default();
    for (kind, owner, id, a, b, c, flag, count) in rows {
        let text = Option::unwrap_or_default;
        match kind.as_str() {
            "computer" => refreshed.computers.push((id, flag != 0, count)),
            "volume" => refreshed.volumes.push((owner, id, text(a))),
            "part" => refreshed.parts.push((owner, id, text(a), text(b), c)),
            _ => refreshed.rules_revision = id,
        }
    }
    Ok(refreshed)
}

/// One report for the ledger.
#[derive(Debug, Serialize)]
pub struct LedgerRow<'a> {
    pub tenant_id: i64,
    pub agent_id: &'a str,
    pub seq: i64,
    pub collected_at: i64,
    pub received_at: i64,
    pub dropped: i64,
}

/// Put the reports in the ledger; returns, for each one stored (a sequence number already
/// there is skipped), its agent and the agent's config as the acknowledgement names it.
pub async fn record(
    tx: &mut Tx<'_>,
    reports: &[LedgerRow<'_>],
) -> StoreResult<Vec<(String, AgentConfigLayers)>> {
    let reports = serde_json::to_string(reports).map_err(invalid)?;
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

/// One sample.
#[derive(Debug, Serialize)]
pub struct SampleRow<'a> {
    pub tenant_id: i64,
    pub ci_id: i64,
    pub metric: &'a str,
    pub at: i64,
    pub value: f64,
}

/// Every sample of the batch, in one statement.
pub async fn record_samples(tx: &mut Tx<'_>, samples: &[SampleRow<'_>]) -> StoreResult<()> {
    if samples.is_empty() {
        return Ok(());
    }
    let samples = serde_json::to_string(samples).map_err(invalid)?;
    sqlx::query(
        "INSERT INTO metric_samples (tenant_id, ci_id, metric, at, value)
         SELECT tenant_id, ci_id, metric, at, value
         FROM json_to_recordset(CAST($1 AS json))
             AS s(tenant_id bigint, ci_id bigint, metric text, at bigint, value float8)
         ON CONFLICT (ci_id, metric, at) DO NOTHING",
    )
    .bind(samples)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn invalid(err: serde_json::Error) -> StoreError {
    StoreError::Invalid(format!("a batch of reports could not be encoded: {err}"))
}
