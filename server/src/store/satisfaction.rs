//! Satisfaction ratings: a requester scores a resolved ticket from 1 to 5, once.

use super::tickets::TicketKind;
use super::{to_time, Store, StoreError, StoreResult, TenantId, Tx};
use serde::Serialize;

/// What the rating page shows about a ticket, and its rating if it has one.
#[derive(Debug, Clone, Serialize)]
pub struct RatingTarget {
    pub kind: TicketKind,
    pub id: i64,
    pub tenant_id: TenantId,
    pub number: String,
    pub title: String,
    pub state: String,
    pub rating: Option<Rating>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rating {
    pub score: i64,
    pub comment: Option<String>,
    pub rated_at: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// The ticket a satisfaction link names (any tenant: the link's signature is the
    /// authorisation).
    pub async fn rating_target(&self, kind: TicketKind, id: i64) -> StoreResult<RatingTarget> {
        let row: Option<(i64, i64, String, String)> = sqlx::query_as(&format!(
            "SELECT tenant_id, number, title, state FROM {} WHERE id = $1",
            kind.table()
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let (tenant_id, number, title, state) = row.ok_or(StoreError::NotFound)?;
        let rating: Option<(i64, Option<String>, i64)> = sqlx::query_as(
            "SELECT score, comment, rated_at FROM satisfaction_ratings
              WHERE ticket_kind = $1 AND ticket_id = $2",
        )
        .bind(kind_name(kind))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(RatingTarget {
            kind,
            id,
            tenant_id: TenantId(tenant_id),
            number: kind.number(number),
            title,
            state,
            rating: rating.map(|(score, comment, at)| Rating {
                score,
                comment,
                rated_at: to_time(at),
            }),
        })
    }
}

/// A ticket's tenant, state and priority, for rating it.
pub async fn rating_subject(
    tx: &mut Tx<'_>,
    kind: TicketKind,
    id: i64,
) -> StoreResult<Option<(i64, String, i64)>> {
    Ok(sqlx::query_as(&format!(
        "SELECT tenant_id, state, priority FROM {} WHERE id = $1",
        kind.table()
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Insert a rating; a second rating of one ticket is a conflict, whichever replica receives it.
#[allow(clippy::too_many_arguments)]
pub async fn insert_rating(
    tx: &mut Tx<'_>,
    tenant_id: i64,
    kind: TicketKind,
    id: i64,
    priority: i64,
    score: i64,
    comment: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO satisfaction_ratings (tenant_id, ticket_kind, ticket_id, priority, score,
                                           comment, rated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant_id)
    .bind(kind_name(kind))
    .bind(id)
    .bind(priority)
    .bind(score)
    .bind(comment)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        StoreError::conflict_on_unique(e, &format!("this {} was already rated", kind.noun()))
    })?;
    Ok(())
}

pub(crate) fn kind_name(kind: TicketKind) -> &'static str {
    match kind {
        TicketKind::Incident => "incident",
        TicketKind::ServiceRequest => "service_request",
    }
}
