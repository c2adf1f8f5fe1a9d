//! Site outages in the database: the site incident, the `site_outage` suppression that holds
//! the site's per-computer offline alerts (reason, expiry, audit trail), and ending both when
//! the site is back. The policy (what counts as an outage) is in [`crate::rules::site_outage`].
//!
//! Correctness with several replicas comes from two partial unique indexes (migration 0008):
//! one open site incident per site, and one suppression in force per site. A sweep that loses
//! the race inserts nothing and leaves the site to the winner.

use std::collections::BTreeMap;

use serde_json::json;

use super::incidents;
use super::support_plans::current_plan;
use super::tickets::{self, next_number, TicketKind, OPEN_STATES};
use super::{to_time, StoreResult, TenantId, Tx};
use crate::desk::priority::incident_number;
use crate::rules::metrics::OFFLINE_SECONDS;

/// Who opens and ends site outages, as the audit trail names it.
pub const AUTHOR: &str = "system:site-correlation";

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

fn title(site: &Site, offline: usize) -> String {
    format!(
        "Site {}: {offline} of {} computers offline — likely network or power",
        site.name,
        site.computers.len()
    )
}

/// Open the site incident and its suppression for the computers in `cluster`. Returns the
/// incident, or `None` when another replica opened this site's outage first.
pub async fn open(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    site: &Site,
    cluster: &[i64],
    now: i64,
    expires_at: i64,
) -> StoreResult<Option<i64>> {
    let started_at = site
        .computers
        .iter()
        .filter(|(id, _)| cluster.contains(id))
        .map(|(_, seen)| *seen)
        .min()
        .unwrap_or(now);
    let matrix = current_plan(tx, tenant).await?.priority_matrix;
    let number = next_number(tx, tenant, TicketKind::Incident).await?;
    // Many people are affected (impact high); urgency medium until someone looks.
    let (impact, urgency) = (1, 2);
    let description = format!(
        "{} of the {} computers of site {} stopped reporting within {} of each other. One \
         incident stands for all of them; their own offline alerts are suppressed until the site \
         is back. Check the site's network link and power first.",
        cluster.len(),
        site.computers.len(),
        site.name,
        human_window(site, cluster)
    );
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO incidents (tenant_id, number, title, description, state, impact, urgency, priority,
                                severity, source, site_id, problem_started_at, opened_at, updated_at)
         VALUES ($1, $2, $3, $4, 'new', $5, $6, $7, 'critical', 'site', $8, $9, $10, $10)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(tenant.0)
    .bind(number)
    .bind(title(site, cluster.len()))
    .bind(description)
    .bind(impact)
    .bind(urgency)
    .bind(matrix.priority(impact, urgency))
    .bind(site.id)
    .bind(started_at)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id,)) = inserted else {
        return Ok(None);
    };
    let reason = format!(
        "site outage: {} of {} computers of site {} offline ({})",
        cluster.len(),
        site.computers.len(),
        site.name,
        incident_number(number)
    );
    let suppression = sqlx::query(
        "INSERT INTO suppressions (tenant_id, kind, reason, author, starts_at, ends_at, created_at,
                                   site_id, incident_id)
         VALUES ($1, 'site_outage', $2, $3, $4, $5, $4, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.0)
    .bind(&reason)
    .bind(AUTHOR)
    .bind(now)
    .bind(expires_at)
    .bind(site.id)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if suppression.rows_affected() == 0 {
        // Another replica's outage for this site is in force after all: leave it to that one.
        sqlx::query("DELETE FROM incidents WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        return Ok(None);
    }
    let detail = json!({"source": "site", "severity": "critical", "site": site.name,
                        "offline": cluster.len(), "computers": site.computers.len(),
                        "problem_started_at": to_time(started_at)});
    incidents::add_event(tx, tenant, id, now, "opened", "rule", &detail).await?;
    tickets::notify(tx, TicketKind::Incident, id, "opened", now, "", detail).await?;
    attach(tx, tenant, id, number, cluster, now).await?;
    Ok(Some(id))
}

fn human_window(site: &Site, cluster: &[i64]) -> String {
    let seen: Vec<i64> = site
        .computers
        .iter()
        .filter(|(id, _)| cluster.contains(id))
        .map(|(_, s)| *s)
        .collect();
    let spread = seen.iter().max().unwrap_or(&0) - seen.iter().min().unwrap_or(&0);
    format!("{} s", spread / 1000)
}

