//! Fallback readers for platforms without a dedicated module yet (Windows, macOS, BSDs):
//! whatever `sysinfo` offers portably. A real `windows.rs`/`macos.rs` replaces this file.

use atalaya_shared::protocol::{SmartHealth, Volume, VolumeInodes};
use sysinfo::Disks;

use super::volumes;

pub fn machine_id() -> Option<String> {
    None
}

pub fn hardware_uuid() -> Option<String> {
    sysinfo::Product::uuid()
}

pub fn serial_number() -> Option<String> {
    sysinfo::Product::serial_number()
}

pub fn os_name() -> Option<String> {
    sysinfo::System::name()
}

pub fn os_version() -> Option<String> {
    sysinfo::System::os_version()
}

pub fn process_count() -> Option<usize> {
    None
}

pub fn io_counters() -> super::IoCounters {
    super::IoCounters::default()
}

/// No SMART reader here yet: no disks are named, so none is reported healthy.
pub fn smart_check() -> Vec<(String, SmartHealth)> {
    Vec::new()
}

pub fn self_usage() -> (Option<u64>, Option<f64>) {
    (None, None)
}

pub fn hostname_fallback() -> Option<String> {
    None
}

/// sysinfo has no inode counts: none are reported here yet.
pub fn volumes() -> (Vec<Volume>, Vec<VolumeInodes>) {
    let disks = Disks::new_with_refreshed_list();
    let mut out: Vec<Volume> = Vec::new();
    for d in disks.list() {
        let fs = d.file_system().to_string_lossy().into_owned();
        let mount = d.mount_point().to_string_lossy().into_owned();
        if !volumes::is_real_volume(&fs, &mount) || out.iter().any(|v| v.mount_point == mount) {
            continue;
        }
        out.push(Volume {
            mount_point: mount,
            device: Some(d.name().to_string_lossy().into_owned()),
            filesystem: Some(fs),
            total_bytes: d.total_space(),
            available_bytes: d.available_space(),
            read_only: d.is_read_only(),
        });
    }
    (out, Vec::new())
}
