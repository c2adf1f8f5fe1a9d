//! What follows a change, declared once for every writer: the timeline entry, the notification
//! (held while the incident flaps), the hold or release of an incident's queued notifications,
//! and the refresh of the stored SLA risk instants. Commands never call these themselves: they
//! hand each change to a [`Recorder`], which runs the reactions [`reactions`] lists for it.
//!
//! Every change is also written to the audit log ([`crate::audit`]), whoever made it.

use serde_json::{json, Value};
use sqlx::AnyConnection;

use super::actor::Actor;
use super::change::{Change, ChangeKind};
use super::clocks;
use super::state::TicketState;
use crate::audit::{self, ActorKind, AuditActor};
use crate::store::satisfaction::kind_name;
use crate::store::tickets::{self, TicketKind, TicketRef};
use crate::store::{outbox, to_time, StoreResult, TenantScope};

/// One thing that follows a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Append the change to the ticket's timeline, stamped with its state and priority.
    Timeline,
    /// Queue `event` for the tenant's channels; `at` and `discriminator` name the occurrence in
    /// the idempotency key.
    Notify {
        event: &'static str,
        at: Option<i64>,
        discriminator: &'static str,
    },
    /// Hold an incident's notifications not yet attempted (it started flapping).
    HoldNotifications,
    /// Release them, due at once (it settled).
    ReleaseNotifications,
    /// Recompute the stored SLA risk instants from the timeline (once per command).
    RefreshSla,
    /// Append the change to the audit log: who, what, when.
    Audit,
}

const fn notify(event: &'static str) -> Reaction {
    Reaction::Notify {
        event,
        at: None,
        discriminator: "",
    }
}

/// The reactions to a change, in the order they run: the audit entry last, for every change.
pub fn reactions(change: &Change) -> Vec<Reaction> {
    let mut list = kind_reactions(change);
    list.push(Reaction::Audit);
    list
}

fn kind_reactions(change: &Change) -> Vec<Reaction> {
    use ChangeKind::*;
    use Reaction::*;
    match change.kind {
        Opened => vec![Timeline, notify("opened"), RefreshSla],
        // A rule firing again tells whoever heard "resolved" that it is back.
        Reopened if change.actor == Actor::Rule => vec![
            Timeline,
            Notify {
                event: "opened",
                at: None,
                discriminator: "reopened",
            },
            RefreshSla,
        ],
        StateChanged {
            to: TicketState::Resolved,
        }
        | Resolved => vec![Timeline, notify("resolved"), RefreshSla],
        Escalated => vec![Timeline, notify("escalated"), RefreshSla],
        // A crossing is notified at the instant it happened, once per clock.
        SlaWarning { metric, crossed_at } => vec![
            Timeline,
            Notify {
                event: "sla_warning",
                at: Some(crossed_at),
                discriminator: metric,
            },
        ],
        SlaBreach { metric, crossed_at } => vec![
            Timeline,
            Notify {
                event: "sla_breach",
                at: Some(crossed_at),
                discriminator: metric,
            },
        ],
        CisLinked | Rated => vec![Timeline],
        FlappingStarted => vec![HoldNotifications, Timeline, RefreshSla],
        FlappingStopped => vec![ReleaseNotifications, Timeline, RefreshSla],
        // Not shown, but the stored SLA instants follow every change.
        Quiet => vec![RefreshSla],
        Assigned
        | StateChanged { .. }
        | Reopened
        | Commented
        | WorkNoted
        | Updated
        | PriorityChanged
        | SeverityChanged
        | AlertFiring
        | AlertRecovered
        | Follows
        | SiteOutage
        | Correlated
        | ComputersAttached
        | SiteRecovered => {
            vec![Timeline, RefreshSla]
        }
    }
}

/// Runs the reactions of each change a command makes to one ticket, as it makes them (so each
/// timeline entry and notification sees the ticket as that change left it), and the SLA
/// refresh once at the end (the clocks replay the whole timeline, so one refresh after the
/// last change is the same as one after each).
pub struct Recorder {
    ticket: TicketRef,
    actor: Actor,
    at: i64,
    refresh: bool,
    changes: Vec<Change>,
}

impl Recorder {
    pub fn new(ticket: TicketRef, actor: Actor, at: i64) -> Recorder {
        Recorder {
            ticket,
            actor,
            at,
            refresh: false,
            changes: Vec::new(),
        }
    }

    pub fn ticket(&self) -> TicketRef {
        self.ticket
    }

