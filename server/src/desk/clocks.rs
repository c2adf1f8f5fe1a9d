//! A ticket's SLA clocks, replayed from its timeline rows and its tenant's plan versions (see
//! [`crate::sla::history`]), and the stored copy of their next warning and breach instants.

use serde_json::Value;
use sqlx::AnyConnection;

use super::plans::plan_versions;
use crate::sla::clock::{replay, Clocks};
use crate::sla::history::{clock_events, PlanVersion, StoredEvent};
use crate::store::tickets::{self, TicketKind, TicketRow};
use crate::store::{StoreResult, TenantId, TenantScope};

async fn stored_events(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
) -> StoreResult<Vec<StoredEvent>> {
    let rows = tickets::clock_rows(conn, kind, ticket_id).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let staff_reply = row.kind == "comment"
                && serde_json::from_str::<Value>(&row.detail)
                    .ok()
                    .and_then(|d| d["from_requester"].as_bool())
                    != Some(true);
            StoredEvent {
                at: row.at,
                kind: row.kind,
                state: row.state,
                priority: row.priority,
                staff_reply,
            }
        })
        .collect())
}

/// The clocks of one ticket as of `now`, given its tenant's plan versions.
pub async fn of_row(
    conn: &mut AnyConnection,
    kind: TicketKind,
    row: &TicketRow,
    plans: &[PlanVersion],
    now: i64,
) -> StoreResult<Clocks> {
    let events = stored_events(conn, kind, row.id).await?;
    Ok(replay(
        &clock_events(row.opened_at, row.priority, &events, plans),
        now,
    ))
}

/// The clocks of one ticket as of `now`, given its tenant's plan versions (for reports, which
/// read many tickets of few tenants).
pub async fn replayed(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
    plans: &[PlanVersion],
    now: i64,
) -> StoreResult<Clocks> {
    let row = tickets::load_row(conn, kind, TenantScope::All, ticket_id).await?;
    of_row(conn, kind, &row, plans, now).await
}

/// Recompute the stored SLA risk instants of one ticket from its log.
pub async fn refresh(
    conn: &mut AnyConnection,
    kind: TicketKind,
    ticket_id: i64,
    now: i64,
) -> StoreResult<()> {
    let row = tickets::load_row(conn, kind, TenantScope::All, ticket_id).await?;
    let plans = plan_versions(conn, row.tenant()).await?;
    let clocks = of_row(conn, kind, &row, &plans, now).await?;
    let (warning_at, breach_at) = clocks.next_instants();
    tickets::set_sla_instants(conn, kind, ticket_id, warning_at, breach_at).await
}

/// After a plan change: refresh every open ticket of the tenant.
pub async fn refresh_open_tickets(
    conn: &mut AnyConnection,
    tenant: TenantId,
    now: i64,
) -> StoreResult<()> {
    for kind in TicketKind::ALL {
        for id in tickets::open_ids(conn, kind, tenant).await? {
            refresh(conn, kind, id, now).await?;
        }
    }
    Ok(())
}
