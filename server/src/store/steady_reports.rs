//! Step 2 (the CMDB) of many steady reports in one statement (PostgreSQL): the computers and
//! volumes refreshed, and what the batch's rules need read back — what
//! [`super::cis::tx::refresh_observed`] does for one report. The statement takes its rows as one
//! JSON document (`json_to_recordset`), so its text, and PostgreSQL's prepared plan, is the same
//! whatever the batch's size. The other steps' batch writers sit beside their one-report writers:
//! [`super::reports::record_batch`], [`super::samples::record_batch`].
//!
//! What a steady report is, and what leaves the batch, is decided in `ingest::steady`.

use serde::Serialize;

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

fn invalid(err: serde_json::Error) -> StoreError {
    super::samples::invalid(err)
}
