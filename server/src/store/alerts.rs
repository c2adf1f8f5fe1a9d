//! Alert bookkeeping beside the state machine, as rows: the alert history, suppressions
//! (maintenance windows and silences), scope checks against the asset query language, and the
//! CMDB facts an incident is linked to. Whether a suppression holds an alert is
//! `alerting::suppression`'s; what makes a suppression valid, `rules::suppression`'s.

use serde::{Deserialize, Serialize};

use super::in_scope;
use super::{
    now_ms, to_time, to_time_opt, Backend, NullableFloat, Store, StoreError, StoreResult, TenantId,
    TenantScope, Tx,
};
use crate::ci::query;

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

/// Whether an alert of a rule on `metric` is firing on `ci_id` (the offline rules' metric, for
/// "parent down").
pub async fn firing_on(tx: &mut Tx<'_>, ci_id: i64, metric: &str) -> StoreResult<bool> {
    let firing: Option<(i64,)> = sqlx::query_as(
        "SELECT s.rule_id FROM alert_states s JOIN rules r ON r.id = s.rule_id
         WHERE s.ci_id = $1 AND s.state = 'firing' AND r.metric = $2",
    )
    .bind(ci_id)
    .bind(metric)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(firing.is_some())
}

/// A tenant's maintenance windows and silences not cancelled that may hold an alert of
/// `rule_id` (theirs, or for every rule) — whether they are in force is for the caller to say.
pub async fn suppressions_for_rule(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    rule_id: i64,
) -> StoreResult<Vec<Suppression>> {
    let rows: Vec<SuppressionRow> = sqlx::query_as(&format!(
        "SELECT {SUPPRESSION_COLUMNS} FROM suppressions
         WHERE tenant_id = $1 AND cancelled_at IS NULL AND kind <> 'site_outage'
           AND (rule_id IS NULL OR rule_id = $2)"
    ))
    .bind(tenant.0)
    .bind(rule_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(suppression_from_row).collect())
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
///
/// `offline_metric` is the offline rules' metric: a computer with an unsettled alert on it is a
/// candidate however recently it reported.
pub async fn offline_candidates(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    seen_before: i64,
    offline_metric: &str,
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
    .bind(offline_metric)
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

impl Store {
    /// Insert a maintenance window or silence as given (checked first by
    /// `Store::create_suppression`), for a rule of the tenant's if it names one.
    pub async fn insert_suppression(
        &self,
        tenant: TenantId,
        new: &NewSuppression,
        author: &str,
    ) -> StoreResult<Suppression> {
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
