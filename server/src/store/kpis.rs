//! Desk KPIs read from the tickets, their timelines and clocks (see [`crate::desk::kpis`] for
//! the definitions): service levels, volume, backlog, incidents per CI class and per rule, and
//! satisfaction. Each report is a list of flat rows, so it reads as JSON and as CSV alike.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::satisfaction::kind_name;
use super::tickets::{open_states_sql, TicketKind};
use super::{Store, StoreResult, TenantId, TenantScope};
use crate::desk::clocks::replayed as replayed_clocks;
use crate::desk::kpis::{age_bucket, percent, round1, Mean, Period, AGE_BUCKETS};
use crate::desk::plans::plan_versions;
use crate::sla::clock::Status;
use crate::sla::history::PlanVersion;

/// Which tickets a report covers: a tenant scope, and opened (or rated) in `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct ReportRange {
    pub scope: TenantScope,
    pub from: i64,
    pub to: i64,
}

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

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CiClassRow {
    pub tenant: String,
    pub class: String,
    pub incidents: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuleRow {
    pub tenant: String,
    pub rule_id: i64,
    pub rule: String,
    pub incidents: i64,
    pub still_open: i64,
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

/// What one ticket contributes to the service levels.
type FactRow = (
    i64,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
);

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

impl Store {
    /// MTTA, MTTR (wall and business time), SLA compliance, first-contact resolution and reopen
    /// rate per tenant, ticket kind and priority, over tickets opened in the range.
    pub async fn service_levels(
        &self,
        range: &ReportRange,
        now: i64,
    ) -> StoreResult<Vec<ServiceLevelRow>> {
        let mut conn = self.pool().acquire().await?;
        let mut plans: HashMap<i64, Vec<PlanVersion>> = HashMap::new();
        let mut groups: BTreeMap<(String, &'static str, i64), Accumulator> = BTreeMap::new();
        for kind in KINDS {
            let rows: Vec<FactRow> = sqlx::query_as(&format!(
                "SELECT t.id, t.tenant_id, n.name, t.priority, t.opened_at, t.first_response_at,
                        t.resolved_at, t.reopen_count,
                        (SELECT COUNT(*) FROM {events} e WHERE e.{fk} = t.id
                            AND e.kind = 'escalated')
                   FROM {table} t JOIN tenants n ON n.id = t.tenant_id
                  WHERE (CAST($1 AS BIGINT) IS NULL OR t.tenant_id = $1)
                    AND t.opened_at >= $2 AND t.opened_at < $3 AND t.state <> 'cancelled'
                  ORDER BY t.id",
                events = kind.events(),
                fk = kind.fk(),
                table = kind.table(),
            ))
            .bind(range.scope.filter())
            .bind(range.from)
            .bind(range.to)
            .fetch_all(&mut *conn)
            .await?;
            for (
                id,
                tenant_id,
                tenant,
                priority,
                opened,
                responded,
                resolved,
                reopens,
                escalations,
            ) in rows
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
    pub async fn volume(&self, range: &ReportRange, period: Period) -> StoreResult<Vec<VolumeRow>> {
        let mut rows: BTreeMap<(String, String), VolumeRow> = BTreeMap::new();
        for kind in KINDS {
            let opened: Vec<(String, i64, String)> = sqlx::query_as(&format!(
                "SELECT n.name, t.opened_at, t.source FROM {} t JOIN tenants n ON n.id = t.tenant_id
                  WHERE (CAST($1 AS BIGINT) IS NULL OR t.tenant_id = $1)
                    AND t.opened_at >= $2 AND t.opened_at < $3",
                kind.table()
            ))
            .bind(range.scope.filter())
            .bind(range.from)
            .bind(range.to)
            .fetch_all(self.pool())
            .await?;
            for (tenant, at, source) in opened {
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
    pub async fn backlog(&self, scope: TenantScope, now: i64) -> StoreResult<Vec<BacklogRow>> {
        let open_states = open_states_sql();
        let mut rows: BTreeMap<(String, i64, usize), BacklogRow> = BTreeMap::new();
        for kind in KINDS {
            let open: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
                "SELECT n.name, t.priority, t.opened_at FROM {} t JOIN tenants n ON n.id = t.tenant_id
                  WHERE (CAST($1 AS BIGINT) IS NULL OR t.tenant_id = $1)
                    AND t.state IN {open_states}",
                kind.table()
            ))
            .bind(scope.filter())
            .fetch_all(self.pool())
            .await?;
            for (tenant, priority, opened) in open {
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

    /// Incidents opened in the range per class of the CIs they are linked to (an incident on a
    /// volume of a computer counts once for each class).
    pub async fn incidents_per_ci_class(
        &self,
        range: &ReportRange,
    ) -> StoreResult<Vec<CiClassRow>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT n.name, c.class, COUNT(DISTINCT i.id)
               FROM incidents i
               JOIN incident_cis l ON l.incident_id = i.id
               JOIN configuration_items c ON c.id = l.ci_id
               JOIN tenants n ON n.id = i.tenant_id
              WHERE (CAST($1 AS BIGINT) IS NULL OR i.tenant_id = $1)
                AND i.opened_at >= $2 AND i.opened_at < $3
              GROUP BY n.name, c.class
              ORDER BY n.name, COUNT(DISTINCT i.id) DESC, c.class",
        )
        .bind(range.scope.filter())
        .bind(range.from)
        .bind(range.to)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, class, incidents)| CiClassRow {
                tenant,
                class,
                incidents,
            })
            .collect())
    }

    /// Incidents opened by each rule in the range, and how many are still open.
    pub async fn incidents_per_rule(&self, range: &ReportRange) -> StoreResult<Vec<RuleRow>> {
        let open_states = open_states_sql();
        let rows: Vec<(String, i64, String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT n.name, r.id, r.name, COUNT(*),
                    COALESCE(SUM(CASE WHEN i.state IN {open_states} THEN 1 ELSE 0 END), 0)
               FROM incidents i
               JOIN rules r ON r.id = i.rule_id
               JOIN tenants n ON n.id = i.tenant_id
              WHERE (CAST($1 AS BIGINT) IS NULL OR i.tenant_id = $1)
                AND i.opened_at >= $2 AND i.opened_at < $3
              GROUP BY n.name, r.id, r.name
              ORDER BY n.name, COUNT(*) DESC, r.id"
        ))
        .bind(range.scope.filter())
        .bind(range.from)
        .bind(range.to)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, rule_id, rule, incidents, still_open)| RuleRow {
                tenant,
                rule_id,
                rule,
                incidents,
                still_open,
            })
            .collect())
    }

    /// Satisfaction ratings given in the range, per tenant: count, average and distribution.
    pub async fn satisfaction(&self, range: &ReportRange) -> StoreResult<Vec<SatisfactionRow>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT n.name, s.score, COUNT(*) FROM satisfaction_ratings s
               JOIN tenants n ON n.id = s.tenant_id
              WHERE (CAST($1 AS BIGINT) IS NULL OR s.tenant_id = $1)
                AND s.rated_at >= $2 AND s.rated_at < $3
              GROUP BY n.name, s.score ORDER BY n.name, s.score",
        )
        .bind(range.scope.filter())
        .bind(range.from)
        .bind(range.to)
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<SatisfactionRow> = Vec::new();
        for (tenant, score, count) in rows {
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
}
