//! Tickets — incidents and service requests — with one copy of the SQL for both: the two kinds
//! live in tables of the same shape, and [`TicketKind`] names the tables.
//!
//! Every change writes a timeline row stamped with the ticket's state and priority after it;
//! the SLA clocks are replayed from those rows (see [`crate::sla::history`]). The `sla_*_at`
//! columns are only a copy of the replay's next warning and breach instants, refreshed after
//! every change, so lists can filter by SLA risk in SQL.

use std::collections::hash_map::{Entry, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::AnyConnection;

use super::outbox;
use super::support_plans::{current_plan, plan_versions};
use super::{to_time, to_time_opt, Store, StoreError, StoreResult, TenantId, TenantScope, Tx};
use crate::desk::state::{HoldReason, TicketState};
use crate::sla::clock::{replay, Clock, Clocks, Status};
use crate::sla::history::{clock_events, PlanVersion, StoredEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    Incident,
    ServiceRequest,
}

impl TicketKind {
    pub(crate) fn table(self) -> &'static str {
        match self {
            TicketKind::Incident => "incidents",
            TicketKind::ServiceRequest => "service_requests",
        }
    }

    pub(crate) fn events(self) -> &'static str {
        match self {
            TicketKind::Incident => "incident_events",
            TicketKind::ServiceRequest => "request_events",
        }
    }

    pub(crate) fn cis(self) -> &'static str {
        match self {
            TicketKind::Incident => "incident_cis",
            TicketKind::ServiceRequest => "request_cis",
        }
    }

    /// The column naming the ticket in the events and CI link tables.
    pub(crate) fn fk(self) -> &'static str {
        match self {
            TicketKind::Incident => "incident_id",
            TicketKind::ServiceRequest => "request_id",
        }
    }

    /// The `ticket_counters.kind` that numbers this kind per tenant.
    fn counter(self) -> &'static str {
        match self {
            TicketKind::Incident => "incident",
            TicketKind::ServiceRequest => "request",
        }
    }

    /// Numbers as people say them: `INC-000123`, `REQ-000045`.
    pub fn number(self, n: i64) -> String {
        match self {
            TicketKind::Incident => format!("INC-{n:06}"),
            TicketKind::ServiceRequest => format!("REQ-{n:06}"),
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            TicketKind::Incident => "incident",
            TicketKind::ServiceRequest => "service request",
        }
    }
}

/// States in which a ticket still needs work, for SQL.
pub const OPEN_STATES: &str = "('new', 'assigned', 'in_progress', 'on_hold')";

#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub id: i64,
    pub kind: TicketKind,
    pub tenant_id: TenantId,
    pub number: String,
    pub title: String,
    pub description: String,
    pub state: String,
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

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    tenant_id: i64,
    number: i64,
    title: String,
    description: String,
    state: String,
    hold_reason: Option<String>,
    impact: i64,
    urgency: i64,
    priority: i64,
    severity: Option<String>,
    source: String,
    rule_id: Option<i64>,
    ci_id: Option<i64>,
    requester: Option<String>,
    group_id: Option<i64>,
    group_name: Option<String>,
    group_tier: Option<i64>,
    assignee: Option<String>,
    problem_started_at: Option<i64>,
    opened_at: i64,
    updated_at: i64,
    first_response_at: Option<i64>,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
    reopen_count: i64,
}

impl TicketRow {
    fn state(&self) -> TicketState {
        // Only this module writes states, always from `TicketState::as_str`.
        TicketState::parse(&self.state).unwrap_or(TicketState::New)
    }

    fn into_ticket(self, kind: TicketKind) -> Ticket {
        Ticket {
            id: self.id,
            kind,
            tenant_id: TenantId(self.tenant_id),
            number: kind.number(self.number),
            title: self.title,
            description: self.description,
            state: self.state,
            hold_reason: self.hold_reason,
            impact: self.impact,
            urgency: self.urgency,
            priority: self.priority,
            severity: self.severity,
            source: self.source,
            rule_id: self.rule_id,
            ci_id: self.ci_id,
            requester: self.requester,
            assignment_group: self.group_name,
            tier: self.group_tier,
            assignee: self.assignee,
            problem_started_at: to_time_opt(self.problem_started_at),
            opened_at: to_time(self.opened_at),
            updated_at: to_time(self.updated_at),
            first_response_at: to_time_opt(self.first_response_at),
            resolved_at: to_time_opt(self.resolved_at),
            closed_at: to_time_opt(self.closed_at),
            reopen_count: self.reopen_count,
            sla: None,
        }
    }
}

