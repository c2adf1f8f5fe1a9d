//! The offline sweep: computers that stopped reporting are evaluated against the
//! `computer.offline_seconds` rules even though no report arrives to trigger it. Sites are
//! looked at first: when many computers of one site went silent together, one site incident
//! stands for them (see [`crate::rules::site_outage`]) and their own offline alerts are
//! suppressed with the reason "site outage".

use std::collections::HashSet;

use serde_json::json;

use crate::desk::incidents::{self as desk_incidents, SiteIncident};
use crate::desk::ticket::incident_number;
use crate::desk::ChangeKind;
use crate::rules::metrics::OFFLINE_SECONDS;
use crate::rules::site_outage::SiteOutagePolicy;
use crate::store::site_outages::{self, Outage, Site};
use crate::store::tickets::{self, TicketKind, TicketRef};
use crate::store::{
    alerts, incidents, now_ms, rules as rule_store, to_time, Store, StoreResult, TenantId,
    TenantScope, Tx,
};

use super::engine::{Engine, Subject};
use crate::lag::Lag;

/// One offline sweep, logged: the background job (see `crate::jobs`).
pub async fn offline_sweep_job(store: &Store, lag: &Lag, policy: &SiteOutagePolicy) {
    match offline_sweep_with(store, lag, policy).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(incidents = n, "offline sweep opened incidents"),
        Err(e) => tracing::warn!(error = %e, "offline sweep failed"),
    }
}

/// [`offline_sweep_with`] the default site-outage policy.
pub async fn offline_sweep(store: &Store, lag: &Lag) -> StoreResult<usize> {
    offline_sweep_with(store, lag, &SiteOutagePolicy::default()).await
}

/// Evaluate every tenant's possibly-offline computers once; returns incidents opened (site
/// incidents included).
/// `lag` is this process's (see [`crate::lag`]).
pub async fn offline_sweep_with(
    store: &Store,
    lag: &Lag,
    policy: &SiteOutagePolicy,
) -> StoreResult<usize> {
    let now = now_ms();
    let mut opened = 0;
    // When this replica or any other was last behind on reports.
    let behind_at = crate::lag::fleet_behind_since(store, lag, 0).await?;
    for tenant in store.list_tenants(TenantScope::All).await? {
        // Reads, then writes, while reports keep arriving: the write lock first (on SQLite).
        let mut tx = store.begin().await?;
        let rules = rule_store::effective_rules(&mut tx, tenant.id).await?;
        let lowest = rules
            .iter()
            .filter(|r| r.metric == OFFLINE_SECONDS)
            .map(|r| {
                r.warning_level
                    .unwrap_or(r.critical_level)
                    .min(r.critical_level)
            })
            .reduce(f64::min);
        let Some(lowest) = lowest else {
            tx.rollback().await?;
            continue;
        };
        let seen_before = now - (lowest * 1000.0) as i64;
        // Reports queued at a replica within the rule's window: a silence may be ours, not the
        // computer's. Outages in force are still kept up (or ended); nothing new is declared.
        let behind = behind_at.filter(|at| *at >= seen_before);
        if let Some(at) = behind {
            tracing::warn!(
                tenant = %tenant.name,
                behind_secs_ago = (now - at) / 1000,
                window_secs = lowest,
                "offline verdicts held back: a replica of this server was behind on reports within the window"
            );
        }
        let verdicts = Verdicts {
            seen_before,
            now,
            open_new: behind.is_none(),
        };
        let mut deferred = HashSet::new();
        for site in site_outages::sites_of(&mut tx, tenant.id).await? {
            let (out, site_opened) =
                correlate(&mut tx, tenant.id, &site, &verdicts, policy).await?;
            opened += site_opened;
            if !out {
                deferred.extend(
                    site.computers
                        .iter()
                        .filter(|(_, seen)| *seen < seen_before)
                        .filter(|(_, seen)| policy.defer(*seen, &site.computers, seen_before))
                        .map(|(id, _)| *id),
                );
            }
        }
        if !verdicts.open_new {
            tx.commit().await?;
            continue;
        }
        let candidates =
            alerts::offline_candidates(&mut tx, tenant.id, seen_before, OFFLINE_SECONDS).await?;
        tx.commit().await?;
        for computer_id in candidates {
            if deferred.contains(&computer_id) {
                continue; // peers of its site are going silent too: the site check decides first
            }
            opened += evaluate_computer(store, tenant.id, computer_id, now).await?;
        }
    }
    Ok(opened)
}

