//! Linux readers: identity files, `/etc/os-release`, the mount table and `statvfs`.
//!
//! Every reader returns `None`/empty when its source is missing or unreadable (DMI files are
//! often root-only); a collection never fails because one fact is unavailable.

use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use atalaya_shared::protocol::{SmartHealth, Volume, VolumeInodes};

use super::disk_io::DiskCounters;
use super::volumes::{self, MountEntry, NETWORK_FILESYSTEMS};
use super::IoCounters;
use crate::sysfs::{dmi_value, is_physical_disk, read_trimmed};

/// How long a `statvfs` of a network filesystem may take before the volume is skipped.
const NETWORK_STATFS_TIMEOUT: Duration = Duration::from_secs(2);

/// The kernel's host name, when `gethostname` gave nothing.
pub fn hostname_fallback() -> Option<String> {
    read_trimmed("/proc/sys/kernel/hostname").or_else(|| read_trimmed("/etc/hostname"))
}

pub fn machine_id() -> Option<String> {
    read_trimmed("/etc/machine-id").or_else(|| read_trimmed("/var/lib/dbus/machine-id"))
}

pub fn hardware_uuid() -> Option<String> {
    read_trimmed("/sys/class/dmi/id/product_uuid")
        .map(|u| u.to_ascii_lowercase())
        .filter(|u| {
            u.chars()
                .any(|c| c.is_ascii_hexdigit() && c != '0' && c != 'f')
        })
}

pub fn serial_number() -> Option<String> {
    dmi_value("/sys/class/dmi/id/product_serial")
}

pub fn os_name() -> Option<String> {
    os_release_field("NAME")
}

pub fn os_version() -> Option<String> {
    os_release_field("VERSION_ID").or_else(|| os_release_field("VERSION"))
}

/// Cumulative network and disk counters (`/proc/net/dev`, `/proc/diskstats`), the disks' both
/// per disk and summed.
pub fn io_counters() -> IoCounters {
    let mut c = IoCounters::default();
    if let Ok(text) = fs::read_to_string("/proc/net/dev") {
        let physical = |name: &str| {
            Path::new("/sys/class/net")
                .join(name)
                .join("device")
                .exists()
        };
        let rows: Vec<(String, Vec<u64>)> = text
            .lines()
            .skip(2)
            .filter_map(|l| {
                let (name, rest) = l.split_once(':')?;
                let nums = rest
                    .split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect::<Vec<u64>>();
                (nums.len() >= 11).then(|| (name.trim().to_owned(), nums))
            })
            .filter(|(name, _)| name != "lo")
            .collect();
        let any_physical = rows.iter().any(|(n, _)| physical(n));
        let counted = rows.iter().filter(|(n, _)| !any_physical || physical(n));
        let (mut rx, mut tx, mut errs) = (0u64, 0u64, 0u64);
        for (_, f) in counted {
            rx = rx.saturating_add(f[0]);
            errs = errs.saturating_add(f[2]).saturating_add(f[10]);
            tx = tx.saturating_add(f[8]);
        }
        (c.net_rx_bytes, c.net_tx_bytes, c.net_errors) = (Some(rx), Some(tx), Some(errs));
    }
    if let Ok(text) = fs::read_to_string("/proc/diskstats") {
        c.disks = parse_diskstats(&text, |name| {
            is_physical_disk(name) && Path::new("/sys/block").join(name).exists()
        });
        let sum = |pick: fn(&DiskCounters) -> u64| {
            c.disks
                .iter()
                .fold(0u64, |total, d| total.saturating_add(pick(d)))
        };
        c.disk_read_bytes = Some(sum(|d| d.read_bytes));
        c.disk_write_bytes = Some(sum(|d| d.write_bytes));
    }
    c
}

/// Parses `/proc/diskstats` (the kernel's `Documentation/admin-guide/iostats.rst`):
/// `major minor name reads merged sectors-read ms writes merged sectors-written ms …`, keeping
/// the devices `is_whole_disk` accepts (by their `/sys/block` name).
///
/// Whole disks only: a partition's I/O is already counted on its disk, and device-mapper, md,
/// loop, RAM and zram devices are either stacked on the disks (counting the same bytes twice) or
/// not disks at all; none of them has a `physical_disk` CI to record the rates on.
pub fn parse_diskstats(text: &str, is_whole_disk: impl Fn(&str) -> bool) -> Vec<DiskCounters> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // The kernel writes `cciss/c0d0` here for what `/sys/block` calls `cciss!c0d0`.
            let device = f.get(2)?.replace('/', "!");
            if f.len() < 10 || !is_whole_disk(&device) {
                return None;
            }
            let n = |i: usize| f[i].parse::<u64>().ok();
            // Sectors are always 512 bytes here, whatever the disk's own block size.
            Some(DiskCounters {
                device,
                reads: n(3)?,
                read_bytes: n(5)?.saturating_mul(512),
                writes: n(7)?,
                write_bytes: n(9)?.saturating_mul(512),
            })
        })
        .collect()
}

