//! Why an alert must not page anyone: its computer is offline ("parent down"), a site outage
//! speaks for it, or a maintenance window or silence in force covers it. The rows are the
//! store's; the time rules of a window are [`crate::rules::suppression`]'s.

use crate::rules::metrics::OFFLINE_SECONDS;
use crate::store::alerts::{self, ci_matches};
use crate::store::{site_outages, Backend, StoreResult, TenantId, Tx};

/// Why an alert of `rule_id` on `ci_id` (of computer `computer_id`) must not page anyone at
/// `at`, if so: `parent_down`, `site_outage:<id>`, or the window's `<kind>:<id>`.
pub async fn why_held(
    tx: &mut Tx<'_>,
    backend: Backend,
    tenant: TenantId,
    rule_id: i64,
    ci_id: i64,
    computer_id: i64,
    at: i64,
) -> StoreResult<Option<String>> {
    if ci_id != computer_id {
        // Parent down: while the computer is offline, its parts' alerts say nothing new.
        if alerts::firing_on(tx, computer_id, OFFLINE_SECONDS).await? {
            return Ok(Some("parent_down".into()));
        }
    }
    if ci_id == computer_id {
        // Site outage: one site incident speaks for the computers that went offline with it.
        if let Some(id) =
            site_outages::suppressing(tx, tenant, rule_id, computer_id, at, OFFLINE_SECONDS).await?
        {
            return Ok(Some(format!("site_outage:{id}")));
        }
    }
    for s in alerts::suppressions_for_rule(tx, tenant, rule_id).await? {
        if !s.window().is_active(at) {
            continue;
        }
        let covered = match &s.scope_query {
            None => true,
            // A window on a computer covers its volumes, disks and services too.
            Some(q) => {
                ci_matches(tx, backend, ci_id, q).await?
                    || ci_matches(tx, backend, computer_id, q).await?
            }
        };
        if covered {
            return Ok(Some(format!("{}:{}", s.kind, s.id)));
        }
    }
    Ok(None)
}
