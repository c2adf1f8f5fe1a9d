//! Leases on background jobs, so each runs on one replica at a time.

use super::{Store, StoreResult};

impl Store {
    /// Take, or renew, the lease on `job` for `holder` until `now + ttl_ms`. True when `holder`
    /// now holds it: it was free, expired, or already `holder`'s.
    pub async fn take_lease(
        &self,
        job: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= $4
             RETURNING holder",
        )
        .bind(job)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some_and(|(h,)| h == holder))
    }

    /// Give the lease up (on shutdown), so another replica takes the job over at once.
    pub async fn release_lease(&self, job: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2")
            .bind(job)
            .bind(holder)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Who holds each job's lease, and until when (ms): for `/metrics` and tests.
    pub async fn list_leases(&self) -> StoreResult<Vec<(String, String, i64)>> {
        Ok(
            sqlx::query_as("SELECT name, holder, expires_at FROM job_leases ORDER BY name")
                .fetch_all(self.pool())
                .await?,
        )
    }
}
