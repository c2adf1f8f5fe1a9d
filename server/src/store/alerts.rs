//! Alert bookkeeping beside the state machine: the alert history, suppressions (maintenance
//! windows and silences), scope checks against the asset query language, and the CMDB facts
//! an incident is linked to.

use serde::{Deserialize, Serialize};

use super::in_scope;
use super::{
    now_ms, to_time, to_time_opt, Backend, NullableFloat, Store, StoreError, StoreResult, TenantId,
    TenantScope, Tx,
};
use crate::ci::query;
use crate::rules::suppression::{parse_cron, Window};

/// Whether CI `ci_id` matches an asset query. Parse errors count as "no match" here: queries
/// are validated when rules and suppressions are saved.
pub async fn ci_matches(
    tx: &mut Tx<'_>,
    backend: Backend,
    ci_id: i64,
    query_text: &str,
) -> StoreResult<bool> {
    let Ok(expr) = query::parse(query_text) else {
        return Ok(false);
    };
    let Ok(compiled) = query::compile(&expr, backend.dialect(), 2) else {
        return Ok(false);
    };
    let sql = format!(
        "SELECT c.id FROM configuration_items c WHERE c.id = $1 AND ({})",
        compiled.sql
    );
    let q = super::ci_query::bind_all(
        sqlx::query_as::<_, (i64,)>(&sql).bind(ci_id),
        compiled.binds,
    );
    Ok(q.fetch_optional(&mut **tx).await?.is_some())
}

pub struct AlertEvent<'a> {
    pub tenant: TenantId,
    pub rule_id: i64,
    pub ci_id: i64,
    pub at: i64,
    pub from: &'a str,
    pub to: &'a str,
    pub severity: Option<&'a str>,
    pub value: Option<f64>,
    pub incident_id: Option<i64>,
    pub note: Option<&'a str>,
}

