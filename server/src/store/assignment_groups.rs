//! Assignment groups: the MSP's queues (tier 1 help desk, tier 2 specialists). They are
//! MSP-wide, because the MSP's own staff work every tenant's tickets.

use serde::Serialize;

use super::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, Serialize)]
pub struct AssignmentGroup {
    pub id: i64,
    pub name: String,
    pub tier: i64,
}

impl Store {
    pub async fn list_assignment_groups(&self) -> StoreResult<Vec<AssignmentGroup>> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT id, name, tier FROM assignment_groups ORDER BY tier, name")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, tier)| AssignmentGroup { id, name, tier })
            .collect())
    }

    pub async fn create_assignment_group(
        &self,
        name: &str,
        tier: i64,
        now: i64,
    ) -> StoreResult<AssignmentGroup> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("a group needs a name".into()));
        }
        if !(1..=3).contains(&tier) {
            return Err(StoreError::Invalid("tier must be 1, 2 or 3".into()));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO assignment_groups (name, tier, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(tier)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "an assignment group of that name exists"))?;
        Ok(AssignmentGroup {
            id,
            name: name.to_string(),
            tier,
        })
    }

    pub async fn assignment_group_by_name(&self, name: &str) -> StoreResult<AssignmentGroup> {
        let row: Option<(i64, String, i64)> =
            sqlx::query_as("SELECT id, name, tier FROM assignment_groups WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.map(|(id, name, tier)| AssignmentGroup { id, name, tier })
            .ok_or(StoreError::NotFound)
    }

    /// The ids of the users in a group, in id order.
    pub async fn group_members(&self, group: i64) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT user_id FROM group_memberships WHERE assignment_group_id = $1 ORDER BY user_id",
        )
        .bind(group)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Put a user in a group; nothing happens when they are in it already.
    pub async fn add_group_member(&self, group: i64, user: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO group_memberships (user_id, assignment_group_id) VALUES ($1, $2)
             ON CONFLICT (user_id, assignment_group_id) DO NOTHING",
        )
        .bind(user)
        .bind(group)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Take a user out of a group; `NotFound` when they were not in it.
    pub async fn remove_group_member(&self, group: i64, user: i64) -> StoreResult<()> {
        let done = sqlx::query(
            "DELETE FROM group_memberships WHERE user_id = $1 AND assignment_group_id = $2",
        )
        .bind(user)
        .bind(group)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
