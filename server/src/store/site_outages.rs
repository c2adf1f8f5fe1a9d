//! Site outages in the database: the sites and their computers, the `site_outage` suppression
//! that holds the site's per-computer offline alerts (reason, expiry, audit trail) and the
//! site incident it points at. The policy (what counts as an outage) is in
//! [`crate::rules::site_outage`]; opening, extending and ending one is the offline sweep's.
//!
//! Correctness with several replicas comes from two partial unique indexes (migration 0008):
//! one open site incident per site, and one suppression in force per site. A sweep that loses
//! the race inserts nothing and leaves the site to the winner.

use std::collections::BTreeMap;

use super::{StoreResult, TenantId, Tx};

/// One site and its computers as `(computer id, last seen)`.
#[derive(Debug, Clone)]
pub struct Site {
    pub id: i64,
    pub name: String,
    pub computers: Vec<(i64, i64)>,
}

/// The computers of a tenant's sites: a computer belongs to the site of the enrollment token its
/// agent enrolled with. Retired and stale computers do not count.
pub async fn sites_of(tx: &mut Tx<'_>, tenant: TenantId) -> StoreResult<Vec<Site>> {
    let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        // When the newest agent's last report arrived (see `alerts::LAST_REPORT_AT` for why
        // not the sample time).
        "SELECT s.id, s.name, c.id, COALESCE(a.last_seen_at, c.last_seen_at) FROM configuration_items c
           JOIN agents a ON a.computer_id = c.id
           JOIN sites s ON s.id = a.site_id
          WHERE c.tenant_id = $1 AND c.class = 'computer' AND c.status NOT IN ('retired', 'stale')
            AND a.revoked_at IS NULL
          ORDER BY c.id, a.enrolled_at DESC",
    )
    .bind(tenant.0)
    .fetch_all(&mut **tx)
    .await?;
    let mut sites: BTreeMap<i64, Site> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (site_id, name, computer, last_seen) in rows {
        // A computer re-enrolled elsewhere belongs to its newest agent's site.
        if !seen.insert(computer) {
            continue;
        }
        sites
            .entry(site_id)
            .or_insert_with(|| Site {
                id: site_id,
                name,
                computers: Vec::new(),
            })
            .computers
            .push((computer, last_seen));
    }
    Ok(sites.into_values().collect())
}

/// A site outage in force: its suppression and incident.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    pub suppression_id: i64,
    pub incident_id: i64,
    /// When the first computer of the outage last reported.
    pub started_at: i64,
}

pub async fn outage_in_force(tx: &mut Tx<'_>, site_id: i64) -> StoreResult<Option<Outage>> {
    let row: Option<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT s.id, s.incident_id, i.problem_started_at FROM suppressions s
           JOIN incidents i ON i.id = s.incident_id
          WHERE s.site_id = $1 AND s.kind = 'site_outage' AND s.cancelled_at IS NULL",
    )
    .bind(site_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(suppression_id, incident_id, started)| Outage {
        suppression_id,
        incident_id,
        started_at: started.unwrap_or(0),
    }))
}

/// The computers attached to a site incident.
pub async fn attached(tx: &mut Tx<'_>, incident_id: i64) -> StoreResult<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT ci_id FROM incident_cis WHERE incident_id = $1 AND role = 'computer' ORDER BY ci_id",
    )
    .bind(incident_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Put a site outage's suppression in force; `false` when the site has one in force already
/// (another replica's).
#[allow(clippy::too_many_arguments)]
pub async fn insert_suppression(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    reason: &str,
    author: &str,
    now: i64,
    expires_at: i64,
    site_id: i64,
    incident_id: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO suppressions (tenant_id, kind, reason, author, starts_at, ends_at, created_at,
                                   site_id, incident_id)
         VALUES ($1, 'site_outage', $2, $3, $4, $5, $4, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.0)
    .bind(reason)
    .bind(author)
    .bind(now)
    .bind(expires_at)
    .bind(site_id)
    .bind(incident_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Push a suppression's expiry forward (it lapses by itself if sweeps stop renewing it).
pub async fn extend_suppression(
    tx: &mut Tx<'_>,
    suppression_id: i64,
    expires_at: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE suppressions SET ends_at = $1 WHERE id = $2 AND cancelled_at IS NULL")
        .bind(expires_at)
        .bind(suppression_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// End a suppression now; it is kept, with its end time, as the audit trail.
pub async fn end_suppression(tx: &mut Tx<'_>, suppression_id: i64, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE suppressions SET cancelled_at = $1, ends_at = $1 WHERE id = $2 AND cancelled_at IS NULL",
    )
    .bind(now)
    .bind(suppression_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether a computer's offline alert (a rule on `offline_metric`) is held by a site outage in
/// force at `at`: the suppression id if so. Only the offline rules of computers attached to the site incident are held; their
/// volumes, disks and services follow through "parent down".
pub async fn suppressing(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    rule_id: i64,
    computer_id: i64,
    at: i64,
    offline_metric: &str,
) -> StoreResult<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT s.id FROM suppressions s
           JOIN incident_cis l ON l.incident_id = s.incident_id AND l.ci_id = $2
           JOIN rules r ON r.id = $3
          WHERE s.tenant_id = $1 AND s.kind = 'site_outage' AND s.cancelled_at IS NULL
            AND (s.ends_at IS NULL OR s.ends_at > $4) AND r.metric = $5",
    )
    .bind(tenant.0)
    .bind(computer_id)
    .bind(rule_id)
    .bind(at)
    .bind(offline_metric)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.0))
}
