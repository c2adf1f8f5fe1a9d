//! Ticket rows — incidents and service requests — with one copy of the SQL for both: the two
//! kinds live in tables of the same shape, and [`TicketKind`] names the tables.
//!
//! Row operations only: insert a ticket, load one, move its state (with the state it is
//! expected to be in), change its columns, append a timeline row, link a CI, and the queries
//! behind lists and timelines. What a change means — which timeline entry, notification and
//! SLA refresh follow it — is decided in [`crate::desk`], the only caller that writes here.
//!
//! Every timeline row is stamped with the ticket's state and priority after the change it
//! records; the SLA clocks are replayed from those rows. The `sla_*_at` columns are only a copy
//! of the replay's next warning and breach instants, so lists can filter by SLA risk in SQL.

use std::sync::OnceLock;

use atalaya_shared::ticket_state::{open_states, TicketState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AnyConnection;

use super::in_scope;
use super::{to_time, StoreError, StoreResult, TenantId, TenantScope, Tx};

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

    pub const ALL: [TicketKind; 2] = [TicketKind::Incident, TicketKind::ServiceRequest];
}

/// `('new', 'assigned', …)`: the states in which a ticket still needs work, as an SQL list.
/// Built once from [`TicketState::is_open`], so SQL and code cannot disagree on "open".
pub fn open_states_sql() -> &'static str {
    static LIST: OnceLock<String> = OnceLock::new();
    LIST.get_or_init(|| state_list(open_states()))
}

/// `('resolved', 'closed')`: SQL list of states (names from the enum, never from input).
pub fn state_list(states: impl IntoIterator<Item = TicketState>) -> String {
    let names: Vec<String> = states
        .into_iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", names.join(", "))
}

/// A ticket row as stored, with its assignment group's name and tier.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: i64,
    pub tenant_id: i64,
    pub number: i64,
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
    pub group_id: Option<i64>,
    pub group_name: Option<String>,
    pub group_tier: Option<i64>,
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
    pub problem_started_at: Option<i64>,
    pub opened_at: i64,
    pub updated_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub reopen_count: i64,
}

impl TicketRow {
    /// The stored state. Only [`update_state`] and [`insert`] write states, always from
    /// `TicketState::as_str`.
    pub fn state(&self) -> TicketState {
        TicketState::parse(&self.state).unwrap_or(TicketState::New)
    }

    pub fn tenant(&self) -> TenantId {
        TenantId(self.tenant_id)
    }
}

fn select_tickets(kind: TicketKind) -> String {
    format!(
        "SELECT t.id, t.tenant_id, t.number, t.title, t.description, t.state, t.hold_reason,
                t.impact, t.urgency, t.priority, t.severity, t.source, t.rule_id, t.ci_id,
                t.requester, t.assignment_group_id AS group_id, g.name AS group_name,
                g.tier AS group_tier, t.assignee_id, t.assignee, t.problem_started_at, t.opened_at, t.updated_at,
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
    pub assignee: AssigneeFilter,
    pub group: Option<String>,
    /// Only tickets of the groups this user is in ("my groups").
    pub groups_of: Option<i64>,
    /// Only tickets linked to this CI.
    pub ci_id: Option<i64>,
    pub sla: Option<SlaRisk>,
    pub limit: i64,
    pub offset: i64,
}

/// Whose tickets a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AssigneeFilter {
    #[default]
    Anyone,
    /// Tickets nobody is assigned to.
    Nobody,
    User(i64),
}

impl AssigneeFilter {
    /// The value bound for the filter's clause: none for anyone, 0 for nobody (ids are
    /// positive), the user's id.
    fn bind(self) -> Option<i64> {
        match self {
            AssigneeFilter::Anyone => None,
            AssigneeFilter::Nobody => Some(0),
            AssigneeFilter::User(id) => Some(id),
        }
    }
}

/// A ticket's assignee as stored: the user and the name shown.
#[derive(Debug, Clone, Copy)]
pub struct AssigneeRef<'a> {
    pub user_id: i64,
    pub name: &'a str,
}

