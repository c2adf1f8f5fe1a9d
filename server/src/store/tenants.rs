//! Tenants (the MSP's customers) and their sites.

use serde::Serialize;

use super::in_scope;
use super::{now_ms, to_time, Store, StoreError, StoreResult, TenantId, TenantScope};

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub display_name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

type TenantRow = (i64, String, String, i64);

fn tenant_from_row((id, name, display_name, created_at): TenantRow) -> Tenant {
    Tenant {
        id: TenantId(id),
        name,
        display_name,
        created_at: to_time(created_at),
    }
}

/// A tenant name is used in URLs and filters: keep it to a short lowercase slug.
pub fn validate_tenant_name(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "tenant name {name:?} must be 1-63 characters of a-z, 0-9, '-' or '_'"
        )))
    }
}

impl Store {
    /// Create a tenant; `Ok(None)` when the name is taken.
    pub async fn create_tenant(
        &self,
        name: &str,
        display_name: &str,
    ) -> StoreResult<Option<Tenant>> {
        validate_tenant_name(name)?;
        let row: Option<TenantRow> = sqlx::query_as(
            "INSERT INTO tenants (name, display_name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING
             RETURNING id, name, display_name, created_at",
        )
        .bind(name)
        .bind(display_name)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(tenant_from_row))
    }

    pub async fn list_tenants(&self, scope: TenantScope) -> StoreResult<Vec<Tenant>> {
        let rows: Vec<TenantRow> = sqlx::query_as(&format!(
            "SELECT id, name, display_name, created_at FROM tenants
             WHERE {in_scope} ORDER BY id",
            in_scope = in_scope("id", 1)
        ))
        .bind(scope.filter())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(tenant_from_row).collect())
    }

    pub async fn tenant_by_name(&self, scope: TenantScope, name: &str) -> StoreResult<Tenant> {
        let row: Option<TenantRow> = sqlx::query_as(&format!(
            "SELECT id, name, display_name, created_at FROM tenants
             WHERE name = $1 AND {in_scope}",
            in_scope = in_scope("id", 2)
        ))
        .bind(name)
        .bind(scope.filter())
        .fetch_optional(self.pool())
        .await?;
        row.map(tenant_from_row).ok_or(StoreError::NotFound)
    }

    pub async fn tenant_by_id(&self, id: TenantId) -> StoreResult<Tenant> {
        let row: Option<TenantRow> =
            sqlx::query_as("SELECT id, name, display_name, created_at FROM tenants WHERE id = $1")
                .bind(id.0)
                .fetch_optional(self.pool())
                .await?;
        row.map(tenant_from_row).ok_or(StoreError::NotFound)
    }

    /// Create a site of a tenant, or return the existing one of that name.
    pub async fn ensure_site(&self, tenant: TenantId, name: &str) -> StoreResult<i64> {
        sqlx::query(
            "INSERT INTO sites (tenant_id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(name)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        let (id,): (i64,) =
            sqlx::query_as("SELECT id FROM sites WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.0)
                .bind(name)
                .fetch_one(self.pool())
                .await?;
        Ok(id)
    }
}
