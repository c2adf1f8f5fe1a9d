//! The offline sweep: computers that stopped reporting are evaluated against the
//! `computer.offline_seconds` rules even though no report arrives to trigger it. Sites are
//! looked at first: when many computers of one site went silent together, one site incident
//! stands for them (see [`crate::rules::site_outage`]) and their own offline alerts are
//! suppressed with the reason "site outage".

use std::collections::HashSet;

use crate::rules::metrics::OFFLINE_SECONDS;
use crate::rules::site_outage::SiteOutagePolicy;
use crate::store::site_outages::{self, Site};
use crate::store::{
    alerts, now_ms, rules as rule_store, Store, StoreResult, TenantId, TenantScope, Tx,
};

use super::alerts::{Engine, Subject};

/// One offline sweep, logged: the background job (see `crate::jobs`).
pub async fn offline_sweep_job(store: &Store, policy: &SiteOutagePolicy) {
    match offline_sweep_with(store, policy).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(incidents = n, "offline sweep opened incidents"),
        Err(e) => tracing::warn!(error = %e, "offline sweep failed"),
    }
}

/// [`offline_sweep_with`] the default site-outage policy.
pub async fn offline_sweep(store: &Store) -> StoreResult<usize> {
    offline_sweep_with(store, &SiteOutagePolicy::default()).await
}

/// Evaluate every tenant's possibly-offline computers once; returns incidents opened (site
/// incidents included).
pub async fn offline_sweep_with(store: &Store, policy: &SiteOutagePolicy) -> StoreResult<usize> {
    let now = now_ms();
    let mut opened = 0;
    // When this replica or any other was last behind on reports.
    let behind_at = super::lag::fleet_behind_since(store, 0).await?;
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
        let candidates = alerts::offline_candidates(&mut tx, tenant.id, seen_before).await?;
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
                let id = site_outages::open(tx, tenant, site, &cluster, now, expires_at).await?;
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
                site_outages::extend(
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
                site_outages::end(tx, tenant, &outage, &still, now).await?;
                Ok((false, 0))
            }
        }
    }
}