/// A ticket row to insert: by hand (`source` "manual"), by a rule ("rule") or for a site
/// outage ("site"). The one insert every opener uses.
#[derive(Debug, Clone)]
pub struct NewTicketRow<'a> {
    pub tenant: TenantId,
    pub number: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub state: TicketState,
    pub impact: i64,
    pub urgency: i64,
    pub priority: i64,
    pub severity: Option<&'a str>,
    pub source: &'a str,
    pub rule_id: Option<i64>,
    pub ci_id: Option<i64>,
    pub site_id: Option<i64>,
    pub requester: Option<&'a str>,
    pub group_id: Option<i64>,
    pub assignee: Option<AssigneeRef<'a>>,
    pub problem_started_at: Option<i64>,
    pub opened_at: i64,
}

/// Next ticket number of a kind for a tenant. The upsert serialises concurrent callers.
pub async fn next_number(tx: &mut Tx<'_>, tenant: TenantId, kind: TicketKind) -> StoreResult<i64> {
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

/// Insert a ticket row; `None` when a unique index refused it (an open incident of the same
/// rule and CI, or of the same site, exists already: another replica won the race).
pub async fn insert(
    conn: &mut AnyConnection,
    kind: TicketKind,
    new: &NewTicketRow<'_>,
) -> StoreResult<Option<i64>> {
    // Only incidents stand for a site.
    let (site_column, site_value) = match kind {
        TicketKind::Incident => (", site_id", ", $19"),
        TicketKind::ServiceRequest => ("", ""),
    };
    let query = format!(
        "INSERT INTO {table} (tenant_id, number, title, description, state, impact, urgency,
                              priority, source, ci_id, requester, assignment_group_id, assignee,
                              problem_started_at, opened_at, updated_at, severity,
                              rule_id, assignee_id{site_column})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16,
                 $17, $18{site_value})
         ON CONFLICT DO NOTHING RETURNING id",
        table = kind.table()
    );
    let mut q = sqlx::query_as::<_, (i64,)>(&query)
        .bind(new.tenant.0)
        .bind(new.number)
        .bind(new.title)
        .bind(new.description)
        .bind(new.state.as_str())
        .bind(new.impact)
        .bind(new.urgency)
        .bind(new.priority)
        .bind(new.source)
        .bind(new.ci_id)
        .bind(new.requester)
        .bind(new.group_id)
        .bind(new.assignee.map(|a| a.name))
        .bind(new.problem_started_at)
        .bind(new.opened_at)
        .bind(new.severity)
        .bind(new.rule_id)
        .bind(new.assignee.map(|a| a.user_id));
    if kind == TicketKind::Incident {
        q = q.bind(new.site_id);
    }
    Ok(q.fetch_optional(&mut *conn).await?.map(|(id,)| id))
}

