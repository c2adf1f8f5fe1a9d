//! Support plans per tenant, kept as versions: saving a plan adds a version effective from then
//! on, and the SLA clocks of every ticket replay the versions in force during its life.

use serde::Serialize;
use sqlx::AnyConnection;

use super::{to_time, Store, StoreError, StoreResult, TenantId, Tx};
use crate::sla::history::PlanVersion;
use crate::sla::plan::SupportPlan;

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

type PlanRow = (i64, i64, String, String);

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
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT effective_at, document FROM support_plans WHERE tenant_id = $1
         ORDER BY effective_at, id",
    )
    .bind(tenant.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
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
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT document FROM support_plans WHERE tenant_id = $1
         ORDER BY effective_at DESC, id DESC LIMIT 1",
    )
    .bind(tenant.0)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some((document,)) => parse(&document),
        None => Ok(SupportPlan::default()),
    }
}

impl Store {
    pub async fn support_plan(&self, tenant: TenantId) -> StoreResult<SavedPlan> {
        let row: Option<PlanRow> = sqlx::query_as(
            "SELECT id, effective_at, document, created_by FROM support_plans WHERE tenant_id = $1
             ORDER BY effective_at DESC, id DESC LIMIT 1",
        )
        .bind(tenant.0)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => saved(row),
            None => Ok(SavedPlan {
                version: None,
                effective_at: None,
                created_by: None,
                plan: SupportPlan::default(),
            }),
        }
    }

    pub async fn support_plan_history(&self, tenant: TenantId) -> StoreResult<Vec<SavedPlan>> {
        let rows: Vec<PlanRow> = sqlx::query_as(
            "SELECT id, effective_at, document, created_by FROM support_plans WHERE tenant_id = $1
             ORDER BY effective_at DESC, id DESC",
        )
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(saved).collect()
    }
}

/// Add a plan version (its JSON document) effective at `now`; its id.
pub async fn insert_version(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    document: &str,
    actor: &str,
    now: i64,
) -> StoreResult<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO support_plans (tenant_id, effective_at, document, created_by, created_at)
         VALUES ($1, $2, $3, $4, $2) RETURNING id",
    )
    .bind(tenant.0)
    .bind(now)
    .bind(document)
    .bind(actor)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}
