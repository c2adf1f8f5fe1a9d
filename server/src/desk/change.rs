//! What a command did to a ticket: a [`Change`] names the ticket, what changed, who did it,
//! when, and the detail the timeline keeps. Every command yields its changes, and
//! [`super::reactions`] decides what follows each one.

use serde_json::Value;

use super::actor::Actor;
use super::state::TicketState;
use crate::store::tickets::TicketRef;

/// What changed, named as the timeline names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Opened,
    Assigned,
    StateChanged {
        to: TicketState,
    },
    /// Back from resolved: by a person, a requester's reply or the rule firing again.
    Reopened,
    Escalated,
    Commented,
    WorkNoted,
    Updated,
    PriorityChanged,
    CisLinked,
    /// An SLA clock passed its warning point at `crossed_at`.
    SlaWarning {
        metric: &'static str,
        crossed_at: i64,
    },
    SlaBreach {
        metric: &'static str,
        crossed_at: i64,
    },
    Rated,
    /// Resolved by its rule's recovery or its site coming back.
    Resolved,
    // The rule engine's evidence on an incident's timeline.
    SeverityChanged,
    AlertFiring,
    AlertRecovered,
    Follows,
    FlappingStarted,
    FlappingStopped,
    // Site outages.
    SiteOutage,
    Correlated,
    ComputersAttached,
    SiteRecovered,
    /// A column changed that the timeline does not show (an edit that changed nothing shown,
    /// a rule reopening at a new severity, a site incident's count in its title).
    Quiet,
}

impl ChangeKind {
    /// The timeline entry's kind.
    pub fn name(self) -> &'static str {
        use ChangeKind::*;
        match self {
            Opened => "opened",
            Assigned => "assigned",
            StateChanged { .. } => "state_changed",
            Reopened => "reopened",
            Escalated => "escalated",
            Commented => "comment",
            WorkNoted => "work_note",
            Updated => "updated",
            PriorityChanged => "priority_changed",
            CisLinked => "ci_linked",
            SlaWarning { .. } => "sla_warning",
            SlaBreach { .. } => "sla_breach",
            Rated => "rated",
            Resolved => "resolved",
            SeverityChanged => "severity_changed",
            AlertFiring => "alert_firing",
            AlertRecovered => "alert_recovered",
            Follows => "follows",
            FlappingStarted => "flapping_started",
            FlappingStopped => "flapping_stopped",
            SiteOutage => "site_outage",
            Correlated => "correlated",
            ComputersAttached => "computers_attached",
            SiteRecovered => "site_recovered",
            Quiet => "quiet",
        }
    }
}

/// One change to one ticket.
#[derive(Debug, Clone)]
pub struct Change {
    pub ticket: TicketRef,
    pub kind: ChangeKind,
    pub actor: Actor,
    pub at: i64,
    /// What the timeline keeps.
    pub detail: Value,
    /// What a notification says, where the change notifies and says less (or other) than the
    /// timeline detail; `None` repeats the detail.
    pub notice: Option<Value>,
}
