//! The desk's own jobs: the SLA sweep (record and notify warnings and breaches, escalate on a
//! breach when the plan says so) and closing resolved tickets after the plan's
//! `auto_close_days`. Each issues the same commands a person would, as [`Actor::Sla`] or
//! [`Actor::AutoClose`].

use serde_json::json;

use super::actor::Actor;
use super::change::ChangeKind;
use super::clocks;
use super::commands;
use super::plans::{current_plan, plan_versions};
use super::reactions::Recorder;
use super::state::TicketState;
use crate::sla::clock::{Clock, Status};
use crate::store::tickets::{self, TicketKind, TicketRef};
use crate::store::{to_time, Store, StoreError, StoreResult, TenantScope};

const DAY_MS: i64 = 86_400_000;

/// The thresholds a clock has crossed by `now`: `(breach?, crossed_at)`.
fn crossed(clock: &Clock, now: i64) -> Vec<(bool, i64)> {
    let mut out = Vec::new();
    if matches!(clock.status, Status::Warning | Status::Breached) {
        out.extend(clock.warning_at.map(|at| (false, at)));
    }
    if clock.status == Status::Breached {
        out.extend(clock.due_at.map(|at| (true, at)));
    }
    out.retain(|(_, at)| *at <= now);
    out
}

/// Record on the timeline, and notify, each SLA warning and breach not yet recorded; on a
/// breach, escalate to the next tier when the tenant's plan says so. Safe to run often and
/// on several replicas: a crossing is recorded once (the timeline is checked in the same
/// transaction) and notified once (the outbox key is unique). Returns how many crossings
/// were recorded.
pub async fn sla_sweep(store: &Store, now: i64) -> StoreResult<usize> {
    let mut recorded = 0;
    for kind in TicketKind::ALL {
        let ids = {
            let mut conn = store.pool().acquire().await?;
            tickets::sla_due_ids(&mut conn, kind, now).await?
        };
        for id in ids {
            let mut tx = store.begin().await?;
            let row = tickets::load_row(&mut tx, kind, TenantScope::All, id).await?;
            let tenant = row.tenant();
            let plans = plan_versions(&mut tx, tenant).await?;
            let clocks = clocks::of_row(&mut tx, kind, &row, &plans, now).await?;
            let ticket = TicketRef { kind, tenant, id };
            let mut changes = Recorder::new(ticket, Actor::Sla, now);
            let mut breached = false;
            for (metric, clock) in [
                ("response", &clocks.response),
                ("resolution", &clocks.resolution),
            ] {
                for (breach, crossed_at) in crossed(clock, now) {
                    let change = if breach {
                        ChangeKind::SlaBreach { metric, crossed_at }
                    } else {
                        ChangeKind::SlaWarning { metric, crossed_at }
                    };
                    let detail = json!({"metric": metric, "crossed_at": to_time(crossed_at)});
                    if tickets::has_event(&mut tx, kind, id, change.name(), &detail).await? {
                        continue;
                    }
                    changes.record(&mut tx, change, detail).await?;
                    recorded += 1;
                    breached |= breach;
                }
            }
            changes.finish(&mut tx).await?;
            let escalate = breached
                && row.group_tier.unwrap_or(1) < 2
                && current_plan(&mut tx, tenant).await?.escalate_on_breach;
            tx.commit().await?;
            if escalate {
                // The same escalation a person asks for, in its own transaction.
                let mut tx = store.begin().await?;
                let outcome = commands::escalate(
                    &mut tx,
                    kind,
                    TenantScope::All,
                    id,
                    None,
                    None,
                    "SLA breached",
                    &Actor::Sla,
                    now,
                )
                .await;
                match outcome {
                    Ok(_) => tx.commit().await?,
                    Err(StoreError::Conflict(_)) => {}
                    Err(other) => return Err(other),
                }
            }
        }
    }
    Ok(recorded)
}

/// Close every ticket resolved at least `auto_close_days` ago under its tenant's current
/// plan, as the actor `auto-close`, with the reason on the timeline. A ticket changed
/// meanwhile (reopened, or closed by another replica) is left alone. Returns how many were
/// closed.
pub async fn auto_close(store: &Store, now: i64) -> StoreResult<usize> {
    let mut closed = 0;
    for tenant in store.list_tenants(TenantScope::All).await? {
        let Some(days) = super::plans::current(store, tenant.id)
            .await?
            .plan
            .auto_close_days
        else {
            continue;
        };
        let cutoff = now.saturating_sub(days.saturating_mul(DAY_MS));
        let note = format!("closed automatically {days} days after resolution");
        for kind in TicketKind::ALL {
            let ids = {
                let mut conn = store.pool().acquire().await?;
                tickets::resolved_before(&mut conn, kind, tenant.id, cutoff).await?
            };
            for id in ids {
                let mut tx = store.begin().await?;
                let outcome = commands::transition(
                    &mut tx,
                    kind,
                    TenantScope::Tenant(tenant.id),
                    id,
                    TicketState::Closed,
                    None,
                    Some(&note),
                    &Actor::AutoClose,
                    now,
                )
                .await;
                match outcome {
                    Ok(_) => {
                        tx.commit().await?;
                        closed += 1;
                    }
                    Err(StoreError::Conflict(_)) => {}
                    Err(other) => return Err(other),
                }
            }
        }
    }
    Ok(closed)
}
