//! Measurements (`metric_samples`): one row per (CI, metric, time), written by step 3 of a
//! report. One report's rows go in with [`record`] (both backends); a group commit's rows, of
//! many reports, with [`record_batch`] (PostgreSQL, one statement). The rows are the same
//! [`SampleRow`]s either way — which ones a report has is decided once, in `ingest::rows`.

use serde::Serialize;

use super::{StoreError, StoreResult, Tx};

/// One measurement of one CI.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SampleRow<'a> {
    pub tenant_id: i64,
    pub ci_id: i64,
    pub metric: &'a str,
    pub at: i64,
    pub value: f64,
}

/// Rows per statement of [`record`]: five values each, well under both backends' limits on
/// binds.
const SAMPLES_PER_STATEMENT: usize = 200;

/// Store measurements, a few hundred per statement; one already stored (same CI, metric and
/// time: a replayed report) is kept as it was.
pub async fn record(tx: &mut Tx<'_>, samples: &[SampleRow<'_>]) -> StoreResult<()> {
    for chunk in samples.chunks(SAMPLES_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO metric_samples (tenant_id, ci_id, metric, at, value) VALUES {}
             ON CONFLICT (ci_id, metric, at) DO NOTHING",
            super::placeholders(chunk.len(), 5)
        );
        let mut query = sqlx::query(&sql);
        for sample in chunk {
            query = query
                .bind(sample.tenant_id)
                .bind(sample.ci_id)
                .bind(sample.metric)
                .bind(sample.at)
                .bind(sample.value);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// What [`record`] does, for any number of rows in one statement (PostgreSQL): the rows go as
/// one JSON document (`json_to_recordset`), so the statement's text, and PostgreSQL's prepared
/// plan, is the same whatever their number.
pub async fn record_batch(tx: &mut Tx<'_>, samples: &[SampleRow<'_>]) -> StoreResult<()> {
    if samples.is_empty() {
        return Ok(());
    }
    let samples = serde_json::to_string(samples).map_err(invalid)?;
    sqlx::query(
        "INSERT INTO metric_samples (tenant_id, ci_id, metric, at, value)
         SELECT tenant_id, ci_id, metric, at, value
         FROM json_to_recordset(CAST($1 AS json))
             AS s(tenant_id bigint, ci_id bigint, metric text, at bigint, value float8)
         ON CONFLICT (ci_id, metric, at) DO NOTHING",
    )
    .bind(samples)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) fn invalid(err: serde_json::Error) -> StoreError {
    StoreError::Invalid(format!("a batch of reports could not be encoded: {err}"))
}
