//! The rows of browser sessions. Opening, checking and expiring one is
//! [`crate::people::sessions`]'s; only the SHA-256 of a session's secret is stored.

use super::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub revoked_at: Option<i64>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// What a new session row holds.
#[derive(Debug, Clone)]
pub struct NewSessionRow<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub client_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

const COLUMNS: &str = "id, user_id, created_at, last_seen_at, idle_expires_at, \
                       absolute_expires_at, revoked_at, client_address, user_agent";

impl Store {
    pub async fn insert_session(
        &self,
        new: &NewSessionRow<'_>,
        now: i64,
    ) -> StoreResult<SessionRow> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, idle_expires_at,
                                   absolute_expires_at, client_address, user_agent)
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        ))
        .bind(new.token_hash)
        .bind(new.user_id)
        .bind(now)
        .bind(new.idle_expires_at)
        .bind(new.absolute_expires_at)
        .bind(new.client_address)
        .bind(new.user_agent)
        .fetch_one(self.pool())
        .await?)
    }

    /// The session stored under this secret's hash with its user, in one read (every signed-in
    /// request pays it).
    pub async fn session_and_user(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(SessionRow, super::users::UserRow)>> {
        use sqlx::FromRow;
        let row = sqlx::query(&format!(
            "SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.idle_expires_at,
                    s.absolute_expires_at, s.revoked_at, s.client_address, s.user_agent, {owner}
               FROM sessions s JOIN users u ON u.id = s.user_id
              WHERE s.token_hash = $1",
            owner = super::users::OWNER_COLUMNS
        ))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        match super::users::owner_from(&row)? {
            Some(user) => Ok(Some((SessionRow::from_row(&row)?, user))),
            None => Ok(None),
        }
    }

    /// Note the session in use at `now`, its idle expiry moved to `idle_expires_at`.
    pub async fn touch_session(&self, id: i64, now: i64, idle_expires_at: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3
              WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(idle_expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A user's sessions not revoked, newest first.
    pub async fn user_sessions(&self, user: i64) -> StoreResult<Vec<SessionRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL
              ORDER BY created_at DESC, id DESC"
        ))
        .bind(user)
        .fetch_all(self.pool())
        .await?)
    }

    /// Revoke one of the user's sessions; `NotFound` unless it is theirs and still live.
    pub async fn revoke_session(&self, user: i64, id: i64, now: i64) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3
              WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user)
        .bind(now)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Revoke every live session of the user; how many there were.
    pub async fn revoke_user_sessions(&self, user: i64, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
