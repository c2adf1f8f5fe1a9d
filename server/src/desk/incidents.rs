//! The commands the alerting side gives the desk about incidents: open the incident of a
//! firing (rule, CI) pair or reopen its last one, change its severity, put the rule's evidence
//! on its timeline, mark it flapping, resolve it on recovery; and the site incident that
//! stands for a site outage. All run in the caller's transaction (a report's, or a sweep's),
//! as [`Actor::Rule`].

use serde_json::{json, Value};

use super::actor::Actor;
use super::change::{Change, ChangeKind};
use super::plans::current_plan;
use super::reactions::Recorder;
use super::state::{open_states, TicketState};
use super::ticket::{self, incident_number, Ticket};
use crate::store::tickets::{self, NewTicketRow, StateUpdate, TicketFilter, TicketKind, TicketRef};
use crate::store::{
    alerts, incidents, now_ms, Store, StoreError, StoreResult, TenantId, TenantScope, Tx,
};

pub type Incident = Ticket;
pub type IncidentFilter = TicketFilter;

const INCIDENT: TicketKind = TicketKind::Incident;

fn incident(tenant: TenantId, id: i64) -> TicketRef {
    TicketRef {
        kind: INCIDENT,
        tenant,
        id,
    }
}

pub async fn list(
    store: &Store,
    scope: TenantScope,
    filter: &IncidentFilter,
) -> StoreResult<Vec<Incident>> {
    ticket::list(store, INCIDENT, scope, filter, now_ms()).await
}

pub async fn get(store: &Store, scope: TenantScope, id: i64) -> StoreResult<Incident> {
    ticket::get(store, INCIDENT, scope, id, now_ms()).await
}

/// An incident a firing rule wants opened, and the CMDB it is linked to.
pub struct RuleIncident<'a> {
    pub tenant: TenantId,
    pub rule_id: i64,
    pub ci_id: i64,
    /// The computer the CI belongs to (the CI itself for a computer).
    pub computer_id: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub impact: i64,
    pub urgency: i64,
    pub severity: &'a str,
    pub problem_started_at: i64,
    /// The rule's evidence, for the timeline.
    pub evidence: &'a Value,
    /// The pair's last finished incident, which this one follows.
    pub previous: Option<i64>,
    pub now: i64,
}

/// Open the incident for a firing (rule, CI) pair, linked to the CI, its computer and the
/// business services depending on either; or, when one is open already, put the evidence on
/// its timeline. Returns `(id, opened_now)`. The partial unique index guarantees one open
/// incident per pair even when two replicas race; the loser finds the winner's incident. The
/// priority comes from the tenant's matrix.
pub async fn open_for_rule(tx: &mut Tx<'_>, new: &RuleIncident<'_>) -> StoreResult<(i64, bool)> {
    let opened = match incidents::open_incident_for(tx, new.rule_id, new.ci_id).await? {
        Some(id) => Some((id, false)),
        None => {
            let matrix = current_plan(tx, new.tenant).await?.priority_matrix;
            let number = tickets::next_number(tx, new.tenant, INCIDENT).await?;
            let row = NewTicketRow {
                tenant: new.tenant,
                number,
                title: new.title,
                description: new.description,
                state: TicketState::New,
                impact: new.impact,
                urgency: new.urgency,
                priority: matrix.priority(new.impact, new.urgency),
                severity: Some(new.severity),
                source: "rule",
                rule_id: Some(new.rule_id),
                ci_id: Some(new.ci_id),
                site_id: None,
                requester: None,
                group_id: None,
                assignee: None,
                problem_started_at: Some(new.problem_started_at),
                opened_at: new.now,
            };
            match tickets::insert(tx, INCIDENT, &row).await? {
                Some(id) => Some((id, true)),
                None => incidents::open_incident_for(tx, new.rule_id, new.ci_id)
                    .await?
                    .map(|id| (id, false)),
            }
        }
    };
    let (id, opened_now) =
        opened.ok_or_else(|| StoreError::Conflict("incident could not be opened".into()))?;
    let mut changes = Recorder::new(incident(new.tenant, id), Actor::Rule, new.now);
    if !opened_now {
        changes
            .record(tx, ChangeKind::AlertFiring, new.evidence.clone())
            .await?;
        changes.finish(tx).await?;
        return Ok((id, false));
    }
    let ticket = changes.ticket();
    tickets::link_ci(tx, ticket, new.ci_id, "affected").await?;
    if new.computer_id != new.ci_id {
        tickets::link_ci(tx, ticket, new.computer_id, "computer").await?;
    }
    for service in alerts::dependent_business_services(tx, &[new.ci_id, new.computer_id]).await? {
        tickets::link_ci(tx, ticket, service, "business_service").await?;
    }
    let notice = json!({"source": "rule", "severity": new.severity});
    changes
        .record_with_notice(tx, ChangeKind::Opened, new.evidence.clone(), Some(notice))
        .await?;
    if let Some(old) = new.previous {
        incidents::set_previous(tx, id, old).await?;
        let number = incidents::number_of(tx, old).await?;
        let detail = json!({ "previous_incident": incident_number(number) });
        changes.record(tx, ChangeKind::Follows, detail).await?;
    }
    changes.finish(tx).await?;
    Ok((id, true))
}

