//! The rows the desk's KPI reports are made of (see [`crate::desk::kpis`] for the reports and
//! their definitions): one row per ticket for the service levels, the opened and the open
//! tickets, rating counts; and the two reports that are plain SQL aggregates, incidents per CI
//! class and per rule.

use serde::Serialize;
use sqlx::AnyConnection;

use super::in_scope;
use super::tickets::{open_states_sql, TicketKind};
use super::{Store, StoreResult, TenantScope};

/// Which tickets a report covers: a tenant scope, and opened (or rated) in `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct ReportRange {
    pub scope: TenantScope,
    pub from: i64,
    pub to: i64,
}

/// What one ticket opened in the range contributes to the service levels.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketFacts {
    pub id: i64,
    pub tenant_id: i64,
    pub tenant: String,
    pub priority: i64,
    pub opened_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub reopen_count: i64,
    pub escalations: i64,
}

/// A ticket opened in the range: when, and by what (`manual` or a rule's source).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenedTicket {
    pub tenant: String,
    pub opened_at: i64,
    pub source: String,
}

/// A ticket open now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenTicket {
    pub tenant: String,
    pub priority: i64,
    pub opened_at: i64,
}

/// How many ratings of one score a tenant got in the range.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RatingCount {
    pub tenant: String,
    pub score: i64,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CiClassRow {
    pub tenant: String,
    pub class: String,
    pub incidents: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuleRow {
    pub tenant: String,
    pub rule_id: i64,
    pub rule: String,
    pub incidents: i64,
    pub still_open: i64,
}

/// The tickets of `kind` opened in the range (cancelled ones left out), in id order, on the
/// caller's connection (the service levels replay each one's clocks on it).
pub async fn ticket_facts(
    conn: &mut AnyConnection,
    kind: TicketKind,
    range: &ReportRange,
) -> StoreResult<Vec<TicketFacts>> {
    Ok(sqlx::query_as(&format!(
        "SELECT t.id, t.tenant_id, n.name AS tenant, t.priority, t.opened_at,
                t.first_response_at, t.resolved_at, t.reopen_count,
                (SELECT COUNT(*) FROM {events} e WHERE e.{fk} = t.id
                    AND e.kind = 'escalated') AS escalations
           FROM {table} t JOIN tenants n ON n.id = t.tenant_id
          WHERE {in_scope}
            AND t.opened_at >= $2 AND t.opened_at < $3 AND t.state <> 'cancelled'
          ORDER BY t.id",
        events = kind.events(),
        fk = kind.fk(),
        table = kind.table(),
        in_scope = in_scope("t.tenant_id", 1)
    ))
    .bind(range.scope.filter())
    .bind(range.from)
    .bind(range.to)
    .fetch_all(conn)
    .await?)
}

impl Store {
    /// The tickets of `kind` opened in the range.
    pub async fn opened_tickets(
        &self,
        kind: TicketKind,
        range: &ReportRange,
    ) -> StoreResult<Vec<OpenedTicket>> {
        Ok(sqlx::query_as(&format!(
            "SELECT n.name AS tenant, t.opened_at, t.source
               FROM {} t JOIN tenants n ON n.id = t.tenant_id
              WHERE {in_scope}
                AND t.opened_at >= $2 AND t.opened_at < $3",
            kind.table(),
            in_scope = in_scope("t.tenant_id", 1)
        ))
        .bind(range.scope.filter())
        .bind(range.from)
        .bind(range.to)
        .fetch_all(self.pool())
        .await?)
    }

    /// The tickets of `kind` open now.
    pub async fn open_tickets(
        &self,
        kind: TicketKind,
        scope: TenantScope,
    ) -> StoreResult<Vec<OpenTicket>> {
        let open_states = open_states_sql();
        Ok(sqlx::query_as(&format!(
            "SELECT n.name AS tenant, t.priority, t.opened_at
               FROM {} t JOIN tenants n ON n.id = t.tenant_id
              WHERE {in_scope}
                AND t.state IN {open_states}",
            kind.table(),
            in_scope = in_scope("t.tenant_id", 1)
        ))
        .bind(scope.filter())
        .fetch_all(self.pool())
        .await?)
    }

    /// Ratings given in the range, counted per tenant and score, in tenant and score order.
    pub async fn rating_counts(&self, range: &ReportRange) -> StoreResult<Vec<RatingCount>> {
        Ok(sqlx::query_as(&format!(
            "SELECT n.name AS tenant, s.score, COUNT(*) AS count FROM satisfaction_ratings s
               JOIN tenants n ON n.id = s.tenant_id
              WHERE {in_scope}
                AND s.rated_at >= $2 AND s.rated_at < $3
              GROUP BY n.name, s.score ORDER BY n.name, s.score",
            in_scope = in_scope("s.tenant_id", 1)
        ))
        .bind(range.scope.filter())
        .bind(range.from)
        .bind(range.to)
        .fetch_all(self.pool())
        .await?)
    }

    /// Incidents opened in the range per class of the CIs they are linked to (an incident on a
    /// volume of a computer counts once for each class).
    pub async fn incidents_per_ci_class(
        &self,
        range: &ReportRange,
    ) -> StoreResult<Vec<CiClassRow>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT n.name, c.class, COUNT(DISTINCT i.id)
               FROM incidents i
               JOIN incident_cis l ON l.incident_id = i.id
               JOIN configuration_items c ON c.id = l.ci_id
               JOIN tenants n ON n.id = i.tenant_id
              WHERE {in_scope}
                AND i.opened_at >= $2 AND i.opened_at < $3
              GROUP BY n.name, c.class
              ORDER BY n.name, COUNT(DISTINCT i.id) DESC, c.class",
            in_scope = in_scope("i.tenant_id", 1)
        ))
        .bind(range.scope.filter())
        .bind(range.from)
        .bind(range.to)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, class, incidents)| CiClassRow {
                tenant,
                class,
                incidents,
            })
            .collect())
    }

    /// Incidents opened by each rule in the range, and how many are still open.
    pub async fn incidents_per_rule(&self, range: &ReportRange) -> StoreResult<Vec<RuleRow>> {
        let open_states = open_states_sql();
        let rows: Vec<(String, i64, String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT n.name, r.id, r.name, COUNT(*),
                    COALESCE(SUM(CASE WHEN i.state IN {open_states} THEN 1 ELSE 0 END), 0)
               FROM incidents i
               JOIN rules r ON r.id = i.rule_id
               JOIN tenants n ON n.id = i.tenant_id
              WHERE {in_scope}
                AND i.opened_at >= $2 AND i.opened_at < $3
              GROUP BY n.name, r.id, r.name
              ORDER BY n.name, COUNT(*) DESC, r.id",
            in_scope = in_scope("i.tenant_id", 1)
        ))
        .bind(range.scope.filter())
        .bind(range.from)
        .bind(range.to)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, rule_id, rule, incidents, still_open)| RuleRow {
                tenant,
                rule_id,
                rule,
                incidents,
                still_open,
            })
            .collect())
    }
}
