//! Secrets every replica must share, such as the key satisfaction links are signed with:
//! created once, by whichever replica asks first, and never shown through the API.

use super::{now_ms, Store, StoreResult};

impl Store {
    /// The secret called `name`, created on first use. Two replicas asking at once agree: the
    /// insert of the loser does nothing and both read the winner's value.
    pub async fn server_secret(&self, name: &str) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(crate::secrets::generate(""))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(self.pool())
                .await?;
        Ok(value)
    }
}
