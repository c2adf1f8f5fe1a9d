//! Queueing the daily digest: per tenant whose scheduled time (in the tenant's time zone, from
//! its support plan) has come, the summary read by [`crate::store::digests`] goes through the
//! outbox once per tenant and local date, however many replicas try.

use serde_json::json;

use crate::desk::plans;
use crate::store::digests::{digest_key, latest_occurrence};
use crate::store::{outbox, Store, StoreResult, TenantScope};

/// Queue today's digest of every tenant whose scheduled time (in the tenant's time zone)
/// has come, for each of its channels that wants digests. The key names the tenant and the
/// local date, so each is queued once per day across replicas. Returns how many messages
/// were queued.
pub async fn enqueue_digests(
    store: &Store,
    schedule: &cron::Schedule,
    now: i64,
) -> StoreResult<u64> {
    let mut queued = 0;
    for tenant in store.list_tenants(TenantScope::All).await? {
        let wants = store
            .list_channels(tenant.id)
            .await?
            .iter()
            .any(|c| c.events.iter().any(|e| e == "*" || e == "digest"));
        if !wants {
            continue;
        }
        let plan = plans::current(store, tenant.id).await?.plan;
        let tz: chrono_tz::Tz = plan.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let Some(occurrence) = latest_occurrence(schedule, tz, now) else {
            continue;
        };
        let date = occurrence.date_naive();
        let key = digest_key(tenant.id, date);
        if outbox::all_queued(store.pool(), tenant.id, "digest", &key).await? {
            continue;
        }
        let (summary, at_risk) = store.digest_summary(tenant.id, now).await?;
        let payload = json!({
            "event": "digest", "tenant_id": tenant.id, "date": date.to_string(),
            "tenant": {"id": tenant.id, "name": tenant.name,
                       "display_name": tenant.display_name},
            "summary": summary, "at_risk": at_risk,
        });
        let mut conn = store.pool().acquire().await?;
        queued += outbox::enqueue(&mut conn, tenant.id, "digest", &key, &payload, now).await?;
    }
    Ok(queued)
}
