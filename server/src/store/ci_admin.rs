//! What people do to the CMDB: read a CI's history or its state at a past time, lock fields,
//! create business services, add and remove relations, retire CIs, review clashes; and the
//! lifecycle sweep that marks unreported CIs stale.

use serde::Serialize;
use serde_json::{Map, Value};

use super::cis::json_text;
use super::cis::tx::{self as ci_tx, Change};
use super::cis::ConfigurationItem;
use super::in_scope;
use super::{now_ms, to_time, to_time_opt, Store, StoreError, StoreResult, TenantId, TenantScope};
use crate::ci::{class, relation};

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub field: String,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldLock {
    pub field: String,
    pub value: Value,
    /// What the agent last reported for this field, kept while it is locked.
    pub agent_value: Option<Value>,
    pub locked_by: String,
    pub locked_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub id: i64,
    pub tenant_id: TenantId,
    pub ci_id: i64,
    pub other_ci_id: Option<i64>,
    pub kind: String,
    pub detail: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn parse(text: Option<String>) -> Option<Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// Attribute names people may set: identifiers the CMDB itself relies on stay agent-owned.
fn check_field(field: &str) -> StoreResult<()> {
    let ok = !field.is_empty()
        && field.len() <= 64
        && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "attribute name {field:?} must be letters, digits or '_'"
        )))
    }
}

