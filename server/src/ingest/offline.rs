//! The offline sweep: computers that stopped reporting are evaluated against the
//! `computer.offline_seconds` rules even though no report arrives to trigger it.

use crate::rules::metrics::OFFLINE_SECONDS;
use crate::store::{alerts, now_ms, rules as rule_store, Store, StoreResult, TenantScope};

use super::alerts::{Engine, Subject};

/// Evaluate every tenant's possibly-offline computers once; returns incidents opened.
pub async fn offline_sweep(store: &Store) -> StoreResult<usize> {
    let now = now_ms();
    let mut opened = 0;
    for tenant in store.list_tenants(TenantScope::All).await? {
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
        let candidates = alerts::offline_candidates(&mut tx, tenant.id, seen_before).await?;
        for (computer_id, last_seen) in candidates {
            let (name,): (String,) =
                sqlx::query_as("SELECT name FROM configuration_items WHERE id = $1")
                    .bind(computer_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let mut engine =
                Engine::load(&mut tx, store.backend(), tenant.id, computer_id, now).await?;
            let subject = Subject {
                tenant: tenant.id,
                ci_id: computer_id,
                computer_id,
                description: format!("Computer {name}"),
            };
            let offline_secs = ((now - last_seen) as f64 / 1000.0).max(0.0);
            engine
                .observe(&mut tx, &subject, OFFLINE_SECONDS, offline_secs, now)
                .await?;
            opened += engine.incidents_opened;
        }
        tx.commit().await?;
    }
    Ok(opened)
}
