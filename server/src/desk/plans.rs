//! Saving a tenant's support plan: a new version effective from now on, and the stored SLA
//! risk instants of the tenant's open tickets brought up to date with it.

use super::clocks;
use crate::sla::plan::SupportPlan;
use crate::store::support_plans::{insert_version, SavedPlan};
use crate::store::{to_time, Store, StoreError, StoreResult, TenantId};

pub async fn save(
    store: &Store,
    tenant: TenantId,
    plan: &SupportPlan,
    actor: &str,
    now: i64,
) -> StoreResult<SavedPlan> {
    plan.validate().map_err(StoreError::Invalid)?;
    let document = serde_json::to_string(plan)
        .map_err(|e| StoreError::Invalid(format!("support plan: {e}")))?;
    let mut tx = store.begin().await?;
    let id = insert_version(&mut tx, tenant, &document, actor, now).await?;
    clocks::refresh_open_tickets(&mut tx, tenant, now).await?;
    tx.commit().await?;
    Ok(SavedPlan {
        version: Some(id),
        effective_at: Some(to_time(now)),
        created_by: Some(actor.to_string()),
        plan: plan.clone(),
    })
}
