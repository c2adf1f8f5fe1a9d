//! Service states from every report (not only the inventory's): each known service CI gets its
//! current state, and the "service stopped" rules see it.
//!
//! Cost is kept to what changed: a CI's stored state is rewritten only when it differs, and a
//! stopped service is shown to the rules only when its state just changed or an alert on it is
//! still unsettled — a disabled unit that has been inactive for months does not run a rule
//! scope query every interval.

use std::collections::HashMap;

use atalaya_shared::ServiceState;
use serde_json::{Map, Value};

use crate::alerting::{Engine, Subject};
use crate::rules::metrics;
use crate::store::{StoreResult, TenantId, Tx};

#[allow(clippy::too_many_arguments)]
pub async fn observe_states(
    tx: &mut Tx<'_>,
    engine: &mut Engine,
    tenant: TenantId,
    computer_id: i64,
    host: &str,
    states: &[ServiceState],
    rows: &[(i64, String, Option<String>)],
    at: i64,
) -> StoreResult<()> {
    if states.is_empty() {
        return Ok(());
    }
    let known = stored_states(rows);
    for state in states {
        // A service the inventory has not described yet waits for the next inventory.
        let Some((ci_id, stored)) = known.get(state.name.as_str()) else {
            continue;
        };
        let changed = differs(stored, state);
        if changed {
            let mut updated = stored.clone();
            let text = |v: Option<&String>| v.map_or(Value::Null, |s| Value::String(s.clone()));
            updated.insert("active_state".into(), text(state.active_state.as_ref()));
            updated.insert("sub_state".into(), text(state.sub_state.as_ref()));
            sqlx::query(
                "UPDATE configuration_items SET metrics = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(ci_id)
            .bind(Value::Object(updated).to_string())
            .bind(at)
            .execute(&mut **tx)
            .await?;
        }
        let stopped = state.active_state.as_deref() != Some("active");
        if stopped && !changed && !engine.has_unsettled(*ci_id) {
            continue;
        }
        let subject = Subject {
            tenant,
            ci_id: *ci_id,
            computer_id,
            description: format!("Service {} on {host}", state.name),
        };
        engine
            .observe(
                tx,
                &subject,
                metrics::SERVICE_STOPPED,
                f64::from(u8::from(stopped)),
                at,
            )
            .await?;
    }
    Ok(())
}

/// Whether any of `states` differs from what its service CI (`rows`, as [`observe_states`]
/// takes them) has stored: then [`observe_states`] has something to write.
pub fn any_changed(states: &[ServiceState], rows: &[(i64, String, Option<String>)]) -> bool {
    let known = stored_states(rows);
    states.iter().any(|state| {
        known
            .get(state.name.as_str())
            .is_some_and(|(_, stored)| differs(stored, state))
    })
}

/// Each service CI's id and stored measurements, by unit name.
fn stored_states(
    rows: &[(i64, String, Option<String>)],
) -> HashMap<&str, (i64, Map<String, Value>)> {
    rows.iter()
        .map(|(id, name, m)| {
            let m = m
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            (name.as_str(), (*id, m))
        })
        .collect()
}

/// Whether a service's state or sub-state is not the one its CI has stored.
fn differs(stored: &Map<String, Value>, state: &ServiceState) -> bool {
    let text = |v: Option<&String>| v.map_or(Value::Null, |s| Value::String(s.clone()));
    stored.get("active_state").unwrap_or(&Value::Null) != &text(state.active_state.as_ref())
        || stored.get("sub_state").unwrap_or(&Value::Null) != &text(state.sub_state.as_ref())
}
