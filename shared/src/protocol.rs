//! Versioned messages exchanged between `atalaya-agent` and `atalaya-server`.
//!
//! Compatibility rules:
//! - every message carries `protocol`; the server refuses versions outside
//!   [`MIN_PROTOCOL_VERSION`]..=[`PROTOCOL_VERSION`] with a 4xx and the code `unsupported_protocol`;
//! - unknown fields are ignored (no `deny_unknown_fields`), so a newer agent that adds a field can
//!   still talk to an older server within the same protocol version;
//! - new optional fields get `#[serde(default)]` so an older agent's message still parses.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version this build still accepts.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Whether a peer's protocol version can be served by this build.
pub fn protocol_supported(version: u32) -> bool {
    (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version)
}

/// `POST /api/v1/agent/enroll`: trade an enrollment token for an agent credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollRequest {
    pub protocol: u32,
    /// The tenant enrollment token (`ate_…`).
    pub token: String,
    pub agent_version: String,
    pub host: HostFacts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollResponse {
    pub protocol: u32,
    /// The agent's identity on the server (a UUID).
    pub agent_id: String,
    /// The per-agent secret (`ata_…`), shown once; the server keeps only its hash.
    pub credential: String,
    /// Name of the tenant the agent now belongs to.
    pub tenant: String,
    /// The report interval the server wants, in seconds.
    pub report_interval_secs: u64,
}

/// `POST /api/v1/agent/report`: one collection of one machine.
///
/// `seq` increases by one for every collection the agent makes and survives agent restarts;
/// the server stores each `(agent_id, seq)` once, so replays after an outage never duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub protocol: u32,
    pub agent_id: String,
    pub seq: u64,
    pub agent_version: String,
    /// When the collection was made on the agent (not when it was sent).
    pub collected_at: DateTime<Utc>,
    pub host: HostFacts,
    #[serde(default)]
    pub metrics: Vec<Sample>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Entries the agent dropped from its spool since the last acknowledged report.
    #[serde(default)]
    pub dropped_since_last: u64,
}

/// Facts that identify and describe the machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostFacts {
    pub hostname: String,
    /// `/etc/machine-id` on Linux; absent when unreadable.
    #[serde(default)]
    pub machine_id: Option<String>,
    /// DMI product UUID; often readable by root only.
    #[serde(default)]
    pub hardware_uuid: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub os_name: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub kernel_version: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub cpu_model: Option<String>,
    #[serde(default)]
    pub cpu_cores: Option<u32>,
    #[serde(default)]
    pub memory_total_bytes: Option<u64>,
    #[serde(default)]
    pub boot_time: Option<DateTime<Utc>>,
}

/// One timestamped numeric measurement of the machine (CPU, memory, load…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sample {
    /// A metric name from [`metric`], e.g. `cpu.usage_percent`.
    pub metric: String,
    pub value: f64,
    pub at: DateTime<Utc>,
}

/// A mounted filesystem as the agent saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Volume {
    pub mount_point: String,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub filesystem: Option<String>,
    pub total_bytes: u64,
    pub available_bytes: u64,
    #[serde(default)]
    pub read_only: bool,
}

impl Volume {
    pub fn used_bytes(&self) -> u64 {
        self.total_bytes.saturating_sub(self.available_bytes)
    }

    /// Used share of the volume in percent (0 for an empty-sized volume).
    pub fn used_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        self.used_bytes() as f64 * 100.0 / self.total_bytes as f64
    }
}

/// The server's answer to an accepted report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportAck {
    pub protocol: u32,
    /// The sequence number now committed (or already stored before).
    pub seq: u64,
    /// `true` when this sequence number had already been stored: nothing was changed.
    pub duplicate: bool,
    /// The configuration version the server wants the agent to run.
    pub config_version: u64,
    pub report_interval_secs: u64,
}