fn select_tickets(kind: TicketKind) -> String {
    format!(
        "SELECT t.id, t.tenant_id, t.number, t.title, t.description, t.state, t.hold_reason,
                t.impact, t.urgency, t.priority, t.severity, t.source, t.rule_id, t.ci_id,
                t.requester, t.assignment_group_id AS group_id, g.name AS group_name,
                g.tier AS group_tier, t.assignee, t.problem_started_at, t.opened_at, t.updated_at,
                t.first_response_at, t.resolved_at, t.closed_at, t.reopen_count
           FROM {} t LEFT JOIN assignment_groups g ON g.id = t.assignment_group_id",
        kind.table()
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkedCi {
    pub ci_id: i64,
    pub role: String,
    pub class: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub kind: String,
    pub actor: String,
    pub detail: Value,
}

/// Which tickets are at risk of missing, or have missed, a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaRisk {
    /// Neither warned nor breached (or no SLA).
    Ok,
    /// Past 75 % of a target, not yet breached.
    Warning,
    Breached,
    /// Warning or breached.
    AtRisk,
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub state: Option<String>,
    pub priority: Option<i64>,
    pub assignee: Option<String>,
    pub group: Option<String>,
    /// Only tickets linked to this CI.
    pub ci_id: Option<i64>,
    pub sla: Option<SlaRisk>,
    pub limit: i64,
    pub offset: i64,
}

pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub impact: i64,
    pub urgency: i64,
    pub requester: Option<String>,
    pub ci_ids: Vec<i64>,
    pub group: Option<String>,
    pub assignee: Option<String>,
}

/// Fields a PATCH may change; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct TicketEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub impact: Option<i64>,
    pub urgency: Option<i64>,
    pub requester: Option<String>,
}

pub struct Comment {
    pub body: String,
    /// A work note only staff see.
    pub internal: bool,
    /// Written by the requester (a reply), not by staff.
    pub from_requester: bool,
}

/// Next ticket number of a kind for a tenant. The upsert serialises concurrent callers.
pub(crate) async fn next_number(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    kind: TicketKind,
) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "INSERT INTO ticket_counters (tenant_id, kind, last) VALUES ($1, $2, 1)
         ON CONFLICT (tenant_id, kind) DO UPDATE SET last = ticket_counters.last + 1
         RETURNING last",
    )
    .bind(tenant.0)
    .bind(kind.counter())
    .fetch_one(&mut **tx)
    .await?;
    Ok(n)
}

/// A ticket as the timeline names it: kind, tenant and id.
pub(crate) type TicketRef = (TicketKind, TenantId, i64);

/// Write a timeline row, stamped with the ticket's state and priority as they are now.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    (kind, tenant, ticket_id): TicketRef,
    at: i64,
    event: &str,
    actor: &str,
    detail: &Value,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO {events} (tenant_id, {fk}, at, kind, actor, detail, state, priority)
         SELECT $1, $2, $3, $4, $5, $6, state, priority FROM {table} WHERE id = $2",
        events = kind.events(),
        fk = kind.fk(),
        table = kind.table()
    ))
    .bind(tenant.0)
    .bind(ticket_id)
    .bind(at)
    .bind(event)
    .bind(actor)
    .bind(detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn stored_events(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
) -> StoreResult<Vec<StoredEvent>> {
    type EventRow = (i64, String, Option<String>, Option<i64>, String);
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT at, kind, state, priority, detail FROM {} WHERE {} = $1 ORDER BY at, id",
        kind.events(),
        kind.fk()
    ))
    .bind(ticket_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, kind, state, priority, detail)| {
            let staff_reply = kind == "comment"
                && serde_json::from_str::<Value>(&detail)
                    .ok()
                    .and_then(|d| d["from_requester"].as_bool())
                    != Some(true);
            StoredEvent {
                at,
                kind,
                state,
                priority,
                staff_reply,
            }
        })
        .collect())
}

/// The clocks of one ticket as of `now`, replayed from its timeline and its tenant's plans.
async fn clocks_of(
    conn: &mut AnyConnection,
    kind: TicketKind,
    row: &TicketRow,
    plans: &[PlanVersion],
    now: i64,
) -> StoreResult<Clocks> {
    let events = stored_events(conn, kind, row.id).await?;
    Ok(replay(
        &clock_events(row.opened_at, row.priority, &events, plans),
        now,
    ))
}

/// The clocks of one ticket as of `now`, given its tenant's plan versions (for reports, which
/// read many tickets of few tenants).
pub(crate) async fn replayed_clocks(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
    plans: &[PlanVersion],
    now: i64,
) -> StoreResult<Clocks> {
    let row = load_row(conn, kind, TenantScope::All, ticket_id).await?;
    clocks_of(conn, kind, &row, plans, now).await
}

async fn load_row(
    conn: &mut AnyConnection,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
) -> StoreResult<TicketRow> {
    let row: Option<TicketRow> = sqlx::query_as(&format!(
        "{} WHERE t.id = $1 AND (CAST($2 AS BIGINT) IS NULL OR t.tenant_id = $2)",
        select_tickets(kind)
    ))
    .bind(id)
    .bind(scope.filter())
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or(StoreError::NotFound)
}