    /// Record a change whose notification (if any) says what the timeline says.
    pub async fn record(
        &mut self,
        conn: &mut AnyConnection,
        kind: ChangeKind,
        detail: Value,
    ) -> StoreResult<()> {
        self.record_with_notice(conn, kind, detail, None).await
    }

    pub async fn record_with_notice(
        &mut self,
        conn: &mut AnyConnection,
        kind: ChangeKind,
        detail: Value,
        notice: Option<Value>,
    ) -> StoreResult<()> {
        let change = Change {
            ticket: self.ticket,
            kind,
            actor: self.actor.clone(),
            at: self.at,
            detail,
            notice,
        };
        for reaction in reactions(&change) {
            match reaction {
                Reaction::Timeline => {
                    let name = change.kind.name();
                    let actor = change.actor.as_str();
                    tickets::append_event(
                        conn,
                        change.ticket,
                        change.at,
                        name,
                        actor,
                        &change.detail,
                    )
                    .await?
                }
                Reaction::Notify {
                    event,
                    at,
                    discriminator,
                } => {
                    let detail = change.notice.as_ref().unwrap_or(&change.detail);
                    let at = at.unwrap_or(change.at);
                    enqueue(conn, change.ticket, event, at, discriminator, detail).await?
                }
                Reaction::HoldNotifications | Reaction::ReleaseNotifications => {
                    let hold = reaction == Reaction::HoldNotifications;
                    outbox::hold_incident_messages(conn, change.ticket.id, hold, change.at).await?
                }
                Reaction::RefreshSla => self.refresh = true,
                Reaction::Audit => {
                    let actor = audit_actor(&change.actor);
                    let kind = change.ticket.kind;
                    audit::record(
                        conn,
                        &audit::Record {
                            at: change.at,
                            tenant: Some(change.ticket.tenant),
                            actor: &actor,
                            action: format!("{}.{}", kind_name(kind), change.kind.name()),
                            object_kind: kind_name(kind),
                            object_id: change.ticket.id.to_string(),
                            before: None,
                            after: Some(&change.detail),
                        },
                    )
                    .await?;
                }
            }
        }
        self.changes.push(change);
        Ok(())
    }

    /// Run what waits for the end of the command; the changes it made.
    pub async fn finish(self, conn: &mut AnyConnection) -> StoreResult<Vec<Change>> {
        if self.refresh {
            clocks::refresh(conn, self.ticket.kind, self.ticket.id, self.at).await?;
        }
        Ok(self.changes)
    }
}

/// How the audit log names the actor of a ticket change: the person (or ownerless token) the
/// HTTP layer identified, else by the name alone.
fn audit_actor(actor: &Actor) -> AuditActor {
    let (kind, name) = match actor {
        Actor::Person {
            identity: Some(identity),
            ..
        } => return identity.clone(),
        Actor::Person { name, .. } => (ActorKind::Token, name.as_str()),
        Actor::Requester => (ActorKind::User, "requester"),
        Actor::Rule | Actor::Sla | Actor::AutoClose => (ActorKind::System, actor.as_str()),
    };
    AuditActor {
        kind,
        id: None,
        name: name.to_string(),
    }
}

/// Queue the notifications an occurrence calls for, in the change's transaction, so the
/// decision to notify commits (or not) with the change itself. A flapping incident's
/// notifications wait until it settles (issue 5).
async fn enqueue(
    conn: &mut AnyConnection,
    ticket: TicketRef,
    event: &str,
    at: i64,
    discriminator: &str,
    detail: &Value,
) -> StoreResult<()> {
    let kind = ticket.kind;
    let row = tickets::load_row(conn, kind, TenantScope::All, ticket.id).await?;
    let payload = json!({
        "event": event, "kind": kind, "at": to_time(at), "tenant_id": row.tenant_id,
        "ticket": {"id": row.id, "number": kind.number(row.number), "title": row.title,
                   "state": row.state, "priority": row.priority,
                   "assignment_group": row.group_name, "assignee": row.assignee,
                   "requester": row.requester},
        "detail": detail,
    });
    let key = format!(
        "{}:{}:{event}:{at}:{discriminator}",
        kind.table(),
        ticket.id
    );
    outbox::enqueue(conn, row.tenant(), event, &key, &payload, at).await?;
    if kind == TicketKind::Incident {
        outbox::hold_if_flapping(conn, ticket.id, &key).await?;
    }
    Ok(())
}
