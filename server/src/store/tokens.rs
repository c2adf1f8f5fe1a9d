//! Admin API tokens and tenant enrollment tokens, stored only as hashes.

use serde::Serialize;

use super::in_scope;
use super::{now_ms, to_time, to_time_opt, Store, StoreError, StoreResult, TenantId, TenantScope};
use crate::secrets;

/// An API token as stored: ownerless (made by first start or `create-admin-token`: an MSP admin,
/// or bound to one tenant) or a person's, with a role no higher than theirs and an expiry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: i64,
    pub tenant_id: Option<i64>,
    pub user_id: Option<i64>,
    pub role: Option<String>,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What a new person's token holds (its secret's hash, never the secret).
#[derive(Debug, Clone)]
pub struct NewApiTokenRow<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub role: &'a str,
    pub tenant: Option<TenantId>,
    pub name: &'a str,
    pub expires_at: Option<i64>,
}

const API_TOKEN_COLUMNS: &str =
    "id, tenant_id, user_id, role, name, created_at, last_used_at, expires_at, revoked_at";

#[derive(Debug, Clone, Serialize)]
pub struct EnrollmentToken {
    pub id: i64,
    pub tenant_id: TenantId,
    pub site_id: Option<i64>,
    pub name: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

type EnrollmentRow = (
    i64,
    i64,
    Option<i64>,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
);

const ENROLLMENT_COLUMNS: &str =
    "id, tenant_id, site_id, name, expires_at, max_uses, uses, created_at, revoked_at";

fn enrollment_from_row(r: EnrollmentRow) -> EnrollmentToken {
    EnrollmentToken {
        id: r.0,
        tenant_id: TenantId(r.1),
        site_id: r.2,
        name: r.3,
        expires_at: to_time_opt(r.4),
        max_uses: r.5,
        uses: r.6,
        created_at: to_time(r.7),
        revoked_at: to_time_opt(r.8),
    }
}

/// What a new enrollment token may be used for.
#[derive(Debug, Clone, Default)]
pub struct NewEnrollmentToken {
    pub name: String,
    pub site_id: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub max_uses: Option<i64>,
}

/// Why an enrollment token was refused. Each maps to its own error code for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentRefusal {
    Unknown,
    Revoked,
    Expired,
    UsedUp,
}

