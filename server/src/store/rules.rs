//! Threshold rules and the alert state of each (rule, CI) pair, as rows. What the rows mean to
//! the rule engine — levels, validation, alert states — is `rules::stored`'s; saving a rule a
//! person gave, checked, is `alerting::rule_admin`'s.

use serde::{Deserialize, Serialize};

use super::in_scope;
use super::{
    now_ms, to_time, NullableFloat, Store, StoreError, StoreResult, TenantId, TenantScope, Tx,
};

#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: i64,
    /// `None`: an MSP-wide rule, applying to every tenant without its own rule of that name.
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub metric: String,
    /// `above` (high is bad) or `below` (low is bad, e.g. free space).
    pub direction: String,
    pub warning_level: Option<f64>,
    pub critical_level: f64,
    pub recovery_level: Option<f64>,
    pub for_secs: i64,
    /// Only CIs matching this asset query are watched (all of the metric's class when absent).
    pub scope_query: Option<String>,
    pub impact: i64,
    pub urgency: i64,
    pub auto_resolve: bool,
    /// A problem that comes back within this many seconds of resolution reopens its incident.
    pub reopen_window_secs: i64,
    pub enabled: bool,
    pub runbook: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The fields a person sets on a rule (create, or full replacement on update).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub metric: String,
    #[serde(default = "default_direction")]
    pub direction: String,
    #[serde(default)]
    pub warning_level: Option<f64>,
    pub critical_level: f64,
    #[serde(default)]
    pub recovery_level: Option<f64>,
    #[serde(default)]
    pub for_secs: i64,
    #[serde(default)]
    pub scope_query: Option<String>,
    #[serde(default = "default_level")]
    pub impact: i64,
    #[serde(default = "default_level")]
    pub urgency: i64,
    #[serde(default = "default_true")]
    pub auto_resolve: bool,
    #[serde(default = "default_reopen_window")]
    pub reopen_window_secs: i64,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub runbook: Option<String>,
}

fn default_direction() -> String {
    "above".into()
}

fn default_level() -> i64 {
    2
}

fn default_true() -> bool {
    true
}

fn default_reopen_window() -> i64 {
    3600
}

