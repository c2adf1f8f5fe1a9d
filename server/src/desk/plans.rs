//! Support plans per tenant, kept as versions: saving a plan adds a version effective from then
//! on, the SLA clocks of every ticket replay the versions in force during its life, and the
//! stored SLA risk instants of the tenant's open tickets are brought up to date at once.

use serde::Serialize;
use sqlx::AnyConnection;

use super::clocks;
use crate::sla::history::PlanVersion;
use crate::sla::plan::SupportPlan;
use crate::store::support_plans::{current_document, insert_version, plan_documents, PlanRow};
use crate::store::{to_time, Store, StoreError, StoreResult, TenantId};

/// A saved version, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct SavedPlan {
    /// `None` for a tenant that never had a plan (the default: on demand, no SLA).
    pub version: Option<i64>,
    pub effective_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_by: Option<String>,
    #[serde(flatten)]
    pub plan: SupportPlan,
}

fn saved(row: PlanRow) -> StoreResult<SavedPlan> {
    let (id, effective_at, document, created_by) = row;
    Ok(SavedPlan {
        version: Some(id),
        effective_at: Some(to_time(effective_at)),
        created_by: Some(created_by),
        plan: parse(&document)?,
    })
}

fn parse(document: &str) -> StoreResult<SupportPlan> {
    serde_json::from_str(document)
        .map_err(|e| StoreError::Invalid(format!("stored support plan is unreadable: {e}")))
}

/// Every version of a tenant's plan, in effect order.
pub async fn plan_versions(
    conn: &mut AnyConnection,
    tenant: TenantId,
) -> StoreResult<Vec<PlanVersion>> {
    plan_documents(conn, tenant)
        .await?
        .into_iter()
        .map(|(effective_at, document)| {
            Ok(PlanVersion {
                effective_at,
                plan: parse(&document)?,
            })
        })
        .collect()
}

/// The plan in force now (the latest version), or the default.
pub async fn current_plan(conn: &mut AnyConnection, tenant: TenantId) -> StoreResult<SupportPlan> {
    match current_document(conn, tenant).await? {
        Some(document) => parse(&document),
        None => Ok(SupportPlan::default()),
    }
}

/// The tenant's plan as saved (or the default, unversioned).
pub async fn current(store: &Store, tenant: TenantId) -> StoreResult<SavedPlan> {
    match store.latest_plan_row(tenant).await? {
        Some(row) => saved(row),
        None => Ok(SavedPlan {
            version: None,
            effective_at: None,
            created_by: None,
            plan: SupportPlan::default(),
        }),
    }
}

/// Every saved version, newest first.
pub async fn history(store: &Store, tenant: TenantId) -> StoreResult<Vec<SavedPlan>> {
    store
        .plan_rows(tenant)
        .await?
        .into_iter()
        .map(saved)
        .collect()
}

/// Save a new version effective at `now`, and bring the SLA risk columns of the tenant's
/// open tickets up to date with it.
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
