//! Per-disk health from every report's `disk_io` (not only the inventory's): each known disk CI
//! gets its I/O rates and SMART readings as samples, and the SMART rules see the agent's latest
//! verdict within an interval of its SMART check.
//!
//! Disks are matched by kernel name (`sda`, `nvme0n1`), the name their `physical_disk` CI got
//! from the inventory. A disk the inventory has not described yet is skipped: it gets a CI, and
//! its samples, once the next inventory names it.

use std::collections::HashMap;

use atalaya_shared::{metric as m, DiskIo};

use crate::alerting::{Engine, Subject};
use crate::rules::metrics;
use crate::store::samples::SampleRow;
use crate::store::{StoreResult, TenantId, Tx};

/// A report's disk entry and the CI it is about.
pub struct KnownDisk<'a> {
    pub ci_id: i64,
    pub disk: &'a DiskIo,
}

/// The entries of `disk_io` whose disk has a CI on this computer (`disks`: its live disk CIs,
/// id and name).
pub fn known<'a>(disks: &[(i64, String)], disk_io: &'a [DiskIo]) -> Vec<KnownDisk<'a>> {
    let ids: HashMap<&str, i64> = disks
        .iter()
        .map(|(id, name)| (name.as_str(), *id))
        .collect();
    disk_io
        .iter()
        .filter_map(|disk| {
            let ci_id = *ids.get(disk.device.as_str())?;
            Some(KnownDisk { ci_id, disk })
        })
        .collect()
}

/// The samples of every known disk, for the report's one batched insert.
pub fn samples<'a>(
    tenant: TenantId,
    known: &[KnownDisk<'_>],
    at: i64,
    out: &mut Vec<SampleRow<'a>>,
) {
    for KnownDisk { ci_id, disk: d } in known {
        let failed = d.smart_healthy.map(|ok| f64::from(u8::from(!ok)));
        let values = [
            (m::DISK_READ_BYTES_PER_SECOND, d.read_bytes_per_sec),
            (m::DISK_WRITE_BYTES_PER_SECOND, d.write_bytes_per_sec),
            (m::DISK_READS_PER_SECOND, d.reads_per_sec),
            (m::DISK_WRITES_PER_SECOND, d.writes_per_sec),
            (metrics::DISK_SMART_FAILED, failed),
            (
                metrics::DISK_REALLOCATED_SECTORS,
                d.reallocated_sectors.map(|n| n as f64),
            ),
            (
                metrics::DISK_PENDING_SECTORS,
                d.pending_sectors.map(|n| n as f64),
            ),
            (
                m::DISK_TEMPERATURE_CELSIUS,
                d.temperature_celsius.map(|t| t as f64),
            ),
            (m::DISK_WEAR_PERCENT, d.wear_percent.map(|w| w as f64)),
        ];
        for (metric, value) in values {
            if let Some(value) = value {
                out.push(SampleRow {
                    tenant_id: tenant.0,
                    ci_id: *ci_id,
                    metric,
                    at,
                    value,
                });
            }
        }
    }
}

/// Shows every known disk's SMART verdict to the rules, except the disks in `skip` (an
/// inventory in the same report has just shown them a fresher reading). An unknown verdict is
/// not shown at all: it neither opens nor resolves anything.
#[allow(clippy::too_many_arguments)]
pub async fn observe(
    tx: &mut Tx<'_>,
    engine: &mut Engine,
    tenant: TenantId,
    computer_id: i64,
    host: &str,
    known: &[KnownDisk<'_>],
    skip: &[i64],
    at: i64,
) -> StoreResult<()> {
    for KnownDisk { ci_id, disk } in known {
        let readings = readings(disk, skip.contains(ci_id));
        if readings.is_empty() {
            continue;
        }
        let subject = Subject {
            tenant,
            ci_id: *ci_id,
            computer_id,
            description: format!("Disk {} on {host}", disk.device),
        };
        for (metric, value) in readings {
            engine.observe(tx, &subject, metric, value, at).await?;
        }
    }
    Ok(())
}

/// What [`observe`] shows the rules of one disk (nothing when `skipped` or its verdict is
/// unknown).
pub fn readings(disk: &DiskIo, skipped: bool) -> Vec<(&'static str, f64)> {
    let Some(healthy) = disk.smart_healthy.filter(|_| !skipped) else {
        return Vec::new();
    };
    [
        (metrics::DISK_SMART_FAILED, Some(u64::from(!healthy))),
        (metrics::DISK_REALLOCATED_SECTORS, disk.reallocated_sectors),
        (metrics::DISK_PENDING_SECTORS, disk.pending_sectors),
    ]
    .into_iter()
    .filter_map(|(metric, value)| value.map(|v| (metric, v as f64)))
    .collect()
}