impl Store {
    pub async fn ci_history(
        &self,
        scope: TenantScope,
        ci_id: i64,
    ) -> StoreResult<Vec<HistoryEntry>> {
        self.get_ci(scope, ci_id).await?;
        type HistoryRow = (i64, String, Option<String>, Option<String>, String);
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "SELECT at, field, old_value, new_value, source FROM ci_history WHERE ci_id = $1 ORDER BY at, id",
        )
        .bind(ci_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, field, old, new, source)| HistoryEntry {
                at: to_time(at),
                field,
                old_value: parse(old),
                new_value: parse(new),
                source,
            })
            .collect())
    }

    /// The CI as it was at `at`: today's record with every later change undone, newest first.
    pub async fn ci_as_of(
        &self,
        scope: TenantScope,
        ci_id: i64,
        at: i64,
    ) -> StoreResult<ConfigurationItem> {
        let mut ci = self.get_ci(scope, ci_id).await?;
        if ci.first_seen_at.timestamp_millis() > at {
            return Err(StoreError::NotFound);
        }
        let later: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT field, old_value FROM ci_history WHERE ci_id = $1 AND at > $2 ORDER BY at DESC, id DESC",
        )
        .bind(ci_id)
        .bind(at)
        .fetch_all(self.pool())
        .await?;
        let mut attributes = match ci.attributes.take() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        for (field, old) in later {
            let old = parse(old);
            if let Some(key) = field.strip_prefix("attributes.") {
                match old {
                    Some(v) => attributes.insert(key.to_string(), v),
                    None => attributes.remove(key),
                };
            } else if field == "name" {
                if let Some(Value::String(name)) = old {
                    ci.name = name;
                }
            } else if field == "status" {
                if let Some(Value::String(status)) = old {
                    ci.status = status;
                }
            }
        }
        ci.attributes = Value::Object(attributes);
        // Measurements are not versioned: they describe now, not then.
        ci.metrics = Value::Null;
        Ok(ci)
    }

    pub async fn ci_locks(&self, ci_id: i64) -> StoreResult<Vec<FieldLock>> {
        let rows: Vec<(String, String, Option<String>, String, i64)> = sqlx::query_as(
            "SELECT field, value, agent_value, locked_by, locked_at FROM ci_locks WHERE ci_id = $1 ORDER BY field",
        )
        .bind(ci_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(field, value, agent_value, locked_by, locked_at)| FieldLock {
                    field,
                    value: parse(Some(value)).unwrap_or(Value::Null),
                    agent_value: parse(agent_value),
                    locked_by,
                    locked_at: to_time(locked_at),
                },
            )
            .collect())
    }

    /// Set attributes by hand: each becomes locked against agent overwrite.
    pub async fn edit_ci(
        &self,
        scope: TenantScope,
        ci_id: i64,
        edits: &Map<String, Value>,
        who: &str,
    ) -> StoreResult<ConfigurationItem> {
        for field in edits.keys() {
            check_field(field)?;
        }
        let ci = self.get_ci(scope, ci_id).await?;
        let now = now_ms();
        let mut tx = self.begin().await?;
        let stored = ci_tx::load(&mut tx, ci_id).await?;
        let mut attributes: Map<String, Value> =
            serde_json::from_str(&stored.attributes).unwrap_or_default();
        for (key, value) in edits {
            let field = format!("attributes.{key}");
            let before = attributes.get(key).cloned();
            // The agent's value is what was there before the first lock.
            sqlx::query(
                "INSERT INTO ci_locks (tenant_id, ci_id, field, value, agent_value, locked_by, locked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (ci_id, field) DO UPDATE SET value = $4, locked_by = $6, locked_at = $7",
            )
            .bind(ci.tenant_id.0)
            .bind(ci_id)
            .bind(&field)
            .bind(value.to_string())
            .bind(before.as_ref().filter(|v| !v.is_null()).map(Value::to_string))
            .bind(who)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if before.as_ref() != Some(value) {
                let (old, new) = (
                    before.filter(|v| !v.is_null()).map(|v| v.to_string()),
                    value.to_string(),
                );
                let change = Change {
                    tenant: ci.tenant_id,
                    ci_id,
                    at: now,
                    field: &field,
                    old: old.as_deref(),
                    new: Some(&new),
                    source: who,
                };
                ci_tx::record_change(&mut tx, &change).await?;
            }
            attributes.insert(key.clone(), value.clone());
        }
        sqlx::query(
            // A person's change: the next report is reconciled in full (see `observed_hash`).
            "UPDATE configuration_items SET attributes = $2, updated_at = $3, observed_hash = NULL
             WHERE id = $1",
        )
        .bind(ci_id)
        .bind(Value::Object(attributes).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_ci(scope, ci_id).await
    }

    /// Unlock a field: the agent's last value comes back and agent updates apply again.
    pub async fn unlock_field(
        &self,
        scope: TenantScope,
        ci_id: i64,
        key: &str,
        who: &str,
    ) -> StoreResult<ConfigurationItem> {
        let ci = self.get_ci(scope, ci_id).await?;
        let field = format!("attributes.{key}");
        let now = now_ms();
        let mut tx = self.begin().await?;
        let lock: Option<(String, Option<String>)> = sqlx::query_as(
            "DELETE FROM ci_locks WHERE ci_id = $1 AND field = $2 RETURNING value, agent_value",
        )
        .bind(ci_id)
        .bind(&field)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((value, agent_value)) = lock else {
            return Err(StoreError::NotFound);
        };
        let stored = ci_tx::load(&mut tx, ci_id).await?;
        let mut attributes: Map<String, Value> =
            serde_json::from_str(&stored.attributes).unwrap_or_default();
        match parse(agent_value.clone()) {
            Some(v) => attributes.insert(key.to_string(), v),
            None => attributes.remove(key),
        };
        if agent_value.as_deref() != Some(value.as_str()) {
            let change = Change {
                tenant: ci.tenant_id,
                ci_id,
                at: now,
                field: &field,
                old: Some(&value),
                new: agent_value.as_deref(),
                source: who,
            };
            ci_tx::record_change(&mut tx, &change).await?;
        }
        sqlx::query(
            // A person's change: the next report is reconciled in full (see `observed_hash`).
            "UPDATE configuration_items SET attributes = $2, updated_at = $3, observed_hash = NULL
             WHERE id = $1",
        )
        .bind(ci_id)
        .bind(Value::Object(attributes).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_ci(scope, ci_id).await
    }

    /// A CI people create and own, such as the business service "Acme payroll".
    pub async fn create_business_service(
        &self,
        tenant: TenantId,
        name: &str,
        attributes: &Map<String, Value>,
        who: &str,
    ) -> StoreResult<ConfigurationItem> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::Invalid("name must be 1-200 characters".into()));
        }
        for field in attributes.keys() {
            check_field(field)?;
        }
        let exists: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM configuration_items WHERE tenant_id = $1 AND class = $2 AND name = $3 AND status <> 'retired'",
        )
        .bind(tenant.0)
        .bind(class::BUSINESS_SERVICE)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "business service {name:?} already exists"
            )));
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        let attributes = Value::Object(attributes.clone()).to_string();
        let id = ci_tx::insert_ci(
            &mut tx,
            &ci_tx::NewCi {
                tenant,
                class: class::BUSINESS_SERVICE,
                name,
                computer_id: None,
                attributes: &attributes,
                metrics: "{}",
                seen_at: now,
                observed_hash: None,
            },
        )
        .await?;
        let active = json_text("active");
        let change = Change {
            tenant,
            ci_id: id,
            at: now,
            field: "status",
            old: None,
            new: Some(&active),
            source: who,
        };
        ci_tx::record_change(&mut tx, &change).await?;
        tx.commit().await?;
        self.get_ci(TenantScope::Tenant(tenant), id).await
    }

    /// Add a typed relation "source KIND target" between two CIs of one tenant.
    pub async fn add_relation(
        &self,
        scope: TenantScope,
        source: i64,
        kind: &str,
        target: i64,
        who: &str,
    ) -> StoreResult<bool> {
        if !relation::ALL.contains(&kind) {
            return Err(StoreError::Invalid(format!(
                "relation kind must be one of {}",
                relation::ALL.join(", ")
            )));
        }
        if source == target {
            return Err(StoreError::Invalid("a CI cannot relate to itself".into()));
        }
        let (a, b) = (
            self.get_ci(scope, source).await?,
            self.get_ci(scope, target).await?,
        );
        if a.tenant_id != b.tenant_id {
            return Err(StoreError::Invalid(
                "both CIs must belong to the same tenant".into(),
            ));
        }
        let mut tx = self.begin().await?;
        let added =
            ci_tx::ensure_relation_by(&mut tx, a.tenant_id, source, kind, target, now_ms(), who)
                .await?;
        tx.commit().await?;
        Ok(added)
    }

    pub async fn remove_relation(
        &self,
        scope: TenantScope,
        source: i64,
        kind: &str,
        target: i64,
        who: &str,
    ) -> StoreResult<()> {
        let a = self.get_ci(scope, source).await?;
        let mut tx = self.begin().await?;
        let removed = sqlx::query(
            "DELETE FROM ci_relations WHERE source_id = $1 AND kind = $2 AND target_id = $3",
        )
        .bind(source)
        .bind(kind)
        .bind(target)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        let field = format!("relation.{kind}");
        let old = target.to_string();
        let change = Change {
            tenant: a.tenant_id,
            ci_id: source,
            at: now_ms(),
            field: &field,
            old: Some(&old),
            new: None,
            source: who,
        };
        ci_tx::record_change(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Retire a CI by hand: kept, with the date, never deleted.
    pub async fn retire_ci(
        &self,
        scope: TenantScope,
        ci_id: i64,
        who: &str,
    ) -> StoreResult<ConfigurationItem> {
        let ci = self.get_ci(scope, ci_id).await?;
        if ci.status == "retired" {
            return Ok(ci);
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        ci_tx::retire(&mut tx, ci_id, now).await?;
        let (old, new) = (json_text(&ci.status), json_text("retired"));
        let change = Change {
            tenant: ci.tenant_id,
            ci_id,
            at: now,
            field: "status",
            old: Some(&old),
            new: Some(&new),
            source: who,
        };
        ci_tx::record_change(&mut tx, &change).await?;
        tx.commit().await?;
        self.get_ci(scope, ci_id).await
    }

    /// Mark active agent-reported CIs not seen since `cutoff` as stale; returns how many.
    pub async fn mark_stale(&self, cutoff: i64) -> StoreResult<u64> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "UPDATE configuration_items SET status = 'stale', updated_at = $2
             WHERE status = 'active' AND class <> $3 AND last_seen_at < $1
             RETURNING id, tenant_id",
        )
        .bind(cutoff)
        .bind(now)
        .bind(class::BUSINESS_SERVICE)
        .fetch_all(&mut *tx)
        .await?;
        let (old, new) = (json_text("active"), json_text("stale"));
        for (ci_id, tenant) in &rows {
            let change = Change {
                tenant: TenantId(*tenant),
                ci_id: *ci_id,
                at: now,
                field: "status",
                old: Some(&old),
                new: Some(&new),
                source: "lifecycle",
            };
            ci_tx::record_change(&mut tx, &change).await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    pub async fn list_reviews(
        &self,
        scope: TenantScope,
        open_only: bool,
    ) -> StoreResult<Vec<Review>> {
        type ReviewRow = (i64, i64, i64, Option<i64>, String, String, i64, Option<i64>);
        let rows: Vec<ReviewRow> = sqlx::query_as(
            &format!("SELECT id, tenant_id, ci_id, other_ci_id, kind, detail, created_at, resolved_at FROM ci_reviews
             WHERE {in_scope} AND ($2 = 0 OR resolved_at IS NULL)
             ORDER BY id", in_scope = in_scope("tenant_id", 1)),
        )
        .bind(scope.filter())
        .bind(i64::from(open_only))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Review {
                id: r.0,
                tenant_id: TenantId(r.1),
                ci_id: r.2,
                other_ci_id: r.3,
                kind: r.4,
                detail: r.5,
                created_at: to_time(r.6),
                resolved_at: to_time_opt(r.7),
            })
            .collect())
    }

    pub async fn resolve_review(&self, scope: TenantScope, id: i64) -> StoreResult<()> {
        let done = sqlx::query(&format!(
            "UPDATE ci_reviews SET resolved_at = COALESCE(resolved_at, $1)
             WHERE id = $2 AND {in_scope}",
            in_scope = in_scope("tenant_id", 3)
        ))
        .bind(now_ms())
        .bind(id)
        .bind(scope.filter())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Installed software of a computer (active installations).
    pub async fn installed_software(
        &self,
        computer: &ConfigurationItem,
    ) -> StoreResult<Vec<InstalledPackage>> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT p.name, p.version, p.architecture, p.source, i.first_seen_at
             FROM software_installations i JOIN software_packages p ON p.id = i.package_id
             WHERE i.computer_id = $1 AND i.tenant_id = $2 AND i.retired_at IS NULL ORDER BY p.name, p.version",
        )
        .bind(computer.id)
        .bind(computer.tenant_id.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(name, version, architecture, source, first)| InstalledPackage {
                    name,
                    version,
                    architecture,
                    source,
                    first_seen_at: to_time(first),
                },
            )
            .collect())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub source: String,
    pub first_seen_at: chrono::DateTime<chrono::Utc>,
}
