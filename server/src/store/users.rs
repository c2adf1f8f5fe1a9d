//! The rows of people: users, the tenants a technician serves and the assignment groups they work
//! in. What a role may do, password hashing and the rules for a valid user are
//! [`crate::people`]'s.

use super::{Store, StoreError, StoreResult, TenantId};

/// A user as stored. `role` is the stored name (`msp_admin`, `technician`, …).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub tenant_id: Option<i64>,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<i64>,
    pub active: i64,
    pub placeholder: i64,
    pub created_at: i64,
    /// Base32; set while a second factor is being set up or once it is.
    pub totp_secret: Option<String>,
    pub totp_confirmed_at: Option<i64>,
    pub totp_last_step: Option<i64>,
    pub totp_required: i64,
}

/// What a new user row holds.
#[derive(Debug, Clone)]
pub struct NewUserRow<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub tenant: Option<TenantId>,
    pub password_hash: Option<&'a str>,
    pub placeholder: bool,
}

const COLUMNS: &str = "id, email, display_name, role, tenant_id, password_hash, \
                       password_changed_at, active, placeholder, created_at, totp_secret, \
                       totp_confirmed_at, totp_last_step, totp_required";

/// The setting that makes the MSP's own people need a second factor.
pub const REQUIRE_TOTP_MSP: &str = "require_totp_msp";

/// A user's columns as `u_*`, for a query that reads a token or a session with its owner
/// (`... JOIN users u ...`) in one round trip.
pub const OWNER_COLUMNS: &str = "u.id AS u_id, u.email AS u_email, \
    u.display_name AS u_display_name, u.role AS u_role, u.tenant_id AS u_tenant_id, \
    u.password_hash AS u_password_hash, u.password_changed_at AS u_password_changed_at, \
    u.active AS u_active, u.placeholder AS u_placeholder, u.created_at AS u_created_at, \
    u.totp_secret AS u_totp_secret, u.totp_confirmed_at AS u_totp_confirmed_at, \
    u.totp_last_step AS u_totp_last_step, u.totp_required AS u_totp_required";

/// The owner read with [`OWNER_COLUMNS`]; `None` when the join found none.
pub fn owner_from(row: &sqlx::any::AnyRow) -> Result<Option<UserRow>, sqlx::Error> {
    use sqlx::Row;
    let Some(id) = row.try_get::<Option<i64>, _>("u_id")? else {
        return Ok(None);
    };
    Ok(Some(UserRow {
        id,
        email: row.try_get("u_email")?,
        display_name: row.try_get("u_display_name")?,
        role: row.try_get("u_role")?,
        tenant_id: row.try_get("u_tenant_id")?,
        password_hash: row.try_get("u_password_hash")?,
        password_changed_at: row.try_get("u_password_changed_at")?,
        active: row.try_get("u_active")?,
        placeholder: row.try_get("u_placeholder")?,
        created_at: row.try_get("u_created_at")?,
        totp_secret: row.try_get("u_totp_secret")?,
        totp_confirmed_at: row.try_get("u_totp_confirmed_at")?,
        totp_last_step: row.try_get("u_totp_last_step")?,
        totp_required: row.try_get("u_totp_required")?,
    }))
}