/// One computer's offline rules, in a transaction of its own with its last report read again
/// inside it: a report that arrived since the candidates were listed wins, and no transaction
/// holds the tenant's incident counter for longer than one computer. (One transaction for the
/// whole tenant did: when a loaded server fell behind, thousands of offline incidents were
/// opened in it while every report that opened an incident waited on the counter.)
async fn evaluate_computer(
    store: &Store,
    tenant: TenantId,
    computer_id: i64,
    now: i64,
) -> StoreResult<usize> {
    let mut tx = store.begin().await?;
    let Some((name, last_seen)) = alerts::last_report_of(&mut tx, computer_id).await? else {
        tx.rollback().await?;
        return Ok(0);
    };
    let mut engine = Engine::load(&mut tx, store.backend(), tenant, computer_id, now).await?;
    let subject = Subject {
        tenant,
        ci_id: computer_id,
        computer_id,
        description: format!("Computer {name}"),
    };
    let offline_secs = ((now - last_seen) as f64 / 1000.0).max(0.0);
    engine
        .observe(&mut tx, &subject, OFFLINE_SECONDS, offline_secs, now)
        .await?;
    tx.commit().await?;
    Ok(engine.incidents_opened)
}

/// What one tenant's sweep may conclude.
struct Verdicts {
    /// Computers last seen before this (UTC ms) are silent.
    seen_before: i64,
    now: i64,
    /// Whether new outages and offline alerts may be declared (not while a replica is behind).
    open_new: bool,
}

/// Open, extend or end one site's outage. Returns whether an outage is in force afterwards and
/// how many incidents were opened.
async fn correlate(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    site: &Site,
    verdicts: &Verdicts,
    policy: &SiteOutagePolicy,
) -> StoreResult<(bool, usize)> {
    let Verdicts {
        seen_before, now, ..
    } = *verdicts;
    // The suppression lapses by itself if the sweeps stop renewing it.
    let expires_at = now + 2 * policy.window_ms().max(60_000);
    let offline: HashSet<i64> = site
        .computers
        .iter()
        .filter(|(_, seen)| *seen < seen_before)
        .map(|(id, _)| *id)
        .collect();
    match site_outages::outage_in_force(tx, site.id).await? {
        None if !verdicts.open_new => Ok((false, 0)),
        None => match policy.outage(&site.computers, seen_before) {
            Some(cluster) => {
                let id = open_outage(tx, tenant, site, &cluster, now, expires_at).await?;
                // Lost the race to another replica: its outage is in force all the same.
                Ok((true, usize::from(id.is_some())))
            }
            None => Ok((false, 0)),
        },
        Some(outage) => {
            let attached = site_outages::attached(tx, outage.incident_id).await?;
            let still: Vec<i64> = attached
                .iter()
                .copied()
                .filter(|id| offline.contains(id))
                .collect();
            if policy.is_outage(still.len(), site.computers.len()) {
                // Computers going silent during the outage belong to it; ones that died long
                // before it keep their own incidents. While a replica is behind, a new silence
                // may be the server's queue: it joins nothing (the next sweep decides).
                let newly: Vec<i64> = site
                    .computers
                    .iter()
                    .filter(|(id, seen)| {
                        verdicts.open_new
                            && offline.contains(id)
                            && !attached.contains(id)
                            && *seen >= outage.started_at - policy.window_ms()
                    })
                    .map(|(id, _)| *id)
                    .collect();
                extend_outage(
                    tx,
                    tenant,
                    site,
                    &outage,
                    &newly,
                    still.len(),
                    now,
                    expires_at,
                )
                .await?;
                Ok((true, 0))
            } else {
                end_outage(tx, tenant, &outage, &still, now).await?;
                Ok((false, 0))
            }
        }
    }
}

/// Who opens and ends site outages, as the suppression's audit trail names it.
pub const AUTHOR: &str = "system:site-correlation";

fn title(site: &Site, offline: usize) -> String {
    format!(
        "Site {}: {offline} of {} computers offline — likely network or power",
        site.name,
        site.computers.len()
    )
}

fn human_window(site: &Site, cluster: &[i64]) -> String {
    let seen: Vec<i64> = site
        .computers
        .iter()
        .filter(|(id, _)| cluster.contains(id))
        .map(|(_, s)| *s)
        .collect();
    let spread = seen.iter().max().unwrap_or(&0) - seen.iter().min().unwrap_or(&0);
    format!("{} s", spread / 1000)
}