/// Set an incident's severity and urgency, and so its priority (by the tenant's matrix).
async fn apply_severity(
    tx: &mut Tx<'_>,
    incident_id: i64,
    severity: &str,
    urgency: i64,
    now: i64,
) -> StoreResult<()> {
    let (impact, tenant) = incidents::impact_and_tenant(tx, incident_id).await?;
    let matrix = current_plan(tx, TenantId(tenant)).await?.priority_matrix;
    let priority = matrix.priority(impact, urgency);
    incidents::set_severity(tx, incident_id, severity, urgency, priority, now).await
}

/// Reopen the pair's resolved incident `incident_id` at `severity`, with the evidence on its
/// timeline; `false` if it was no longer resolved or another incident of the pair is open.
#[allow(clippy::too_many_arguments)]
pub async fn reopen_for_rule(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    rule_id: i64,
    ci_id: i64,
    incident_id: i64,
    severity: &str,
    urgency: i64,
    evidence: &Value,
    now: i64,
) -> StoreResult<bool> {
    if incidents::open_incident_for(tx, rule_id, ci_id)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let update = StateUpdate {
        expected: &[TicketState::Resolved],
        to: TicketState::New,
        hold_reason: None,
        reopen: true,
        now,
    };
    if !tickets::update_state(tx, INCIDENT, incident_id, &update).await? {
        return Ok(false);
    }
    let mut changes = Recorder::new(incident(tenant, incident_id), Actor::Rule, now);
    // Whoever was told "resolved" must hear that it is back (held if it is flapping).
    let notice = json!({"source": "rule", "reopened": true});
    changes
        .record_with_notice(tx, ChangeKind::Reopened, evidence.clone(), Some(notice))
        .await?;
    apply_severity(tx, incident_id, severity, urgency, now).await?;
    changes.record(tx, ChangeKind::Quiet, Value::Null).await?;
    changes.finish(tx).await?;
    Ok(true)
}

/// The alert's severity changed while its incident is open.
pub async fn change_severity(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    incident_id: i64,
    severity: &str,
    urgency: i64,
    detail: Value,
    now: i64,
) -> StoreResult<Vec<Change>> {
    apply_severity(tx, incident_id, severity, urgency, now).await?;
    let mut changes = Recorder::new(incident(tenant, incident_id), Actor::Rule, now);
    changes
        .record(tx, ChangeKind::SeverityChanged, detail)
        .await?;
    changes.finish(tx).await
}

/// Mark an incident flapping or settled. While it flaps its notifications are held: the ones
/// not yet sent when it starts, and every one queued meanwhile. When it settles they are
/// released, due at once, in their order.
pub async fn mark_flapping(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    incident_id: i64,
    flapping: bool,
    detail: Value,
    now: i64,
) -> StoreResult<Vec<Change>> {
    incidents::set_flapping(tx, incident_id, flapping, now).await?;
    let kind = if flapping {
        ChangeKind::FlappingStarted
    } else {
        ChangeKind::FlappingStopped
    };
    let mut changes = Recorder::new(incident(tenant, incident_id), Actor::Rule, now);
    changes.record(tx, kind, detail).await?;
    changes.finish(tx).await
}

/// The alert recovered: the evidence on the timeline and, when the rule says so, the incident
/// resolved (if it is still open).
pub async fn recover(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    incident_id: i64,
    auto_resolve: bool,
    evidence: Value,
    now: i64,
) -> StoreResult<Vec<Change>> {
    let mut changes = Recorder::new(incident(tenant, incident_id), Actor::Rule, now);
    changes
        .record(tx, ChangeKind::AlertRecovered, evidence.clone())
        .await?;
    if auto_resolve {
        resolve(tx, &mut changes, evidence, now).await?;
    }
    changes.finish(tx).await
}

