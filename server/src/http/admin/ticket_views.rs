//! What the ticket API answers ([`super::tickets`]): the HTTP layer's own view of a ticket, its
//! SLA clocks, linked CIs and timeline, converted from the desk's ticket and the store's rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::desk::state::{HoldReason, TicketState};
use crate::desk::Ticket as DeskTicket;
use crate::sla::clock::{Clock, ClockState, Clocks, Status};
use crate::store::tickets::{LinkedCi as LinkedCiRow, TicketKind, TimelineEntry as TimelineRow};

// Names the document lists for fields the store keeps as text or as domain enums.

/// The kind of a ticket.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum KindName {
    Incident,
    ServiceRequest,
}

/// How a clock stands against its target.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ClockStatus {
    NoSla,
    Ok,
    Met,
    Warning,
    Breached,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ClockRunning {
    Running,
    Paused,
    Stopped,
}

/// An incident or a service request.
#[derive(Serialize, ToSchema)]
pub struct Ticket {
    pub id: i64,
    #[schema(value_type = KindName)]
    pub kind: TicketKind,
    pub tenant_id: i64,
    /// `INC…` or `REQ…`.
    pub number: String,
    pub title: String,
    pub description: String,
    pub state: TicketState,
    #[schema(value_type = Option<HoldReason>)]
    pub hold_reason: Option<String>,
    pub impact: i64,
    pub urgency: i64,
    pub priority: i64,
    pub severity: Option<String>,
    /// Who opened it: a rule, a person, a site outage…
    pub source: String,
    pub rule_id: Option<i64>,
    pub ci_id: Option<i64>,
    pub requester: Option<String>,
    pub assignment_group: Option<String>,
    pub tier: Option<i64>,
    /// The user it is given to (`GET /api/v1/users/{id}`) and their name.
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
    pub problem_started_at: Option<DateTime<Utc>>,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reopen_count: i64,
    /// The SLA clocks, replayed from the timeline when the ticket is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sla: Option<SlaClocks>,
}

impl From<DeskTicket> for Ticket {
    fn from(t: DeskTicket) -> Self {
        Ticket {
            id: t.id,
            kind: t.kind,
            tenant_id: t.tenant_id.0,
            number: t.number,
            title: t.title,
            description: t.description,
            state: t.state,
            hold_reason: t.hold_reason,
            impact: t.impact,
            urgency: t.urgency,
            priority: t.priority,
            severity: t.severity,
            source: t.source,
            rule_id: t.rule_id,
            ci_id: t.ci_id,
            requester: t.requester,
            assignment_group: t.assignment_group,
            tier: t.tier,
            assignee_id: t.assignee_id,
            assignee: t.assignee,
            problem_started_at: t.problem_started_at,
            opened_at: t.opened_at,
            updated_at: t.updated_at,
            first_response_at: t.first_response_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            reopen_count: t.reopen_count,
            sla: t.sla.map(SlaClocks::from),
        }
    }
}

/// The first-response and resolution clocks.
#[derive(Serialize, ToSchema)]
pub struct SlaClocks {
    pub response: SlaClock,
    pub resolution: SlaClock,
}

impl From<Clocks> for SlaClocks {
    fn from(c: Clocks) -> Self {
        SlaClocks {
            response: c.response.into(),
            resolution: c.resolution.into(),
        }
    }
}

/// One clock as of the time the ticket was read.
#[derive(Serialize, ToSchema)]
pub struct SlaClock {
    #[schema(value_type = ClockStatus)]
    pub status: Status,
    #[schema(value_type = ClockRunning)]
    pub state: ClockState,
    pub target_minutes: Option<i64>,
    /// Business time counted so far, in milliseconds.
    pub elapsed_ms: i64,
    /// Business time spent on hold, in milliseconds (not counted).
    pub paused_ms: i64,
    /// Share of the target consumed, in percent with one decimal.
    pub percent: Option<f64>,
    /// When 75 % was (or, running, will be) reached.
    pub warning_at: Option<DateTime<Utc>>,
    /// When 100 % was (or, running, will be) reached.
    pub due_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

impl From<Clock> for SlaClock {
    fn from(c: Clock) -> Self {
        let time = |ms: Option<i64>| ms.and_then(DateTime::from_timestamp_millis);
        SlaClock {
            status: c.status,
            state: c.state,
            target_minutes: c.target_minutes,
            elapsed_ms: c.elapsed_ms,
            paused_ms: c.paused_ms,
            percent: c.percent,
            warning_at: time(c.warning_at),
            due_at: time(c.due_at),
            stopped_at: time(c.stopped_at),
        }
    }
}

/// A CI linked to a ticket.
#[derive(Serialize, ToSchema)]
pub struct LinkedCi {
    pub ci_id: i64,
    /// `affected` unless said otherwise.
    pub role: String,
    pub class: String,
    pub name: String,
}

impl From<LinkedCiRow> for LinkedCi {
    fn from(c: LinkedCiRow) -> Self {
        LinkedCi {
            ci_id: c.ci_id,
            role: c.role,
            class: c.class,
            name: c.name,
        }
    }
}

/// One entry of a ticket's timeline.
#[derive(Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    /// What happened, by kind.
    pub detail: Value,
}

impl From<TimelineRow> for TimelineEntry {
    fn from(e: TimelineRow) -> Self {
        TimelineEntry {
            at: e.at,
            kind: e.kind,
            actor: e.actor,
            detail: e.detail,
        }
    }
}

/// A ticket with its CIs and timeline.
#[derive(Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub cis: Vec<LinkedCi>,
    pub timeline: Vec<TimelineEntry>,
}