/// Remove a ticket row inserted in this transaction that must not stand after all.
pub async fn delete(conn: &mut AnyConnection, kind: TicketKind, id: i64) -> StoreResult<()> {
    sqlx::query(&format!("DELETE FROM {} WHERE id = $1", kind.table()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn load_row(
    conn: &mut AnyConnection,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
) -> StoreResult<TicketRow> {
    let row: Option<TicketRow> = sqlx::query_as(&format!(
        "{} WHERE t.id = $1 AND {in_scope}",
        select_tickets(kind),
        in_scope = in_scope("t.tenant_id", 2)
    ))
    .bind(id)
    .bind(scope.filter())
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or(StoreError::NotFound)
}

/// A ticket as the timeline names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketRef {
    pub kind: TicketKind,
    pub tenant: TenantId,
    pub id: i64,
}

/// Append a timeline row, stamped with the ticket's state and priority as they are now.
pub async fn append_event(
    conn: &mut AnyConnection,
    ticket: TicketRef,
    at: i64,
    event: &str,
    actor: &str,
    detail: &Value,
) -> StoreResult<()> {
    let kind = ticket.kind;
    sqlx::query(&format!(
        "INSERT INTO {events} (tenant_id, {fk}, at, kind, actor, detail, state, priority)
         SELECT $1, $2, $3, $4, $5, $6, state, priority FROM {table} WHERE id = $2",
        events = kind.events(),
        fk = kind.fk(),
        table = kind.table()
    ))
    .bind(ticket.tenant.0)
    .bind(ticket.id)
    .bind(at)
    .bind(event)
    .bind(actor)
    .bind(detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether the timeline holds an entry of this kind with exactly this detail.
pub async fn has_event(
    conn: &mut AnyConnection,
    kind: TicketKind,
    id: i64,
    event: &str,
    detail: &Value,
) -> StoreResult<bool> {
    let seen: Option<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM {} WHERE {} = $1 AND kind = $2 AND detail = $3",
        kind.events(),
        kind.fk()
    ))
    .bind(id)
    .bind(event)
    .bind(detail.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(seen.is_some())
}

/// One timeline row as the clocks read it.
#[derive(Debug, Clone)]
pub struct ClockRow {
    pub at: i64,
    pub kind: String,
    pub state: Option<String>,
    pub priority: Option<i64>,
    pub detail: String,
}

pub async fn clock_rows(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
) -> StoreResult<Vec<ClockRow>> {
    type Row = (i64, String, Option<String>, Option<i64>, String);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT at, kind, state, priority, detail FROM {} WHERE {} = $1 ORDER BY at, id",
        kind.events(),
        kind.fk()
    ))
    .bind(ticket_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, kind, state, priority, detail)| ClockRow {
            at,
            kind,
            state,
            priority,
            detail,
        })
        .collect())
}

/// Store a ticket's next SLA warning and breach instants.
pub async fn set_sla_instants(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
    warning_at: Option<i64>,
    breach_at: Option<i64>,
) -> StoreResult<()> {
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

/// The open tickets of a kind of one tenant.
pub async fn open_ids(
    conn: &mut AnyConnection,
    kind: TicketKind,
    tenant: TenantId,
) -> StoreResult<Vec<i64>> {
    let ids: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM {} WHERE tenant_id = $1 AND state IN {}",
        kind.table(),
        open_states_sql()
    ))
    .bind(tenant.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Open tickets of a kind whose stored SLA warning or breach instant has come by `now`.
pub async fn sla_due_ids(
    conn: &mut AnyConnection,
    kind: TicketKind,
    now: i64,
) -> StoreResult<Vec<i64>> {
    let ids: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM {} WHERE state IN {}
           AND (sla_warning_at <= $1 OR sla_breach_at <= $1) ORDER BY id",
        kind.table(),
        open_states_sql()
    ))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// A tenant's tickets of a kind resolved at or before `cutoff`.
pub async fn resolved_before(
    conn: &mut AnyConnection,
    kind: TicketKind,
    tenant: TenantId,
    cutoff: i64,
) -> StoreResult<Vec<i64>> {
    let ids: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM {} WHERE tenant_id = $1 AND state = 'resolved'
           AND resolved_at <= $2 ORDER BY id",
        kind.table()
    ))
    .bind(tenant.0)
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Whether a CI belongs to the tenant.
pub async fn ci_in_tenant(
    conn: &mut AnyConnection,
    tenant: TenantId,
    ci_id: i64,
) -> StoreResult<bool> {
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM configuration_items WHERE id = $1 AND tenant_id = $2")
            .bind(ci_id)
            .bind(tenant.0)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(found.is_some())
}

