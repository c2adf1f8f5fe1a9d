//! Physical disks from `/sys/block`, with SMART health from `smartctl --json` when it is
//! installed. A disk whose health cannot be read is reported as unavailable, never as healthy.

use std::fs;
use std::path::Path;
use std::time::Duration;

use atalaya_shared::protocol::{PhysicalDisk, SmartHealth};
use serde_json::Value;

use crate::external::{self, RunError};

/// smartctl can take seconds on a busy or sleeping disk; beyond this it is killed.
const SMARTCTL_TIMEOUT: Duration = Duration::from_secs(15);

/// Whole disks by kernel name, sorted.
fn names() -> Vec<String> {
    let Ok(dir) = fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_physical(n))
        .collect();
    names.sort();
    names
}

/// The SMART health of every whole disk, without the rest of the inventory: the agent's own
/// periodic SMART check. Once smartctl is found missing it is not looked for again.
pub fn smart_check() -> Vec<(String, SmartHealth)> {
    let mut smartctl_missing = false;
    names()
        .into_iter()
        .map(|name| {
            let smart = if smartctl_missing {
                unavailable("smartctl is not installed")
            } else {
                smart_health(&name).0
            };
            smartctl_missing = smart.reason.as_deref() == Some("smartctl is not installed");
            (name, smart)
        })
        .collect()
}

pub fn disks() -> Vec<PhysicalDisk> {
    let mut smartctl_missing = false;
    names()
        .into_iter()
        .map(|name| {
            let mut disk = from_sysfs(&name);
            disk.smart = if smartctl_missing {
                unavailable("smartctl is not installed")
            } else {
                let (smart, model, serial) = smart_health(&name);
                smartctl_missing = smart.reason.as_deref() == Some("smartctl is not installed");
                disk.model = disk.model.or(model);
                disk.serial_number = disk.serial_number.or(serial);
                smart
            };
            disk
        })
        .collect()
}

/// Whole disks; partitions are not in `/sys/block` at all.
pub use crate::sysfs::is_physical_disk as is_physical;

fn from_sysfs(name: &str) -> PhysicalDisk {
    let base = Path::new("/sys/block").join(name);
    let read = |f: &str| {
        fs::read_to_string(base.join(f))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let sectors: u64 = read("size").and_then(|s| s.parse().ok()).unwrap_or(0);
    let vendor = read("device/vendor");
    let model = read("device/model");
    let rotational = read("queue/rotational").as_deref() == Some("1");
    let kind = if name.starts_with("nvme") {
        "nvme"
    } else if name.starts_with("vd")
        || name.starts_with("xvd")
        || is_virtual_vendor(vendor.as_deref(), model.as_deref())
    {
        "virtual"
    } else if read("queue/rotational").is_none() {
        "unknown"
    } else if rotational {
        "hdd"
    } else {
        "ssd"
    };
    PhysicalDisk {
        name: name.to_owned(),
        model,
        serial_number: read("device/serial").or_else(|| read("serial")),
        // The kernel counts `size` in 512-byte sectors whatever the disk's block size.
        size_bytes: sectors.saturating_mul(512),
        kind: kind.to_owned(),
        removable: read("removable").as_deref() == Some("1"),
        smart: SmartHealth::default(),
    }
}

fn is_virtual_vendor(vendor: Option<&str>, model: Option<&str>) -> bool {
    let text = format!("{} {}", vendor.unwrap_or(""), model.unwrap_or("")).to_ascii_lowercase();
    ["qemu", "vmware", "virtual", "vbox", "msft"]
        .iter()
        .any(|v| text.contains(v))
}

fn unavailable(reason: &str) -> SmartHealth {
    SmartHealth {
        available: false,
        reason: Some(reason.to_owned()),
        ..SmartHealth::default()
    }
}

/// Runs `smartctl --json -H -A -i /dev/<name>`; returns the health plus the model and serial
/// smartctl saw (sysfs lacks them for SATA disks behind some controllers).
fn smart_health(name: &str) -> (SmartHealth, Option<String>, Option<String>) {
    let device = format!("/dev/{name}");
    match external::run(
        "smartctl",
        &["--json=c", "-H", "-A", "-i", &device],
        SMARTCTL_TIMEOUT,
    ) {
        Err(RunError::NotFound(_)) => (unavailable("smartctl is not installed"), None, None),
        Err(e) => (unavailable(&e.to_string()), None, None),
        Ok(out) => match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(json) => parse_smartctl(&json),
            Err(_) => (
                unavailable(&format!(
                    "smartctl gave no JSON: {}",
                    external::first_line(&out.stderr)
                )),
                None,
                None,
            ),
        },
    }
}

