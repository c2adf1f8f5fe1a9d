//! The commands people give the desk — open, move, assign, escalate, comment, edit, link CIs,
//! rate — each carried out inside the caller's transaction by an [`Actor`] at `now`, each
//! returning the [`Change`]s it made. The SLA sweep and auto-close use the same commands.

use serde_json::{json, Value};

use super::actor::Actor;
use super::change::{Change, ChangeKind};
use super::plans::current_plan;
use super::reactions::Recorder;
use super::state::{HoldReason, TicketState};
use crate::store::tickets::{
    self, AssigneeRef, NewTicketRow, StateUpdate, TicketFields, TicketKind, TicketRef, TicketRow,
};
use crate::store::{StoreError, StoreResult, TenantId, TenantScope, Tx};

/// The person a ticket is given to (the HTTP layer checks they may work its tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignee {
    pub user_id: i64,
    /// The name the timeline and the notifications show.
    pub name: String,
}

impl Assignee {
    fn as_ref(&self) -> AssigneeRef<'_> {
        AssigneeRef {
            user_id: self.user_id,
            name: &self.name,
        }
    }
}

fn name_of(assignee: Option<&Assignee>) -> Option<&str> {
    assignee.map(|a| a.name.as_str())
}

pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub impact: i64,
    pub urgency: i64,
    pub requester: Option<String>,
    pub ci_ids: Vec<i64>,
    pub group: Option<String>,
    pub assignee: Option<Assignee>,
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

/// A CI must belong to the ticket's tenant to be linked.
async fn check_ci(tx: &mut Tx<'_>, tenant: TenantId, ci_id: i64) -> StoreResult<()> {
    if tickets::ci_in_tenant(tx, tenant, ci_id).await? {
        Ok(())
    } else {
        Err(invalid(format!("CI {ci_id} does not exist in this tenant")))
    }
}

async fn group_by_name(tx: &mut Tx<'_>, name: &str) -> StoreResult<(i64, i64)> {
    tickets::group_by_name(tx, name)
        .await?
        .ok_or_else(|| invalid(format!("no assignment group is named {name:?}")))
}

fn reference(kind: TicketKind, row: &TicketRow) -> TicketRef {
    TicketRef {
        kind,
        tenant: row.tenant(),
        id: row.id,
    }
}

/// Move `row` to state `to` (already checked), with the columns that go with it; a conflict
/// if another writer moved it meanwhile.
pub(super) async fn move_state(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    row: &TicketRow,
    to: TicketState,
    hold: Option<HoldReason>,
    now: i64,
) -> StoreResult<()> {
    let from = row.state();
    let update = StateUpdate {
        expected: &[from],
        to,
        hold_reason: hold.map(HoldReason::as_str),
        reopen: from == TicketState::Resolved && to.is_open(),
        now,
    };
    if tickets::update_state(tx, kind, row.id, &update).await? {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "the {} changed meanwhile; reload it and retry",
            kind.noun()
        )))
    }
}

/// Open a ticket by hand. Its priority comes from the tenant's matrix. Returns its id.
pub async fn open(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    tenant: TenantId,
    new: &NewTicket,
    actor: &Actor,
    now: i64,
) -> StoreResult<(i64, Vec<Change>)> {
    if new.title.trim().is_empty() {
        return Err(invalid("title must not be empty"));
    }
    check_level("impact", new.impact)?;
    check_level("urgency", new.urgency)?;
    let matrix = current_plan(tx, tenant).await?.priority_matrix;
    let priority = matrix.priority(new.impact, new.urgency);
    for ci in &new.ci_ids {
        check_ci(tx, tenant, *ci).await?;
    }
    let group = match new.group.as_deref() {
        Some(name) => Some(group_by_name(tx, name).await?.0),
        None => None,
    };
    let assigned = group.is_some() || new.assignee.is_some();
    let state = if assigned {
        TicketState::Assigned
    } else {
        TicketState::New
    };
    let number = tickets::next_number(tx, tenant, kind).await?;
    let row = NewTicketRow {
        tenant,
        number,
        title: new.title.trim(),
        description: &new.description,
        state,
        impact: new.impact,
        urgency: new.urgency,
        priority,
        severity: None,
        source: "manual",
        rule_id: None,
        ci_id: new.ci_ids.first().copied(),
        site_id: None,
        requester: new.requester.as_deref(),
        group_id: group,
        assignee: new.assignee.as_ref().map(Assignee::as_ref),
        problem_started_at: None,
        opened_at: now,
    };
    let id = tickets::insert(tx, kind, &row)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("the {} could not be opened", kind.noun())))?;
    let ticket = TicketRef { kind, tenant, id };
    for ci in &new.ci_ids {
        tickets::link_ci(tx, ticket, *ci, "affected").await?;
    }
    let mut changes = Recorder::new(ticket, actor.clone(), now);
    let detail = json!({"impact": new.impact, "urgency": new.urgency, "priority": priority,
                        "requester": new.requester, "source": "manual", "cis": new.ci_ids});
    let notice = json!({"source": "manual"});
    changes
        .record_with_notice(tx, ChangeKind::Opened, detail, Some(notice))
        .await?;
    if assigned {
        let detail = json!({"group": new.group, "assignee": name_of(new.assignee.as_ref()),
                            "assignee_id": new.assignee.as_ref().map(|a| a.user_id)});
        changes.record(tx, ChangeKind::Assigned, detail).await?;
    }
    Ok((id, changes.finish(tx).await?))
}

