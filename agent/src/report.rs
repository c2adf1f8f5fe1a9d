//! What goes into one spooled report, and how much it matters if it has to be dropped.

use std::collections::BTreeMap;

use atalaya_shared::protocol::{Inventory, Report, Volume};
use serde::{Deserialize, Serialize};

use crate::spool::Priority;

/// The report as sent: the shared [`Report`] plus the optional `inventory` field (a top-level
/// field beside the others, which servers that do not know it ignore).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireReport {
    #[serde(flatten)]
    pub report: Report,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
}

impl From<Report> for WireReport {
    fn from(report: Report) -> Self {
        WireReport {
            report,
            inventory: None,
        }
    }
}

/// Used-space levels (percent) whose crossing is a state change worth keeping over metrics.
const VOLUME_LEVELS: &[f64] = &[80.0, 90.0, 95.0, 98.0];

/// Remembers the last level of every volume to notice a crossing.
#[derive(Debug, Default)]
pub struct StateTracker {
    volume_levels: Option<BTreeMap<String, usize>>,
}

impl StateTracker {
    /// `true` when a volume crossed a level, appeared or disappeared since the last call. The
    /// first call only sets the baseline.
    pub fn volumes_changed(&mut self, volumes: &[Volume]) -> bool {
        let levels: BTreeMap<String, usize> = volumes
            .iter()
            .map(|v| {
                let used = v.used_percent();
                (
                    v.mount_point.clone(),
                    VOLUME_LEVELS.iter().filter(|l| used >= **l).count(),
                )
            })
            .collect();
        let changed = self
            .volume_levels
            .as_ref()
            .is_some_and(|old| *old != levels);
        self.volume_levels = Some(levels);
        changed
    }
}

/// The drop class of a report: changes are kept longest, repeated inventory goes first.
pub fn priority(
    state_changed: bool,
    inventory_changed: bool,
    repeated_inventory: bool,
) -> Priority {
    if state_changed || inventory_changed {
        Priority::Change
    } else if repeated_inventory {
        Priority::RepeatedInventory
    } else {
        Priority::Metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(mount: &str, used_percent: u64) -> Volume {
        Volume {
            mount_point: mount.into(),
            device: None,
            filesystem: None,
            total_bytes: 100,
            available_bytes: 100 - used_percent,
            read_only: false,
        }
    }

    #[test]
    fn crossing_a_level_is_a_change_moving_within_one_is_not() {
        let mut t = StateTracker::default();
        assert!(
            !t.volumes_changed(&[volume("/", 50)]),
            "first call is the baseline"
        );
        assert!(!t.volumes_changed(&[volume("/", 79)]));
        assert!(t.volumes_changed(&[volume("/", 81)]));
        assert!(!t.volumes_changed(&[volume("/", 85)]));
        assert!(
            t.volumes_changed(&[volume("/", 60)]),
            "recovery is a change too"
        );
        assert!(
            t.volumes_changed(&[volume("/", 60), volume("/data", 10)]),
            "new volume"
        );
    }

    #[test]
    fn wire_report_carries_inventory_beside_the_report_fields() {
        let json = r#"{"protocol":1,"agent_id":"a","seq":3,"agent_version":"x","collected_at":"2026-01-01T00:00:00Z",
                       "host":{"hostname":"h"},"inventory":{"hash":"abc","reboot_required":true}}"#;
        let w: WireReport = serde_json::from_str(json).unwrap();
        assert_eq!(w.report.seq, 3);
        assert_eq!(w.inventory.as_ref().unwrap().hash, "abc");
        // A server that only knows `Report` still reads it.
        let r: Report = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(r.seq, 3);
        assert_eq!(priority(false, false, true), Priority::RepeatedInventory);
        assert_eq!(priority(true, false, false), Priority::Change);
        assert_eq!(priority(false, false, false), Priority::Metrics);
    }
}