/// The machine's full inventory. The agent sends it as an optional top-level `inventory` field of
/// a report ([`ReportEnvelope`](crate::ReportEnvelope)) only when its [`Inventory::hash`]
/// changed or on the scheduled full send; a server that does not read it yet simply ignores the
/// field.
///
/// Every section is optional: a section the agent could not read is absent and, where the reason
/// matters (no `smartctl`, systemd not running), named in [`Inventory::unavailable`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inventory {
    /// Hex SHA-256 of this inventory serialised with an empty `hash`
    /// ([`Inventory::content_hash`], computed by the agent).
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub hardware: Option<Hardware>,
    #[serde(default)]
    pub cpu: Option<CpuInventory>,
    /// IANA time zone of the machine, e.g. `Europe/Madrid`.
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    pub disks: Vec<PhysicalDisk>,
    #[serde(default)]
    pub services: Vec<ServiceUnit>,
    #[serde(default)]
    pub software: Vec<SoftwarePackage>,
    #[serde(default)]
    pub logged_in_users: Vec<LoggedInUser>,
    /// Installed memory modules (SMBIOS, usually root-only: else named in `unavailable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_modules: Vec<MemoryModule>,
    /// `true` when the OS asks for a reboot (e.g. `/var/run/reboot-required` on Debian).
    #[serde(default)]
    pub reboot_required: Option<bool>,
    /// Sections that could not be collected, with the reason: `{"services": "systemd is not running"}`.
    #[serde(default)]
    pub unavailable: std::collections::BTreeMap<String, String>,
}

/// DMI/SMBIOS identity of the machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hardware {
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub bios_vendor: Option<String>,
    #[serde(default)]
    pub bios_version: Option<String>,
    #[serde(default)]
    pub bios_date: Option<String>,
    #[serde(default)]
    pub board_vendor: Option<String>,
    #[serde(default)]
    pub board_model: Option<String>,
    #[serde(default)]
    pub chassis_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CpuInventory {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub sockets: Option<u32>,
    #[serde(default)]
    pub cores: Option<u32>,
    #[serde(default)]
    pub threads: Option<u32>,
    #[serde(default)]
    pub max_frequency_mhz: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkInterface {
    pub name: String,
    #[serde(default)]
    pub mac_address: Option<String>,
    /// Addresses in CIDR form: `192.0.2.10/24`, `2001:db8::1/64`.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Kernel operational state: `up`, `down`, `unknown`…
    #[serde(default)]
    pub oper_state: Option<String>,
    #[serde(default)]
    pub speed_mbps: Option<u64>,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// `true` for loopback and virtual interfaces (bridges, veth, tun…).
    #[serde(default)]
    pub is_virtual: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhysicalDisk {
    /// Kernel name, e.g. `sda`, `nvme0n1`.
    pub name: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub size_bytes: u64,
    /// `ssd`, `hdd`, `nvme`, `virtual` or `unknown`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub removable: bool,
    pub smart: SmartHealth,
}

/// SMART health of one disk. `available: false` means "not known" (never "healthy").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmartHealth {
    pub available: bool,
    /// Why SMART data is unavailable: `smartctl not installed`, `not supported by the device`…
    #[serde(default)]
    pub reason: Option<String>,
    /// SMART overall-health self-assessment: `true` = passed.
    #[serde(default)]
    pub passed: Option<bool>,
    #[serde(default)]
    pub temperature_celsius: Option<i64>,
    #[serde(default)]
    pub power_on_hours: Option<u64>,
    #[serde(default)]
    pub reallocated_sectors: Option<u64>,
    #[serde(default)]
    pub pending_sectors: Option<u64>,
    /// NVMe "percentage used" / SSD wear, 0–100+.
    #[serde(default)]
    pub wear_percent: Option<u64>,
}

/// One systemd service unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceUnit {
    /// Unit name, e.g. `ssh.service`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `loaded`, `not-found`, `masked`…
    #[serde(default)]
    pub load_state: Option<String>,
    /// `active`, `inactive`, `failed`…
    #[serde(default)]
    pub active_state: Option<String>,
    /// `running`, `exited`, `dead`…
    #[serde(default)]
    pub sub_state: Option<String>,
    /// Unit file state: `enabled`, `disabled`, `static`…
    #[serde(default)]
    pub enabled_state: Option<String>,
    /// Named in the agent config's `watched_services`: a stop is an incident even when the unit
    /// is not enabled. Absent (false) for services nobody asked to watch.
    #[serde(default, skip_serializing_if = "is_false")]
    pub watched: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The state of one service at one collection: the report's top-level `service_states`, sent
/// every interval (the full [`ServiceUnit`] rides only in the inventory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceState {
    pub name: String,
    #[serde(default)]
    pub active_state: Option<String>,
    #[serde(default)]
    pub sub_state: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub watched: bool,
}

