//! The full inventory of the machine (hardware, CPU, network, disks, services, software, users),
//! its content hash ([`Inventory::content_hash`], shared with fleet-sim), and when it is due:
//! whole only when the hash changes, plus a full send on a cron schedule.

#[cfg(target_os = "linux")]
mod disks;
#[cfg(target_os = "linux")]
mod hardware;
#[cfg(target_os = "linux")]
mod memory;
mod network;
#[cfg(target_os = "linux")]
mod packages;
mod schedule;
#[cfg(target_os = "linux")]
mod services;
#[cfg(target_os = "linux")]
mod users;

use atalaya_shared::protocol::{Inventory, ServiceState};

pub use schedule::{InventoryDecision, InventoryPlan, DEFAULT_FULL_SEND};

/// Collects everything; what cannot be read is named in `unavailable` with the reason. Services
/// named in `watched` (from the server's agent config) are marked `watched`.
pub fn collect(watched: &[String]) -> Inventory {
    let mut inv = Inventory {
        network_interfaces: network::interfaces(),
        ..Inventory::default()
    };
    collect_platform(&mut inv, watched);
    inv.hash = inv.content_hash();
    inv
}

/// The state of every service, for every collection (not only the inventory's).
#[cfg(target_os = "linux")]
pub fn service_states(watched: &[String]) -> Result<Vec<ServiceState>, String> {
    services::service_states(watched)
}

#[cfg(not(target_os = "linux"))]
pub fn service_states(_watched: &[String]) -> Result<Vec<ServiceState>, String> {
    Err("service states are not implemented on this OS yet".into())
}

/// The SMART health of every whole disk by kernel name, for the agent's periodic SMART check.
#[cfg(target_os = "linux")]
pub fn smart_check() -> Vec<(String, atalaya_shared::protocol::SmartHealth)> {
    disks::smart_check()
}

#[cfg(target_os = "linux")]
fn collect_platform(inv: &mut Inventory, watched: &[String]) {
    let mut missing = |section: &str, why: String| {
        inv.unavailable.insert(section.to_owned(), why);
    };
    let hardware = hardware::hardware();
    if hardware.is_none() {
        missing(
            "hardware",
            "no DMI information (/sys/class/dmi/id is missing or unreadable)".into(),
        );
    }
    let services = services::services(watched).unwrap_or_else(|why| {
        missing("services", why);
        Vec::new()
    });
    let software = packages::packages().unwrap_or_else(|why| {
        missing("software", why);
        Vec::new()
    });
    let users = users::logged_in_users().unwrap_or_else(|why| {
        missing("logged_in_users", why);
        Vec::new()
    });
    let memory_modules = memory::modules().unwrap_or_else(|why| {
        missing("memory_modules", why);
        Vec::new()
    });
    inv.hardware = hardware;
    inv.services = services;
    inv.software = software;
    inv.logged_in_users = users;
    inv.memory_modules = memory_modules;
    inv.cpu = hardware::cpu();
    inv.time_zone = hardware::time_zone();
    inv.disks = disks::disks();
    // Debian and Ubuntu flag a pending reboot with this file; elsewhere we cannot tell.
    inv.reboot_required = std::path::Path::new("/var/lib/dpkg/status")
        .exists()
        .then(|| std::path::Path::new("/var/run/reboot-required").exists());
}

#[cfg(not(target_os = "linux"))]
fn collect_platform(inv: &mut Inventory, _watched: &[String]) {
    inv.unavailable.insert(
        "platform".into(),
        "inventory beyond network interfaces is not implemented on this OS yet".into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_sensitive_to_content() {
        let a = collect(&[]);
        let b = collect(&[]);
        assert_eq!(a.hash.len(), 64);
        assert_eq!(a.content_hash(), a.hash);
        // Two collections a moment apart on an idle machine agree unless a user logged in.
        if a.logged_in_users == b.logged_in_users && a.services == b.services {
            assert_eq!(a.hash, b.hash);
        }
        let mut c = a.clone();
        c.reboot_required = Some(!c.reboot_required.unwrap_or(false));
        assert_ne!(c.content_hash(), a.hash);
    }

    #[test]
    fn unavailable_sections_say_why() {
        let inv = collect(&[]);
        for (section, why) in &inv.unavailable {
            assert!(!why.trim().is_empty(), "{section} has no reason");
        }
        #[cfg(target_os = "linux")]
        if !std::path::Path::new("/sys/class/dmi/id").exists() {
            assert!(inv.unavailable.contains_key("hardware"));
        }
    }
}
