//! The desk's KPI reports, from the rows the store reads ([`crate::store::kpis`]): service levels
//! (with each ticket's SLA clocks replayed), volume, backlog and satisfaction. Each report is a
//! list of flat rows, so it reads as JSON and as CSV alike.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{age_bucket, percent, round1, Mean, Period, AGE_BUCKETS};
use crate::desk::clocks::replayed as replayed_clocks;
use crate::desk::plans::plan_versions;
use crate::sla::clock::Status;
use crate::sla::history::PlanVersion;
use crate::store::kpis::{ticket_facts, ReportRange, TicketFacts};
use crate::store::satisfaction::kind_name;
use crate::store::tickets::TicketKind;
use crate::store::{Store, StoreResult, TenantId, TenantScope};

const KINDS: [TicketKind; 2] = [TicketKind::Incident, TicketKind::ServiceRequest];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceLevelRow {
    pub tenant: String,
    pub kind: &'static str,
    pub priority: i64,
    pub tickets: i64,
    pub responded: i64,
    pub resolved: i64,
    pub mtta_minutes: Option<f64>,
    pub mtta_business_minutes: Option<f64>,
    pub mttr_minutes: Option<f64>,
    pub mttr_business_minutes: Option<f64>,
    /// Tickets whose SLA outcome is known.
    pub sla_measured: i64,
    pub sla_met: i64,
    pub sla_compliance_percent: Option<f64>,
    pub first_contact_resolution_percent: Option<f64>,
    pub reopen_rate_percent: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VolumeRow {
    pub period: String,
    pub tenant: String,
    /// Incidents opened by rules (auto-created).
    pub incidents_auto: i64,
    /// Incidents opened by people.
    pub incidents_manual: i64,
    pub requests: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BacklogRow {
    pub tenant: String,
    pub priority: i64,
    pub age: &'static str,
    pub incidents: i64,
    pub requests: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SatisfactionRow {
    pub tenant: String,
    pub ratings: i64,
    pub average: Option<f64>,
    pub score_1: i64,
    pub score_2: i64,
    pub score_3: i64,
    pub score_4: i64,
    pub score_5: i64,
}

#[derive(Default)]
struct Accumulator {
    tickets: i64,
    mtta: Mean,
    mtta_business: Mean,
    mttr: Mean,
    mttr_business: Mean,
    measured: i64,
    met: i64,
    resolved: i64,
    first_contact: i64,
    ever_resolved: i64,
    reopened: i64,
}

/// MTTA, MTTR (wall and business time), SLA compliance, first-contact resolution and reopen
/// rate per tenant, ticket kind and priority, over tickets opened in the range.
pub async fn service_levels(
    store: &Store,
    range: &ReportRange,
    now: i64,
) -> StoreResult<Vec<ServiceLevelRow>> {
    let mut conn = store.pool().acquire().await?;
    let mut plans: HashMap<i64, Vec<PlanVersion>> = HashMap::new();
    let mut groups: BTreeMap<(String, &'static str, i64), Accumulator> = BTreeMap::new();
    for kind in KINDS {
        for TicketFacts {
            id,
            tenant_id,
            tenant,
            priority,
            opened_at: opened,
            first_response_at: responded,
            resolved_at: resolved,
            reopen_count: reopens,
            escalations,
        } in ticket_facts(&mut conn, kind, range).await?
        {
            if let Entry::Vacant(slot) = plans.entry(tenant_id) {
                slot.insert(plan_versions(&mut conn, TenantId(tenant_id)).await?);
            }
            let versions = plans.get(&tenant_id).map_or(&[][..], Vec::as_slice);
            let clocks = replayed_clocks(&mut conn, kind, id, versions, now).await?;
            let group = groups
                .entry((tenant, kind_name(kind), priority))
                .or_default();
            group.tickets += 1;
            if let Some(at) = responded {
                group.mtta.add(at - opened);
                if clocks.response.status != Status::NoSla {
                    group.mtta_business.add(clocks.response.elapsed_ms);
                }
            }
            if let Some(at) = resolved {
                group.resolved += 1;
                group.mttr.add(at - opened);
                if clocks.resolution.status != Status::NoSla {
                    group.mttr_business.add(clocks.resolution.elapsed_ms);
                }
                if escalations == 0 && reopens == 0 {
                    group.first_contact += 1;
                }
            }
            if resolved.is_some() || reopens > 0 {
                group.ever_resolved += 1;
                if reopens > 0 {
                    group.reopened += 1;
                }
            }
            let breached = clocks.worst() == Status::Breached;
            let has_sla = clocks.resolution.status != Status::NoSla;
            if has_sla && (breached || resolved.is_some()) {
                group.measured += 1;
                if !breached {
                    group.met += 1;
                }
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|((tenant, kind, priority), g)| ServiceLevelRow {
            tenant,
            kind,
            priority,
            tickets: g.tickets,
            responded: g.mtta.count(),
            resolved: g.resolved,
            mtta_minutes: g.mtta.minutes(),
            mtta_business_minutes: g.mtta_business.minutes(),
            mttr_minutes: g.mttr.minutes(),
            mttr_business_minutes: g.mttr_business.minutes(),
            sla_measured: g.measured,
            sla_met: g.met,
            sla_compliance_percent: percent(g.met, g.measured),
            first_contact_resolution_percent: percent(g.first_contact, g.resolved),
            reopen_rate_percent: percent(g.reopened, g.ever_resolved),
        })
        .collect())
}

/// Tickets opened per period and tenant: incidents from rules, incidents by people, and
/// service requests.
pub async fn volume(
    store: &Store,
    range: &ReportRange,
    period: Period,
) -> StoreResult<Vec<VolumeRow>> {
    let mut rows: BTreeMap<(String, String), VolumeRow> = BTreeMap::new();
    for kind in KINDS {
        for opened in store.opened_tickets(kind, range).await? {
            let (tenant, at, source) = (opened.tenant, opened.opened_at, opened.source);
            let start = period.start(at).to_string();
            let row = rows
                .entry((start.clone(), tenant.clone()))
                .or_insert_with(|| VolumeRow {
                    period: start,
                    tenant,
                    incidents_auto: 0,
                    incidents_manual: 0,
                    requests: 0,
                });
            match (kind, source.as_str()) {
                (TicketKind::ServiceRequest, _) => row.requests += 1,
                (TicketKind::Incident, "manual") => row.incidents_manual += 1,
                (TicketKind::Incident, _) => row.incidents_auto += 1,
            }
        }
    }
    Ok(rows.into_values().collect())
}

/// Open tickets now, by tenant, priority and age.
pub async fn backlog(store: &Store, scope: TenantScope, now: i64) -> StoreResult<Vec<BacklogRow>> {
    let mut rows: BTreeMap<(String, i64, usize), BacklogRow> = BTreeMap::new();
    for kind in KINDS {
        for open in store.open_tickets(kind, scope).await? {
            let (tenant, priority, opened) = (open.tenant, open.priority, open.opened_at);
            let age = age_bucket(now - opened);
            let order = AGE_BUCKETS.iter().position(|b| *b == age).unwrap_or(0);
            let row = rows
                .entry((tenant.clone(), priority, order))
                .or_insert_with(|| BacklogRow {
                    tenant,
                    priority,
                    age,
                    incidents: 0,
                    requests: 0,
                });
            match kind {
                TicketKind::Incident => row.incidents += 1,
                TicketKind::ServiceRequest => row.requests += 1,
            }
        }
    }
    Ok(rows.into_values().collect())
}

/// Satisfaction ratings given in the range, per tenant: count, average and distribution.
pub async fn satisfaction(store: &Store, range: &ReportRange) -> StoreResult<Vec<SatisfactionRow>> {
    let mut out: Vec<SatisfactionRow> = Vec::new();
    for rating in store.rating_counts(range).await? {
        let (tenant, score, count) = (rating.tenant, rating.score, rating.count);
        if out.last().is_none_or(|r| r.tenant != tenant) {
            out.push(SatisfactionRow {
                tenant,
                ratings: 0,
                average: None,
                score_1: 0,
                score_2: 0,
                score_3: 0,
                score_4: 0,
                score_5: 0,
            });
        }
        let Some(row) = out.last_mut() else { continue };
        row.ratings += count;
        let total = row.average.unwrap_or(0.0) * (row.ratings - count) as f64;
        row.average = Some((total + (score * count) as f64) / row.ratings as f64);
        match score {
            1 => row.score_1 += count,
            2 => row.score_2 += count,
            3 => row.score_3 += count,
            4 => row.score_4 += count,
            _ => row.score_5 += count,
        }
    }
    for row in &mut out {
        row.average = row.average.map(round1);
    }
    Ok(out)
}