/// Inode use of one volume: the report's top-level `volume_inodes` (filesystems without inodes,
/// such as vfat or btrfs, which reports 0 total, are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeInodes {
    pub mount_point: String,
    pub inodes_total: u64,
    pub inodes_free: u64,
}

impl VolumeInodes {
    pub fn used_percent(&self) -> f64 {
        if self.inodes_total == 0 {
            return 0.0;
        }
        self.inodes_total.saturating_sub(self.inodes_free) as f64 * 100.0 / self.inodes_total as f64
    }
}

/// One whole disk at one collection: the report's top-level `disk_io`, sent every interval. The
/// I/O rates come from the kernel's counters (`/proc/diskstats` on Linux) over the time since the
/// previous collection; the SMART fields repeat the last verdict of the agent's own, slower SMART
/// check (smartctl is too costly to run every interval), so a failing disk is seen within an
/// interval of that check rather than at the next inventory.
///
/// `device` is the kernel name (`sda`, `nvme0n1`), the same as [`PhysicalDisk::name`]. Partitions
/// and logical devices (loop, RAM, zram, device-mapper, md) are left out: their I/O is already
/// counted on the whole disks below them, or they are no disk at all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiskIo {
    pub device: String,
    /// Rates are absent when there is no earlier reading to compare with (a disk that just
    /// appeared) or a counter went backwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_bytes_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_bytes_per_sec: Option<f64>,
    /// Completed read / write requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_per_sec: Option<f64>,
    /// SMART overall health of the last check: `true` passed, `false` failing; absent when not
    /// known (no smartctl, a device without SMART, not checked yet) — never "healthy" by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_healthy: Option<bool>,
    /// When that SMART verdict was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_checked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_celsius: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reallocated_sectors: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_sectors: Option<u64>,
    /// NVMe "percentage used" / SSD wear, 0–100+.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wear_percent: Option<u64>,
}

/// One installed memory module (SMBIOS type 17, "Memory Device"); empty slots are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryModule {
    /// The slot, e.g. `DIMM_A1` or `ChannelA-DIMM0`.
    pub locator: String,
    #[serde(default)]
    pub bank_locator: Option<String>,
    pub size_bytes: u64,
    /// `DDR4`, `LPDDR5`…
    #[serde(default)]
    pub memory_type: Option<String>,
    /// Rated speed in MT/s.
    #[serde(default)]
    pub speed_mts: Option<u32>,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub part_number: Option<String>,
}

