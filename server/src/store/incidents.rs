//! Incident rows beyond what every ticket has (see [`super::tickets`]): the open incident of a
//! (rule, CI) pair, the last finished one, severity, the flapping mark, the pointer to the
//! previous incident, and the offline incidents a site outage correlates. Row operations only;
//! [`crate::desk`] decides when they happen.

use super::tickets::open_states_sql;
use super::{StoreResult, Tx};

/// The open incident of a (rule, CI) pair, if any.
pub async fn open_incident_for(
    tx: &mut Tx<'_>,
    rule_id: i64,
    ci_id: i64,
) -> StoreResult<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM incidents WHERE rule_id = $1 AND ci_id = $2 AND state IN {}",
        open_states_sql()
    ))
    .bind(rule_id)
    .bind(ci_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.0))
}

/// The most recent resolved or closed incident of a pair: (id, state, resolved_at).
pub async fn last_finished_incident(
    tx: &mut Tx<'_>,
    rule_id: i64,
    ci_id: i64,
) -> StoreResult<Option<(i64, String, Option<i64>)>> {
    Ok(sqlx::query_as(
        "SELECT id, state, resolved_at FROM incidents
         WHERE rule_id = $1 AND ci_id = $2 AND state IN ('resolved', 'closed')
         ORDER BY id DESC LIMIT 1",
    )
    .bind(rule_id)
    .bind(ci_id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// An incident's impact and tenant.
pub async fn impact_and_tenant(tx: &mut Tx<'_>, incident_id: i64) -> StoreResult<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT impact, tenant_id FROM incidents WHERE id = $1")
            .bind(incident_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// An incident's number (`INC-…` without the prefix).
pub async fn number_of(tx: &mut Tx<'_>, incident_id: i64) -> StoreResult<i64> {
    let (number,): (i64,) = sqlx::query_as("SELECT number FROM incidents WHERE id = $1")
        .bind(incident_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(number)
}

pub async fn set_severity(
    tx: &mut Tx<'_>,
    incident_id: i64,
    severity: &str,
    urgency: i64,
    priority: i64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE incidents SET severity = $1, urgency = $2, priority = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(severity)
    .bind(urgency)
    .bind(priority)
    .bind(now)
    .bind(incident_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_flapping(
    tx: &mut Tx<'_>,
    incident_id: i64,
    flapping: bool,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE incidents SET flapping = $2, updated_at = $3 WHERE id = $1")
        .bind(incident_id)
        .bind(i64::from(flapping))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_previous(tx: &mut Tx<'_>, incident_id: i64, previous: i64) -> StoreResult<()> {
    sqlx::query("UPDATE incidents SET previous_incident_id = $2 WHERE id = $1")
        .bind(incident_id)
        .bind(previous)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Retitle an incident that is still open.
pub async fn set_title_if_open(
    tx: &mut Tx<'_>,
    incident_id: i64,
    title: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE incidents SET title = $1, updated_at = $2 WHERE id = $3 AND state IN {}",
        open_states_sql()
    ))
    .bind(title)
    .bind(now)
    .bind(incident_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The open incidents of a computer's rules on `metric`: `(id, number)`.
pub async fn open_of_ci_for_metric(
    tx: &mut Tx<'_>,
    ci_id: i64,
    metric: &str,
) -> StoreResult<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(&format!(
        "SELECT i.id, i.number FROM incidents i JOIN rules r ON r.id = i.rule_id
          WHERE i.ci_id = $1 AND r.metric = $2 AND i.state IN {}",
        open_states_sql()
    ))
    .bind(ci_id)
    .bind(metric)
    .fetch_all(&mut **tx)
    .await?)
}
