//! Machine identity from DMI (`/sys/class/dmi/id`), the CPU from `/proc/cpuinfo` and sysfs,
//! and the time zone.

use std::collections::HashSet;
use std::fs;

use atalaya_shared::protocol::{CpuInventory, Hardware};

use crate::sysfs::dmi_value;

const DMI: &str = "/sys/class/dmi/id";

/// `None` when the machine exposes no DMI at all (e.g. some ARM boards).
pub fn hardware() -> Option<Hardware> {
    let read = |field: &str| dmi_value(&format!("{DMI}/{field}"));
    let hw = Hardware {
        vendor: read("sys_vendor"),
        model: read("product_name"),
        serial_number: read("product_serial"),
        uuid: read("product_uuid").map(|u| u.to_ascii_lowercase()),
        bios_vendor: read("bios_vendor"),
        bios_version: read("bios_version"),
        bios_date: read("bios_date"),
        board_vendor: read("board_vendor"),
        board_model: read("board_name"),
        chassis_type: read("chassis_type")
            .and_then(|t| t.parse().ok())
            .map(chassis_name),
    };
    (hw != Hardware::default()).then_some(hw)
}

/// SMBIOS chassis type codes (DMTF DSP0134, 7.4.1) to names.
fn chassis_name(code: u32) -> String {
    let name = match code {
        3 => "desktop",
        4 => "low-profile desktop",
        6 => "mini tower",
        7 => "tower",
        8 => "portable",
        9 => "laptop",
        10 => "notebook",
        13 => "all-in-one",
        14 => "sub-notebook",
        17 => "main server chassis",
        23 => "rack mount chassis",
        30 => "tablet",
        31 => "convertible",
        32 => "detachable",
        35 => "mini pc",
        36 => "stick pc",
        1 => "other",
        _ => return format!("type {code}"),
    };
    name.to_owned()
}

pub fn cpu() -> Option<CpuInventory> {
    let text = fs::read_to_string("/proc/cpuinfo").ok()?;
    let mut cpu = parse_cpuinfo(&text);
    cpu.max_frequency_mhz =
        fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
            .ok()
            .and_then(|khz| khz.trim().parse::<u64>().ok())
            .map(|khz| khz / 1000)
            .or(cpu.max_frequency_mhz);
    Some(cpu)
}

/// Sockets are distinct `physical id`s, cores distinct (`physical id`, `core id`) pairs, threads
/// the `processor` entries.
pub fn parse_cpuinfo(text: &str) -> CpuInventory {
    let mut cpu = CpuInventory::default();
    let mut threads = 0u32;
    let mut sockets = HashSet::new();
    let mut cores = HashSet::new();
    let mut cores_per_socket: Option<u32> = None;
    let mut mhz: Option<f64> = None;
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut physical = None;
        let mut core = None;
        for line in block.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "processor" => threads += 1,
                "model name" if cpu.model.is_none() => cpu.model = Some(value.to_owned()),
                "vendor_id" if cpu.vendor.is_none() => cpu.vendor = Some(value.to_owned()),
                "physical id" => physical = Some(value.to_owned()),
                "core id" => core = Some(value.to_owned()),
                "cpu cores" => cores_per_socket = value.parse().ok(),
                "cpu MHz" => {
                    if let Ok(v) = value.parse::<f64>() {
                        mhz = Some(mhz.map_or(v, |m: f64| m.max(v)));
                    }
                }
                _ => {}
            }
        }
        if let Some(p) = &physical {
            sockets.insert(p.clone());
            if let Some(c) = core {
                cores.insert((p.clone(), c));
            }
        }
    }
    cpu.threads = (threads > 0).then_some(threads);
    cpu.sockets = u32::try_from(sockets.len()).ok().filter(|n| *n > 0);
    cpu.cores = u32::try_from(cores.len())
        .ok()
        .filter(|n| *n > 0)
        .or_else(|| cores_per_socket.map(|c| c * cpu.sockets.unwrap_or(1)));
    cpu.max_frequency_mhz = mhz.map(|m| m.round() as u64);
    cpu
}

/// `/etc/timezone` (Debian), else the zone `/etc/localtime` links to.
pub fn time_zone() -> Option<String> {
    if let Ok(tz) = fs::read_to_string("/etc/timezone") {
        let tz = tz.trim();
        if !tz.is_empty() {
            return Some(tz.to_owned());
        }
    }
    let target = fs::read_link("/etc/localtime").ok()?;
    let target = target.to_string_lossy();
    target
        .split_once("zoneinfo/")
        .map(|(_, zone)| zone.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_counts_sockets_cores_and_threads() {
        let mut text = String::new();
        for (n, (socket, core)) in [
            (0, 0),
            (0, 0),
            (0, 1),
            (0, 1),
            (1, 0),
            (1, 0),
            (1, 1),
            (1, 1),
        ]
        .iter()
        .enumerate()
        {
            text.push_str(&format!(
                "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon Test\nphysical id\t: {socket}\ncore id\t\t: {core}\ncpu cores\t: 2\ncpu MHz\t\t: 2400.001\n\n"
            ));
        }
        let cpu = parse_cpuinfo(&text);
        assert_eq!(cpu.sockets, Some(2));
        assert_eq!(cpu.cores, Some(4));
        assert_eq!(cpu.threads, Some(8));
        assert_eq!(cpu.model.as_deref(), Some("Xeon Test"));
        assert_eq!(cpu.vendor.as_deref(), Some("GenuineIntel"));
        assert_eq!(cpu.max_frequency_mhz, Some(2400));
    }

    #[test]
    fn this_machines_thread_count_matches_the_kernel() {
        let cpu = cpu().expect("/proc/cpuinfo readable");
        let online = std::thread::available_parallelism().unwrap().get() as u32;
        assert!(
            cpu.threads.unwrap() >= online,
            "{cpu:?} vs {online} usable CPUs"
        );
    }

    #[test]
    fn chassis_codes_have_names() {
        assert_eq!(chassis_name(10), "notebook");
        assert_eq!(chassis_name(99), "type 99");
    }
}