impl RuleSpec {
    /// A spec with the defaults for everything but what identifies the rule (`direction`:
    /// `above` or `below`).
    pub fn with_defaults(name: &str, metric: &str, direction: &str, critical_level: f64) -> Self {
        RuleSpec {
            name: name.into(),
            metric: metric.into(),
            direction: direction.into(),
            warning_level: None,
            critical_level,
            recovery_level: None,
            for_secs: 0,
            scope_query: None,
            impact: default_level(),
            urgency: default_level(),
            auto_resolve: true,
            reopen_window_secs: default_reopen_window(),
            enabled: true,
            runbook: None,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: i64,
    tenant_id: Option<i64>,
    name: String,
    metric: String,
    direction: String,
    warning_level: Option<f64>,
    critical_level: f64,
    recovery_level: Option<f64>,
    for_secs: i64,
    scope_query: Option<String>,
    impact: i64,
    urgency: i64,
    auto_resolve: i64,
    reopen_window_secs: i64,
    enabled: i64,
    runbook: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const RULE_COLUMNS: &str = "id, tenant_id, name, metric, direction, warning_level, critical_level, recovery_level, \
     for_secs, scope_query, impact, urgency, auto_resolve, reopen_window_secs, enabled, runbook, created_at, updated_at";

fn rule_from_row(r: RuleRow) -> Rule {
    Rule {
        id: r.id,
        tenant_id: r.tenant_id.map(TenantId),
        name: r.name,
        metric: r.metric,
        direction: r.direction,
        warning_level: r.warning_level,
        critical_level: r.critical_level,
        recovery_level: r.recovery_level,
        for_secs: r.for_secs,
        scope_query: r.scope_query,
        impact: r.impact,
        urgency: r.urgency,
        auto_resolve: r.auto_resolve != 0,
        reopen_window_secs: r.reopen_window_secs,
        enabled: r.enabled != 0,
        runbook: r.runbook,
        created_at: to_time(r.created_at),
        updated_at: to_time(r.updated_at),
    }
}

impl Store {
    /// Insert a rule for a tenant, or MSP-wide with `tenant = None`, as given (checked first by
    /// `Store::create_rule`).
    pub async fn insert_rule(
        &self,
        tenant: Option<TenantId>,
        spec: &RuleSpec,
    ) -> StoreResult<Rule> {
        let now = now_ms();
        let row: RuleRow = sqlx::query_as(&format!(
            "INSERT INTO rules (tenant_id, name, metric, warning_level, critical_level, recovery_level,
                                for_secs, impact, urgency, auto_resolve, enabled, runbook, created_at, updated_at,
                                direction, scope_query, reopen_window_secs)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16)
             RETURNING {RULE_COLUMNS}"
        ))
        .bind(tenant.map(|t| t.0))
        .bind(spec.name.trim())
        .bind(&spec.metric)
        .bind(NullableFloat(spec.warning_level))
        .bind(spec.critical_level)
        .bind(NullableFloat(spec.recovery_level))
        .bind(spec.for_secs)
        .bind(spec.impact)
        .bind(spec.urgency)
        .bind(i64::from(spec.auto_resolve))
        .bind(i64::from(spec.enabled))
        .bind(spec.runbook.as_deref())
        .bind(now)
        .bind(&spec.direction)
        .bind(spec.scope_query.as_deref())
        .bind(spec.reopen_window_secs)
        .fetch_one(self.pool())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "a rule with this name already exists here"))?;
        Ok(rule_from_row(row))
    }

    /// Replace a rule's fields, as given (checked first by `Store::update_rule`). A
    /// tenant-scoped caller may only change its own tenant's rules.
    pub async fn replace_rule(
        &self,
        scope: TenantScope,
        id: i64,
        spec: &RuleSpec,
    ) -> StoreResult<Rule> {
        let row: Option<RuleRow> = sqlx::query_as(&format!(
            "UPDATE rules SET name = $1, metric = $2, warning_level = $3, critical_level = $4,
                    recovery_level = $5, for_secs = $6, impact = $7, urgency = $8, auto_resolve = $9,
                    enabled = $10, runbook = $11, updated_at = $12, direction = $15, scope_query = $16,
                    reopen_window_secs = $17
             WHERE id = $13 AND {in_scope}
             RETURNING {RULE_COLUMNS}", in_scope = in_scope("tenant_id", 14)))
        .bind(spec.name.trim())
        .bind(&spec.metric)
        .bind(NullableFloat(spec.warning_level))
        .bind(spec.critical_level)
        .bind(NullableFloat(spec.recovery_level))
        .bind(spec.for_secs)
        .bind(spec.impact)
        .bind(spec.urgency)
        .bind(i64::from(spec.auto_resolve))
        .bind(i64::from(spec.enabled))
        .bind(spec.runbook.as_deref())
        .bind(now_ms())
        .bind(id)
        .bind(scope.filter())
        .bind(&spec.direction)
        .bind(spec.scope_query.as_deref())
        .bind(spec.reopen_window_secs)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "a rule with this name already exists here"))?;
        row.map(rule_from_row).ok_or(StoreError::NotFound)
    }

    /// Rules visible in a scope: the MSP-wide ones and the scope's own.
    pub async fn list_rules(&self, scope: TenantScope) -> StoreResult<Vec<Rule>> {
        let rows: Vec<RuleRow> = sqlx::query_as(&format!(
            "SELECT {RULE_COLUMNS} FROM rules
             WHERE tenant_id IS NULL OR {in_scope} ORDER BY id",
            in_scope = in_scope("tenant_id", 1)
        ))
        .bind(scope.filter())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(rule_from_row).collect())
    }

    pub async fn get_rule(&self, scope: TenantScope, id: i64) -> StoreResult<Rule> {
        let rows = self.list_rules(scope).await?;
        rows.into_iter()
            .find(|r| r.id == id)
            .ok_or(StoreError::NotFound)
    }

    pub async fn delete_rule(&self, scope: TenantScope, id: i64) -> StoreResult<()> {
        // Alert states go with the rule; incidents keep their history and lose only the link.
        let mut tx = self.begin().await?;
        let visible: Option<(i64,)> = sqlx::query_as(&format!(
            "SELECT id FROM rules WHERE id = $1 AND {in_scope}",
            in_scope = in_scope("tenant_id", 2)
        ))
        .bind(id)
        .bind(scope.filter())
        .fetch_optional(&mut *tx)
        .await?;
        if visible.is_none() {
            return Err(StoreError::NotFound);
        }
        for table in ["alert_states", "alert_events", "suppressions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE rule_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE incidents SET rule_id = NULL WHERE rule_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM rules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Rules in force for a tenant: its own, plus MSP-wide rules it has not overridden by name.
pub async fn effective_rules(tx: &mut Tx<'_>, tenant: TenantId) -> StoreResult<Vec<Rule>> {
    let rows: Vec<RuleRow> = sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM rules r
         WHERE r.enabled = 1
           AND (r.tenant_id = $1
                OR (r.tenant_id IS NULL AND NOT EXISTS (
                    SELECT 1 FROM rules o WHERE o.tenant_id = $1 AND o.name = r.name)))
         ORDER BY r.id"
    ))
    .bind(tenant.0)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(rule_from_row).collect())
}