/// Queue the notifications an occurrence calls for, in the caller's transaction, so the
/// decision to notify commits (or not) with the change itself. `discriminator` tells apart
/// occurrences of one event at one instant (the SLA metric).
pub(crate) async fn notify(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
    event: &str,
    at: i64,
    discriminator: &str,
    detail: Value,
) -> StoreResult<()> {
    let row = load_row(conn, kind, TenantScope::All, ticket_id).await?;
    let payload = json!({
        "event": event, "kind": kind, "at": to_time(at), "tenant_id": row.tenant_id,
        "ticket": {"id": row.id, "number": kind.number(row.number), "title": row.title,
                   "state": row.state, "priority": row.priority,
                   "assignment_group": row.group_name, "assignee": row.assignee,
                   "requester": row.requester},
        "detail": detail,
    });
    let key = format!("{}:{ticket_id}:{event}:{at}:{discriminator}", kind.table());
    outbox::enqueue(conn, TenantId(row.tenant_id), event, &key, &payload, at).await?;
    if kind == TicketKind::Incident {
        // A flapping incident's notifications wait until it settles (issue 5).
        super::alerts::hold_if_flapping(conn, ticket_id, &key).await?;
    }
    Ok(())
}

/// Recompute the stored SLA risk instants of one ticket from its log.
pub(crate) async fn refresh_sla(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
    now: i64,
) -> StoreResult<()> {
    let row = load_row(conn, kind, TenantScope::All, ticket_id).await?;
    let plans = plan_versions(conn, TenantId(row.tenant_id)).await?;
    let clocks = clocks_of(conn, kind, &row, &plans, now).await?;
    let (warning_at, breach_at) = clocks.next_instants();
    sqlx::query(&format!(
        "UPDATE {} SET sla_warning_at = $1, sla_breach_at = $2 WHERE id = $3",
        kind.table()
    ))
    .bind(warning_at)
    .bind(breach_at)
    .bind(ticket_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// After a plan change: refresh every open ticket of the tenant.
pub(crate) async fn refresh_open_tickets(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    now: i64,
) -> StoreResult<()> {
    for kind in [TicketKind::Incident, TicketKind::ServiceRequest] {
        let ids: Vec<(i64,)> = sqlx::query_as(&format!(
            "SELECT id FROM {} WHERE tenant_id = $1 AND state IN {OPEN_STATES}",
            kind.table()
        ))
        .bind(tenant.0)
        .fetch_all(&mut **tx)
        .await?;
        for (id,) in ids {
            refresh_sla(tx, kind, id, now).await?;
        }
    }
    Ok(())
}

/// A CI must belong to the ticket's tenant to be linked.
async fn check_ci(conn: &mut AnyConnection, tenant: TenantId, ci_id: i64) -> StoreResult<()> {
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM configuration_items WHERE id = $1 AND tenant_id = $2")
            .bind(ci_id)
            .bind(tenant.0)
            .fetch_optional(&mut *conn)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::Invalid(format!("CI {ci_id} does not exist in this tenant")))
}

async fn link(
    conn: &mut AnyConnection,
    kind: TicketKind,
    tenant: TenantId,
    ticket_id: i64,
    ci_id: i64,
    role: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(&format!(
        "INSERT INTO {cis} (tenant_id, {fk}, ci_id, role) VALUES ($1, $2, $3, $4)
         ON CONFLICT ({fk}, ci_id) DO NOTHING",
        cis = kind.cis(),
        fk = kind.fk()
    ))
    .bind(tenant.0)
    .bind(ticket_id)
    .bind(ci_id)
    .bind(role)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn link_ci(
    conn: &mut AnyConnection,
    kind: TicketKind,
    tenant: TenantId,
    ticket_id: i64,
    ci_id: i64,
    role: &str,
) -> StoreResult<()> {
    link(conn, kind, tenant, ticket_id, ci_id, role).await?;
    Ok(())
}

async fn group_by_name(conn: &mut AnyConnection, name: &str) -> StoreResult<(i64, i64)> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, tier FROM assignment_groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    row.ok_or_else(|| StoreError::Invalid(format!("no assignment group is named {name:?}")))
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

fn check_level(name: &str, value: i64) -> StoreResult<()> {
    if (1..=3).contains(&value) {
        Ok(())
    } else {
        Err(invalid(format!("{name} must be 1 (high), 2 or 3 (low)")))
    }
}

/// Refuse changes to closed and cancelled tickets.
fn check_not_final(row: &TicketRow, kind: TicketKind) -> StoreResult<()> {
    if row.state().is_final() {
        return Err(StoreError::Conflict(format!(
            "the {} is {} and can no longer change",
            kind.noun(),
            row.state
        )));
    }
    Ok(())
}

/// Move `row` to state `to` (already checked), with the columns that go with it.
async fn set_state(
    conn: &mut AnyConnection,
    kind: TicketKind,
    row: &TicketRow,
    to: TicketState,
    hold: Option<HoldReason>,
    now: i64,
) -> StoreResult<()> {
    let reopen = row.state() == TicketState::Resolved && to.is_open();
    let result = sqlx::query(&format!(
        "UPDATE {} SET state = $1, hold_reason = $2, updated_at = $3,
                resolved_at = CASE WHEN $4 = 1 THEN $3 WHEN $5 = 1 THEN NULL ELSE resolved_at END,
                closed_at = CASE WHEN $6 = 1 THEN $3 ELSE closed_at END,
                first_response_at = CASE WHEN $7 = 1 AND first_response_at IS NULL THEN $3
                                         ELSE first_response_at END,
                reopen_count = reopen_count + $5
          WHERE id = $8 AND state = $9",
        kind.table()
    ))
    .bind(to.as_str())
    .bind(hold.map(HoldReason::as_str))
    .bind(now)
    .bind(i64::from(to == TicketState::Resolved))
    .bind(i64::from(reopen))
    .bind(i64::from(to.is_final()))
    .bind(i64::from(to == TicketState::InProgress))
    .bind(row.id)
    .bind(&row.state)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        StoreError::conflict_on_unique(
            e,
            "another incident is already open for this rule and CI; reopen refused",
        )
    })?;
    if result.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "the {} changed meanwhile; reload it and retry",
            kind.noun()
        )));
    }
    Ok(())
}