/// Link a CI to a ticket; `false` if it was linked already.
pub async fn link_ci(
    conn: &mut AnyConnection,
    ticket: TicketRef,
    ci_id: i64,
    role: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(&format!(
        "INSERT INTO {cis} (tenant_id, {fk}, ci_id, role) VALUES ($1, $2, $3, $4)
         ON CONFLICT ({fk}, ci_id) DO NOTHING",
        cis = ticket.kind.cis(),
        fk = ticket.kind.fk()
    ))
    .bind(ticket.tenant.0)
    .bind(ticket.id)
    .bind(ci_id)
    .bind(role)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An assignment group's id and tier, by name.
pub async fn group_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> StoreResult<Option<(i64, i64)>> {
    Ok(
        sqlx::query_as("SELECT id, tier FROM assignment_groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// The first group of the lowest tier above `tier`: `(id, name, tier)`.
pub async fn first_group_above(
    conn: &mut AnyConnection,
    tier: i64,
) -> StoreResult<Option<(i64, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT id, name, tier FROM assignment_groups WHERE tier > $1
         ORDER BY tier, id LIMIT 1",
    )
    .bind(tier)
    .fetch_optional(&mut *conn)
    .await?)
}

/// How a state update treats the columns that go with the state.
#[derive(Debug, Clone, Copy)]
pub struct StateUpdate<'a> {
    /// The states the ticket is expected to be in; the update does nothing otherwise.
    pub expected: &'a [TicketState],
    pub to: TicketState,
    pub hold_reason: Option<&'a str>,
    /// Resolved → open: `resolved_at` is cleared and `reopen_count` counts it.
    pub reopen: bool,
    pub now: i64,
}

/// Move a ticket to another state, with the columns that go with it, if it is still in one of
/// the expected states (optimistic: `false` when it changed meanwhile). The only writer of a
/// ticket's state. A reopen refused by the one-open-incident-per-(rule, CI) index is a conflict.
pub async fn update_state(
    conn: &mut AnyConnection,
    kind: TicketKind,
    id: i64,
    update: &StateUpdate<'_>,
) -> StoreResult<bool> {
    let to = update.to;
    let result = sqlx::query(&format!(
        "UPDATE {} SET state = $1, hold_reason = $2, updated_at = $3,
                resolved_at = CASE WHEN $4 = 1 THEN $3 WHEN $5 = 1 THEN NULL ELSE resolved_at END,
                closed_at = CASE WHEN $6 = 1 THEN $3 ELSE closed_at END,
                first_response_at = CASE WHEN $7 = 1 AND first_response_at IS NULL THEN $3
                                         ELSE first_response_at END,
                reopen_count = reopen_count + $5
          WHERE id = $8 AND state IN {}",
        kind.table(),
        state_list(update.expected.iter().copied())
    ))
    .bind(to.as_str())
    .bind(update.hold_reason)
    .bind(update.now)
    .bind(i64::from(to == TicketState::Resolved))
    .bind(i64::from(update.reopen))
    .bind(i64::from(to.is_final()))
    .bind(i64::from(to == TicketState::InProgress))
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        StoreError::conflict_on_unique(
            e,
            "another incident is already open for this rule and CI; reopen refused",
        )
    })?;
    Ok(result.rows_affected() == 1)
}

/// Give a ticket to a group and a person (either may be none).
pub async fn set_assignment(
    conn: &mut AnyConnection,
    kind: TicketKind,
    id: i64,
    group_id: Option<i64>,
    assignee: Option<AssigneeRef<'_>>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE {} SET assignment_group_id = $1, assignee = $2, assignee_id = $5, updated_at = $3
          WHERE id = $4",
        kind.table()
    ))
    .bind(group_id)
    .bind(assignee.map(|a| a.name))
    .bind(now)
    .bind(id)
    .bind(assignee.map(|a| a.user_id))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_first_response(
    conn: &mut AnyConnection,
    kind: TicketKind,
    id: i64,
    at: i64,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE {} SET first_response_at = $1 WHERE id = $2",
        kind.table()
    ))
    .bind(at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn touch(
    conn: &mut AnyConnection,
    kind: TicketKind,
    id: i64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE {} SET updated_at = $1 WHERE id = $2",
        kind.table()
    ))
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The fields people edit, all written at once.
#[derive(Debug, Clone, Copy)]
pub struct TicketFields<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub requester: Option<&'a str>,
    pub impact: i64,
    pub urgency: i64,
    pub priority: i64,
}

