//! Threshold rules and the alert state of each (rule, CI) pair.

use serde::{Deserialize, Serialize};

use super::in_scope;
use super::{
    now_ms, to_time, NullableFloat, Store, StoreError, StoreResult, TenantId, TenantScope, Tx,
};
use crate::rules::{metrics, AlertState, Direction, Levels, Phase, Severity};

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

impl Rule {
    pub fn levels(&self) -> Levels {
        Levels {
            direction: Direction::parse(&self.direction).unwrap_or(Direction::Above),
            warning: self.warning_level,
            critical: self.critical_level,
            recovery: self.recovery_level,
            for_ms: self.for_secs.saturating_mul(1000),
        }
    }
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
    /// A spec with the defaults for everything but what identifies the rule.
    pub fn new(name: &str, metric: &str, direction: Direction, critical_level: f64) -> Self {
        RuleSpec {
            name: name.into(),
            metric: metric.into(),
            direction: direction.as_str().into(),
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

    pub fn validate(&self) -> StoreResult<()> {
        let fail = |m: String| Err(StoreError::Invalid(m));
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return fail("name must be 1-200 characters".into());
        }
        if metrics::lookup(&self.metric).is_none() {
            let known: Vec<&str> = metrics::METRICS.iter().map(|m| m.name).collect();
            return fail(format!(
                "unknown metric {:?}; known: {}",
                self.metric,
                known.join(", ")
            ));
        }
        let Some(direction) = Direction::parse(&self.direction) else {
            return fail("direction must be \"above\" or \"below\"".into());
        };
        let levels = [
            Some(self.critical_level),
            self.warning_level,
            self.recovery_level,
        ];
        if levels.iter().flatten().any(|l| !l.is_finite()) {
            return fail("levels must be finite numbers".into());
        }
        // "Worse" is higher for `above` and lower for `below`; flip `below` to check one way.
        let sign = if direction == Direction::Above {
            1.0
        } else {
            -1.0
        };
        if let Some(w) = self.warning_level {
            if sign * w > sign * self.critical_level {
                return fail(format!(
                    "warning_level must not be worse than critical_level for direction {}",
                    self.direction
                ));
            }
        }
        let mildest = self.warning_level.unwrap_or(self.critical_level);
        if let Some(r) = self.recovery_level {
            if sign * r > sign * mildest {
                return fail("recovery_level must be at or beyond the mildest alert level, on the healthy side".into());
            }
        }
        if self.for_secs < 0 || self.for_secs > 7 * 86_400 {
            return fail("for_secs must be between 0 and 604800".into());
        }
        if self.reopen_window_secs < 0 {
            return fail("reopen_window_secs must not be negative".into());
        }
        if !(1..=3).contains(&self.impact) || !(1..=3).contains(&self.urgency) {
            return fail("impact and urgency must be 1 (high), 2 (medium) or 3 (low)".into());
        }
        if let Some(q) = &self.scope_query {
            crate::ci::query::parse(q)
                .map_err(|e| StoreError::Invalid(format!("scope_query: {e}")))?;
        }
        Ok(())
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
    /// Create a rule for a tenant, or MSP-wide with `tenant = None`.
    pub async fn create_rule(
        &self,
        tenant: Option<TenantId>,
        spec: &RuleSpec,
    ) -> StoreResult<Rule> {
        spec.validate()?;
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

    /// Replace a rule's fields. A tenant-scoped caller may only change its own tenant's rules.
    pub async fn update_rule(
        &self,
        scope: TenantScope,
        id: i64,
        spec: &RuleSpec,
    ) -> StoreResult<Rule> {
        spec.validate()?;
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

/// The stored state of one (rule, CI) pair: the state machine's part plus flap history and
/// suppression.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub state: AlertState,
    /// Last results for flap detection ('1' = breaching), newest last.
    pub recent: String,
    pub flapping: bool,
    pub suppressed_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AlertStateRow {
    rule_id: i64,
    ci_id: i64,
    state: String,
    severity: Option<String>,
    since_at: i64,
    last_value: Option<f64>,
    last_sample_at: i64,
    incident_id: Option<i64>,
    recent: String,
    flapping: i64,
    suppressed_by: Option<String>,
}

const ALERT_COLUMNS: &str =
    "rule_id, ci_id, state, severity, since_at, last_value, last_sample_at, incident_id, \
     recent, flapping, suppressed_by";

fn alert_from_row(r: AlertStateRow) -> ((i64, i64), StoredAlert) {
    let state = AlertState {
        phase: Phase::parse(&r.state),
        severity: r.severity.as_deref().and_then(Severity::parse),
        since_at: r.since_at,
        last_value: r.last_value,
        last_sample_at: r.last_sample_at,
        incident_id: r.incident_id,
    };
    let alert = StoredAlert {
        state,
        recent: r.recent,
        flapping: r.flapping != 0,
        suppressed_by: r.suppressed_by,
    };
    ((r.rule_id, r.ci_id), alert)
}

pub async fn load_alert_state(
    tx: &mut Tx<'_>,
    rule_id: i64,
    ci_id: i64,
) -> StoreResult<Option<StoredAlert>> {
    let row: Option<AlertStateRow> = sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alert_states WHERE rule_id = $1 AND ci_id = $2"
    ))
    .bind(rule_id)
    .bind(ci_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| alert_from_row(r).1))
}

/// Alert states of a computer and its components that need evaluating on every sample: not ok,
/// or flapping. Everything else is ok, and an ok sample need not touch the database.
pub async fn unsettled_alerts(
    tx: &mut Tx<'_>,
    computer_id: i64,
) -> StoreResult<Vec<((i64, i64), StoredAlert)>> {
    let rows: Vec<AlertStateRow> = sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alert_states
         WHERE computer_id = $1 AND (state <> 'ok' OR flapping = 1)"
    ))
    .bind(computer_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(alert_from_row).collect())
}

pub async fn save_alert_state(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    rule_id: i64,
    (ci_id, computer_id): (i64, i64),
    alert: &StoredAlert,
) -> StoreResult<()> {
    let state = &alert.state;
    sqlx::query(
        "INSERT INTO alert_states (tenant_id, rule_id, ci_id, state, severity, since_at, last_value, last_sample_at,
                                   incident_id, recent, flapping, suppressed_by, computer_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (rule_id, ci_id) DO UPDATE SET state = $4, severity = $5, since_at = $6,
             last_value = $7, last_sample_at = $8, incident_id = $9, recent = $10, flapping = $11,
             suppressed_by = $12",
    )
    .bind(tenant.0)
    .bind(rule_id)
    .bind(ci_id)
    .bind(state.phase.as_str())
    .bind(state.severity.map(Severity::as_str))
    .bind(state.since_at)
    .bind(NullableFloat(state.last_value))
    .bind(state.last_sample_at)
    .bind(state.incident_id)
    .bind(&alert.recent)
    .bind(i64::from(alert.flapping))
    .bind(alert.suppressed_by.as_deref())
    .bind(computer_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
