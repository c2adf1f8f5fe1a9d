//! A requester's satisfaction rating (1 to 5, once) of a resolved or closed ticket, kept with
//! the ticket and on its timeline.

use serde_json::json;

use super::actor::Actor;
use super::change::ChangeKind;
use super::reactions::Recorder;
use crate::store::satisfaction::{insert_rating, rating_subject, Rating};
use crate::store::tickets::{TicketKind, TicketRef};
use crate::store::{to_time, Store, StoreError, StoreResult, TenantId};

/// Longest comment kept with a rating.
const MAX_COMMENT_CHARS: usize = 2000;

/// Record the requester's score (1-5) of a resolved or closed ticket. A second rating is a
/// conflict, whichever replica receives it.
pub async fn rate(
    store: &Store,
    kind: TicketKind,
    id: i64,
    score: i64,
    comment: Option<&str>,
    now: i64,
) -> StoreResult<Rating> {
    if !(1..=5).contains(&score) {
        return Err(StoreError::Invalid("score must be 1 to 5".into()));
    }
    let comment = comment
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| c.chars().take(MAX_COMMENT_CHARS).collect::<String>());
    let mut tx = store.begin().await?;
    let (tenant_id, state, priority) = rating_subject(&mut tx, kind, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if state != "resolved" && state != "closed" {
        return Err(StoreError::Conflict(format!(
            "the {} is {state}; it can be rated once it is resolved",
            kind.noun()
        )));
    }
    insert_rating(
        &mut tx,
        tenant_id,
        kind,
        id,
        priority,
        score,
        comment.as_deref(),
        now,
    )
    .await?;
    let ticket = TicketRef {
        kind,
        tenant: TenantId(tenant_id),
        id,
    };
    let mut changes = Recorder::new(ticket, Actor::Requester, now);
    let detail = json!({"score": score, "comment": comment});
    changes.record(&mut tx, ChangeKind::Rated, detail).await?;
    changes.finish(&mut tx).await?;
    tx.commit().await?;
    Ok(Rating {
        score,
        comment,
        rated_at: to_time(now),
    })
}