/// Reads smartctl's JSON (ATA and NVMe). Without a `smart_status` the device did not answer a
/// health query: unavailable, with smartctl's own message as the reason.
pub fn parse_smartctl(json: &Value) -> (SmartHealth, Option<String>, Option<String>) {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let model = text(&json["model_name"]);
    let serial = text(&json["serial_number"]);
    let Some(passed) = json["smart_status"]["passed"].as_bool() else {
        let reason = json["smartctl"]["messages"][0]["string"]
            .as_str()
            .unwrap_or("the device reports no SMART health")
            .to_owned();
        return (unavailable(&reason), model, serial);
    };
    let ata_raw = |id: u64| {
        json["ata_smart_attributes"]["table"]
            .as_array()?
            .iter()
            .find(|a| a["id"].as_u64() == Some(id))?["raw"]["value"]
            .as_u64()
    };
    let nvme = &json["nvme_smart_health_information_log"];
    let health = SmartHealth {
        available: true,
        reason: None,
        passed: Some(passed),
        temperature_celsius: json["temperature"]["current"].as_i64(),
        power_on_hours: json["power_on_time"]["hours"].as_u64(),
        reallocated_sectors: ata_raw(5),
        pending_sectors: ata_raw(197),
        wear_percent: nvme["percentage_used"].as_u64().or_else(|| {
            // SATA SSDs: attribute 231 (SSD life left) or 233 (media wearout) count down from 100.
            [231, 233].iter().find_map(|id| {
                json["ata_smart_attributes"]["table"]
                    .as_array()?
                    .iter()
                    .find(|a| a["id"].as_u64() == Some(*id))?["value"]
                    .as_u64()
                    .map(|left| 100u64.saturating_sub(left))
            })
        }),
    };
    (health, model, serial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_block_devices_are_not_disks() {
        for n in ["loop0", "zram0", "dm-1", "md127", "ram0", "sr0"] {
            assert!(!is_physical(n), "{n}");
        }
        for n in ["sda", "nvme0n1", "vda", "xvdb", "mmcblk0", "hdc"] {
            assert!(is_physical(n), "{n}");
        }
    }

    #[test]
    fn smartctl_ata_and_nvme_json_are_read() {
        let ata: Value = serde_json::from_str(
            r#"{
            "model_name": "WDC WD40EFRX", "serial_number": "WD-1234",
            "smart_status": {"passed": false},
            "temperature": {"current": 41}, "power_on_time": {"hours": 31000},
            "ata_smart_attributes": {"table": [
                {"id": 5, "value": 100, "raw": {"value": 8}},
                {"id": 197, "value": 100, "raw": {"value": 2}}
            ]}
        }"#,
        )
        .unwrap();
        let (h, model, serial) = parse_smartctl(&ata);
        assert!(h.available);
        assert_eq!(h.passed, Some(false));
        assert_eq!(
            (h.reallocated_sectors, h.pending_sectors),
            (Some(8), Some(2))
        );
        assert_eq!(
            (h.temperature_celsius, h.power_on_hours),
            (Some(41), Some(31000))
        );
        assert_eq!(
            (model.as_deref(), serial.as_deref()),
            (Some("WDC WD40EFRX"), Some("WD-1234"))
        );

        let nvme: Value = serde_json::from_str(
            r#"{
            "smart_status": {"passed": true},
            "nvme_smart_health_information_log": {"percentage_used": 7, "temperature": 35}
        }"#,
        )
        .unwrap();
        let (h, _, _) = parse_smartctl(&nvme);
        assert_eq!((h.passed, h.wear_percent), (Some(true), Some(7)));

        let virt: Value = serde_json::from_str(r#"{"smartctl": {"messages": [{"string": "/dev/vda: Unable to detect device type", "severity": "error"}]}}"#).unwrap();
        let (h, _, _) = parse_smartctl(&virt);
        assert!(!h.available);
        assert_eq!(h.passed, None, "unknown health is never reported as passed");
        assert_eq!(
            h.reason.as_deref(),
            Some("/dev/vda: Unable to detect device type")
        );
    }

    #[test]
    fn the_smart_check_names_the_same_disks_as_the_inventory() {
        let checked: Vec<String> = smart_check()
            .into_iter()
            .map(|(name, smart)| {
                assert!(
                    smart.available || (smart.reason.is_some() && smart.passed.is_none()),
                    "{name}: {smart:?}"
                );
                name
            })
            .collect();
        let listed: Vec<String> = disks().into_iter().map(|d| d.name).collect();
        assert_eq!(checked, listed);
    }

    #[test]
    fn disks_of_this_machine_match_sysfs() {
        let disks = disks();
        for d in &disks {
            let sectors: u64 = fs::read_to_string(format!("/sys/block/{}/size", d.name))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert_eq!(d.size_bytes, sectors * 512);
            if !d.smart.available {
                assert!(
                    d.smart.reason.is_some() && d.smart.passed.is_none(),
                    "{d:?}"
                );
            }
        }
        assert!(disks.iter().all(|d| !d.name.starts_with("loop")));
    }
}