/// The stored state of one (rule, CI) pair, as its columns (`rules::stored::StoredAlert` is
/// what they mean).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertStateRow {
    pub rule_id: i64,
    pub ci_id: i64,
    pub state: String,
    pub severity: Option<String>,
    pub since_at: i64,
    pub last_value: Option<f64>,
    pub last_sample_at: i64,
    pub incident_id: Option<i64>,
    /// Last results for flap detection ('1' = breaching), newest last.
    pub recent: String,
    pub flapping: i64,
    pub suppressed_by: Option<String>,
}

const ALERT_COLUMNS: &str =
    "rule_id, ci_id, state, severity, since_at, last_value, last_sample_at, incident_id, \
     recent, flapping, suppressed_by";

pub async fn load_alert_state(
    tx: &mut Tx<'_>,
    rule_id: i64,
    ci_id: i64,
) -> StoreResult<Option<AlertStateRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alert_states WHERE rule_id = $1 AND ci_id = $2"
    ))
    .bind(rule_id)
    .bind(ci_id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Alert states of a computer and its components that need evaluating on every sample: not ok,
/// or flapping. Everything else is ok, and an ok sample need not touch the database.
pub async fn unsettled_alerts(
    tx: &mut Tx<'_>,
    computer_id: i64,
) -> StoreResult<Vec<AlertStateRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alert_states
         WHERE computer_id = $1 AND (state <> 'ok' OR flapping = 1)"
    ))
    .bind(computer_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// An alert state to save: the columns of an [`AlertStateRow`], borrowed, and the computer the
/// CI belongs to.
#[derive(Debug, Clone, Copy)]
pub struct AlertStateSave<'a> {
    pub rule_id: i64,
    pub ci_id: i64,
    pub computer_id: i64,
    pub state: &'a str,
    pub severity: Option<&'a str>,
    pub since_at: i64,
    pub last_value: Option<f64>,
    pub last_sample_at: i64,
    pub incident_id: Option<i64>,
    pub recent: &'a str,
    pub flapping: bool,
    pub suppressed_by: Option<&'a str>,
}

pub async fn save_alert_state(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    alert: &AlertStateSave<'_>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO alert_states (tenant_id, rule_id, ci_id, state, severity, since_at, last_value, last_sample_at,
                                   incident_id, recent, flapping, suppressed_by, computer_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (rule_id, ci_id) DO UPDATE SET state = $4, severity = $5, since_at = $6,
             last_value = $7, last_sample_at = $8, incident_id = $9, recent = $10, flapping = $11,
             suppressed_by = $12",
    )
    .bind(tenant.0)
    .bind(alert.rule_id)
    .bind(alert.ci_id)
    .bind(alert.state)
    .bind(alert.severity)
    .bind(alert.since_at)
    .bind(NullableFloat(alert.last_value))
    .bind(alert.last_sample_at)
    .bind(alert.incident_id)
    .bind(alert.recent)
    .bind(i64::from(alert.flapping))
    .bind(alert.suppressed_by)
    .bind(alert.computer_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