/// Resolve an open incident by its rule or site, with `detail` on the timeline.
async fn resolve(
    tx: &mut Tx<'_>,
    changes: &mut Recorder,
    detail: Value,
    now: i64,
) -> StoreResult<()> {
    let open: Vec<TicketState> = open_states().collect();
    let update = StateUpdate {
        expected: &open,
        to: TicketState::Resolved,
        hold_reason: None,
        reopen: false,
        now,
    };
    if tickets::update_state(tx, INCIDENT, changes.ticket().id, &update).await? {
        let notice = json!({"note": "the rule recovered"});
        changes
            .record_with_notice(tx, ChangeKind::Resolved, detail, Some(notice))
            .await?;
    }
    Ok(())
}

/// Put the rule's or the site correlation's word on an incident's timeline.
pub async fn note(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    incident_id: i64,
    kind: ChangeKind,
    detail: Value,
    now: i64,
) -> StoreResult<Vec<Change>> {
    let mut changes = Recorder::new(incident(tenant, incident_id), Actor::Rule, now);
    changes.record(tx, kind, detail).await?;
    changes.finish(tx).await
}

/// A site incident about to be opened for a site outage.
pub struct SiteIncident<'a> {
    pub tenant: TenantId,
    pub site_id: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub problem_started_at: i64,
    pub now: i64,
}

/// A site incident inserted but not yet announced: its suppression must be in place first
/// ([`SiteOpening::announce`]), or it is taken back ([`SiteOpening::withdraw`]).
#[must_use]
pub struct SiteOpening {
    pub id: i64,
    pub number: i64,
    tenant: TenantId,
}

/// Insert the site incident; `None` when the site has one open already (another replica).
pub async fn insert_site_incident(
    tx: &mut Tx<'_>,
    new: &SiteIncident<'_>,
) -> StoreResult<Option<SiteOpening>> {
    let matrix = current_plan(tx, new.tenant).await?.priority_matrix;
    let number = tickets::next_number(tx, new.tenant, INCIDENT).await?;
    // Many people are affected (impact high); urgency medium until someone looks.
    let (impact, urgency) = (1, 2);
    let row = NewTicketRow {
        tenant: new.tenant,
        number,
        title: new.title,
        description: new.description,
        state: TicketState::New,
        impact,
        urgency,
        priority: matrix.priority(impact, urgency),
        severity: Some("critical"),
        source: "site",
        rule_id: None,
        ci_id: None,
        site_id: Some(new.site_id),
        requester: None,
        group_id: None,
        assignee: None,
        problem_started_at: Some(new.problem_started_at),
        opened_at: new.now,
    };
    Ok(tickets::insert(tx, INCIDENT, &row)
        .await?
        .map(|id| SiteOpening {
            id,
            number,
            tenant: new.tenant,
        }))
}

impl SiteOpening {
    /// The site incident stands: opened on its timeline, and notified.
    pub async fn announce(
        self,
        tx: &mut Tx<'_>,
        detail: Value,
        now: i64,
    ) -> StoreResult<Vec<Change>> {
        note(tx, self.tenant, self.id, ChangeKind::Opened, detail, now).await
    }

    /// Another replica's outage for the site is in force after all: the row goes.
    pub async fn withdraw(self, tx: &mut Tx<'_>) -> StoreResult<()> {
        tickets::delete(tx, INCIDENT, self.id).await
    }
}

/// The site incident's title follows the count of computers offline.
pub async fn retitle_site_incident(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    incident_id: i64,
    title: &str,
    now: i64,
) -> StoreResult<Vec<Change>> {
    incidents::set_title_if_open(tx, incident_id, title, now).await?;
    let mut changes = Recorder::new(incident(tenant, incident_id), Actor::Rule, now);
    changes.record(tx, ChangeKind::Quiet, Value::Null).await?;
    changes.finish(tx).await
}

/// The site is back: the evidence on the site incident's timeline, and the incident resolved.
pub async fn site_recovered(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    incident_id: i64,
    detail: Value,
    now: i64,
) -> StoreResult<Vec<Change>> {
    let mut changes = Recorder::new(incident(tenant, incident_id), Actor::Rule, now);
    changes
        .record(tx, ChangeKind::SiteRecovered, detail.clone())
        .await?;
    resolve(tx, &mut changes, detail, now).await?;
    changes.finish(tx).await
}