/// Link computers to the site incident. A computer whose own offline incident opened before the
/// outage was recognised keeps it, with a pointer to the site incident on both timelines.
pub async fn attach(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    site_incident: i64,
    site_number: i64,
    computers: &[i64],
    now: i64,
) -> StoreResult<()> {
    for &computer in computers {
        incidents::link_ci(tx, tenant, site_incident, computer, "computer").await?;
        let own: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT i.id, i.number FROM incidents i JOIN rules r ON r.id = i.rule_id
              WHERE i.ci_id = $1 AND r.metric = $2 AND i.state IN {OPEN_STATES}"
        ))
        .bind(computer)
        .bind(OFFLINE_SECONDS)
        .fetch_all(&mut **tx)
        .await?;
        for (id, number) in own {
            let detail = json!({"site_incident": incident_number(site_number)});
            incidents::add_event(tx, tenant, id, now, "site_outage", "rule", &detail).await?;
            let detail = json!({"incident": incident_number(number), "computer_id": computer});
            incidents::add_event(
                tx,
                tenant,
                site_incident,
                now,
                "correlated",
                "rule",
                &detail,
            )
            .await?;
        }
    }
    Ok(())
}

/// The outage goes on: attach computers that went offline since, keep the title's count
/// current and push the suppression's expiry forward (it lapses by itself if sweeps stop).
#[allow(clippy::too_many_arguments)]
pub async fn extend(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    site: &Site,
    outage: &Outage,
    newly_offline: &[i64],
    still_offline: usize,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE suppressions SET ends_at = $1 WHERE id = $2 AND cancelled_at IS NULL")
        .bind(expires_at)
        .bind(outage.suppression_id)
        .execute(&mut **tx)
        .await?;
    if newly_offline.is_empty() {
        return Ok(());
    }
    let (number,): (i64,) = sqlx::query_as("SELECT number FROM incidents WHERE id = $1")
        .bind(outage.incident_id)
        .fetch_one(&mut **tx)
        .await?;
    attach(tx, tenant, outage.incident_id, number, newly_offline, now).await?;
    let offline = still_offline + newly_offline.len();
    sqlx::query(&format!(
        "UPDATE incidents SET title = $1, updated_at = $2 WHERE id = $3 AND state IN {OPEN_STATES}"
    ))
    .bind(title(site, offline))
    .bind(now)
    .bind(outage.incident_id)
    .execute(&mut **tx)
    .await?;
    let detail = json!({"computer_ids": newly_offline, "offline": offline});
    incidents::add_event(
        tx,
        tenant,
        outage.incident_id,
        now,
        "computers_attached",
        "rule",
        &detail,
    )
    .await
}

/// The site is back: the suppression ends (kept, with its end time, as the audit trail) and
/// the site incident resolves. Computers still offline are named on the timeline; the offline
/// sweep opens their own incidents now that nothing suppresses them.
pub async fn end(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    outage: &Outage,
    still_offline: &[i64],
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE suppressions SET cancelled_at = $1, ends_at = $1 WHERE id = $2 AND cancelled_at IS NULL",
    )
    .bind(now)
    .bind(outage.suppression_id)
    .execute(&mut **tx)
    .await?;
    let detail = json!({"still_offline": still_offline, "note": "the site is reporting again"});
    incidents::add_event(
        tx,
        tenant,
        outage.incident_id,
        now,
        "site_recovered",
        "rule",
        &detail,
    )
    .await?;
    if incidents::resolve(tx, outage.incident_id, now).await? {
        incidents::add_event(
            tx,
            tenant,
            outage.incident_id,
            now,
            "resolved",
            "rule",
            &detail,
        )
        .await?;
    }
    Ok(())
}

/// Whether a computer's offline alert is held by a site outage in force at `at`: the suppression
/// id if so. Only the offline rules of computers attached to the site incident are held; their
/// volumes, disks and services follow through "parent down".
pub async fn suppressing(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    rule_id: i64,
    computer_id: i64,
    at: i64,
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
    .bind(OFFLINE_SECONDS)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.0))
}