pub async fn record_event(tx: &mut Tx<'_>, e: &AlertEvent<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO alert_events (tenant_id, rule_id, ci_id, at, from_state, to_state, severity, value, incident_id, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(e.tenant.0)
    .bind(e.rule_id)
    .bind(e.ci_id)
    .bind(e.at)
    .bind(e.from)
    .bind(e.to)
    .bind(e.severity)
    .bind(NullableFloat(e.value))
    .bind(e.incident_id)
    .bind(e.note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Why an alert on `ci_id` (of computer `computer_id`) must not page anyone at `at`, if so.
pub async fn suppression(
    tx: &mut Tx<'_>,
    backend: Backend,
    tenant: TenantId,
    rule_id: i64,
    ci_id: i64,
    computer_id: i64,
    at: i64,
) -> StoreResult<Option<String>> {
    if ci_id != computer_id {
        // Parent down: while the computer is offline, its parts' alerts say nothing new.
        let offline: Option<(i64,)> = sqlx::query_as(
            "SELECT s.rule_id FROM alert_states s JOIN rules r ON r.id = s.rule_id
             WHERE s.ci_id = $1 AND s.state = 'firing' AND r.metric = $2",
        )
        .bind(computer_id)
        .bind(crate::rules::metrics::OFFLINE_SECONDS)
        .fetch_optional(&mut **tx)
        .await?;
        if offline.is_some() {
            return Ok(Some("parent_down".into()));
        }
    }
    if ci_id == computer_id {
        // Site outage: one site incident speaks for the computers that went offline with it.
        if let Some(id) =
            super::site_outages::suppressing(tx, tenant, rule_id, computer_id, at).await?
        {
            return Ok(Some(format!("site_outage:{id}")));
        }
    }
    let rows: Vec<SuppressionRow> = sqlx::query_as(&format!(
        "SELECT {SUPPRESSION_COLUMNS} FROM suppressions
         WHERE tenant_id = $1 AND cancelled_at IS NULL AND kind <> 'site_outage'
           AND (rule_id IS NULL OR rule_id = $2)"
    ))
    .bind(tenant.0)
    .bind(rule_id)
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let s = suppression_from_row(row);
        if !s.window().is_active(at) {
            continue;
        }
        let covered = match &s.scope_query {
            None => true,
            // A window on a computer covers its volumes, disks and services too.
            Some(q) => {
                ci_matches(tx, backend, ci_id, q).await?
                    || ci_matches(tx, backend, computer_id, q).await?
            }
        };
        if covered {
            return Ok(Some(format!("{}:{}", s.kind, s.id)));
        }
    }
    Ok(None)
}

/// Business services that depend on any of these CIs.
pub async fn dependent_business_services(tx: &mut Tx<'_>, ci_ids: &[i64]) -> StoreResult<Vec<i64>> {
    let mut found = Vec::new();
    for ci in ci_ids {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT r.source_id FROM ci_relations r JOIN configuration_items b ON b.id = r.source_id
             WHERE r.target_id = $1 AND r.kind = 'depends_on' AND b.class = 'business_service'
               AND b.status <> 'retired'",
        )
        .bind(ci)
        .fetch_all(&mut **tx)
        .await?;
        found.extend(rows.into_iter().map(|r| r.0));
    }
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// When a report of this computer last *arrived*, as SQL over `configuration_items c`: its agents'
/// `last_seen_at` (server time). Not the CI's `last_seen_at`, which is the newest sample time: an
/// agent whose clock runs behind, or that is working through its spool after an outage, keeps
/// reporting with old sample times and is not offline; one whose clock runs ahead is not online
/// once it stops. The CI's own time stands in only for a computer without agents.
pub const LAST_REPORT_AT: &str = "COALESCE((SELECT MAX(a.last_seen_at) FROM agents a WHERE a.computer_id = c.id), c.last_seen_at)";

/// A computer's name and when its last report arrived ([`LAST_REPORT_AT`]).
pub async fn last_report_of(
    tx: &mut Tx<'_>,
    computer_id: i64,
) -> StoreResult<Option<(String, i64)>> {
    Ok(sqlx::query_as(&format!(
        "SELECT c.name, {LAST_REPORT_AT} FROM configuration_items c WHERE c.id = $1"
    ))
    .bind(computer_id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Computers of a tenant to check for being offline (each is evaluated with its last report
/// read again: [`last_report_of`]).
pub async fn offline_candidates(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    seen_before: i64,
) -> StoreResult<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT x.id FROM (
             SELECT c.id, {LAST_REPORT_AT} AS seen FROM configuration_items c
              WHERE c.tenant_id = $1 AND c.class = 'computer' AND c.status <> 'retired') x
         WHERE x.seen < $2 OR EXISTS (
                SELECT 1 FROM alert_states s JOIN rules r ON r.id = s.rule_id
                WHERE s.ci_id = x.id AND r.metric = $3 AND (s.state <> 'ok' OR s.flapping = 1))
         ORDER BY x.id"
    ))
    .bind(tenant.0)
    .bind(seen_before)
    .bind(crate::rules::metrics::OFFLINE_SECONDS)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct Suppression {
    pub id: i64,
    pub tenant_id: TenantId,
    /// `maintenance`, `silence` or `site_outage` (opened and ended by the offline sweep).
    pub kind: String,
    pub reason: String,
    pub author: String,
    pub scope_query: Option<String>,
    pub rule_id: Option<i64>,
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
    pub cron: Option<String>,
    pub duration_secs: Option<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub cancelled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// For a `site_outage`: the site, and the site incident that explains the suppression.
    pub site_id: Option<i64>,
    pub incident_id: Option<i64>,
}

impl Suppression {
    pub fn window(&self) -> Window {
        match (&self.cron, self.duration_secs) {
            (Some(cron), Some(duration_secs)) => Window::Recurring {
                cron: cron.clone(),
                duration_secs,
            },
            _ => Window::Interval {
                starts_at: self
                    .starts_at
                    .map(|t| t.timestamp_millis())
                    .unwrap_or(i64::MIN),
                ends_at: self.ends_at.map(|t| t.timestamp_millis()),
            },
        }
    }
}

#[derive(sqlx::FromRow)]
struct SuppressionRow {
    id: i64,
    tenant_id: i64,
    kind: String,
    reason: String,
    author: String,
    scope_query: Option<String>,
    rule_id: Option<i64>,
    starts_at: Option<i64>,
    ends_at: Option<i64>,
    cron: Option<String>,
    duration_secs: Option<i64>,
    created_at: i64,
    cancelled_at: Option<i64>,
    site_id: Option<i64>,
    incident_id: Option<i64>,
}

const SUPPRESSION_COLUMNS: &str =
    "id, tenant_id, kind, reason, author, scope_query, rule_id, starts_at, ends_at, \
     cron, duration_secs, created_at, cancelled_at, site_id, incident_id";

fn suppression_from_row(r: SuppressionRow) -> Suppression {
    Suppression {
        id: r.id,
        tenant_id: TenantId(r.tenant_id),
        kind: r.kind,
        reason: r.reason,
        author: r.author,
        scope_query: r.scope_query,
        rule_id: r.rule_id,
        starts_at: to_time_opt(r.starts_at),
        ends_at: to_time_opt(r.ends_at),
        cron: r.cron,
        duration_secs: r.duration_secs,
        created_at: to_time(r.created_at),
        cancelled_at: to_time_opt(r.cancelled_at),
        site_id: r.site_id,
        incident_id: r.incident_id,
    }
}

/// A new maintenance window or silence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSuppression {
    #[serde(default)]
    pub tenant: Option<String>,
    /// `maintenance` (planned work) or `silence` (a known problem being handled).
    pub kind: String,
    pub reason: String,
    #[serde(default)]
    pub scope_query: Option<String>,
    #[serde(default)]
    pub rule_id: Option<i64>,
    #[serde(default)]
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub duration_secs: Option<i64>,
}

impl NewSuppression {
    fn validate(&self) -> StoreResult<()> {
        let fail = |m: &str| Err(StoreError::Invalid(m.to_string()));
        if !matches!(self.kind.as_str(), "maintenance" | "silence") {
            return fail("kind must be \"maintenance\" or \"silence\"");
        }
        if self.reason.trim().is_empty() {
            return fail("a reason is required: say why alerts are held");
        }
        if let Some(q) = &self.scope_query {
            query::parse(q).map_err(|e| StoreError::Invalid(format!("scope_query: {e}")))?;
        }
        match (&self.cron, self.duration_secs, self.starts_at, self.ends_at) {
            (Some(cron), Some(d), None, None) => {
                parse_cron(cron).map_err(StoreError::Invalid)?;
                if !(60..=7 * 86_400).contains(&d) {
                    return fail("duration_secs must be between 60 and 604800");
                }
            }
            (None, None, _, Some(end)) => {
                if self.starts_at.is_some_and(|s| s >= end) {
                    return fail("ends_at must be after starts_at");
                }
                if end.timestamp_millis() <= now_ms() {
                    return fail("ends_at must be in the future");
                }
            }
            (None, None, _, None) if self.kind == "silence" => {
                return fail("a silence needs ends_at: silences always expire");
            }
            (None, None, _, None) => {
                return fail("give ends_at (one-off) or cron and duration_secs (recurring)")
            }
            _ => {
                return fail("give either cron with duration_secs, or starts_at/ends_at, not both")
            }
        }
        Ok(())
    }
}

impl Store {
    pub async fn create_suppression(
        &self,
        tenant: TenantId,
        new: &NewSuppression,
        author: &str,
    ) -> StoreResult<Suppression> {
        new.validate()?;
        if let Some(rule) = new.rule_id {
            self.get_rule(TenantScope::Tenant(tenant), rule).await?;
        }
        let now = now_ms();
        let starts_at = new
            .starts_at
            .map(|t| t.timestamp_millis())
            .or((new.cron.is_none()).then_some(now));
        let row: SuppressionRow = sqlx::query_as(&format!(
            "INSERT INTO suppressions (tenant_id, kind, reason, author, scope_query, rule_id, starts_at, ends_at,
                                       cron, duration_secs, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {SUPPRESSION_COLUMNS}"
        ))
        .bind(tenant.0)
        .bind(&new.kind)
        .bind(new.reason.trim())
        .bind(author)
        .bind(new.scope_query.as_deref())
        .bind(new.rule_id)
        .bind(starts_at)
        .bind(new.ends_at.map(|t| t.timestamp_millis()))
        .bind(new.cron.as_deref())
        .bind(new.duration_secs)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(suppression_from_row(row))
    }

    pub async fn list_suppressions(&self, scope: TenantScope) -> StoreResult<Vec<Suppression>> {
        let rows: Vec<SuppressionRow> = sqlx::query_as(&format!(
            "SELECT {SUPPRESSION_COLUMNS} FROM suppressions
             WHERE {in_scope} ORDER BY id",
            in_scope = in_scope("tenant_id", 1)
        ))
        .bind(scope.filter())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(suppression_from_row).collect())
    }

    /// End a suppression early; it stays listed with its cancellation time (the audit trail).
    pub async fn cancel_suppression(
        &self,
        scope: TenantScope,
        id: i64,
    ) -> StoreResult<Suppression> {
        let row: Option<SuppressionRow> = sqlx::query_as(&format!(
            "UPDATE suppressions SET cancelled_at = COALESCE(cancelled_at, $1)
             WHERE id = $2 AND {in_scope} RETURNING {SUPPRESSION_COLUMNS}",
            in_scope = in_scope("tenant_id", 3)
        ))
        .bind(now_ms())
        .bind(id)
        .bind(scope.filter())
        .fetch_optional(self.pool())
        .await?;
        row.map(suppression_from_row).ok_or(StoreError::NotFound)
    }

    /// The alert history of a CI, newest first.
    pub async fn alert_history(
        &self,
        scope: TenantScope,
        ci_id: i64,
    ) -> StoreResult<Vec<AlertHistoryEntry>> {
        self.get_ci(scope, ci_id).await?;
        type Row = (
            i64,
            i64,
            String,
            String,
            Option<String>,
            Option<f64>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT rule_id, at, from_state, to_state, severity, value, incident_id, note FROM alert_events
             WHERE ci_id = $1 ORDER BY at DESC, id DESC LIMIT 500",
        )
        .bind(ci_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AlertHistoryEntry {
                rule_id: r.0,
                at: to_time(r.1),
                from: r.2,
                to: r.3,
                severity: r.4,
                value: r.5,
                incident_id: r.6,
                note: r.7,
            })
            .collect())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertHistoryEntry {
    pub rule_id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub from: String,
    pub to: String,
    pub severity: Option<String>,
    pub value: Option<f64>,
    pub incident_id: Option<i64>,
    pub note: Option<String>,
}
