//! Closing resolved tickets automatically after the support plan's `auto_close_days`.

use super::tickets::TicketKind;
use super::{Store, StoreError, StoreResult, TenantScope};
use crate::desk::state::TicketState;

const DAY_MS: i64 = 86_400_000;

impl Store {
    /// Close every ticket resolved at least `auto_close_days` ago under its tenant's current
    /// plan, as the actor `auto-close`, with the reason on the timeline. A ticket changed
    /// meanwhile (reopened, or closed by another replica) is left alone. Returns how many were
    /// closed.
    pub async fn auto_close_resolved(&self, now: i64) -> StoreResult<usize> {
        let mut closed = 0;
        for tenant in self.list_tenants(TenantScope::All).await? {
            let Some(days) = self.support_plan(tenant.id).await?.plan.auto_close_days else {
                continue;
            };
            let cutoff = now.saturating_sub(days.saturating_mul(DAY_MS));
            let note = format!("closed automatically {days} days after resolution");
            for kind in [TicketKind::Incident, TicketKind::ServiceRequest] {
                let ids: Vec<(i64,)> = sqlx::query_as(&format!(
                    "SELECT id FROM {} WHERE tenant_id = $1 AND state = 'resolved'
                       AND resolved_at <= $2 ORDER BY id",
                    kind.table()
                ))
                .bind(tenant.id.0)
                .bind(cutoff)
                .fetch_all(self.pool())
                .await?;
                for (id,) in ids {
                    let outcome = self
                        .transition_ticket(
                            kind,
                            TenantScope::Tenant(tenant.id),
                            id,
                            TicketState::Closed,
                            None,
                            Some(&note),
                            "auto-close",
                            now,
                        )
                        .await;
                    match outcome {
                        Ok(_) => closed += 1,
                        Err(StoreError::Conflict(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
        }
        Ok(closed)
    }
}