/// The SMART health of every whole disk (`smartctl`, time-limited), for the periodic check.
pub fn smart_check() -> Vec<(String, SmartHealth)> {
    crate::inventory::smart_check()
}

/// This process's resident memory and CPU time (user + system), from `/proc/self`.
pub fn self_usage() -> (Option<u64>, Option<f64>) {
    let rss = fs::read_to_string("/proc/self/status").ok().and_then(|t| {
        let kib: u64 = t
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    });
    let cpu = fs::read_to_string("/proc/self/stat").ok().and_then(|t| {
        // Fields after the `(comm)`, which may itself contain spaces: utime is the 12th, stime the 13th.
        let rest = t.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        let hz = rustix::param::clock_ticks_per_second();
        Some(ticks as f64 / hz as f64)
    });
    (rss, cpu)
}

/// Number of processes: the numeric directories of `/proc` (cheaper than reading each one).
pub fn process_count() -> Option<usize> {
    let dir = fs::read_dir("/proc").ok()?;
    Some(
        dir.filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .count(),
    )
}

/// The real mounted filesystems with `df`'s numbers: total = f_blocks × f_frsize,
/// available = f_bavail × f_frsize (what an unprivileged user can still write); and their inode
/// use as `df -i` shows it (total = f_files, free = f_ffree), for those that have inodes.
pub fn volumes() -> (Vec<Volume>, Vec<VolumeInodes>) {
    let table = match fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read /proc/self/mountinfo; no volumes reported");
            return (Vec::new(), Vec::new());
        }
    };
    let mut inodes = Vec::new();
    let volumes = volumes::select(parse_mountinfo(&table))
        .into_iter()
        .filter_map(|m| {
            let stat = if NETWORK_FILESYSTEMS.contains(&m.filesystem.as_str()) {
                statvfs_with_timeout(&m.mount_point)
            } else {
                rustix::fs::statvfs(m.mount_point.as_str()).ok()
            }?;
            let total = stat.f_blocks.saturating_mul(stat.f_frsize);
            // Like `df`, leave out dummy filesystems that report no size at all.
            if total == 0 {
                return None;
            }
            // btrfs, vfat and some network filesystems have no fixed inode table (0 total).
            if stat.f_files > 0 {
                inodes.push(VolumeInodes {
                    mount_point: m.mount_point.clone(),
                    inodes_total: stat.f_files,
                    inodes_free: stat.f_ffree.min(stat.f_files),
                });
            }
            Some(Volume {
                total_bytes: total,
                available_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
                read_only: m.read_only
                    || stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
                device: Some(m.device).filter(|d| !d.is_empty() && d != "none"),
                filesystem: Some(m.filesystem),
                mount_point: m.mount_point,
            })
        })
        .collect();
    (volumes, inodes)
}

/// A hung NFS server must not hang the agent: stat in a helper thread and give up after a
/// timeout (the thread is left behind, blocked in the kernel; there is nothing safer to do).
fn statvfs_with_timeout(mount_point: &str) -> Option<rustix::fs::StatVfs> {
    let (tx, rx) = mpsc::channel();
    let path = mount_point.to_owned();
    std::thread::Builder::new()
        .name("statvfs".into())
        .spawn(move || {
            let _ = tx.send(rustix::fs::statvfs(path.as_str()));
        })
        .ok()?;
    match rx.recv_timeout(NETWORK_STATFS_TIMEOUT) {
        Ok(result) => result.ok(),
        Err(_) => {
            tracing::warn!(
                mount_point,
                "statvfs timed out (network filesystem not answering); volume skipped"
            );
            None
        }
    }
}