/// Open the site incident and its suppression for the computers in `cluster`. Returns the
/// incident, or `None` when another replica opened this site's outage first.
async fn open_outage(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    site: &Site,
    cluster: &[i64],
    now: i64,
    expires_at: i64,
) -> StoreResult<Option<i64>> {
    let started_at = site
        .computers
        .iter()
        .filter(|(id, _)| cluster.contains(id))
        .map(|(_, seen)| *seen)
        .min()
        .unwrap_or(now);
    let description = format!(
        "{} of the {} computers of site {} stopped reporting within {} of each other. One \
         incident stands for all of them; their own offline alerts are suppressed until the site \
         is back. Check the site's network link and power first.",
        cluster.len(),
        site.computers.len(),
        site.name,
        human_window(site, cluster)
    );
    let new = SiteIncident {
        tenant,
        site_id: site.id,
        title: &title(site, cluster.len()),
        description: &description,
        problem_started_at: started_at,
        now,
    };
    let Some(opening) = desk_incidents::insert_site_incident(tx, &new).await? else {
        return Ok(None);
    };
    let reason = format!(
        "site outage: {} of {} computers of site {} offline ({})",
        cluster.len(),
        site.computers.len(),
        site.name,
        incident_number(opening.number)
    );
    let (id, number) = (opening.id, opening.number);
    let suppressed =
        site_outages::insert_suppression(tx, tenant, &reason, AUTHOR, now, expires_at, site.id, id)
            .await?;
    if !suppressed {
        // Another replica's outage for this site is in force after all: leave it to that one.
        opening.withdraw(tx).await?;
        return Ok(None);
    }
    let detail = json!({"source": "site", "severity": "critical", "site": site.name,
                        "offline": cluster.len(), "computers": site.computers.len(),
                        "problem_started_at": to_time(started_at)});
    opening.announce(tx, detail, now).await?;
    attach(tx, tenant, id, number, cluster, now).await?;
    Ok(Some(id))
}

/// Link computers to the site incident. A computer whose own offline incident opened before the
/// outage was recognised keeps it, with a pointer to the site incident on both timelines.
async fn attach(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    site_incident: i64,
    site_number: i64,
    computers: &[i64],
    now: i64,
) -> StoreResult<()> {
    let site_ticket = TicketRef {
        kind: TicketKind::Incident,
        tenant,
        id: site_incident,
    };
    for &computer in computers {
        tickets::link_ci(tx, site_ticket, computer, "computer").await?;
        let own = incidents::open_of_ci_for_metric(tx, computer, OFFLINE_SECONDS).await?;
        for (id, number) in own {
            let detail = json!({"site_incident": incident_number(site_number)});
            desk_incidents::note(tx, tenant, id, ChangeKind::SiteOutage, detail, now).await?;
            let detail = json!({"incident": incident_number(number), "computer_id": computer});
            let correlated = ChangeKind::Correlated;
            desk_incidents::note(tx, tenant, site_incident, correlated, detail, now).await?;
        }
    }
    Ok(())
}

/// The outage goes on: attach computers that went offline since, keep the title's count
/// current and push the suppression's expiry forward (it lapses by itself if sweeps stop).
#[allow(clippy::too_many_arguments)]
async fn extend_outage(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    site: &Site,
    outage: &Outage,
    newly_offline: &[i64],
    still_offline: usize,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    site_outages::extend_suppression(tx, outage.suppression_id, expires_at).await?;
    if newly_offline.is_empty() {
        return Ok(());
    }
    let number = incidents::number_of(tx, outage.incident_id).await?;
    attach(tx, tenant, outage.incident_id, number, newly_offline, now).await?;
    let offline = still_offline + newly_offline.len();
    let title = title(site, offline);
    desk_incidents::retitle_site_incident(tx, tenant, outage.incident_id, &title, now).await?;
    let detail = json!({"computer_ids": newly_offline, "offline": offline});
    let attached = ChangeKind::ComputersAttached;
    desk_incidents::note(tx, tenant, outage.incident_id, attached, detail, now).await?;
    Ok(())
}

/// The site is back: the suppression ends (kept, with its end time, as the audit trail) and
/// the site incident resolves. Computers still offline are named on the timeline; the offline
/// sweep opens their own incidents now that nothing suppresses them.
async fn end_outage(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    outage: &Outage,
    still_offline: &[i64],
    now: i64,
) -> StoreResult<()> {
    site_outages::end_suppression(tx, outage.suppression_id, now).await?;
    let detail = json!({"still_offline": still_offline, "note": "the site is reporting again"});
    desk_incidents::site_recovered(tx, tenant, outage.incident_id, detail, now).await?;
    Ok(())
}