/// Move a ticket through its life cycle; refused moves are conflicts with a clear message.
#[allow(clippy::too_many_arguments)]
pub async fn transition(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    to: TicketState,
    hold: Option<HoldReason>,
    note: Option<&str>,
    actor: &Actor,
    now: i64,
) -> StoreResult<Vec<Change>> {
    let row = tickets::load_row(tx, kind, scope, id).await?;
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
    move_state(tx, kind, &row, to, hold, now).await?;
    let mut changes = Recorder::new(reference(kind, &row), actor.clone(), now);
    let detail = json!({"from": from.as_str(), "to": to.as_str(),
                        "hold_reason": hold.map(HoldReason::as_str), "note": note});
    let change = if from == TicketState::Resolved && to.is_open() {
        ChangeKind::Reopened
    } else {
        ChangeKind::StateChanged { to }
    };
    let notice = json!({ "note": note });
    changes
        .record_with_notice(tx, change, detail, Some(notice))
        .await?;
    changes.finish(tx).await
}

/// Give a ticket to a group and/or a person. A new ticket becomes assigned.
#[allow(clippy::too_many_arguments)]
pub async fn assign(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    group: Option<&str>,
    assignee: Option<&Assignee>,
    actor: &Actor,
    now: i64,
) -> StoreResult<Vec<Change>> {
    if group.is_none() && assignee.is_none() {
        return Err(invalid("name a group, an assignee or both"));
    }
    let row = tickets::load_row(tx, kind, scope, id).await?;
    check_not_final(&row, kind)?;
    let group_id = match group {
        Some(name) => Some(group_by_name(tx, name).await?.0),
        None => row.group_id,
    };
    let kept = row
        .assignee_id
        .zip(row.assignee.as_deref())
        .map(|(user_id, name)| AssigneeRef { user_id, name });
    let assignee_now = assignee.map(Assignee::as_ref).or(kept);
    tickets::set_assignment(tx, kind, id, group_id, assignee_now, now).await?;
    let mut changes = Recorder::new(reference(kind, &row), actor.clone(), now);
    let detail = json!({"group": group, "assignee": name_of(assignee),
                        "assignee_id": assignee.map(|a| a.user_id),
                        "previous_group": row.group_name, "previous_assignee": row.assignee});
    changes.record(tx, ChangeKind::Assigned, detail).await?;
    if row.state() == TicketState::New {
        move_state(tx, kind, &row, TicketState::Assigned, None, now).await?;
        let detail = json!({"from": "new", "to": "assigned"});
        let to = TicketState::Assigned;
        changes
            .record(tx, ChangeKind::StateChanged { to }, detail)
            .await?;
    }
    changes.finish(tx).await
}

/// Hand a ticket to a higher tier (the named group, or the first group of the next tier).
/// Ownership moves: the assignee becomes the one named, or nobody, and a ticket being
/// worked goes back to assigned until the new owner picks it up.
#[allow(clippy::too_many_arguments)]
pub async fn escalate(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    group: Option<&str>,
    assignee: Option<&Assignee>,
    reason: &str,
    actor: &Actor,
    now: i64,
) -> StoreResult<Vec<Change>> {
    let row = tickets::load_row(tx, kind, scope, id).await?;
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
            let (gid, tier) = group_by_name(tx, name).await?;
            Some((gid, name.to_string(), tier))
        }
        None => tickets::first_group_above(tx, tier_now).await?,
    };
    let Some((group_id, group_name, tier)) = target.filter(|t| t.2 > tier_now) else {
        return Err(StoreError::Conflict(format!(
            "the {} is already at tier {tier_now}; there is no higher tier to escalate to",
            kind.noun()
        )));
    };
    tickets::set_assignment(
        tx,
        kind,
        id,
        Some(group_id),
        assignee.map(Assignee::as_ref),
        now,
    )
    .await?;
    let mut changes = Recorder::new(reference(kind, &row), actor.clone(), now);
    let detail = json!({"from_group": row.group_name, "from_tier": tier_now,
                        "from_assignee": row.assignee, "to_group": group_name,
                        "to_tier": tier, "assignee": name_of(assignee),
                        "assignee_id": assignee.map(|a| a.user_id), "reason": reason});
    let notice = json!({"reason": reason, "to_group": group_name});
    changes
        .record_with_notice(tx, ChangeKind::Escalated, detail, Some(notice))
        .await?;
    if matches!(row.state(), TicketState::New | TicketState::InProgress) {
        move_state(tx, kind, &row, TicketState::Assigned, None, now).await?;
        let detail = json!({"from": row.state, "to": "assigned", "note": "escalated"});
        let to = TicketState::Assigned;
        changes
            .record(tx, ChangeKind::StateChanged { to }, detail)
            .await?;
    }
    changes.finish(tx).await
}

