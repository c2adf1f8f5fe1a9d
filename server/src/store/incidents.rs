//! Incidents: what the rule engine calls to open, update and resolve the incident of a
//! (rule, CI) pair, and the incident views the older callers use. The desk operations shared
//! with service requests live in [`super::tickets`].

use serde_json::Value;

use super::support_plans::current_plan;
use super::tickets::{self, next_number, TicketKind};
use super::{now_ms, Store, StoreError, StoreResult, TenantId, TenantScope, Tx};

pub use super::tickets::{LinkedCi, TimelineEntry, OPEN_STATES};

pub type Incident = super::tickets::Ticket;
pub type IncidentFilter = super::tickets::TicketFilter;

/// An incident a rule wants opened.
pub struct RuleIncident<'a> {
    pub tenant: TenantId,
    pub rule_id: i64,
    pub ci_id: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub impact: i64,
    pub urgency: i64,
    pub severity: &'a str,
    pub problem_started_at: i64,
    pub now: i64,
}

impl Store {
    pub async fn list_incidents(
        &self,
        scope: TenantScope,
        filter: &IncidentFilter,
    ) -> StoreResult<Vec<Incident>> {
        self.list_tickets(TicketKind::Incident, scope, filter, now_ms())
            .await
    }

    pub async fn get_incident(&self, scope: TenantScope, id: i64) -> StoreResult<Incident> {
        self.get_ticket(TicketKind::Incident, scope, id, now_ms())
            .await
    }

    pub async fn incident_cis(&self, incident: &Incident) -> StoreResult<Vec<LinkedCi>> {
        self.ticket_cis(incident).await
    }

    pub async fn incident_timeline(&self, incident: &Incident) -> StoreResult<Vec<TimelineEntry>> {
        self.ticket_timeline(incident).await
    }
}

/// The open incident of a (rule, CI) pair, if any.
pub async fn open_incident_for(
    tx: &mut Tx<'_>,
    rule_id: i64,
    ci_id: i64,
) -> StoreResult<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM incidents WHERE rule_id = $1 AND ci_id = $2 AND state IN {OPEN_STATES}"
    ))
    .bind(rule_id)
    .bind(ci_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.0))
}

/// Open the incident for a firing (rule, CI) pair, or return the one already open. Returns
/// `(id, opened_now)`. The partial unique index guarantees one open incident per pair even when
/// two replicas race; the loser finds the winner's incident. The priority comes from the
/// tenant's matrix.
pub async fn open_rule_incident(
    tx: &mut Tx<'_>,
    new: &RuleIncident<'_>,
) -> StoreResult<(i64, bool)> {
    if let Some(id) = open_incident_for(tx, new.rule_id, new.ci_id).await? {
        return Ok((id, false));
    }
    let matrix = current_plan(tx, new.tenant).await?.priority_matrix;
    let number = next_number(tx, new.tenant, TicketKind::Incident).await?;
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO incidents (tenant_id, number, title, description, state, impact, urgency, priority,
                                severity, source, rule_id, ci_id, problem_started_at, opened_at, updated_at)
         VALUES ($1, $2, $3, $4, 'new', $5, $6, $7, $8, 'rule', $9, $10, $11, $12, $12)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(new.tenant.0)
    .bind(number)
    .bind(new.title)
    .bind(new.description)
    .bind(new.impact)
    .bind(new.urgency)
    .bind(matrix.priority(new.impact, new.urgency))
    .bind(new.severity)
    .bind(new.rule_id)
    .bind(new.ci_id)
    .bind(new.problem_started_at)
    .bind(new.now)
    .fetch_optional(&mut **tx)
    .await?;
    match inserted {
        Some((id,)) => {
            let detail = serde_json::json!({"source": "rule", "severity": new.severity});
            tickets::notify(tx, TicketKind::Incident, id, "opened", new.now, "", detail).await?;
            Ok((id, true))
        }
        None => open_incident_for(tx, new.rule_id, new.ci_id)
            .await?
            .map(|id| (id, false))
            .ok_or_else(|| StoreError::Conflict("incident could not be opened".into())),
    }
}

pub async fn link_ci(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    incident_id: i64,
    ci_id: i64,
    role: &str,
) -> StoreResult<()> {
    tickets::link_ci(tx, TicketKind::Incident, tenant, incident_id, ci_id, role).await
}

/// Add a timeline entry (stamped with the incident's state and priority) and bring the
/// incident's SLA risk instants up to date.
pub async fn add_event(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    incident_id: i64,
    at: i64,
    kind: &str,
    actor: &str,
    detail: &Value,
) -> StoreResult<()> {
    let incident = TicketKind::Incident;
    tickets::record(tx, (incident, tenant, incident_id), at, kind, actor, detail).await?;
    tickets::refresh_sla(tx, incident, incident_id, at).await
}

/// Change an open incident's severity and urgency, and so its priority (by the tenant's matrix).
pub async fn set_severity(
    tx: &mut Tx<'_>,
    incident_id: i64,
    severity: &str,
    urgency: i64,
    now: i64,
) -> StoreResult<()> {
    let (impact, tenant): (i64, i64) =
        sqlx::query_as("SELECT impact, tenant_id FROM incidents WHERE id = $1")
            .bind(incident_id)
            .fetch_one(&mut **tx)
            .await?;
    let matrix = current_plan(tx, TenantId(tenant)).await?.priority_matrix;
    sqlx::query(
        "UPDATE incidents SET severity = $1, urgency = $2, priority = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(severity)
    .bind(urgency)
    .bind(matrix.priority(impact, urgency))
    .bind(now)
    .bind(incident_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Resolve an open incident; returns `false` if it was no longer open.
pub async fn resolve(tx: &mut Tx<'_>, incident_id: i64, now: i64) -> StoreResult<bool> {
    let result = sqlx::query(&format!(
        "UPDATE incidents SET state = 'resolved', hold_reason = NULL, resolved_at = $1, updated_at = $1
         WHERE id = $2 AND state IN {OPEN_STATES}"
    ))
    .bind(now)
    .bind(incident_id)
    .execute(&mut **tx)
    .await?;
    let resolved = result.rows_affected() == 1;
    if resolved {
        let detail = serde_json::json!({"note": "the rule recovered"});
        tickets::notify(
            tx,
            TicketKind::Incident,
            incident_id,
            "resolved",
            now,
            "",
            detail,
        )
        .await?;
    }
    Ok(resolved)
}
