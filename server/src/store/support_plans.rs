//! Support plan versions per tenant, as rows: saving a plan adds a version effective from then
//! on. The document is the plan as JSON; reading it as a plan (and replaying the versions in
//! force during a ticket's life) is the desk's, in [`crate::desk::plans`].

use sqlx::AnyConnection;

use super::{Store, StoreResult, TenantId, Tx};

/// A stored version: `(id, effective_at, document, created_by)`.
pub type PlanRow = (i64, i64, String, String);

/// Every version's `(effective_at, document)` of a tenant, in effect order.
pub async fn plan_documents(
    conn: &mut AnyConnection,
    tenant: TenantId,
) -> StoreResult<Vec<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT effective_at, document FROM support_plans WHERE tenant_id = $1
         ORDER BY effective_at, id",
    )
    .bind(tenant.0)
    .fetch_all(&mut *conn)
    .await?)
}

/// The document of the version in force now (the latest), if the tenant ever had a plan.
pub async fn current_document(
    conn: &mut AnyConnection,
    tenant: TenantId,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT document FROM support_plans WHERE tenant_id = $1
         ORDER BY effective_at DESC, id DESC LIMIT 1",
    )
    .bind(tenant.0)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(document,)| document))
}

impl Store {
    /// The latest version of a tenant's plan.
    pub async fn latest_plan_row(&self, tenant: TenantId) -> StoreResult<Option<PlanRow>> {
        Ok(sqlx::query_as(
            "SELECT id, effective_at, document, created_by FROM support_plans WHERE tenant_id = $1
             ORDER BY effective_at DESC, id DESC LIMIT 1",
        )
        .bind(tenant.0)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Every version of a tenant's plan, newest first.
    pub async fn plan_rows(&self, tenant: TenantId) -> StoreResult<Vec<PlanRow>> {
        Ok(sqlx::query_as(
            "SELECT id, effective_at, document, created_by FROM support_plans WHERE tenant_id = $1
             ORDER BY effective_at DESC, id DESC",
        )
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?)
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
