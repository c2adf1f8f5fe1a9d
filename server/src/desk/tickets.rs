//! The desk's entry points for people (the HTTP API) and tests: each opens a transaction, gives
//! one command (see [`super::commands`]), commits, and reads the ticket back with its clocks.

use super::actor::Actor;
use super::commands::{self, Comment, NewTicket, TicketEdit};
use super::state::{HoldReason, TicketState};
use super::ticket::{self, Ticket};
use crate::store::tickets::TicketKind;
use crate::store::{Store, StoreResult, TenantId, TenantScope};

pub use super::ticket::{cis, get, list, timeline};

/// Open a ticket by hand. Its priority comes from the tenant's matrix.
pub async fn create(
    store: &Store,
    kind: TicketKind,
    tenant: TenantId,
    new: &NewTicket,
    actor: impl Into<Actor>,
    now: i64,
) -> StoreResult<Ticket> {
    let mut tx = store.begin().await?;
    let (id, _) = commands::open(&mut tx, kind, tenant, new, &actor.into(), now).await?;
    tx.commit().await?;
    ticket::get(store, kind, TenantScope::Tenant(tenant), id, now).await
}

/// Move a ticket through its life cycle; refused moves are conflicts with a clear message.
#[allow(clippy::too_many_arguments)]
pub async fn transition(
    store: &Store,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    to: TicketState,
    hold: Option<HoldReason>,
    note: Option<&str>,
    actor: impl Into<Actor>,
    now: i64,
) -> StoreResult<Ticket> {
    let mut tx = store.begin().await?;
    let actor = actor.into();
    commands::transition(&mut tx, kind, scope, id, to, hold, note, &actor, now).await?;
    tx.commit().await?;
    ticket::get(store, kind, scope, id, now).await
}

/// Give a ticket to a group and/or a person. A new ticket becomes assigned.
#[allow(clippy::too_many_arguments)]
pub async fn assign(
    store: &Store,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    group: Option<&str>,
    assignee: Option<&commands::Assignee>,
    actor: impl Into<Actor>,
    now: i64,
) -> StoreResult<Ticket> {
    let mut tx = store.begin().await?;
    let actor = actor.into();
    commands::assign(&mut tx, kind, scope, id, group, assignee, &actor, now).await?;
    tx.commit().await?;
    ticket::get(store, kind, scope, id, now).await
}

/// Hand a ticket to a higher tier (see [`commands::escalate`]).
#[allow(clippy::too_many_arguments)]
pub async fn escalate(
    store: &Store,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    group: Option<&str>,
    assignee: Option<&commands::Assignee>,
    reason: &str,
    actor: impl Into<Actor>,
    now: i64,
) -> StoreResult<Ticket> {
    let mut tx = store.begin().await?;
    let actor = actor.into();
    commands::escalate(
        &mut tx, kind, scope, id, group, assignee, reason, &actor, now,
    )
    .await?;
    tx.commit().await?;
    ticket::get(store, kind, scope, id, now).await
}

/// Add a public comment or an internal work note (see [`commands::comment`]).
pub async fn comment(
    store: &Store,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    comment: &Comment,
    actor: impl Into<Actor>,
    now: i64,
) -> StoreResult<Ticket> {
    let mut tx = store.begin().await?;
    commands::comment(&mut tx, kind, scope, id, comment, &actor.into(), now).await?;
    tx.commit().await?;
    ticket::get(store, kind, scope, id, now).await
}

/// Change title, description, requester, impact or urgency (see [`commands::edit`]).
pub async fn edit(
    store: &Store,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    edit: &TicketEdit,
    actor: impl Into<Actor>,
    now: i64,
) -> StoreResult<Ticket> {
    let mut tx = store.begin().await?;
    commands::edit(&mut tx, kind, scope, id, edit, &actor.into(), now).await?;
    tx.commit().await?;
    ticket::get(store, kind, scope, id, now).await
}

/// Link more CIs (of the ticket's tenant).
#[allow(clippy::too_many_arguments)]
pub async fn link_cis(
    store: &Store,
    kind: TicketKind,
    scope: TenantScope,
    id: i64,
    ci_ids: &[i64],
    role: &str,
    actor: impl Into<Actor>,
    now: i64,
) -> StoreResult<Ticket> {
    let mut tx = store.begin().await?;
    let actor = actor.into();
    commands::link_cis(&mut tx, kind, scope, id, ci_ids, role, &actor, now).await?;
    tx.commit().await?;
    ticket::get(store, kind, scope, id, now).await
}