impl Store {
    /// Insert a user (a second factor required if the policy of their side says so);
    /// `Conflict` when the email (in any case) is taken.
    pub async fn insert_user(&self, new: &NewUserRow<'_>, now: i64) -> StoreResult<UserRow> {
        sqlx::query_as(&format!(
            "INSERT INTO users (email, display_name, role, tenant_id, password_hash,
                                password_changed_at, placeholder, created_at, totp_required)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                     CASE WHEN CAST($4 AS BIGINT) IS NULL
                          THEN COALESCE((SELECT 1 FROM settings
                                          WHERE name = '{REQUIRE_TOTP_MSP}' AND value = 'true'), 0)
                          ELSE (SELECT require_totp FROM tenants WHERE id = $4) END)
             RETURNING {COLUMNS}"
        ))
        .bind(new.email)
        .bind(new.display_name)
        .bind(new.role)
        .bind(new.tenant.map(|t| t.0))
        .bind(new.password_hash)
        .bind(new.password_hash.map(|_| now))
        .bind(i64::from(new.placeholder))
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "a user with that email exists"))
    }

    pub async fn user(&self, id: i64) -> StoreResult<UserRow> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The user with this email, compared without regard to case.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM users WHERE lower(email) = lower($1)"
        ))
        .bind(email)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Users in id order: all of them, or those of one customer tenant and the technicians who
    /// serve it.
    pub async fn list_users(&self, tenant: Option<TenantId>) -> StoreResult<Vec<UserRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM users u
              WHERE CAST($1 AS BIGINT) IS NULL OR u.tenant_id = $1
                 OR EXISTS (SELECT 1 FROM tenant_memberships m
                             WHERE m.user_id = u.id AND m.tenant_id = $1)
              ORDER BY id"
        ))
        .bind(tenant.map(|t| t.0))
        .fetch_all(self.pool())
        .await?)
    }

    /// Set (or, with `None`, clear) a pending second factor; a new secret is unconfirmed.
    pub async fn set_totp_secret(&self, user: i64, secret: Option<&str>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET totp_secret = $2, totp_confirmed_at = NULL, totp_last_step = NULL
              WHERE id = $1",
        )
        .bind(user)
        .bind(secret)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Note a code used in `step` (and confirm the factor if it was pending) — only if no code
    /// of that step or a later one was used before, so each code works once, also when two
    /// requests race.
    pub async fn use_totp_step(&self, user: i64, step: i64, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $2,
                              totp_confirmed_at = COALESCE(totp_confirmed_at, $3)
              WHERE id = $1 AND totp_secret IS NOT NULL
                AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(user)
        .bind(step)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether the policy requires a second factor of these people: the MSP's own (no tenant)
    /// or one tenant's.
    pub async fn set_totp_required(
        &self,
        tenant: Option<TenantId>,
        required: bool,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET totp_required = $2
              WHERE (CAST($1 AS BIGINT) IS NULL AND tenant_id IS NULL) OR tenant_id = $1",
        )
        .bind(tenant.map(|t| t.0))
        .bind(i64::from(required))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The MSP-wide policy: whether the MSP's people need a second factor.
    pub async fn msp_requires_totp(&self) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(REQUIRE_TOTP_MSP)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some_and(|(v,)| v == "true"))
    }

    /// Set the policy of the MSP's people (`None`) or a tenant's, and apply it to its people.
    pub async fn set_totp_policy(
        &self,
        tenant: Option<TenantId>,
        required: bool,
    ) -> StoreResult<()> {
        match tenant {
            None => {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(REQUIRE_TOTP_MSP)
                .bind(if required { "true" } else { "false" })
                .execute(self.pool())
                .await?;
            }
            Some(t) => {
                sqlx::query("UPDATE tenants SET require_totp = $2 WHERE id = $1")
                    .bind(t.0)
                    .bind(i64::from(required))
                    .execute(self.pool())
                    .await?;
            }
        }
        self.set_totp_required(tenant, required).await
    }

    /// Whether a tenant's people need a second factor.
    pub async fn tenant_requires_totp(&self, tenant: TenantId) -> StoreResult<bool> {
        let (required,): (i64,) = sqlx::query_as("SELECT require_totp FROM tenants WHERE id = $1")
            .bind(tenant.0)
            .fetch_one(self.pool())
            .await?;
        Ok(required != 0)
    }

    /// How many users have the role (placeholders aside).
    pub async fn count_users_with_role(&self, role: &str) -> StoreResult<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = $1 AND placeholder = 0")
                .bind(role)
                .fetch_one(self.pool())
                .await?;
        Ok(n)
    }

    /// Replace the password hash (already computed) and note when.
    pub async fn update_password_hash(&self, user: i64, hash: &str, now: i64) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1",
        )
        .bind(user)
        .bind(hash)
        .bind(now)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Rename a user or change their role (already validated).
    pub async fn update_user(
        &self,
        user: i64,
        display_name: &str,
        role: &str,
    ) -> StoreResult<UserRow> {
        sqlx::query_as(&format!(
            "UPDATE users SET display_name = $2, role = $3 WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(user)
        .bind(display_name)
        .bind(role)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)
    }

    pub async fn set_user_active(&self, user: i64, active: bool) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET active = $2 WHERE id = $1")
            .bind(user)
            .bind(i64::from(active))
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The tenants a user is a member of, in id order.
    pub async fn memberships(&self, user: i64) -> StoreResult<Vec<TenantId>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT tenant_id FROM tenant_memberships WHERE user_id = $1 ORDER BY tenant_id",
        )
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(t,)| TenantId(t)).collect())
    }

    /// Make the user a member of the tenant; nothing happens when they already are.
    pub async fn add_membership(&self, user: i64, tenant: TenantId) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tenant_memberships (user_id, tenant_id) VALUES ($1, $2)
             ON CONFLICT (user_id, tenant_id) DO NOTHING",
        )
        .bind(user)
        .bind(tenant.0)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// End the membership; `NotFound` when there was none.
    pub async fn remove_membership(&self, user: i64, tenant: TenantId) -> StoreResult<()> {
        let done =
            sqlx::query("DELETE FROM tenant_memberships WHERE user_id = $1 AND tenant_id = $2")
                .bind(user)
                .bind(tenant.0)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