/// `GET /api/v1/agent/config`: what the server wants this agent to run. `version` is the value
/// the server also puts in every [`ReportAck::config_version`]; an agent whose applied version
/// differs fetches this document and applies it without a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentConfig {
    pub protocol: u32,
    pub version: u64,
    pub report_interval_secs: u64,
    /// When to re-send the full inventory (cron with seconds, agent's local time).
    pub inventory_schedule: String,
    /// Largest size of the agent's on-disk spool.
    pub spool_max_bytes: u64,
    /// Service units (`nginx.service`) whose stop is an incident even when they are not enabled.
    #[serde(default)]
    pub watched_services: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SoftwarePackage {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub architecture: Option<String>,
    /// Package database it came from: `dpkg`, `rpm`…
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoggedInUser {
    pub name: String,
    #[serde(default)]
    pub terminal: Option<String>,
    #[serde(default)]
    pub remote_host: Option<String>,
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
}

/// Metric names shared by agent and server.
pub mod metric {
    pub const CPU_USAGE_PERCENT: &str = "cpu.usage_percent";
    pub const LOAD_1: &str = "load.1m";
    pub const MEMORY_USED_BYTES: &str = "memory.used_bytes";
    pub const MEMORY_TOTAL_BYTES: &str = "memory.total_bytes";
    pub const SWAP_USED_BYTES: &str = "swap.used_bytes";
    pub const SWAP_TOTAL_BYTES: &str = "swap.total_bytes";
    pub const UPTIME_SECONDS: &str = "uptime.seconds";
    pub const PROCESS_COUNT: &str = "process.count";
    /// Bytes per second received / sent over all network interfaces except loopback (only the
    /// physical ones when there are any, so bridges do not count traffic twice).
    pub const NET_RX_BYTES_PER_SECOND: &str = "net.rx_bytes_per_second";
    pub const NET_TX_BYTES_PER_SECOND: &str = "net.tx_bytes_per_second";
    /// Receive plus transmit errors per second over the same interfaces.
    pub const NET_ERRORS_PER_SECOND: &str = "net.errors_per_second";
    /// Bytes per second read from / written to the machine's whole disks (on the computer: the
    /// sum over its disks; on a `physical_disk` CI: that disk's, from the report's `disk_io`).
    pub const DISK_READ_BYTES_PER_SECOND: &str = "disk.read_bytes_per_second";
    pub const DISK_WRITE_BYTES_PER_SECOND: &str = "disk.write_bytes_per_second";
    /// Completed read / write requests per second of one disk (stored on its `physical_disk` CI
    /// from the report's `disk_io`, as are the two byte rates above).
    pub const DISK_READS_PER_SECOND: &str = "disk.reads_per_second";
    pub const DISK_WRITES_PER_SECOND: &str = "disk.writes_per_second";
    /// SMART temperature of one disk, from the agent's last SMART check (`disk_io`).
    pub const DISK_TEMPERATURE_CELSIUS: &str = "disk.temperature_celsius";
    /// SMART wear of one disk (NVMe percentage used, SSD life used), from `disk_io`.
    pub const DISK_WEAR_PERCENT: &str = "disk.wear_percent";
    /// The agent's own resident memory (self-telemetry).
    pub const AGENT_RSS_BYTES: &str = "agent.rss_bytes";
    /// CPU time the agent process has used since it started, user + system (self-telemetry).
    pub const AGENT_CPU_SECONDS: &str = "agent.cpu_seconds";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_from_a_newer_agent_are_ignored() {
        let json = r#"{
            "protocol": 1, "agent_id": "a", "seq": 7, "agent_version": "9.9.9",
            "collected_at": "2026-01-01T00:00:00Z",
            "host": {"hostname": "h", "gpu_model": "new field"},
            "volumes": [{"mount_point": "/", "total_bytes": 100, "available_bytes": 25, "quota": 3}],
            "future_section": {"anything": true}
        }"#;
        let report: Report = serde_json::from_str(json).expect("tolerates unknown fields");
        assert_eq!(report.seq, 7);
        assert_eq!(report.host.hostname, "h");
        assert_eq!(report.volumes[0].used_percent(), 75.0);
        assert!(report.metrics.is_empty());
    }

    #[test]
    fn disk_io_without_smart_or_rates_stays_small_and_round_trips() {
        let d = DiskIo {
            device: "sda".into(),
            ..DiskIo::default()
        };
        let json = serde_json::to_string(&d).expect("serialises");
        assert_eq!(
            json, r#"{"device":"sda"}"#,
            "unknown is absent, not false or 0"
        );
        let back: DiskIo = serde_json::from_str(
            r#"{"device":"sda","reads_per_sec":2.5,"smart_healthy":false,"later":1}"#,
        )
        .expect("parses");
        assert_eq!(back.reads_per_sec, Some(2.5));
        assert_eq!(back.smart_healthy, Some(false));
    }

    #[test]
    fn protocol_window() {
        assert!(protocol_supported(PROTOCOL_VERSION));
        assert!(!protocol_supported(0));
        assert!(!protocol_supported(PROTOCOL_VERSION + 1));
    }

    #[test]
    fn empty_volume_is_not_full() {
        let v = Volume {
            mount_point: "/x".into(),
            device: None,
            filesystem: None,
            total_bytes: 0,
            available_bytes: 0,
            read_only: false,
        };
        assert_eq!(v.used_percent(), 0.0);
    }
}
