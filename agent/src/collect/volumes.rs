//! Which mounted filesystems are real volumes worth reporting (pure logic, no I/O).

/// Filesystem types that never hold user data: kernel interfaces, RAM-backed scratch space,
/// container layers and read-only images.
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
    "fuse.snapfuse",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "nfsd",
    "aufs",
    "shm",
];

/// Network filesystems: real, but `statvfs` on one whose server is gone can hang.
pub const NETWORK_FILESYSTEMS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
    "9p",
    "afs",
];

/// One line of the mount table, as the platform reader parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Device number (`major:minor`) when the platform knows it; bind mounts share it.
    pub device_id: Option<String>,
    /// The directory of the filesystem that is mounted here (`/` unless a bind mount of a subtree).
    pub root: String,
    pub mount_point: String,
    pub device: String,
    pub filesystem: String,
    pub read_only: bool,
}

/// Whether a filesystem type is one we report. An overlay is reported only when it is the root
/// filesystem (a container's `/`).
pub fn is_real_volume(filesystem: &str, mount_point: &str) -> bool {
    if filesystem == "overlay" && mount_point == "/" {
        return true;
    }
    !PSEUDO_FILESYSTEMS.contains(&filesystem)
}

/// Keeps the real volumes, one per mount point and one per device, like `df` does:
/// - a later mount on the same mount point hides the earlier one, so the last wins;
/// - several mounts of one device (bind mounts) are one volume: keep the mount of the
///   filesystem's root, else the shortest mount point.
pub fn select(entries: Vec<MountEntry>) -> Vec<MountEntry> {
    let mut by_mount: Vec<MountEntry> = Vec::new();
    for e in entries
        .into_iter()
        .filter(|e| is_real_volume(&e.filesystem, &e.mount_point))
    {
        by_mount.retain(|k| k.mount_point != e.mount_point);
        by_mount.push(e);
    }
    let mut kept: Vec<MountEntry> = Vec::new();
    for e in by_mount {
        let same_device = e
            .device_id
            .as_ref()
            .and_then(|id| kept.iter().position(|k| k.device_id.as_ref() == Some(id)));
        match same_device {
            Some(i) if better(&e, &kept[i]) => kept[i] = e,
            Some(_) => {}
            None => kept.push(e),
        }
    }
    kept.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    kept
}

fn better(candidate: &MountEntry, current: &MountEntry) -> bool {
    let rank = |e: &MountEntry| (e.mount_point != "/", e.root != "/", e.mount_point.len());
    rank(candidate) < rank(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dev: &str, root: &str, mount: &str, fs: &str) -> MountEntry {
        MountEntry {
            device_id: Some(dev.into()),
            root: root.into(),
            mount_point: mount.into(),
            device: format!("/dev/{dev}"),
            filesystem: fs.into(),
            read_only: false,
        }
    }

    #[test]
    fn pseudo_filesystems_are_skipped_but_real_ones_and_root_overlay_kept() {
        assert!(!is_real_volume("proc", "/proc"));
        assert!(!is_real_volume("tmpfs", "/run"));
        assert!(!is_real_volume("devtmpfs", "/dev"));
        assert!(!is_real_volume("cgroup2", "/sys/fs/cgroup"));
        assert!(!is_real_volume("squashfs", "/snap/core/1"));
        assert!(!is_real_volume(
            "overlay",
            "/var/lib/docker/overlay2/x/merged"
        ));
        assert!(is_real_volume("overlay", "/"));
        for fs in ["ext4", "xfs", "btrfs", "vfat", "zfs", "nfs4"] {
            assert!(is_real_volume(fs, "/data"), "{fs}");
        }
    }

    #[test]
    fn selection_dedupes_mount_points_and_bind_mounts() {
        let picked = select(vec![
            entry("0:5", "/", "/proc", "proc"),
            entry("8:1", "/", "/", "ext4"),
            entry("8:2", "/", "/data", "xfs"),
            entry("8:3", "/", "/data", "ext4"), // mounted over the previous /data
            entry("8:1", "/etc/hosts", "/etc/hosts", "ext4"), // container bind mount
            entry("8:4", "/srv/x", "/mnt/x", "ext4"), // bind mount first…
            entry("8:4", "/", "/srv", "ext4"),  // …then the filesystem root
            entry("0:40", "/", "/tmp", "tmpfs"),
        ]);
        let got: Vec<_> = picked
            .iter()
            .map(|e| (e.mount_point.as_str(), e.filesystem.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("/", "ext4"), ("/data", "ext4"), ("/srv", "ext4")]
        );
    }
}
