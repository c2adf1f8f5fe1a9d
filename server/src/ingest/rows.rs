//! What steps 1 (the ledger) and 3 (the samples) of a report write, as rows: one definition for
//! both ways of writing them — one report's rows in its own transaction (`ingest_once`), or
//! many reports' rows in one statement per step (the group commit, [`super::steady`]). A new
//! ledger field or sample is added here, and both paths write it. (Step 2's rows, the computer's
//! and volumes' fingerprints and measurements, come from `cmdb::inventory` for both paths.)

use atalaya_shared::{Report, VolumeInodes};

use super::disks::{self, KnownDisk};
use super::{inodes_used, VOLUME_USED_PERCENT};
use crate::rules::metrics;
use crate::store::reports::LedgerRow;
use crate::store::samples::SampleRow;
use crate::store::{StoreError, StoreResult, TenantId};

/// Step 1's row: the report's sequence number recorded for its agent, received at
/// `received_at`.
pub(super) fn ledger<'a>(
    tenant: TenantId,
    agent_id: &'a str,
    report: &Report,
    received_at: i64,
) -> StoreResult<LedgerRow<'a>> {
    let seq =
        i64::try_from(report.seq).map_err(|_| StoreError::Invalid("seq out of range".into()))?;
    Ok(LedgerRow {
        tenant_id: tenant.0,
        agent_id,
        seq,
        collected_at: report.collected_at.timestamp_millis(),
        received_at,
        dropped: i64::try_from(report.dropped_since_last).unwrap_or(i64::MAX),
    })
}

/// Where step 3's samples go: the CIs the CMDB step found for a report.
pub(super) struct SampledCis<'a, 'r> {
    pub computer_id: i64,
    /// The report's volumes' CIs, in report order.
    pub volume_ids: &'a [i64],
    /// The disks of the report's `disk_io` that have a CI.
    pub known_disks: &'a [KnownDisk<'r>],
}

/// Step 3's rows, appended to `out`: every measurement of the report — the computer's, each
/// volume's use (space, and inodes when the agent sent them) and each known disk's I/O and
/// SMART readings.
pub(super) fn samples<'r>(
    tenant: TenantId,
    report: &'r Report,
    volume_inodes: &[VolumeInodes],
    cis: &SampledCis<'_, '_>,
    out: &mut Vec<SampleRow<'r>>,
) {
    let tenant_id = tenant.0;
    let collected_at = report.collected_at.timestamp_millis();
    out.extend(report.metrics.iter().map(|sample| SampleRow {
        tenant_id,
        ci_id: cis.computer_id,
        metric: &sample.metric,
        at: sample.at.timestamp_millis(),
        value: sample.value,
    }));
    let volumes = || report.volumes.iter().zip(cis.volume_ids);
    out.extend(volumes().map(|(volume, id)| SampleRow {
        tenant_id,
        ci_id: *id,
        metric: VOLUME_USED_PERCENT,
        at: collected_at,
        value: volume.used_percent(),
    }));
    out.extend(volumes().filter_map(|(volume, id)| {
        let used = inodes_used(volume_inodes, &volume.mount_point)?;
        Some(SampleRow {
            tenant_id,
            ci_id: *id,
            metric: metrics::VOLUME_INODES_USED_PERCENT,
            at: collected_at,
            value: used,
        })
    }));
    disks::samples(tenant, cis.known_disks, collected_at, out);
}