impl Store {
    pub async fn list_tickets(
        &self,
        kind: TicketKind,
        scope: TenantScope,
        filter: &TicketFilter,
        now: i64,
    ) -> StoreResult<Vec<Ticket>> {
        let sla = match filter.sla {
            None => "CAST($7 AS BIGINT) IS NOT NULL",
            Some(SlaRisk::Ok) => "(t.sla_warning_at IS NULL OR t.sla_warning_at > $7)",
            Some(SlaRisk::Warning) => {
                "t.sla_warning_at <= $7 AND (t.sla_breach_at IS NULL OR t.sla_breach_at > $7)"
            }
            Some(SlaRisk::Breached) => "t.sla_breach_at <= $7",
            Some(SlaRisk::AtRisk) => "t.sla_warning_at <= $7",
        };
        let mut conn = self.pool().acquire().await?;
        let rows: Vec<TicketRow> = sqlx::query_as(&format!(
            "{select}
             WHERE (CAST($1 AS BIGINT) IS NULL OR t.tenant_id = $1)
               AND (CAST($2 AS TEXT) IS NULL OR t.state = $2)
               AND (CAST($3 AS BIGINT) IS NULL OR t.priority = $3)
               AND (CAST($4 AS TEXT) IS NULL OR t.assignee = $4)
               AND (CAST($5 AS TEXT) IS NULL OR g.name = $5)
               AND (CAST($6 AS BIGINT) IS NULL OR EXISTS (
                    SELECT 1 FROM {cis} l WHERE l.{fk} = t.id AND l.ci_id = $6))
               AND {sla}
             ORDER BY t.id DESC LIMIT $8 OFFSET $9",
            select = select_tickets(kind),
            cis = kind.cis(),
            fk = kind.fk(),
        ))
        .bind(scope.filter())
        .bind(filter.state.as_deref())
        .bind(filter.priority)
        .bind(filter.assignee.as_deref())
        .bind(filter.group.as_deref())
        .bind(filter.ci_id)
        .bind(now)
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(&mut *conn)
        .await?;
        // Clocks for the page: one plan lookup per tenant, one timeline read per ticket.
        let mut plans: HashMap<i64, Vec<PlanVersion>> = HashMap::new();
        let mut tickets = Vec::with_capacity(rows.len());
        for row in rows {
            if let Entry::Vacant(slot) = plans.entry(row.tenant_id) {
                slot.insert(plan_versions(&mut conn, TenantId(row.tenant_id)).await?);
            }
            let versions = plans.get(&row.tenant_id).map_or(&[][..], Vec::as_slice);
            let clocks = clocks_of(&mut conn, kind, &row, versions, now).await?;
            let mut ticket = row.into_ticket(kind);
            ticket.sla = Some(clocks);
            tickets.push(ticket);
        }
        Ok(tickets)
    }

    /// One ticket with its SLA clocks as of `now`.
    pub async fn get_ticket(
        &self,
        kind: TicketKind,
        scope: TenantScope,
        id: i64,
        now: i64,
    ) -> StoreResult<Ticket> {
        let mut conn = self.pool().acquire().await?;
        let row = load_row(&mut conn, kind, scope, id).await?;
        let plans = plan_versions(&mut conn, TenantId(row.tenant_id)).await?;
        let clocks = clocks_of(&mut conn, kind, &row, &plans, now).await?;
        let mut ticket = row.into_ticket(kind);
        ticket.sla = Some(clocks);
        Ok(ticket)
    }

