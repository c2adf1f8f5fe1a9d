//! Configuration items, their identifiers and their relations.

use serde::Serialize;
use serde_json::Value;

use super::in_scope;
use super::{to_time, to_time_opt, Store, StoreError, StoreResult, TenantId, TenantScope, Tx};

#[derive(Debug, Clone, Serialize)]
pub struct ConfigurationItem {
    pub id: i64,
    pub tenant_id: TenantId,
    pub class: String,
    pub name: String,
    pub computer_id: Option<i64>,
    pub status: String,
    pub attributes: Value,
    /// Latest measurements (used bytes, CPU…); not part of the change history.
    pub metrics: Value,
    pub first_seen_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub retired_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub(crate) type CiRow = (
    i64,
    i64,
    String,
    String,
    Option<i64>,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
);

pub(crate) const CI_COLUMNS: &str = "id, tenant_id, class, name, computer_id, status, attributes, \
                          metrics, first_seen_at, last_seen_at, updated_at, retired_at";

pub(crate) fn ci_from_row(r: CiRow) -> ConfigurationItem {
    ConfigurationItem {
        id: r.0,
        tenant_id: TenantId(r.1),
        class: r.2,
        name: r.3,
        computer_id: r.4,
        status: r.5,
        attributes: serde_json::from_str(&r.6).unwrap_or(Value::Null),
        metrics: serde_json::from_str(&r.7).unwrap_or(Value::Null),
        first_seen_at: to_time(r.8),
        last_seen_at: to_time(r.9),
        updated_at: to_time(r.10),
        retired_at: to_time_opt(r.11),
    }
}

/// A relation as seen from one CI.
#[derive(Debug, Clone, Serialize)]
pub struct Relation {
    pub kind: String,
    /// `outgoing`: this CI is the source (e.g. this volume is contained in that computer).
    pub direction: &'static str,
    pub ci_id: i64,
    pub class: String,
    pub name: String,
}

/// Filters for listing CIs.
#[derive(Debug, Clone, Default)]
pub struct CiFilter {
    pub class: Option<String>,
    pub computer_id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

impl Store {
    pub async fn list_cis(
        &self,
        scope: TenantScope,
        filter: &CiFilter,
    ) -> StoreResult<Vec<ConfigurationItem>> {
        let rows: Vec<CiRow> = sqlx::query_as(&format!(
            "SELECT {CI_COLUMNS} FROM configuration_items
             WHERE {in_scope}
               AND (CAST($2 AS TEXT) IS NULL OR class = $2)
               AND (CAST($3 AS BIGINT) IS NULL OR computer_id = $3)
             ORDER BY id LIMIT $4 OFFSET $5",
            in_scope = in_scope("tenant_id", 1)
        ))
        .bind(scope.filter())
        .bind(filter.class.as_deref())
        .bind(filter.computer_id)
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(ci_from_row).collect())
    }

    pub async fn get_ci(&self, scope: TenantScope, id: i64) -> StoreResult<ConfigurationItem> {
        let row: Option<CiRow> = sqlx::query_as(&format!(
            "SELECT {CI_COLUMNS} FROM configuration_items
             WHERE id = $1 AND {in_scope}",
            in_scope = in_scope("tenant_id", 2)
        ))
        .bind(id)
        .bind(scope.filter())
        .fetch_optional(self.pool())
        .await?;
        row.map(ci_from_row).ok_or(StoreError::NotFound)
    }

    /// Relations of a CI in both directions, with the other end's class and name.
    pub async fn ci_relations(&self, tenant: TenantId, id: i64) -> StoreResult<Vec<Relation>> {
        let rows: Vec<(String, String, i64, String, String)> = sqlx::query_as(
            "SELECT r.kind, 'outgoing', c.id, c.class, c.name FROM ci_relations r
               JOIN configuration_items c ON c.id = r.target_id
              WHERE r.source_id = $1 AND r.tenant_id = $2
             UNION ALL
             SELECT r.kind, 'incoming', c.id, c.class, c.name FROM ci_relations r
               JOIN configuration_items c ON c.id = r.source_id
              WHERE r.target_id = $1 AND r.tenant_id = $2",
        )
        .bind(id)
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(kind, direction, ci_id, class, name)| Relation {
                kind,
                direction: if direction == "outgoing" {
                    "outgoing"
                } else {
                    "incoming"
                },
                ci_id,
                class,
                name,
            })
            .collect())
    }
}

