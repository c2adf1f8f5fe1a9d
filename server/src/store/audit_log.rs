//! The rows of the audit log: appended inside the transaction of the change they describe, never
//! updated or deleted through the store. What an entry says is [`crate::audit`]'s.

use sqlx::AnyConnection;

use super::in_scope;
use super::{Store, StoreResult, TenantScope};

/// One entry as stored; `before` and `after` are JSON text.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub tenant_id: Option<i64>,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
}

/// Which entries to read: all of them within the scope, narrowed by each field that is set;
/// newest first, `limit` of them from before the entry `before_id` (paging).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_name: Option<String>,
    pub object_kind: Option<String>,
    pub object_id: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Append an entry on the caller's connection (inside the change's transaction); its id.
pub async fn append(conn: &mut AnyConnection, row: &AuditRow) -> StoreResult<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_log (at, tenant_id, actor_kind, actor_id, actor_name, action,
                                object_kind, object_id, before, after, request_id, client_address)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(row.at)
    .bind(row.tenant_id)
    .bind(&row.actor_kind)
    .bind(row.actor_id)
    .bind(&row.actor_name)
    .bind(&row.action)
    .bind(&row.object_kind)
    .bind(&row.object_id)
    .bind(&row.before)
    .bind(&row.after)
    .bind(&row.request_id)
    .bind(&row.client_address)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

impl Store {
    /// Entries within the scope (an MSP-wide entry, without a tenant, only in the `All` scope).
    pub async fn audit_entries(
        &self,
        scope: TenantScope,
        filter: &AuditFilter,
    ) -> StoreResult<Vec<AuditRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT id, at, tenant_id, actor_kind, actor_id, actor_name, action, object_kind,
                    object_id, before, after, request_id, client_address
               FROM audit_log
              WHERE {in_scope}
                AND (CAST($2 AS TEXT) IS NULL OR actor_name = $2)
                AND (CAST($3 AS TEXT) IS NULL OR object_kind = $3)
                AND (CAST($4 AS TEXT) IS NULL OR object_id = $4)
                AND (CAST($5 AS BIGINT) IS NULL OR at >= $5)
                AND (CAST($6 AS BIGINT) IS NULL OR at < $6)
                AND (CAST($7 AS BIGINT) IS NULL OR id < $7)
              ORDER BY id DESC
              LIMIT $8",
            in_scope = in_scope("tenant_id", 1)
        ))
        .bind(scope.filter())
        .bind(&filter.actor_name)
        .bind(&filter.object_kind)
        .bind(&filter.object_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.before_id)
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?)
    }
}
