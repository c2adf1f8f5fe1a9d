//! The body of `POST /api/v1/agent/report`: the shared [`Report`] plus the top-level fields
//! beside it. The agent sends it, the server reads it and fleet-sim imitates the agent with it,
//! so all three agree on one definition of the JSON.

use serde::{Deserialize, Serialize};

use crate::protocol::{DiskIo, Inventory, Report, ServiceState, VolumeInodes};

/// One report as it goes on the wire: the [`Report`] fields flattened at the top level, and
/// beside them the `inventory` when it is due (its hash changed, or the daily full send), the
/// `service_states` of every collection (absent when the service manager could not be asked —
/// not "no services"), the volumes' inode use (`volume_inodes`) and every whole disk's I/O rates
/// and last SMART verdict (`disk_io`).
///
/// Empty and absent fields are left out of the JSON, and a missing field reads as empty, so a
/// server that does not know a field ignores it and an older agent's report still parses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportEnvelope {
    #[serde(flatten)]
    pub report: Report,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_states: Option<Vec<ServiceState>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_inodes: Vec<VolumeInodes>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disk_io: Vec<DiskIo>,
}

impl From<Report> for ReportEnvelope {
    fn from(report: Report) -> Self {
        ReportEnvelope {
            report,
            inventory: None,
            service_states: None,
            volume_inodes: Vec::new(),
            disk_io: Vec::new(),
        }
    }
}

/// The golden files in `shared/testdata/` are the exact bytes the agent's former `WireReport`
/// and fleet-sim's former `Outgoing` serialised for [`fixture`](crate::fixture) values, taken
/// from that code before it was replaced by [`ReportEnvelope`].
#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    fn full() -> ReportEnvelope {
        let mut inventory = fixture::inventory();
        inventory.hash = inventory.content_hash();
        ReportEnvelope {
            report: fixture::report(),
            inventory: Some(inventory),
            service_states: Some(fixture::service_states()),
            volume_inodes: fixture::volume_inodes(),
            disk_io: fixture::disk_io(),
        }
    }

    /// `golden` parses to `expected` and serialises back to the same bytes.
    fn round_trips(golden: &str, expected: &ReportEnvelope) {
        let golden = golden.trim_end();
        let parsed: ReportEnvelope = serde_json::from_str(golden).expect("parses");
        assert_eq!(&parsed, expected);
        assert_eq!(serde_json::to_string(&parsed).expect("serialises"), golden);
        assert_eq!(serde_json::to_string(expected).expect("serialises"), golden);
    }

    #[test]
    fn the_agents_reports_read_and_write_as_before() {
        round_trips(
            include_str!("../testdata/report-agent-minimal.json"),
            &ReportEnvelope::from(fixture::report()),
        );
        round_trips(include_str!("../testdata/report-agent-full.json"), &full());
        // Service states read but empty (nothing running) stay distinct from unreadable ones.
        round_trips(
            include_str!("../testdata/report-agent-no-services-running.json"),
            &ReportEnvelope {
                service_states: Some(Vec::new()),
                ..ReportEnvelope::from(fixture::report())
            },
        );
    }

    #[test]
    fn fleet_sims_reports_read_and_write_as_before() {
        round_trips(
            include_str!("../testdata/report-fleet-sim-full.json"),
            &full(),
        );
        round_trips(
            include_str!("../testdata/report-fleet-sim-no-inventory.json"),
            &ReportEnvelope {
                inventory: None,
                ..full()
            },
        );
    }

    #[test]
    fn the_agent_and_fleet_sim_agreed_byte_for_byte() {
        assert_eq!(
            include_str!("../testdata/report-agent-full.json"),
            include_str!("../testdata/report-fleet-sim-full.json")
        );
    }

    /// Fleet-sim used to write empty lists out (`"volume_inodes":[]`); its hosts always have a
    /// volume and a disk, so it never sent one, but such a body still reads as the agent's
    /// report with nothing in those lists (the server's `#[serde(default)]` reading, unchanged)
    /// and is written the agent's way, without them.
    #[test]
    fn empty_lists_read_as_absent_ones() {
        let golden = include_str!("../testdata/report-fleet-sim-empty-lists.json").trim_end();
        let parsed: ReportEnvelope = serde_json::from_str(golden).expect("parses");
        let expected = ReportEnvelope {
            service_states: Some(Vec::new()),
            ..ReportEnvelope::from(fixture::report())
        };
        assert_eq!(parsed, expected);
        assert_eq!(
            serde_json::to_string(&parsed).expect("serialises"),
            include_str!("../testdata/report-agent-no-services-running.json").trim_end()
        );
    }

    #[test]
    fn a_server_that_knows_only_the_report_still_reads_it() {
        let json = serde_json::to_string(&full()).expect("serialises");
        let report: Report = serde_json::from_str(&json).expect("parses");
        assert_eq!(report, fixture::report());
    }
}
