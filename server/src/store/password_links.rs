//! The rows of one-time links that set a password (a reset, an invitation), stored as hashes.
//! Who gets one and for how long is [`crate::people::password_links`]'s.

use super::{StoreResult, Tx};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasswordLinkRow {
    pub id: i64,
    pub user_id: i64,
    pub purpose: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, purpose, created_at, expires_at, used_at";

pub async fn insert(
    tx: &mut Tx<'_>,
    token_hash: &str,
    user: i64,
    purpose: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<PasswordLinkRow> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO password_links (token_hash, user_id, purpose, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(token_hash)
    .bind(user)
    .bind(purpose)
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn by_hash(tx: &mut Tx<'_>, token_hash: &str) -> StoreResult<Option<PasswordLinkRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM password_links WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?)
}

/// The user's newest link still usable at `now`, if any.
pub async fn newest_open(
    tx: &mut Tx<'_>,
    user: i64,
    now: i64,
) -> StoreResult<Option<PasswordLinkRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM password_links
          WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2
          ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(user)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Mark every open link of the user used: one was, and the others must not work after it.
pub async fn use_all(tx: &mut Tx<'_>, user: i64, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE password_links SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
        .bind(user)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