    pub async fn ticket_cis(&self, ticket: &Ticket) -> StoreResult<Vec<LinkedCi>> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(&format!(
            "SELECT l.ci_id, l.role, c.class, c.name FROM {} l
               JOIN configuration_items c ON c.id = l.ci_id
              WHERE l.{} = $1 AND l.tenant_id = $2 ORDER BY l.role, l.ci_id",
            ticket.kind.cis(),
            ticket.kind.fk()
        ))
        .bind(ticket.id)
        .bind(ticket.tenant_id.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(ci_id, role, class, name)| LinkedCi {
                ci_id,
                role,
                class,
                name,
            })
            .collect())
    }

    pub async fn ticket_timeline(&self, ticket: &Ticket) -> StoreResult<Vec<TimelineEntry>> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(&format!(
            "SELECT at, kind, actor, detail FROM {} WHERE {} = $1 AND tenant_id = $2
              ORDER BY at, id",
            ticket.kind.events(),
            ticket.kind.fk()
        ))
        .bind(ticket.id)
        .bind(ticket.tenant_id.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, kind, actor, detail)| TimelineEntry {
                at: to_time(at),
                kind,
                actor,
                detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
            })
            .collect())
    }

    /// Open a ticket by hand. Its priority comes from the tenant's matrix.
    pub async fn create_ticket(
        &self,
        kind: TicketKind,
        tenant: TenantId,
        new: &NewTicket,
        actor: &str,
        now: i64,
    ) -> StoreResult<Ticket> {
        if new.title.trim().is_empty() {
            return Err(invalid("title must not be empty"));
        }
        check_level("impact", new.impact)?;
        check_level("urgency", new.urgency)?;
        let mut tx = self.begin().await?;
        let matrix = current_plan(&mut tx, tenant).await?.priority_matrix;
        let priority = matrix.priority(new.impact, new.urgency);
        for ci in &new.ci_ids {
            check_ci(&mut tx, tenant, *ci).await?;
        }
        let group = match new.group.as_deref() {
            Some(name) => Some(group_by_name(&mut tx, name).await?.0),
            None => None,
        };
        let assigned = group.is_some() || new.assignee.is_some();
        let state = if assigned {
            TicketState::Assigned
        } else {
            TicketState::New
        };
        let number = next_number(&mut tx, tenant, kind).await?;
        let (id,): (i64,) = sqlx::query_as(&format!(
            "INSERT INTO {} (tenant_id, number, title, description, state, impact, urgency,
                             priority, source, ci_id, requester, assignment_group_id, assignee,
                             opened_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'manual', $9, $10, $11, $12, $13, $13)
             RETURNING id",
            kind.table()
        ))
        .bind(tenant.0)
        .bind(number)
        .bind(new.title.trim())
        .bind(&new.description)
        .bind(state.as_str())
        .bind(new.impact)
        .bind(new.urgency)
        .bind(priority)
        .bind(new.ci_ids.first().copied())
        .bind(new.requester.as_deref())
        .bind(group)
        .bind(new.assignee.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for ci in &new.ci_ids {
            link(&mut tx, kind, tenant, id, *ci, "affected").await?;
        }
        let detail = json!({"impact": new.impact, "urgency": new.urgency, "priority": priority,
                            "requester": new.requester, "source": "manual", "cis": new.ci_ids});
        record(&mut tx, (kind, tenant, id), now, "opened", actor, &detail).await?;
        if assigned {
            let detail = json!({"group": new.group, "assignee": new.assignee});
            record(&mut tx, (kind, tenant, id), now, "assigned", actor, &detail).await?;
        }
        notify(
            &mut tx,
            kind,
            id,
            "opened",
            now,
            "",
            json!({"source": "manual"}),
        )
        .await?;
        refresh_sla(&mut tx, kind, id, now).await?;
        tx.commit().await?;
        self.get_ticket(kind, TenantScope::Tenant(tenant), id, now)
            .await
    }

    /// Move a ticket through its life cycle; refused moves are conflicts with a clear message.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition_ticket(
        &self,
        kind: TicketKind,
        scope: TenantScope,
        id: i64,
        to: TicketState,
        hold: Option<HoldReason>,
        note: Option<&str>,
        actor: &str,
        now: i64,
    ) -> StoreResult<Ticket> {
        let mut tx = self.begin().await?;
        let row = load_row(&mut tx, kind, scope, id).await?;
        let from = row.state();
        from.check_transition(to).map_err(StoreError::Conflict)?;
        if to == TicketState::OnHold && hold.is_none() {
            return Err(invalid(
                "say why the ticket waits: hold_reason awaiting_customer or awaiting_vendor",
            ));
        }
        if to == TicketState::Assigned && row.group_id.is_none() && row.assignee.is_none() {
            return Err(StoreError::Conflict(format!(
                "assign the {} to a group or a person first",
                kind.noun()
            )));
        }
        let hold = hold.filter(|_| to == TicketState::OnHold);
        set_state(&mut tx, kind, &row, to, hold, now).await?;
        let tenant = TenantId(row.tenant_id);
        let reopen = from == TicketState::Resolved && to.is_open();
        let detail = json!({"from": from.as_str(), "to": to.as_str(),
                            "hold_reason": hold.map(HoldReason::as_str), "note": note});
        let event = if reopen { "reopened" } else { "state_changed" };
        record(&mut tx, (kind, tenant, id), now, event, actor, &detail).await?;
        if to == TicketState::Resolved {
            notify(
                &mut tx,
                kind,
                id,
                "resolved",
                now,
                "",
                json!({"note": note}),
            )
            .await?;
        }
        refresh_sla(&mut tx, kind, id, now).await?;
        tx.commit().await?;
        self.get_ticket(kind, scope, id, now).await
    }

    /// Give a ticket to a group and/or a person. A new ticket becomes assigned.
    #[allow(clippy::too_many_arguments)]
    pub async fn assign_ticket(
        &self,
        kind: TicketKind,
        scope: TenantScope,
        id: i64,
        group: Option<&str>,
        assignee: Option<&str>,
        actor: &str,
        now: i64,
    ) -> StoreResult<Ticket> {
        if group.is_none() && assignee.is_none() {
            return Err(invalid("name a group, an assignee or both"));
        }
        let mut tx = self.begin().await?;
        let row = load_row(&mut tx, kind, scope, id).await?;
        check_not_final(&row, kind)?;
        let group_id = match group {
            Some(name) => Some(group_by_name(&mut tx, name).await?.0),
            None => row.group_id,
        };
        let assignee_now = assignee.map(str::to_string).or(row.assignee.clone());
        sqlx::query(&format!(
            "UPDATE {} SET assignment_group_id = $1, assignee = $2, updated_at = $3 WHERE id = $4",
            kind.table()
        ))
        .bind(group_id)
        .bind(assignee_now.as_deref())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let tenant = TenantId(row.tenant_id);
        let detail = json!({"group": group, "assignee": assignee,
                            "previous_group": row.group_name, "previous_assignee": row.assignee});
        record(&mut tx, (kind, tenant, id), now, "assigned", actor, &detail).await?;
        if row.state() == TicketState::New {
            set_state(&mut tx, kind, &row, TicketState::Assigned, None, now).await?;
            let detail = json!({"from": "new", "to": "assigned"});
            record(
                &mut tx,
                (kind, tenant, id),
                now,
                "state_changed",
                actor,
                &detail,
            )
            .await?;
        }
        refresh_sla(&mut tx, kind, id, now).await?;
        tx.commit().await?;
        self.get_ticket(kind, scope, id, now).await
    }

    /// Hand a ticket to a higher tier (the named group, or the first group of the next tier).
    /// Ownership moves: the assignee becomes the one named, or nobody, and a ticket being
    /// worked goes back to assigned until the new owner picks it up.
    #[allow(clippy::too_many_arguments)]
    pub async fn escalate_ticket(
        &self,
        kind: TicketKind,
        scope: TenantScope,
        id: i64,
        group: Option<&str>,
        assignee: Option<&str>,
        reason: &str,
        actor: &str,
        now: i64,
    ) -> StoreResult<Ticket> {
        let mut tx = self.begin().await?;
        let row = load_row(&mut tx, kind, scope, id).await?;
        if !row.state().is_open() {
            return Err(StoreError::Conflict(format!(
                "the {} is {}; only open tickets are escalated",
                kind.noun(),
                row.state
            )));
        }
        let tier_now = row.group_tier.unwrap_or(1);
        let target: Option<(i64, String, i64)> = match group {
            Some(name) => {
                let (gid, tier) = group_by_name(&mut tx, name).await?;
                Some((gid, name.to_string(), tier))
            }
            None => {
                sqlx::query_as(
                    "SELECT id, name, tier FROM assignment_groups WHERE tier > $1
                     ORDER BY tier, id LIMIT 1",
                )
                .bind(tier_now)
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        let Some((group_id, group_name, tier)) = target.filter(|t| t.2 > tier_now) else {
            return Err(StoreError::Conflict(format!(
                "the {} is already at tier {tier_now}; there is no higher tier to escalate to",
                kind.noun()
            )));
        };
        sqlx::query(&format!(
            "UPDATE {} SET assignment_group_id = $1, assignee = $2, updated_at = $3 WHERE id = $4",
            kind.table()
        ))
        .bind(group_id)
        .bind(assignee)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let tenant = TenantId(row.tenant_id);
        let detail = json!({"from_group": row.group_name, "from_tier": tier_now,
                            "from_assignee": row.assignee, "to_group": group_name,
                            "to_tier": tier, "assignee": assignee, "reason": reason});
        record(
            &mut tx,
            (kind, tenant, id),
            now,
            "escalated",
            actor,
            &detail,
        )
        .await?;
        let why = json!({"reason": reason, "to_group": group_name});
        notify(&mut tx, kind, id, "escalated", now, "", why).await?;
        if matches!(row.state(), TicketState::New | TicketState::InProgress) {
            set_state(&mut tx, kind, &row, TicketState::Assigned, None, now).await?;
            let detail = json!({"from": row.state, "to": "assigned", "note": "escalated"});
            record(
                &mut tx,
                (kind, tenant, id),
                now,
                "state_changed",
                actor,
                &detail,
            )
            .await?;
        }
        refresh_sla(&mut tx, kind, id, now).await?;
        tx.commit().await?;
        self.get_ticket(kind, scope, id, now).await
    }

    /// Add a public comment or an internal work note. The first public comment by staff is the
    /// first response; a requester's reply reopens a ticket resolved within the plan's reopen
    /// period.
    pub async fn comment_on_ticket(
        &self,
        kind: TicketKind,
        scope: TenantScope,
        id: i64,
        comment: &Comment,
        actor: &str,
        now: i64,
    ) -> StoreResult<Ticket> {
        if comment.body.trim().is_empty() {
            return Err(invalid("a comment needs a body"));
        }
        if comment.internal && comment.from_requester {
            return Err(invalid(
                "work notes are for staff; a requester's reply is public",
            ));
        }
        let mut tx = self.begin().await?;
        let row = load_row(&mut tx, kind, scope, id).await?;
        let tenant = TenantId(row.tenant_id);
        let event = if comment.internal {
            "work_note"
        } else {
            "comment"
        };
        let detail = json!({"body": comment.body, "from_requester": comment.from_requester});
        record(&mut tx, (kind, tenant, id), now, event, actor, &detail).await?;
        if !comment.internal && !comment.from_requester && row.first_response_at.is_none() {
            sqlx::query(&format!(
                "UPDATE {} SET first_response_at = $1 WHERE id = $2",
                kind.table()
            ))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(&format!(
            "UPDATE {} SET updated_at = $1 WHERE id = $2",
            kind.table()
        ))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if comment.from_requester && row.state() == TicketState::Resolved {
            let window = current_plan(&mut tx, tenant)
                .await?
                .reopen_days
                .saturating_mul(86_400_000);
            if row.resolved_at.is_some_and(|r| now - r <= window) {
                set_state(&mut tx, kind, &row, TicketState::InProgress, None, now).await?;
                let detail = json!({"from": "resolved", "to": "in_progress",
                                    "note": "the requester replied"});
                record(&mut tx, (kind, tenant, id), now, "reopened", actor, &detail).await?;
            }
        }
        refresh_sla(&mut tx, kind, id, now).await?;
        tx.commit().await?;
        self.get_ticket(kind, scope, id, now).await
    }

    /// Change title, description, requester, impact or urgency; a new impact or urgency sets the
    /// priority again from the tenant's matrix.
    pub async fn edit_ticket(
        &self,
        kind: TicketKind,
        scope: TenantScope,
        id: i64,
        edit: &TicketEdit,
        actor: &str,
        now: i64,
    ) -> StoreResult<Ticket> {
        if let Some(t) = &edit.title {
            if t.trim().is_empty() {
                return Err(invalid("title must not be empty"));
            }
        }
        let mut tx = self.begin().await?;
        let row = load_row(&mut tx, kind, scope, id).await?;
        check_not_final(&row, kind)?;
        let tenant = TenantId(row.tenant_id);
        let impact = edit.impact.unwrap_or(row.impact);
        let urgency = edit.urgency.unwrap_or(row.urgency);
        check_level("impact", impact)?;
        check_level("urgency", urgency)?;
        let priority = if (impact, urgency) == (row.impact, row.urgency) {
            row.priority
        } else {
            current_plan(&mut tx, tenant)
                .await?
                .priority_matrix
                .priority(impact, urgency)
        };
        sqlx::query(&format!(
            "UPDATE {} SET title = $1, description = $2, requester = $3, impact = $4,
                    urgency = $5, priority = $6, updated_at = $7 WHERE id = $8",
            kind.table()
        ))
        .bind(edit.title.as_deref().map(str::trim).unwrap_or(&row.title))
        .bind(edit.description.as_deref().unwrap_or(&row.description))
        .bind(edit.requester.as_deref().or(row.requester.as_deref()))
        .bind(impact)
        .bind(urgency)
        .bind(priority)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let changed: Vec<&str> = [
            ("title", edit.title.is_some()),
            ("description", edit.description.is_some()),
            ("requester", edit.requester.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if !changed.is_empty() {
            let detail = json!({"fields": changed});
            record(&mut tx, (kind, tenant, id), now, "updated", actor, &detail).await?;
        }
        if (impact, urgency) != (row.impact, row.urgency) {
            let detail = json!({"from": row.priority, "to": priority,
                                "impact": impact, "urgency": urgency});
            record(
                &mut tx,
                (kind, tenant, id),
                now,
                "priority_changed",
                actor,
                &detail,
            )
            .await?;
        }
        refresh_sla(&mut tx, kind, id, now).await?;
        tx.commit().await?;
        self.get_ticket(kind, scope, id, now).await
    }

    /// Link more CIs (of the ticket's tenant).
    #[allow(clippy::too_many_arguments)]
    pub async fn link_ticket_cis(
        &self,
        kind: TicketKind,
        scope: TenantScope,
        id: i64,
        ci_ids: &[i64],
        role: &str,
        actor: &str,
        now: i64,
    ) -> StoreResult<Ticket> {
        if ci_ids.is_empty() {
            return Err(invalid("name at least one CI in ci_ids"));
        }
        let mut tx = self.begin().await?;
        let row = load_row(&mut tx, kind, scope, id).await?;
        check_not_final(&row, kind)?;
        let tenant = TenantId(row.tenant_id);
        let mut added = Vec::new();
        for ci in ci_ids {
            check_ci(&mut tx, tenant, *ci).await?;
            if link(&mut tx, kind, tenant, id, *ci, role).await? {
                added.push(*ci);
            }
        }
        if !added.is_empty() {
            let detail = json!({"ci_ids": added, "role": role});
            record(
                &mut tx,
                (kind, tenant, id),
                now,
                "ci_linked",
                actor,
                &detail,
            )
            .await?;
        }
        tx.commit().await?;
        self.get_ticket(kind, scope, id, now).await
    }
}

/// The thresholds a clock has crossed by `now`: `(event, crossed_at)`.
fn crossed(clock: &Clock, now: i64) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    if matches!(clock.status, Status::Warning | Status::Breached) {
        out.extend(clock.warning_at.map(|at| ("sla_warning", at)));
    }
    if clock.status == Status::Breached {
        out.extend(clock.due_at.map(|at| ("sla_breach", at)));
    }
    out.retain(|(_, at)| *at <= now);
    out
}

impl Store {
    /// Record on the timeline, and notify, each SLA warning and breach not yet recorded; on a
    /// breach, escalate to the next tier when the tenant's plan says so. Safe to run often and
    /// on several replicas: a crossing is recorded once (the timeline is checked in the same
    /// transaction) and notified once (the outbox key is unique). Returns how many crossings
    /// were recorded.
    pub async fn sla_sweep(&self, now: i64) -> StoreResult<usize> {
        let mut recorded = 0;
        for kind in [TicketKind::Incident, TicketKind::ServiceRequest] {
            let ids: Vec<(i64,)> = sqlx::query_as(&format!(
                "SELECT id FROM {} WHERE state IN {OPEN_STATES}
                   AND (sla_warning_at <= $1 OR sla_breach_at <= $1) ORDER BY id",
                kind.table()
            ))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
            for (id,) in ids {
                let mut tx = self.begin().await?;
                let row = load_row(&mut tx, kind, TenantScope::All, id).await?;
                let tenant = TenantId(row.tenant_id);
                let plans = plan_versions(&mut tx, tenant).await?;
                let clocks = clocks_of(&mut tx, kind, &row, &plans, now).await?;
                let mut breached = false;
                for (metric, clock) in [
                    ("response", &clocks.response),
                    ("resolution", &clocks.resolution),
                ] {
                    for (event, at) in crossed(clock, now) {
                        let detail = json!({"metric": metric, "crossed_at": to_time(at)});
                        let seen: Option<(i64,)> = sqlx::query_as(&format!(
                            "SELECT id FROM {} WHERE {} = $1 AND kind = $2 AND detail = $3",
                            kind.events(),
                            kind.fk()
                        ))
                        .bind(id)
                        .bind(event)
                        .bind(detail.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                        if seen.is_some() {
                            continue;
                        }
                        record(&mut tx, (kind, tenant, id), now, event, "sla", &detail).await?;
                        notify(&mut tx, kind, id, event, at, metric, detail).await?;
                        recorded += 1;
                        breached |= event == "sla_breach";
                    }
                }
                let escalate = breached
                    && row.group_tier.unwrap_or(1) < 2
                    && current_plan(&mut tx, tenant).await?.escalate_on_breach;
                tx.commit().await?;
                if escalate {
                    let outcome = self
                        .escalate_ticket(
                            kind,
                            TenantScope::All,
                            id,
                            None,
                            None,
                            "SLA breached",
                            "sla",
                            now,
                        )
                        .await;
                    match outcome {
                        Ok(_) | Err(StoreError::Conflict(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
        }
        Ok(recorded)
    }
}