impl Store {
    /// Create an ownerless admin token (first start, `create-admin-token`): an MSP admin's, or
    /// bound to one tenant. Returns the secret, which is never retrievable again.
    pub async fn create_api_token(
        &self,
        tenant: Option<TenantId>,
        name: &str,
    ) -> StoreResult<String> {
        let secret = secrets::generate(secrets::ADMIN_TOKEN_PREFIX);
        sqlx::query(
            "INSERT INTO api_tokens (tenant_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.map(|t| t.0))
        .bind(name)
        .bind(secrets::hash(&secret))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(secret)
    }

    /// A person's token.
    pub async fn insert_api_token(
        &self,
        new: &NewApiTokenRow<'_>,
        now: i64,
    ) -> StoreResult<ApiTokenRow> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO api_tokens (tenant_id, user_id, role, name, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {API_TOKEN_COLUMNS}"
        ))
        .bind(new.tenant.map(|t| t.0))
        .bind(new.user_id)
        .bind(new.role)
        .bind(new.name)
        .bind(new.token_hash)
        .bind(now)
        .bind(new.expires_at)
        .fetch_one(self.pool())
        .await?)
    }

    /// The token whose secret hashes to `hash`, with its owner, in one read (every request
    /// with a token pays it).
    pub async fn api_token_and_owner(
        &self,
        hash: &str,
    ) -> StoreResult<Option<(ApiTokenRow, Option<super::users::UserRow>)>> {
        use sqlx::FromRow;
        let row = sqlx::query(&format!(
            "SELECT t.id, t.tenant_id, t.user_id, t.role, t.name, t.created_at, t.last_used_at,
                    t.expires_at, t.revoked_at, {owner}
               FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
              WHERE t.token_hash = $1",
            owner = super::users::OWNER_COLUMNS
        ))
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some((
            ApiTokenRow::from_row(&row)?,
            super::users::owner_from(&row)?,
        )))
    }

    pub async fn api_token(&self, id: i64) -> StoreResult<ApiTokenRow> {
        sqlx::query_as(&format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// A person's tokens (revoked ones too, for the record), newest first; ownerless tokens
    /// with `None`.
    pub async fn api_tokens_of(&self, user: Option<i64>) -> StoreResult<Vec<ApiTokenRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens
              WHERE user_id = $1 OR (CAST($1 AS BIGINT) IS NULL AND user_id IS NULL)
              ORDER BY id DESC"
        ))
        .bind(user)
        .fetch_all(self.pool())
        .await?)
    }

    /// Note the token's use (callers write at most once a minute).
    pub async fn touch_api_token(&self, id: i64, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Revoke a token (a second revocation keeps the first time).
    pub async fn revoke_api_token(&self, id: i64, now: i64) -> StoreResult<ApiTokenRow> {
        sqlx::query_as(&format!(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
             RETURNING {API_TOKEN_COLUMNS}"
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Revoke every live token of a person (deactivated: nothing of theirs keeps working).
    pub async fn revoke_user_api_tokens(&self, user: i64, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Create an enrollment token for a tenant; returns its record and the secret.
    pub async fn create_enrollment_token(
        &self,
        tenant: TenantId,
        new: &NewEnrollmentToken,
    ) -> StoreResult<(EnrollmentToken, String)> {
        if new.name.trim().is_empty() {
            return Err(StoreError::Invalid("name must not be empty".into()));
        }
        if matches!(new.max_uses, Some(n) if n < 1) {
            return Err(StoreError::Invalid("max_uses must be at least 1".into()));
        }
        if matches!(new.expires_at_ms, Some(t) if t <= now_ms()) {
            return Err(StoreError::Invalid(
                "expires_at must be in the future".into(),
            ));
        }
        let secret = secrets::generate(secrets::ENROLLMENT_TOKEN_PREFIX);
        let row: EnrollmentRow = sqlx::query_as(&format!(
            "INSERT INTO enrollment_tokens (tenant_id, site_id, name, token_hash, expires_at, max_uses, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ENROLLMENT_COLUMNS}"
        ))
        .bind(tenant.0)
        .bind(new.site_id)
        .bind(new.name.trim())
        .bind(secrets::hash(&secret))
        .bind(new.expires_at_ms)
        .bind(new.max_uses)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok((enrollment_from_row(row), secret))
    }

    pub async fn list_enrollment_tokens(
        &self,
        scope: TenantScope,
    ) -> StoreResult<Vec<EnrollmentToken>> {
        let rows: Vec<EnrollmentRow> = sqlx::query_as(&format!(
            "SELECT {ENROLLMENT_COLUMNS} FROM enrollment_tokens
             WHERE {in_scope} ORDER BY id",
            in_scope = in_scope("tenant_id", 1)
        ))
        .bind(scope.filter())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(enrollment_from_row).collect())
    }

    /// Revoke an enrollment token; agents already enrolled with it keep working.
    pub async fn revoke_enrollment_token(
        &self,
        scope: TenantScope,
        id: i64,
    ) -> StoreResult<EnrollmentToken> {
        let row: Option<EnrollmentRow> = sqlx::query_as(&format!(
            "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, $1)
             WHERE id = $2 AND {in_scope}
             RETURNING {ENROLLMENT_COLUMNS}",
            in_scope = in_scope("tenant_id", 3)
        ))
        .bind(now_ms())
        .bind(id)
        .bind(scope.filter())
        .fetch_optional(self.pool())
        .await?;
        row.map(enrollment_from_row).ok_or(StoreError::NotFound)
    }

    /// Count one use of an enrollment token inside `tx`, atomically against its limits.
    pub async fn consume_enrollment_token(
        tx: &mut super::Tx<'_>,
        secret: &str,
    ) -> StoreResult<Result<EnrollmentToken, EnrollmentRefusal>> {
        let now = now_ms();
        let hash = secrets::hash(secret);
        // The guarded UPDATE makes the use limit hold under concurrent enrollments.
        let used: Option<EnrollmentRow> = sqlx::query_as(&format!(
            "UPDATE enrollment_tokens SET uses = uses + 1
             WHERE token_hash = $1 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $2)
               AND (max_uses IS NULL OR uses < max_uses)
             RETURNING {ENROLLMENT_COLUMNS}"
        ))
        .bind(&hash)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = used {
            return Ok(Ok(enrollment_from_row(row)));
        }
        let existing: Option<EnrollmentRow> = sqlx::query_as(&format!(
            "SELECT {ENROLLMENT_COLUMNS} FROM enrollment_tokens WHERE token_hash = $1"
        ))
        .bind(&hash)
        .fetch_optional(&mut **tx)
        .await?;
        let refusal = match existing.map(enrollment_from_row) {
            None => EnrollmentRefusal::Unknown,
            Some(t) if t.revoked_at.is_some() => EnrollmentRefusal::Revoked,
            Some(t) if t.expires_at.is_some_and(|e| e.timestamp_millis() <= now) => {
                EnrollmentRefusal::Expired
            }
            Some(_) => EnrollmentRefusal::UsedUp,
        };
        Ok(Err(refusal))
    }
}