pub async fn set_fields(
    conn: &mut AnyConnection,
    kind: TicketKind,
    id: i64,
    fields: &TicketFields<'_>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE {} SET title = $1, description = $2, requester = $3, impact = $4,
                urgency = $5, priority = $6, updated_at = $7 WHERE id = $8",
        kind.table()
    ))
    .bind(fields.title)
    .bind(fields.description)
    .bind(fields.requester)
    .bind(fields.impact)
    .bind(fields.urgency)
    .bind(fields.priority)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ticket rows for a list page, newest first.
pub async fn list_rows(
    conn: &mut AnyConnection,
    kind: TicketKind,
    scope: TenantScope,
    filter: &TicketFilter,
    now: i64,
) -> StoreResult<Vec<TicketRow>> {
    let sla = match filter.sla {
        None => "CAST($7 AS BIGINT) IS NOT NULL",
        Some(SlaRisk::Ok) => "(t.sla_warning_at IS NULL OR t.sla_warning_at > $7)",
        Some(SlaRisk::Warning) => {
            "t.sla_warning_at <= $7 AND (t.sla_breach_at IS NULL OR t.sla_breach_at > $7)"
        }
        Some(SlaRisk::Breached) => "t.sla_breach_at <= $7",
        Some(SlaRisk::AtRisk) => "t.sla_warning_at <= $7",
    };
    Ok(sqlx::query_as(&format!(
        "{select}
         WHERE {in_scope}
           AND (CAST($2 AS TEXT) IS NULL OR t.state = $2)
           AND (CAST($3 AS BIGINT) IS NULL OR t.priority = $3)
           AND (CAST($4 AS BIGINT) IS NULL OR t.assignee_id = $4
                OR ($4 = 0 AND t.assignee_id IS NULL))
           AND (CAST($5 AS TEXT) IS NULL OR g.name = $5)
           AND (CAST($6 AS BIGINT) IS NULL OR EXISTS (
                SELECT 1 FROM {cis} l WHERE l.{fk} = t.id AND l.ci_id = $6))
           AND {sla}
           AND (CAST($10 AS BIGINT) IS NULL OR t.assignment_group_id IN (
                SELECT m.assignment_group_id FROM group_memberships m WHERE m.user_id = $10))
         ORDER BY t.id DESC LIMIT $8 OFFSET $9",
        select = select_tickets(kind),
        cis = kind.cis(),
        fk = kind.fk(),
        in_scope = in_scope("t.tenant_id", 1)
    ))
    .bind(scope.filter())
    .bind(filter.state.as_deref())
    .bind(filter.priority)
    .bind(filter.assignee.bind())
    .bind(filter.group.as_deref())
    .bind(filter.ci_id)
    .bind(now)
    .bind(filter.limit)
    .bind(filter.offset)
    .bind(filter.groups_of)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn linked_cis(conn: &mut AnyConnection, ticket: TicketRef) -> StoreResult<Vec<LinkedCi>> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(&format!(
        "SELECT l.ci_id, l.role, c.class, c.name FROM {} l
           JOIN configuration_items c ON c.id = l.ci_id
          WHERE l.{} = $1 AND l.tenant_id = $2 ORDER BY l.role, l.ci_id",
        ticket.kind.cis(),
        ticket.kind.fk()
    ))
    .bind(ticket.id)
    .bind(ticket.tenant.0)
    .fetch_all(&mut *conn)
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

pub async fn timeline(
    conn: &mut AnyConnection,
    ticket: TicketRef,
) -> StoreResult<Vec<TimelineEntry>> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(&format!(
        "SELECT at, kind, actor, detail FROM {} WHERE {} = $1 AND tenant_id = $2
          ORDER BY at, id",
        ticket.kind.events(),
        ticket.kind.fk()
    ))
    .bind(ticket.id)
    .bind(ticket.tenant.0)
    .fetch_all(&mut *conn)
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
