//! The metrics a rule can watch: which CI class each describes and its unit, so a rule is
//! validated against what agents really report.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Bytes,
    Seconds,
    Hours,
    Days,
    Count,
    /// 1 when the condition holds, 0 otherwise (a service stopped, SMART failing).
    Flag,
}

#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    /// The CI class the metric is measured on.
    pub class: &'static str,
    pub unit: Unit,
    pub description: &'static str,
}

pub const VOLUME_USED_PERCENT: &str = "volume.used_percent";
pub const VOLUME_FREE_BYTES: &str = "volume.free_bytes";
pub const VOLUME_HOURS_TO_FULL: &str = "volume.hours_to_full";
pub const VOLUME_INODES_USED_PERCENT: &str = "volume.inodes_used_percent";
pub const CPU_PERCENT: &str = "computer.cpu_percent";
pub const MEMORY_USED_PERCENT: &str = "computer.memory_used_percent";
pub const SWAP_USED_PERCENT: &str = "computer.swap_used_percent";
pub const LOAD_1M: &str = "computer.load_1m";
pub const OFFLINE_SECONDS: &str = "computer.offline_seconds";
pub const DISK_SMART_FAILED: &str = "disk.smart_failed";
pub const DISK_REALLOCATED_SECTORS: &str = "disk.reallocated_sectors";
pub const DISK_PENDING_SECTORS: &str = "disk.pending_sectors";
pub const SERVICE_STOPPED: &str = "service.stopped";

pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: VOLUME_USED_PERCENT,
        class: "volume",
        unit: Unit::Percent,
        description: "share of the volume in use",
    },
    MetricDef {
        name: VOLUME_FREE_BYTES,
        class: "volume",
        unit: Unit::Bytes,
        description: "space left, in bytes (use units: 10GB)",
    },
    MetricDef {
        name: VOLUME_HOURS_TO_FULL,
        class: "volume",
        unit: Unit::Hours,
        description: "hours until full at the recent growth rate (absent while not growing)",
    },
    MetricDef {
        name: VOLUME_INODES_USED_PERCENT,
        class: "volume",
        unit: Unit::Percent,
        description: "share of the volume's inodes in use (filesystems with an inode table)",
    },
    MetricDef {
        name: CPU_PERCENT,
        class: "computer",
        unit: Unit::Percent,
        description: "CPU utilisation",
    },
    MetricDef {
        name: MEMORY_USED_PERCENT,
        class: "computer",
        unit: Unit::Percent,
        description: "memory in use",
    },
    MetricDef {
        name: SWAP_USED_PERCENT,
        class: "computer",
        unit: Unit::Percent,
        description: "swap in use",
    },
    MetricDef {
        name: LOAD_1M,
        class: "computer",
        unit: Unit::Count,
        description: "1-minute load average",
    },
    MetricDef {
        name: OFFLINE_SECONDS,
        class: "computer",
        unit: Unit::Seconds,
        description: "time since the last report",
    },
    MetricDef {
        name: DISK_SMART_FAILED,
        class: "physical_disk",
        unit: Unit::Flag,
        description: "SMART overall health failed (from the inventory and every report's disk_io)",
    },
    MetricDef {
        name: DISK_REALLOCATED_SECTORS,
        class: "physical_disk",
        unit: Unit::Count,
        description: "reallocated sectors (inventory and disk_io)",
    },
    MetricDef {
        name: DISK_PENDING_SECTORS,
        class: "physical_disk",
        unit: Unit::Count,
        description: "sectors pending reallocation (inventory and disk_io)",
    },
    MetricDef {
        name: SERVICE_STOPPED,
        class: "service",
        unit: Unit::Flag,
        description: "the service is not active, from every report's service states (scope the rule: enabled_state = enabled or watched = true)",
    },
];

pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}