/// Parses `/proc/self/mountinfo` (proc(5)):
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut l = left.split(' ');
            let _id = l.next()?;
            let _parent = l.next()?;
            let device_id = l.next()?.to_owned();
            let root = unescape(l.next()?);
            let mount_point = unescape(l.next()?);
            let options = l.next()?;
            let mut r = right.split(' ');
            let filesystem = r.next()?.to_owned();
            let device = unescape(r.next().unwrap_or(""));
            Some(MountEntry {
                device_id: Some(device_id),
                root,
                mount_point,
                device,
                filesystem,
                read_only: options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// The kernel escapes space, tab, newline and backslash in mount paths as `\ooo` octal.
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let s = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(s, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one `KEY=value` from os-release(5), `/etc` first, then `/usr/lib`.
fn os_release_field(key: &str) -> Option<String> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .and_then(|text| parse_os_release(&text, key))
}

pub fn parse_os_release(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|line| {
            let (k, v) = line.trim().split_once('=')?;
            (k == key).then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
        })
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_parsed_with_escapes() {
        let text = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    40 22 8:2 / /mnt/my\\040disk ro,nosuid - vfat /dev/sdb1 ro\n\
                    garbage line\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, "/");
        assert_eq!(m[0].device, "/dev/sda1");
        assert_eq!(m[0].device_id.as_deref(), Some("8:1"));
        assert!(!m[0].read_only);
        assert_eq!(m[1].mount_point, "/mnt/my disk");
        assert_eq!(m[1].filesystem, "vfat");
        assert!(m[1].read_only);
    }

    /// A real `/proc/diskstats` shape: whole disks, partitions, logical devices, the 14-field
    /// format of old kernels and the 20-field one of new ones, and a line cut short.
    const DISKSTATS: &str = "\
   7       0 loop0 57 0 2160 10 0 0 0 0 0 24 10 0 0 0 0 0 0
   8       0 sda 1301888 21385 67577034 3672689 1576102 195309 242488344 2160033 0 205948 5915687 250957 49 55661544 49299 319621 33665
   8       1 sda1 1300000 21000 67500000 3600000 1570000 195000 242400000 2160000 0 205000 5900000 0 0 0 0 0 0
 259       0 nvme0n1 4000 10 96000 800 2500 5 40000 900 0 1200 1700
 259       1 nvme0n1p1 3900 10 95000 790 2400 5 39000 890 0 1190 1680
 253       0 dm-0 900 0 7200 100 300 0 2400 50 0 120 150 0 0 0 0 0 0
 252       0 zram0 10 0 80 0 20 0 160 0 0 0 0 0 0 0 0 0 0
 104       0 cciss/c0d0 1 0 8 0 2 0 16 0 0 0 0
   8      16 sdb 12 0
";

    #[test]
    fn diskstats_gives_whole_disks_with_bytes_and_requests() {
        // What /sys/block would list on that machine: whole disks and logical devices.
        let in_sys_block = [
            "loop0",
            "sda",
            "nvme0n1",
            "dm-0",
            "zram0",
            "cciss!c0d0",
            "sdb",
        ];
        let disks = parse_diskstats(DISKSTATS, |name| {
            is_physical_disk(name) && in_sys_block.contains(&name)
        });
        let names: Vec<&str> = disks.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["sda", "nvme0n1", "cciss!c0d0"], "{disks:?}");
        assert_eq!(
            disks[0],
            DiskCounters {
                device: "sda".into(),
                reads: 1_301_888,
                read_bytes: 67_577_034 * 512,
                writes: 1_576_102,
                write_bytes: 242_488_344 * 512,
            }
        );
        assert_eq!(
            (
                disks[1].reads,
                disks[1].read_bytes,
                disks[1].writes,
                disks[1].write_bytes
            ),
            (4000, 96_000 * 512, 2500, 40_000 * 512)
        );
    }

    #[test]
    fn this_machines_disks_are_in_sys_block_and_counted_once() {
        let io = io_counters();
        for d in &io.disks {
            assert!(Path::new("/sys/block").join(&d.device).exists(), "{d:?}");
            assert!(is_physical_disk(&d.device), "{d:?}");
        }
        let read: u64 = io.disks.iter().map(|d| d.read_bytes).sum();
        assert_eq!(io.disk_read_bytes, Some(read));
    }

    #[test]
    fn os_release_values_are_unquoted() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(
            parse_os_release(text, "NAME").as_deref(),
            Some("Debian GNU/Linux")
        );
        assert_eq!(parse_os_release(text, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(parse_os_release(text, "ID").as_deref(), Some("debian"));
        assert_eq!(parse_os_release(text, "MISSING"), None);
    }
}
