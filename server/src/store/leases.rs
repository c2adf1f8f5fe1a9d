//! Leases on background jobs, so each runs on one replica at a time; and what each replica tells
//! the others about its ingest lag.

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

    /// Record that replica `holder` was behind on reports at `behind_at` (UTC ms; never moved
    /// back).
    pub async fn publish_ingest_lag(&self, holder: &str, behind_at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ingest_lag (holder, behind_at) VALUES ($1, $2)
             ON CONFLICT (holder) DO UPDATE SET behind_at = excluded.behind_at
             WHERE ingest_lag.behind_at < excluded.behind_at",
        )
        .bind(holder)
        .bind(behind_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The last time any replica said it was behind on reports (UTC ms).
    pub async fn replicas_behind_at(&self) -> StoreResult<Option<i64>> {
        let (at,): (Option<i64>,) = sqlx::query_as("SELECT MAX(behind_at) FROM ingest_lag")
            .fetch_one(self.pool())
            .await?;
        Ok(at)
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
