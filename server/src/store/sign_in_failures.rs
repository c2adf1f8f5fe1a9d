//! The rows of failed sign-ins, counted per account and per client address. How many are too
//! many, and for how long, is [`crate::people::sign_in`]'s.

use super::{Store, StoreResult};

impl Store {
    pub async fn insert_sign_in_failure(
        &self,
        account: &str,
        address: Option<&str>,
        at: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO sign_in_failures (at, account, address) VALUES ($1, $2, $3)")
            .bind(at)
            .bind(account)
            .bind(address)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Failures since `since` for the account and for the address: each count and the oldest
    /// of them (when the window frees up again).
    pub async fn sign_in_failures_since(
        &self,
        account: &str,
        address: Option<&str>,
        since: i64,
    ) -> StoreResult<(FailureCount, FailureCount)> {
        let by_account: (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM sign_in_failures WHERE account = $1 AND at >= $2",
        )
        .bind(account)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        let by_address: (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM sign_in_failures WHERE address = $1 AND at >= $2",
        )
        .bind(address)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok((by_account.into(), by_address.into()))
    }

    /// Forget an account's failures (it signed in) and everybody's older than `before`.
    pub async fn clear_sign_in_failures(&self, account: &str, before: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE account = $1 OR at < $2")
            .bind(account)
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    pub count: i64,
    pub oldest: Option<i64>,
}

impl From<(i64, Option<i64>)> for FailureCount {
    fn from((count, oldest): (i64, Option<i64>)) -> Self {
        FailureCount { count, oldest }
    }
}
