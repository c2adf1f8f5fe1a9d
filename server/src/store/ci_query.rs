//! Listing CIs with filters and the asset query language, and saved queries per tenant.

use serde::Serialize;

use super::cis::{ci_from_row, CiRow, ConfigurationItem, CI_COLUMNS};
use super::in_scope;
use super::{now_ms, to_time, Store, StoreError, StoreResult, TenantId, TenantScope};
use crate::ci::query::{self, order_by, Bind, Expr, QueryError, Sort};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct CiQuery {
    pub class: Option<String>,
    pub computer_id: Option<i64>,
    pub filter: Option<Expr>,
    pub sort: Option<Sort>,
    /// Retired CIs are hidden unless asked for (or the filter names `status`).
    pub include_retired: bool,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CiQueryError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Serialize)]
pub struct SavedQuery {
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
    pub query: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Bind a compiled query's values, in order.
pub(crate) fn bind_all<'q, O>(
    mut q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Bind>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        q = match bind {
            Bind::Int(i) => q.bind(i),
            Bind::Float(f) => q.bind(f),
            Bind::Text(t) => q.bind(t),
        };
    }
    q
}

impl Store {
    /// List CIs in a scope. The filter is compiled to SQL with every value bound.
    pub async fn query_cis(
        &self,
        scope: TenantScope,
        request: &CiQuery,
    ) -> Result<Vec<ConfigurationItem>, CiQueryError> {
        let columns: Vec<String> = CI_COLUMNS
            .split(',')
            .map(|c| format!("c.{}", c.trim()))
            .collect();
        let (sql, binds) = self.ci_query_statement(scope, request, &columns.join(", "))?;
        let rows = bind_all(sqlx::query_as::<_, CiRow>(&sql), binds)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(ci_from_row).collect())
    }

    /// The statement [`Store::query_cis`] runs, selecting `columns` (of `c`), and its values;
    /// public so that benchmarks can show its plan.
    pub fn ci_query_statement(
        &self,
        scope: TenantScope,
        request: &CiQuery,
        columns: &str,
    ) -> Result<(String, Vec<Bind>), CiQueryError> {
        // Only the conditions that apply: `(CAST($n AS …) IS NULL OR …)` forms keep SQLite from
        // using an index and PostgreSQL too once it switches to a generic plan.
        let mut sql = format!("SELECT {columns} FROM configuration_items c WHERE TRUE");
        let mut binds = Vec::new();
        let condition = |sql: &mut String, binds: &mut Vec<Bind>, text: &str, value: Bind| {
            binds.push(value);
            sql.push_str(&format!(" AND {text} ${}", binds.len()));
        };
        match scope {
            TenantScope::All => {}
            TenantScope::Tenant(tenant) => {
                condition(&mut sql, &mut binds, "c.tenant_id =", Bind::Int(tenant.0));
            }
            TenantScope::Members(user) => {
                binds.push(Bind::Int(user));
                sql.push_str(&format!(
                    " AND c.tenant_id IN (SELECT m.tenant_id FROM tenant_memberships m \
                     WHERE m.user_id = ${})",
                    binds.len()
                ));
            }
        }
        if let Some(class) = &request.class {
            condition(&mut sql, &mut binds, "c.class =", Bind::Text(class.clone()));
        }
        if let Some(computer) = request.computer_id {
            condition(&mut sql, &mut binds, "c.computer_id =", Bind::Int(computer));
        }
        let mentions_status = request
            .filter
            .as_ref()
            .is_some_and(|f| f.mentions("status"));
        if !request.include_retired && !mentions_status {
            sql.push_str(" AND c.status <> 'retired'");
        }
        if let Some(filter) = &request.filter {
            let compiled = query::compile(filter, self.backend().dialect(), binds.len() + 1)?;
            sql.push_str(&format!(" AND ({})", compiled.sql));
            binds.extend(compiled.binds);
        }
        let (order, order_binds) = order_by(
            request.sort.as_ref(),
            self.backend().dialect(),
            binds.len() + 1,
        );
        binds.extend(order_binds);
        let limit_at = binds.len() + 1;
        sql.push_str(&format!(
            " ORDER BY {order} LIMIT ${limit_at} OFFSET ${}",
            limit_at + 1
        ));
        binds.push(Bind::Int(request.limit));
        binds.push(Bind::Int(request.offset));
        Ok((sql, binds))
    }

    pub async fn save_query(
        &self,
        tenant: TenantId,
        name: &str,
        text: &str,
    ) -> Result<SavedQuery, CiQueryError> {
        query::parse(text)?;
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::Invalid("name must be 1-100 characters".into()).into());
        }
        let row: (i64, i64, String, String, i64) = sqlx::query_as(
            "INSERT INTO saved_queries (tenant_id, name, query, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id, tenant_id, name, query, created_at",
        )
        .bind(tenant.0)
        .bind(name)
        .bind(text)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "a saved query with this name exists"))?;
        Ok(saved_from_row(row))
    }

    pub async fn list_saved_queries(&self, scope: TenantScope) -> StoreResult<Vec<SavedQuery>> {
        let rows: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(&format!(
            "SELECT id, tenant_id, name, query, created_at FROM saved_queries
             WHERE {in_scope} ORDER BY tenant_id, name",
            in_scope = in_scope("tenant_id", 1)
        ))
        .bind(scope.filter())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(saved_from_row).collect())
    }

    pub async fn saved_query(&self, tenant: TenantId, name: &str) -> StoreResult<SavedQuery> {
        let row: Option<(i64, i64, String, String, i64)> = sqlx::query_as(
            "SELECT id, tenant_id, name, query, created_at FROM saved_queries WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant.0)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.map(saved_from_row).ok_or(StoreError::NotFound)
    }

    pub async fn delete_saved_query(&self, scope: TenantScope, id: i64) -> StoreResult<()> {
        let done = sqlx::query(&format!(
            "DELETE FROM saved_queries WHERE id = $1 AND {in_scope}",
            in_scope = in_scope("tenant_id", 2)
        ))
        .bind(id)
        .bind(scope.filter())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

fn saved_from_row(
    (id, tenant, name, query, created_at): (i64, i64, String, String, i64),
) -> SavedQuery {
    SavedQuery {
        id,
        tenant_id: TenantId(tenant),
        name,
        query,
        created_at: to_time(created_at),
    }
}
