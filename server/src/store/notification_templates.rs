//! The rows of the tenants' own email templates, one per tenant and event (what they mean, and
//! the built-in defaults, are [`crate::notify::tenant_templates`]'s).

use super::{Store, StoreError, StoreResult, TenantId};

/// A tenant's own template for one event, as saved.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredTemplate {
    pub event: String,
    pub subject: String,
    pub body: String,
    pub updated_by: String,
    pub updated_at: i64,
}

impl Store {
    /// The tenant's own template for `event`, if it saved one.
    pub async fn stored_template(
        &self,
        tenant: TenantId,
        event: &str,
    ) -> StoreResult<Option<StoredTemplate>> {
        Ok(sqlx::query_as(
            "SELECT event, subject, body, updated_by, updated_at FROM notification_templates
              WHERE tenant_id = $1 AND event = $2",
        )
        .bind(tenant.0)
        .bind(event)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Every template the tenant saved.
    pub async fn stored_templates(&self, tenant: TenantId) -> StoreResult<Vec<StoredTemplate>> {
        Ok(sqlx::query_as(
            "SELECT event, subject, body, updated_by, updated_at FROM notification_templates
              WHERE tenant_id = $1",
        )
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?)
    }

    /// Insert or replace the tenant's template for its event.
    pub async fn upsert_template(
        &self,
        tenant: TenantId,
        template: &StoredTemplate,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notification_templates (tenant_id, event, subject, body, updated_by,
                                                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, event) DO UPDATE SET subject = excluded.subject,
                    body = excluded.body, updated_by = excluded.updated_by,
                    updated_at = excluded.updated_at",
        )
        .bind(tenant.0)
        .bind(&template.event)
        .bind(&template.subject)
        .bind(&template.body)
        .bind(&template.updated_by)
        .bind(template.updated_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Delete the tenant's template for `event`; `NotFound` when it had none.
    pub async fn delete_template(&self, tenant: TenantId, event: &str) -> StoreResult<()> {
        let done =
            sqlx::query("DELETE FROM notification_templates WHERE tenant_id = $1 AND event = $2")
                .bind(tenant.0)
                .bind(event)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