/// Add a public comment or an internal work note. The first public comment by staff is the
/// first response; a requester's reply reopens a ticket resolved within the plan's reopen
/// period.
pub async fn comment(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    comment: &Comment,
    actor: &Actor,
    now: i64,
) -> StoreResult<Vec<Change>> {
    if comment.body.trim().is_empty() {
        return Err(invalid("a comment needs a body"));
    }
    if comment.internal && comment.from_requester {
        return Err(invalid(
            "work notes are for staff; a requester's reply is public",
        ));
    }
    let row = tickets::load_row(tx, kind, scope, id).await?;
    let mut changes = Recorder::new(reference(kind, &row), actor.clone(), now);
    let change = if comment.internal {
        ChangeKind::WorkNoted
    } else {
        ChangeKind::Commented
    };
    let detail = json!({"body": comment.body, "from_requester": comment.from_requester});
    changes.record(tx, change, detail).await?;
    if !comment.internal && !comment.from_requester && row.first_response_at.is_none() {
        tickets::set_first_response(tx, kind, id, now).await?;
    }
    tickets::touch(tx, kind, id, now).await?;
    if comment.from_requester && row.state() == TicketState::Resolved {
        let window = current_plan(tx, row.tenant())
            .await?
            .reopen_days
            .saturating_mul(86_400_000);
        if row.resolved_at.is_some_and(|r| now - r <= window) {
            move_state(tx, kind, &row, TicketState::InProgress, None, now).await?;
            let detail = json!({"from": "resolved", "to": "in_progress",
                                "note": "the requester replied"});
            changes.record(tx, ChangeKind::Reopened, detail).await?;
        }
    }
    changes.finish(tx).await
}

/// Change title, description, requester, impact or urgency; a new impact or urgency sets the
/// priority again from the tenant's matrix.
pub async fn edit(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    edit: &TicketEdit,
    actor: &Actor,
    now: i64,
) -> StoreResult<Vec<Change>> {
    if let Some(t) = &edit.title {
        if t.trim().is_empty() {
            return Err(invalid("title must not be empty"));
        }
    }
    let row = tickets::load_row(tx, kind, scope, id).await?;
    check_not_final(&row, kind)?;
    let impact = edit.impact.unwrap_or(row.impact);
    let urgency = edit.urgency.unwrap_or(row.urgency);
    check_level("impact", impact)?;
    check_level("urgency", urgency)?;
    let priority = if (impact, urgency) == (row.impact, row.urgency) {
        row.priority
    } else {
        current_plan(tx, row.tenant())
            .await?
            .priority_matrix
            .priority(impact, urgency)
    };
    let fields = TicketFields {
        title: edit.title.as_deref().map(str::trim).unwrap_or(&row.title),
        description: edit.description.as_deref().unwrap_or(&row.description),
        requester: edit.requester.as_deref().or(row.requester.as_deref()),
        impact,
        urgency,
        priority,
    };
    tickets::set_fields(tx, kind, id, &fields, now).await?;
    let mut changes = Recorder::new(reference(kind, &row), actor.clone(), now);
    let changed: Vec<&str> = [
        ("title", edit.title.is_some()),
        ("description", edit.description.is_some()),
        ("requester", edit.requester.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if !changed.is_empty() {
        let detail = json!({ "fields": changed });
        changes.record(tx, ChangeKind::Updated, detail).await?;
    }
    if (impact, urgency) != (row.impact, row.urgency) {
        let detail = json!({"from": row.priority, "to": priority,
                            "impact": impact, "urgency": urgency});
        changes
            .record(tx, ChangeKind::PriorityChanged, detail)
            .await?;
    }
    if changed.is_empty() && (impact, urgency) == (row.impact, row.urgency) {
        changes.record(tx, ChangeKind::Quiet, Value::Null).await?;
    }
    changes.finish(tx).await
}

/// Link more CIs (of the ticket's tenant).
#[allow(clippy::too_many_arguments)]
pub async fn link_cis(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    ci_ids: &[i64],
    role: &str,
    actor: &Actor,
    now: i64,
) -> StoreResult<Vec<Change>> {
    if ci_ids.is_empty() {
        return Err(invalid("name at least one CI in ci_ids"));
    }
    let row = tickets::load_row(tx, kind, scope, id).await?;
    check_not_final(&row, kind)?;
    let ticket = reference(kind, &row);
    let mut added = Vec::new();
    for ci in ci_ids {
        check_ci(tx, ticket.tenant, *ci).await?;
        if tickets::link_ci(tx, ticket, *ci, role).await? {
            added.push(*ci);
        }
    }
    let mut changes = Recorder::new(ticket, actor.clone(), now);
    if !added.is_empty() {
        let detail = json!({"ci_ids": added, "role": role});
        changes.record(tx, ChangeKind::CisLinked, detail).await?;
    }
    changes.finish(tx).await
}
