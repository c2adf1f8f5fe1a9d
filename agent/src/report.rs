//! How much one spooled report matters if it has to be dropped: whether it carries a change
//! worth keeping over plain metrics.

use std::collections::BTreeMap;

use atalaya_shared::protocol::{DiskIo, ServiceState, Volume};

use crate::spool::Priority;

/// Used-space levels (percent) whose crossing is a state change worth keeping over metrics.
const VOLUME_LEVELS: &[f64] = &[80.0, 90.0, 95.0, 98.0];

/// Remembers the last level of every volume and the last state of every service to notice a
/// change worth keeping over plain metrics.
#[derive(Debug, Default)]
pub struct StateTracker {
    volume_levels: Option<BTreeMap<String, usize>>,
    service_states: Option<BTreeMap<String, Option<String>>>,
    smart: Option<BTreeMap<String, Option<bool>>>,
}

impl StateTracker {
    /// `true` when a service's active state changed (a service stopped or came back), or one
    /// appeared or disappeared, since the last call with states. The first call sets the baseline;
    /// `None` (states unreadable this time) changes nothing.
    pub fn services_changed(&mut self, states: Option<&[ServiceState]>) -> bool {
        let Some(states) = states else {
            return false;
        };
        let now: BTreeMap<String, Option<String>> = states
            .iter()
            .map(|s| (s.name.clone(), s.active_state.clone()))
            .collect();
        let changed = self.service_states.as_ref().is_some_and(|old| *old != now);
        self.service_states = Some(now);
        changed
    }

    /// `true` when a disk's SMART verdict changed (a disk started failing, or a verdict became
    /// known) since the last call. The first call sets the baseline.
    pub fn smart_changed(&mut self, disks: &[DiskIo]) -> bool {
        let now: BTreeMap<String, Option<bool>> = disks
            .iter()
            .map(|d| (d.device.clone(), d.smart_healthy))
            .collect();
        let changed = self.smart.as_ref().is_some_and(|old| *old != now);
        self.smart = Some(now);
        changed
    }

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
    use atalaya_shared::{Report, ReportEnvelope};

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

    fn state(name: &str, active: &str) -> ServiceState {
        ServiceState {
            name: name.into(),
            active_state: Some(active.into()),
            ..ServiceState::default()
        }
    }

    #[test]
    fn a_service_stopping_is_a_change_an_unreadable_manager_is_not() {
        let mut t = StateTracker::default();
        assert!(!t.services_changed(Some(&[state("ssh.service", "active")])));
        assert!(!t.services_changed(Some(&[state("ssh.service", "active")])));
        assert!(!t.services_changed(None));
        assert!(t.services_changed(Some(&[state("ssh.service", "failed")])));
        assert!(t.services_changed(Some(&[
            state("ssh.service", "failed"),
            state("cron.service", "active")
        ])));
    }

    fn disk(device: &str, healthy: Option<bool>) -> DiskIo {
        DiskIo {
            device: device.into(),
            smart_healthy: healthy,
            ..DiskIo::default()
        }
    }

    #[test]
    fn a_disk_starting_to_fail_is_a_change() {
        let mut t = StateTracker::default();
        assert!(!t.smart_changed(&[disk("sda", None)]), "baseline");
        assert!(t.smart_changed(&[disk("sda", Some(true))]));
        assert!(!t.smart_changed(&[disk("sda", Some(true))]));
        assert!(t.smart_changed(&[disk("sda", Some(false))]));
    }

    #[test]
    fn wire_report_carries_inventory_beside_the_report_fields() {
        let json = r#"{"protocol":1,"agent_id":"a","seq":3,"agent_version":"x","collected_at":"2026-01-01T00:00:00Z",
                       "host":{"hostname":"h"},"inventory":{"hash":"abc","reboot_required":true}}"#;
        let w: ReportEnvelope = serde_json::from_str(json).expect("parses");
        assert_eq!(w.report.seq, 3);
        assert_eq!(w.inventory.as_ref().expect("inventory").hash, "abc");
        assert_eq!(w.service_states, None);
        // A server that only knows `Report` still reads it.
        let r: Report =
            serde_json::from_str(&serde_json::to_string(&w).expect("serialises")).expect("parses");
        assert_eq!(r.seq, 3);
        assert_eq!(priority(false, false, true), Priority::RepeatedInventory);
        assert_eq!(priority(true, false, false), Priority::Change);
        assert_eq!(priority(false, false, false), Priority::Metrics);
    }
}