/// Row-level operations used inside the ingest transaction.
pub mod tx {
    use std::fmt::Write as _;

    use super::*;

    /// The CI an identifier value points at, if any.
    pub async fn lookup_identifier(
        tx: &mut Tx<'_>,
        tenant: TenantId,
        class: &str,
        kind: &str,
        value: &str,
    ) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT ci_id FROM ci_identifiers WHERE tenant_id = $1 AND class = $2 AND kind = $3 AND value = $4",
        )
        .bind(tenant.0)
        .bind(class)
        .bind(kind)
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(row.map(|r| r.0))
    }

    /// Every identifier registered for a CI, as (kind, value).
    pub async fn identifiers_of(tx: &mut Tx<'_>, ci_id: i64) -> StoreResult<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT kind, value FROM ci_identifiers WHERE ci_id = $1")
                .bind(ci_id)
                .fetch_all(&mut **tx)
                .await?,
        )
    }

    /// Point `kind` of `ci_id` at `value`, replacing its previous value of that kind. A value that
    /// already identifies another CI is left with that CI (returns `false`): it is never stolen.
    pub async fn set_identifier(
        tx: &mut Tx<'_>,
        tenant: TenantId,
        class: &str,
        ci_id: i64,
        kind: &str,
        value: &str,
    ) -> StoreResult<bool> {
        sqlx::query("DELETE FROM ci_identifiers WHERE ci_id = $1 AND kind = $2 AND value <> $3")
            .bind(ci_id)
            .bind(kind)
            .bind(value)
            .execute(&mut **tx)
            .await?;
        add_identifier(tx, tenant, class, ci_id, kind, value).await
    }

    pub struct NewCi<'a> {
        pub tenant: TenantId,
        pub class: &'a str,
        pub name: &'a str,
        pub computer_id: Option<i64>,
        pub attributes: &'a str,
        pub metrics: &'a str,
        pub seen_at: i64,
        /// The agent's observation, hashed (see [`refresh_observed`]); `None` for a person's CI.
        pub observed_hash: Option<&'a str>,
    }

    pub async fn insert_ci(tx: &mut Tx<'_>, new: &NewCi<'_>) -> StoreResult<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO configuration_items
                 (tenant_id, class, name, computer_id, status, attributes, metrics, first_seen_at, last_seen_at, updated_at, observed_hash)
             VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $7, $7, $8) RETURNING id",
        )
        .bind(new.tenant.0)
        .bind(new.class)
        .bind(new.name)
        .bind(new.computer_id)
        .bind(new.attributes)
        .bind(new.metrics)
        .bind(new.seen_at)
        .bind(new.observed_hash)
        .fetch_one(&mut **tx)
        .await?;
        Ok(id)
    }

    /// Remove a CI created moments ago in this transaction, before anything refers to it.
    pub async fn withdraw(tx: &mut Tx<'_>, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM ci_identifiers WHERE ci_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM configuration_items WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// What reconciliation needs of a stored CI.
    #[derive(Debug, sqlx::FromRow)]
    pub struct StoredCi {
        pub name: String,
        pub status: String,
        pub attributes: String,
        pub inventory_hash: Option<String>,
    }

    pub async fn load(tx: &mut Tx<'_>, id: i64) -> StoreResult<StoredCi> {
        Ok(sqlx::query_as(
            "SELECT name, status, attributes, inventory_hash FROM configuration_items WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?)
    }

    /// A reconciled CI, ready to write.
    pub struct CiUpdate<'a> {
        pub id: i64,
        pub name: &'a str,
        pub attributes: &'a str,
        pub metrics: &'a str,
        pub status: &'a str,
        pub seen_at: i64,
        /// Name, attributes or status differ from what was stored.
        pub changed: bool,
        /// The agent's observation, hashed (see [`refresh_observed`]).
        pub observed_hash: &'a str,
    }

    /// Write a reconciled CI. `last_seen_at` only moves forward; `updated_at` moves only when
    /// something changed, so an unchanged CI costs one light write.
    pub async fn update_ci(tx: &mut Tx<'_>, u: &CiUpdate<'_>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE configuration_items SET name = $2, attributes = $3, metrics = $4, status = $5,
                 retired_at = CASE WHEN $5 = 'retired' THEN retired_at ELSE NULL END,
                 updated_at = CASE WHEN $7 = 1 THEN $6 ELSE updated_at END,
                 last_seen_at = CASE WHEN last_seen_at < $6 THEN $6 ELSE last_seen_at END,
                 observed_hash = $8
             WHERE id = $1",
        )
        .bind(u.id)
        .bind(u.name)
        .bind(u.attributes)
        .bind(u.metrics)
        .bind(u.status)
        .bind(u.seen_at)
        .bind(i64::from(u.changed))
        .bind(u.observed_hash)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The computer an agent reported for last time, refreshed — new measurements, seen now —
    /// if the agent says exactly what it said then (`observed_hash`) and the CI is still active.
    /// `None` when anything differs: the caller reconciles in full. One statement in place of
    /// identification, a load, the locks and an update.
    ///
    /// `volumes`, when given, are refreshed as [`refresh_unchanged`] would, if the computer was
    /// refreshed and is the one they were fingerprinted for — on PostgreSQL in the same
    /// statement (one round trip of the four or five a steady report makes).
    pub async fn refresh_observed(
        tx: &mut Tx<'_>,
        agent_id: &str,
        observed_hash: &str,
        metrics: &str,
        seen_at: i64,
        volumes: Option<ComponentsAhead<'_>>,
    ) -> StoreResult<Option<Refreshed>> {
        let volumes =
            volumes.filter(|v| !v.observed.is_empty() && v.observed.len() <= REFRESH_CHUNK);
        if let (Some(ahead), true) = (&volumes, tx.backend_name() == "PostgreSQL") {
            return refresh_with_components(tx, agent_id, observed_hash, metrics, seen_at, ahead)
                .await;
        }
        type Row = (i64, Option<String>, i64);
        let row: Option<Row> = sqlx::query_as(&format!(
            "UPDATE configuration_items SET {COMPUTER_REFRESH} RETURNING {COMPUTER_REFRESHED}"
        ))
        .bind(agent_id)
        .bind(observed_hash)
        .bind(metrics)
        .bind(seen_at)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((ci_id, inventory_hash, unsettled)) = row else {
            return Ok(None);
        };
        let components = match volumes {
            Some(ahead) if ahead.computer_id == ci_id => {
                Some(refresh_unchanged(tx, ci_id, ahead.class, ahead.observed, seen_at).await?)
            }
            _ => None,
        };
        Ok(Some(Refreshed {
            ci_id,
            inventory_hash,
            alerts_unsettled: unsettled != 0,
            components,
        }))
    }

    /// The computer's refresh: SET … WHERE, parameters $1 agent, $2 fingerprint, $3
    /// measurements, $4 seen at.
    const COMPUTER_REFRESH: &str = "metrics = $3,
             last_seen_at = CASE WHEN last_seen_at < $4 THEN $4 ELSE last_seen_at END
         WHERE id = (SELECT computer_id FROM agents WHERE id = $1)
           AND observed_hash = $2 AND status = 'active'";

    /// What the computer's refresh returns: its id, inventory hash and whether an alert on it
    /// or its parts is unsettled.
    const COMPUTER_REFRESHED: &str = "id, inventory_hash, CAST(CASE WHEN EXISTS (
             SELECT 1 FROM alert_states s
             WHERE s.computer_id = configuration_items.id
               AND (s.state <> 'ok' OR s.flapping = 1)
         ) THEN 1 ELSE 0 END AS BIGINT)";

    /// [`refresh_observed`] and [`refresh_unchanged`] of its components in one statement
    /// (PostgreSQL: a data-modifying `WITH`; the components' update runs only if the
    /// computer's did, on the computer they were fingerprinted for).
    async fn refresh_with_components(
        tx: &mut Tx<'_>,
        agent_id: &str,
        observed_hash: &str,
        metrics: &str,
        seen_at: i64,
        ahead: &ComponentsAhead<'_>,
    ) -> StoreResult<Option<Refreshed>> {
        let class = known_class(ahead.class)?;
        let mut sql = format!(
            "WITH computer AS (UPDATE configuration_items SET {COMPUTER_REFRESH}
                 RETURNING {COMPUTER_REFRESHED} AS unsettled),
             parts AS (UPDATE configuration_items SET metrics = CASE observed_hash"
        );
        for n in 0..ahead.observed.len() {
            let _ = write!(sql, " WHEN ${} THEN ${}", 2 * n + 6, 2 * n + 7);
        }
        let _ = write!(
            sql,
            " END, last_seen_at = CASE WHEN last_seen_at < $4 THEN $4 ELSE last_seen_at END
             WHERE computer_id = $5 AND class = '{class}' AND status = 'active'
               AND EXISTS (SELECT 1 FROM computer WHERE computer.id = $5)
               AND observed_hash IN ("
        );
        for n in 0..ahead.observed.len() {
            let sep = if n == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}${}", 2 * n + 6);
        }
        let _ = write!(
            sql,
            ") RETURNING id, observed_hash)
             SELECT c.id, c.inventory_hash, c.unsettled, p.id, p.observed_hash,
                 (SELECT COUNT(*) FROM configuration_items l
                  WHERE l.computer_id = $5 AND l.class = '{class}' AND l.status <> 'retired')
             FROM computer c LEFT JOIN parts p ON TRUE"
        );
        let mut query = sqlx::query_as(&sql)
            .bind(agent_id)
            .bind(observed_hash)
            .bind(metrics)
            .bind(seen_at)
            .bind(ahead.computer_id);
        for (hash, metrics) in ahead.observed {
            query = query.bind(*hash).bind(*metrics);
        }
        type Row = (i64, Option<String>, i64, Option<i64>, Option<String>, i64);
        let rows: Vec<Row> = query.fetch_all(&mut **tx).await?;
        let Some((ci_id, inventory_hash, unsettled, _, _, live)) = rows.first().cloned() else {
            return Ok(None);
        };
        let components = (ci_id == ahead.computer_id).then(|| ComponentsRefreshed {
            refreshed: rows
                .into_iter()
                .filter_map(|(_, _, _, id, hash, _)| id.zip(hash))
                .collect(),
            live,
        });
        Ok(Some(Refreshed {
            ci_id,
            inventory_hash,
            alerts_unsettled: unsettled != 0,
            components,
        }))
    }

    /// Components to refresh with their computer: fingerprinted for `computer_id` (the one the
    /// agent reported for last time), as (fingerprint, measurements).
    pub struct ComponentsAhead<'a> {
        pub computer_id: i64,
        pub class: &'a str,
        pub observed: &'a [(&'a str, &'a str)],
    }

    /// A computer refreshed by [`refresh_observed`].
    pub struct Refreshed {
        pub ci_id: i64,
        /// The inventory last applied to it.
        pub inventory_hash: Option<String>,
        /// Whether an alert on it or one of its parts is not settled (read in the same
        /// statement, so the rule engine need not ask).
        pub alerts_unsettled: bool,
        /// The components refreshed with it (`None`: none were asked for, or they were
        /// fingerprinted for another computer).
        pub components: Option<ComponentsRefreshed>,
    }

    /// The computer's CIs of one class that are not retired.
    pub async fn live_components(
        tx: &mut Tx<'_>,
        computer_id: i64,
        class: &str,
    ) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM configuration_items
             WHERE computer_id = $1 AND class = $2 AND status <> 'retired'",
        )
        .bind(computer_id)
        .bind(class)
        .fetch_all(&mut **tx)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The steady state of a computer's components of one class, in one statement: every
    /// active one whose `observed_hash` is among `observed` (hash, new measurements) gets its
    /// measurements and is seen at `seen_at`. Returns (id, hash) of those refreshed, and how many
    /// of the class the computer has that are not retired (to tell whether any went missing).
    ///
    /// The class is written into the statement (one of [`crate::ci::class::ALL`], never
    /// caller text): with it as a parameter PostgreSQL's generic plan guesses a computer has
    /// three times as many CIs of the class, rejects itself for a custom plan, and plans the
    /// statement on every report (0.24 ms of a 2.9 ms report on the CMDB bench).
    pub async fn refresh_unchanged(
        tx: &mut Tx<'_>,
        computer_id: i64,
        class: &str,
        observed: &[(&str, &str)],
        seen_at: i64,
    ) -> StoreResult<ComponentsRefreshed> {
        let class = known_class(class)?;
        let mut refreshed = Vec::with_capacity(observed.len());
        let mut live = 0;
        for chunk in observed.chunks(REFRESH_CHUNK) {
            let mut sql =
                String::from("UPDATE configuration_items SET metrics = CASE observed_hash");
            for n in 0..chunk.len() {
                let _ = write!(sql, " WHEN ${} THEN ${}", 2 * n + 3, 2 * n + 4);
            }
            let _ = write!(
                sql,
                " END, last_seen_at = CASE WHEN last_seen_at < $2 THEN $2 ELSE last_seen_at END
                 WHERE computer_id = $1 AND class = '{class}' AND status = 'active'
                   AND observed_hash IN ("
            );
            for n in 0..chunk.len() {
                let sep = if n == 0 { "" } else { ", " };
                let _ = write!(sql, "{sep}${}", 2 * n + 3);
            }
            let _ = write!(
                sql,
                ") RETURNING id, observed_hash, (SELECT COUNT(*) FROM configuration_items l
                     WHERE l.computer_id = $1 AND l.class = '{class}' AND l.status <> 'retired')"
            );
            let mut query = sqlx::query_as(&sql).bind(computer_id).bind(seen_at);
            for (hash, metrics) in chunk {
                query = query.bind(*hash).bind(*metrics);
            }
            let rows: Vec<(i64, String, i64)> = query.fetch_all(&mut **tx).await?;
            for (id, hash, count) in rows {
                refreshed.push((id, hash));
                live = count;
            }
        }
        Ok(ComponentsRefreshed { refreshed, live })
    }

    /// What [`refresh_unchanged`] did.
    pub struct ComponentsRefreshed {
        /// (id, fingerprint) of each component refreshed.
        pub refreshed: Vec<(i64, String)>,
        /// How many of the class the computer has that are not retired.
        pub live: i64,
    }

    /// `class` as one of the fixed classes, fit to be written into SQL.
    fn known_class(class: &str) -> StoreResult<&'static str> {
        crate::ci::class::ALL
            .iter()
            .find(|c| **c == class)
            .copied()
            .ok_or_else(|| StoreError::Invalid(format!("unknown CI class {class:?}")))
    }

    /// Components per [`refresh_unchanged`] statement (two parameters each, well under both
    /// backends' limits).
    const REFRESH_CHUNK: usize = 500;

    pub async fn set_inventory_hash(tx: &mut Tx<'_>, id: i64, hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE configuration_items SET inventory_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Locked fields of a CI: (field, value set by a person).
    pub async fn locks_of(tx: &mut Tx<'_>, ci_id: i64) -> StoreResult<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT field, value FROM ci_locks WHERE ci_id = $1")
                .bind(ci_id)
                .fetch_all(&mut **tx)
                .await?,
        )
    }

    /// Keep the agent's latest value of a locked field beside the person's value.
    pub async fn keep_agent_value(
        tx: &mut Tx<'_>,
        ci_id: i64,
        field: &str,
        agent_value: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE ci_locks SET agent_value = $3 WHERE ci_id = $1 AND field = $2")
            .bind(ci_id)
            .bind(field)
            .bind(agent_value)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub struct Change<'a> {
        pub tenant: TenantId,
        pub ci_id: i64,
        pub at: i64,
        pub field: &'a str,
        pub old: Option<&'a str>,
        pub new: Option<&'a str>,
        pub source: &'a str,
    }

    pub async fn record_change(tx: &mut Tx<'_>, change: &Change<'_>) -> StoreResult<()> {
        record_changes(tx, std::slice::from_ref(change)).await
    }

    /// Rows of history per statement in [`record_changes`] (7 parameters each: 3,500 a
    /// statement, within both backends' limits).
    const CHANGES_PER_STATEMENT: usize = 500;

    /// Record many changes in as few statements as the limits allow: a computer's first
    /// inventory brings hundreds of software entries, one round trip each before.
    pub async fn record_changes(tx: &mut Tx<'_>, changes: &[Change<'_>]) -> StoreResult<()> {
        for chunk in changes.chunks(CHANGES_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO ci_history (tenant_id, ci_id, at, field, old_value, new_value, source)
                 VALUES {}",
                crate::store::placeholders(chunk.len(), 7)
            );
            let mut query = sqlx::query(&sql);
            for change in chunk {
                query = query
                    .bind(change.tenant.0)
                    .bind(change.ci_id)
                    .bind(change.at)
                    .bind(change.field)
                    .bind(change.old)
                    .bind(change.new)
                    .bind(change.source);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    pub async fn retire(tx: &mut Tx<'_>, id: i64, at: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE configuration_items SET status = 'retired', retired_at = $2, updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Flag an identification conflict for a person to review (once per CI, kind and detail).
    pub async fn flag_review(
        tx: &mut Tx<'_>,
        tenant: TenantId,
        ci_id: i64,
        other_ci_id: Option<i64>,
        kind: &str,
        detail: &str,
        at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ci_reviews (tenant_id, ci_id, other_ci_id, kind, detail, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ci_id, kind, detail) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(ci_id)
        .bind(other_ci_id)
        .bind(kind)
        .bind(detail)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Remove a CI's identifiers of `kind` that are not in `keep` (a NIC was replaced…).
    pub async fn prune_identifiers(
        tx: &mut Tx<'_>,
        ci_id: i64,
        kind: &str,
        keep: &[&str],
    ) -> StoreResult<()> {
        let held: Vec<(String,)> =
            sqlx::query_as("SELECT value FROM ci_identifiers WHERE ci_id = $1 AND kind = $2")
                .bind(ci_id)
                .bind(kind)
                .fetch_all(&mut **tx)
                .await?;
        for (value,) in held.iter().filter(|(v,)| !keep.contains(&v.as_str())) {
            sqlx::query("DELETE FROM ci_identifiers WHERE ci_id = $1 AND kind = $2 AND value = $3")
                .bind(ci_id)
                .bind(kind)
                .bind(value)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Add one value of a multi-valued identifier; `false` if it already identifies another CI.
    pub async fn add_identifier(
        tx: &mut Tx<'_>,
        tenant: TenantId,
        class: &str,
        ci_id: i64,
        kind: &str,
        value: &str,
    ) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO ci_identifiers (tenant_id, class, kind, value, ci_id) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id, class, kind, value) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(class)
        .bind(kind)
        .bind(value)
        .bind(ci_id)
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        Ok(lookup_identifier(tx, tenant, class, kind, value).await? == Some(ci_id))
    }

    /// Link two CIs; a new link is recorded in the source CI's history.
    pub async fn ensure_relation(
        tx: &mut Tx<'_>,
        tenant: TenantId,
        source_id: i64,
        kind: &str,
        target_id: i64,
        at: i64,
    ) -> StoreResult<bool> {
        ensure_relation_by(tx, tenant, source_id, kind, target_id, at, "agent").await
    }

    pub async fn ensure_relation_by(
        tx: &mut Tx<'_>,
        tenant: TenantId,
        source_id: i64,
        kind: &str,
        target_id: i64,
        at: i64,
        source: &str,
    ) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO ci_relations (tenant_id, source_id, kind, target_id, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source_id, kind, target_id) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(source_id)
        .bind(kind)
        .bind(target_id)
        .bind(at)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            let field = format!("relation.{kind}");
            let target = target_id.to_string();
            let change = Change {
                tenant,
                ci_id: source_id,
                at,
                field: &field,
                old: None,
                new: Some(&target),
                source,
            };
            record_change(tx, &change).await?;
        }
        Ok(inserted)
    }
}

/// A text value as the history stores it: JSON text (`"active"` with its quotes).
pub fn json_text(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}
