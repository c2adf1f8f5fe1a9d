//! A computer's disk and service CIs, read once per report for its `disk_io` and
//! `service_states` (one statement for both; none when the report has neither).

use crate::cmdb::class;
use crate::store::{StoreResult, Tx};

/// Live (not retired) disk and service CIs of one computer.
#[derive(Debug, Default)]
pub struct Parts {
    /// (id, kernel name)
    pub disks: Vec<(i64, String)>,
    /// (id, unit name, measurements as JSON text)
    pub services: Vec<(i64, String, Option<String>)>,
}

/// Read the computer's disks if `disks`, its services if `services`.
pub async fn load(
    tx: &mut Tx<'_>,
    computer_id: i64,
    disks: bool,
    services: bool,
) -> StoreResult<Parts> {
    let classes = match (disks, services) {
        (false, false) => return Ok(Parts::default()),
        (true, false) => [class::PHYSICAL_DISK; 2],
        (false, true) => [class::SERVICE; 2],
        (true, true) => [class::PHYSICAL_DISK, class::SERVICE],
    };
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, class, name, metrics FROM configuration_items
         WHERE computer_id = $1 AND class IN ($2, $3) AND status <> 'retired'",
    )
    .bind(computer_id)
    .bind(classes[0])
    .bind(classes[1])
    .fetch_all(&mut **tx)
    .await?;
    let mut parts = Parts::default();
    for (id, class, name, metrics) in rows {
        if class == class::SERVICE {
            parts.services.push((id, name, metrics));
        } else {
            parts.disks.push((id, name));
        }
    }
    Ok(parts)
}
