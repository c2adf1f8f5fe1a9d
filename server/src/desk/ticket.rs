//! A ticket as the desk shows it — an incident or a service request with its state, people,
//! times and SLA clocks — and the reads that build it from the store's rows.

use std::collections::hash_map::{Entry, HashMap};

use serde::Serialize;

use super::clocks;
use super::plans::plan_versions;
use super::state::TicketState;
use crate::sla::clock::Clocks;
use crate::sla::history::PlanVersion;
use crate::store::tickets::{
    self, LinkedCi, TicketFilter, TicketKind, TicketRef, TicketRow, TimelineEntry,
};
use crate::store::{to_time, to_time_opt, Store, StoreResult, TenantId, TenantScope};

#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub id: i64,
    pub kind: TicketKind,
    pub tenant_id: TenantId,
    pub number: String,
    pub title: String,
    pub description: String,
    /// Serialised as its name (`"in_progress"`), as when it was a string.
    pub state: TicketState,
    pub hold_reason: Option<String>,
    pub impact: i64,
    pub urgency: i64,
    pub priority: i64,
    pub severity: Option<String>,
    pub source: String,
    pub rule_id: Option<i64>,
    pub ci_id: Option<i64>,
    pub requester: Option<String>,
    pub assignment_group: Option<String>,
    pub tier: Option<i64>,
    /// The user the ticket is given to, and their name.
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
    pub problem_started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub opened_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub first_response_at: Option<chrono::DateTime<chrono::Utc>>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reopen_count: i64,
    /// The SLA clocks, replayed from the timeline when the ticket is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<Clocks>,
}

impl Ticket {
    pub fn from_row(row: TicketRow, kind: TicketKind) -> Ticket {
        Ticket {
            id: row.id,
            kind,
            tenant_id: TenantId(row.tenant_id),
            number: kind.number(row.number),
            state: row.state(),
            title: row.title,
            description: row.description,
            hold_reason: row.hold_reason,
            impact: row.impact,
            urgency: row.urgency,
            priority: row.priority,
            severity: row.severity,
            source: row.source,
            rule_id: row.rule_id,
            ci_id: row.ci_id,
            requester: row.requester,
            assignment_group: row.group_name,
            tier: row.group_tier,
            assignee_id: row.assignee_id,
            assignee: row.assignee,
            problem_started_at: to_time_opt(row.problem_started_at),
            opened_at: to_time(row.opened_at),
            updated_at: to_time(row.updated_at),
            first_response_at: to_time_opt(row.first_response_at),
            resolved_at: to_time_opt(row.resolved_at),
            closed_at: to_time_opt(row.closed_at),
            reopen_count: row.reopen_count,
            sla: None,
        }
    }

    pub fn reference(&self) -> TicketRef {
        TicketRef {
            kind: self.kind,
            tenant: self.tenant_id,
            id: self.id,
        }
    }
}

/// One ticket with its SLA clocks as of `now`.
pub async fn get(
    store: &Store,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    now: i64,
) -> StoreResult<Ticket> {
    let mut conn = store.pool().acquire().await?;
    let row = tickets::load_row(&mut conn, kind, scope, id).await?;
    let plans = plan_versions(&mut conn, row.tenant()).await?;
    let clocks = clocks::of_row(&mut conn, kind, &row, &plans, now).await?;
    let mut ticket = Ticket::from_row(row, kind);
    ticket.sla = Some(clocks);
    Ok(ticket)
}

/// A page of tickets, newest first, each with its clocks.
pub async fn list(
    store: &Store,
    kind: TicketKind,
    scope: TenantScope,
    filter: &TicketFilter,
    now: i64,
) -> StoreResult<Vec<Ticket>> {
    let mut conn = store.pool().acquire().await?;
    let rows = tickets::list_rows(&mut conn, kind, scope, filter, now).await?;
    // Clocks for the page: one plan lookup per tenant, one timeline read per ticket.
    let mut plans: HashMap<i64, Vec<PlanVersion>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Entry::Vacant(slot) = plans.entry(row.tenant_id) {
            slot.insert(plan_versions(&mut conn, row.tenant()).await?);
        }
        let versions = plans.get(&row.tenant_id).map_or(&[][..], Vec::as_slice);
        let clocks = clocks::of_row(&mut conn, kind, &row, versions, now).await?;
        let mut ticket = Ticket::from_row(row, kind);
        ticket.sla = Some(clocks);
        out.push(ticket);
    }
    Ok(out)
}

pub async fn cis(store: &Store, ticket: &Ticket) -> StoreResult<Vec<LinkedCi>> {
    let mut conn = store.pool().acquire().await?;
    tickets::linked_cis(&mut conn, ticket.reference()).await
}

pub async fn timeline(store: &Store, ticket: &Ticket) -> StoreResult<Vec<TimelineEntry>> {
    let mut conn = store.pool().acquire().await?;
    tickets::timeline(&mut conn, ticket.reference()).await
}

/// Ticket numbers as people say them: `INC-000123`.
pub fn incident_number(number: i64) -> String {
    format!("INC-{number:06}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn incident_numbers_are_zero_padded() {
        assert_eq!(super::incident_number(123), "INC-000123");
    }
}
