//! One collection of this machine: host facts, health samples and mounted volumes.
//!
//! Portable readings come from `sysinfo`; what differs per OS (identity files, mount tables,
//! statvfs) lives in the `platform` module, so Windows and macOS readers can sit beside
//! `linux.rs` behind the same small set of functions.

mod disk_io;
mod volumes;

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod platform;
#[cfg(not(target_os = "linux"))]
#[path = "other.rs"]
mod platform;

use std::time::Duration;

use anyhow::{Context, Result};
use atalaya_shared::protocol::{
    metric, DiskIo, HostFacts, PhysicalDisk, Report, Sample, ServiceState, Volume, VolumeInodes,
    PROTOCOL_VERSION,
};
use atalaya_shared::ReportEnvelope;
use chrono::{DateTime, Utc};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, System};

use crate::cli::CollectArgs;
use disk_io::{DiskCounters, SmartMonitor, SMART_CHECK_PERIOD, SMART_FIRST_WAIT};

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long the very first collection watches the CPU to compute a usage figure. Later
/// collections of a running agent measure over the whole interval since the previous one.
const FIRST_CPU_WINDOW: Duration = Duration::from_millis(250);

/// What one collection saw; [`Collection::into_report`] turns it into the wire message.
#[derive(Debug, Clone)]
pub struct Collection {
    pub collected_at: DateTime<Utc>,
    pub host: HostFacts,
    pub metrics: Vec<Sample>,
    pub volumes: Vec<Volume>,
    pub volume_inodes: Vec<VolumeInodes>,
    /// `None` when the service manager could not be asked (not "every service stopped").
    pub service_states: Option<Vec<ServiceState>>,
    /// Every whole disk's I/O rates and last SMART verdict.
    pub disk_io: Vec<DiskIo>,
}

impl Collection {
    /// The report as sent, with the top-level fields beside the shared [`Report`].
    pub fn into_wire(
        mut self,
        agent_id: &str,
        seq: u64,
        dropped_since_last: u64,
    ) -> ReportEnvelope {
        let volume_inodes = std::mem::take(&mut self.volume_inodes);
        let service_states = self.service_states.take();
        let disk_io = std::mem::take(&mut self.disk_io);
        ReportEnvelope {
            report: self.into_report(agent_id, seq, dropped_since_last),
            inventory: None,
            service_states,
            volume_inodes,
            disk_io,
        }
    }

    pub fn into_report(self, agent_id: &str, seq: u64, dropped_since_last: u64) -> Report {
        Report {
            protocol: PROTOCOL_VERSION,
            agent_id: agent_id.to_owned(),
            seq,
            agent_version: AGENT_VERSION.to_owned(),
            collected_at: self.collected_at,
            host: self.host,
            metrics: self.metrics,
            volumes: self.volumes,
            dropped_since_last,
        }
    }
}

/// Cumulative I/O counters; rates are the difference between two collections.
#[derive(Debug, Clone, Default)]
pub struct IoCounters {
    pub net_rx_bytes: Option<u64>,
    pub net_tx_bytes: Option<u64>,
    pub net_errors: Option<u64>,
    /// Sums over [`IoCounters::disks`].
    pub disk_read_bytes: Option<u64>,
    pub disk_write_bytes: Option<u64>,
    /// Every whole disk's own counters.
    pub disks: Vec<DiskCounters>,
}

/// Keeps what a collection needs between runs: the CPU counters of the previous collection and
/// the facts that do not change while the machine is up.
pub struct Collector {
    system: System,
    cpu_primed: bool,
    cpu_model: Option<String>,
    cpu_cores: Option<u32>,
    /// Counters at the previous collection (or at priming), for rates.
    last_io: Option<(std::time::Instant, IoCounters)>,
    /// Services the server's agent config asks to watch.
    watched: Vec<String>,
    /// Why the service states could not be read last time, to log a change once.
    services_unavailable: Option<String>,
    /// The last SMART verdict of every disk, from a check on its own, slower period.
    smart: SmartMonitor,
}

impl Collector {
    pub fn new() -> Self {
        let mut system = System::new();
        system.refresh_cpu_list(CpuRefreshKind::nothing());
        let cpu_model = system
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_owned())
            .filter(|b| !b.is_empty());
        let cores = System::physical_core_count().or(Some(system.cpus().len()).filter(|n| *n > 0));
        Self {
            system,
            cpu_primed: false,
            cpu_model,
            cpu_cores: cores.and_then(|n| u32::try_from(n).ok()),
            last_io: None,
            watched: Vec::new(),
            services_unavailable: None,
            smart: SmartMonitor::new(SMART_CHECK_PERIOD, platform::smart_check),
        }
    }

    /// SMART verdicts an inventory has just read: they count as the periodic check.
    pub fn record_inventory_smart(&mut self, disks: &[PhysicalDisk]) {
        let verdicts = disks
            .iter()
            .map(|d| (d.name.clone(), d.smart.clone()))
            .collect();
        self.smart
            .record_inventory(verdicts, std::time::Instant::now());
    }

    pub fn set_watched(&mut self, watched: Vec<String>) {
        self.watched = watched;
    }

    /// Makes one collection. The first call waits [`FIRST_CPU_WINDOW`] to measure the CPU.
    pub async fn collect(&mut self) -> Collection {
        // The SMART check (at start, then on its period) runs beside the collection.
        self.smart.poll(std::time::Instant::now()).await;
        if !self.cpu_primed {
            self.system.refresh_cpu_usage();
            self.last_io = Some((std::time::Instant::now(), platform::io_counters()));
            tokio::time::sleep(FIRST_CPU_WINDOW.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL)).await;
            self.cpu_primed = true;
        }
        let mut collection = self.collect_now();
        self.smart.wait_for_first(SMART_FIRST_WAIT).await;
        self.smart.poll(std::time::Instant::now()).await;
        self.smart.annotate(&mut collection.disk_io);
        // `systemctl` is time-limited but may take a moment: keep it off the async thread.
        let watched = self.watched.clone();
        let states =
            tokio::task::spawn_blocking(move || crate::inventory::service_states(&watched))
                .await
                .unwrap_or_else(|e| Err(format!("service state reader failed: {e}")));
        match states {
            Ok(states) => {
                if self.services_unavailable.take().is_some() {
                    tracing::info!("service states readable again");
                }
                collection.service_states = Some(states);
            }
            Err(why) => {
                if self.services_unavailable.as_deref() != Some(why.as_str()) {
                    tracing::warn!(reason = %why, "service states unavailable; reports carry none");
                    self.services_unavailable = Some(why);
                }
            }
        }
        collection
    }

    fn collect_now(&mut self) -> Collection {
        let now = Utc::now();
        self.system.refresh_cpu_usage();
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram().with_swap());
        let sys = &self.system;
        let total_memory = sys.total_memory();

        let mut metrics = Vec::with_capacity(8);
        let mut push = |name: &str, value: f64| {
            if value.is_finite() {
                metrics.push(Sample {
                    metric: name.to_owned(),
                    value,
                    at: now,
                });
            }
        };
        push(metric::CPU_USAGE_PERCENT, f64::from(sys.global_cpu_usage()));
        push(metric::LOAD_1, System::load_average().one);
        push(metric::MEMORY_USED_BYTES, sys.used_memory() as f64);
        push(metric::MEMORY_TOTAL_BYTES, total_memory as f64);
        push(metric::SWAP_USED_BYTES, sys.used_swap() as f64);
        push(metric::SWAP_TOTAL_BYTES, sys.total_swap() as f64);
        push(metric::UPTIME_SECONDS, System::uptime() as f64);
        if let Some(n) = platform::process_count() {
            push(metric::PROCESS_COUNT, n as f64);
        }
        let io = platform::io_counters();
        let io_now = std::time::Instant::now();
        let mut disk_io = Vec::new();
        if let Some((then, prev)) = &self.last_io {
            let secs = io_now.duration_since(*then).as_secs_f64();
            disk_io = disk_io::disk_rates(&prev.disks, &io.disks, secs);
            let rate = |now: Option<u64>, before: Option<u64>| -> Option<f64> {
                // A counter that went backwards (interface re-created, wrap) gives no rate.
                let delta = now?.checked_sub(before?)?;
                (secs > 0.0).then(|| delta as f64 / secs)
            };
            let rates = [
                (
                    metric::NET_RX_BYTES_PER_SECOND,
                    rate(io.net_rx_bytes, prev.net_rx_bytes),
                ),
                (
                    metric::NET_TX_BYTES_PER_SECOND,
                    rate(io.net_tx_bytes, prev.net_tx_bytes),
                ),
                (
                    metric::NET_ERRORS_PER_SECOND,
                    rate(io.net_errors, prev.net_errors),
                ),
                (
                    metric::DISK_READ_BYTES_PER_SECOND,
                    rate(io.disk_read_bytes, prev.disk_read_bytes),
                ),
                (
                    metric::DISK_WRITE_BYTES_PER_SECOND,
                    rate(io.disk_write_bytes, prev.disk_write_bytes),
                ),
            ];
            for (name, value) in rates {
                if let Some(v) = value {
                    push(name, v);
                }
            }
        }
        self.last_io = Some((io_now, io));
        let (rss, cpu_seconds) = platform::self_usage();
        if let Some(rss) = rss {
            push(metric::AGENT_RSS_BYTES, rss as f64);
        }
        if let Some(cpu) = cpu_seconds {
            push(metric::AGENT_CPU_SECONDS, cpu);
        }

        let host = HostFacts {
            // The server refuses a report without a host name: never send an empty one.
            hostname: System::host_name()
                .filter(|h| !h.trim().is_empty())
                .or_else(platform::hostname_fallback)
                .unwrap_or_else(|| "unknown".into()),
            machine_id: platform::machine_id(),
            hardware_uuid: platform::hardware_uuid(),
            serial_number: platform::serial_number(),
            os_name: platform::os_name(),
            os_version: platform::os_version(),
            kernel_version: System::kernel_version(),
            architecture: Some(System::cpu_arch()).filter(|a| !a.is_empty()),
            cpu_model: self.cpu_model.clone(),
            cpu_cores: self.cpu_cores,
            memory_total_bytes: Some(total_memory).filter(|m| *m > 0),
            boot_time: DateTime::from_timestamp(i64::try_from(System::boot_time()).unwrap_or(0), 0)
                .filter(|t| t.timestamp() > 0),
        };

        let (volumes, volume_inodes) = platform::volumes();
        Collection {
            collected_at: now,
            host,
            metrics,
            volumes,
            volume_inodes,
            service_states: None,
            disk_io,
        }
    }
}

/// `atalaya-agent collect`: print one collection, send nothing, store nothing.
pub async fn command(args: CollectArgs) -> Result<()> {
    let mut collector = Collector::new();
    let mut collection = collector.collect().await;
    for _ in 1..args.repeat {
        collection = collector.collect().await;
    }
    let inventory = if args.inventory {
        Some(
            tokio::task::spawn_blocking(|| crate::inventory::collect(&[]))
                .await
                .context("collecting the inventory")?,
        )
    } else {
        None
    };
    if args.json {
        let mut report = collection.into_wire("", 0, 0);
        report.inventory = inventory;
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        println!("{json}");
        return Ok(());
    }
    let h = &collection.host;
    println!(
        "host      {} ({})",
        h.hostname,
        h.machine_id.as_deref().unwrap_or("no machine id")
    );
    println!(
        "os        {} {} / kernel {} / {}",
        h.os_name.as_deref().unwrap_or("?"),
        h.os_version.as_deref().unwrap_or(""),
        h.kernel_version.as_deref().unwrap_or("?"),
        h.architecture.as_deref().unwrap_or("?")
    );
    for s in &collection.metrics {
        println!("{:<20} {}", s.metric, s.value);
    }
    for v in &collection.volumes {
        println!(
            "volume    {:<24} {:>6.1}% used of {} bytes ({}{})",
            v.mount_point,
            v.used_percent(),
            v.total_bytes,
            v.filesystem.as_deref().unwrap_or("?"),
            if v.read_only { ", read-only" } else { "" }
        );
        if let Some(i) = collection
            .volume_inodes
            .iter()
            .find(|i| i.mount_point == v.mount_point)
        {
            println!(
                "          {:<24} {:>6.1}% of {} inodes used",
                "",
                i.used_percent(),
                i.inodes_total
            );
        }
    }
    for d in &collection.disk_io {
        let rate = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0}"));
        let smart = match d.smart_healthy {
            Some(true) => "SMART passed",
            Some(false) => "SMART FAILING",
            None => "SMART unknown",
        };
        println!(
            "disk      {:<24} read {} B/s ({} ops/s), write {} B/s ({} ops/s), {smart}",
            d.device,
            rate(d.read_bytes_per_sec),
            rate(d.reads_per_sec),
            rate(d.write_bytes_per_sec),
            rate(d.writes_per_sec),
        );
    }
    match &collection.service_states {
        Some(states) => {
            let active = states
                .iter()
                .filter(|s| s.active_state.as_deref() == Some("active"))
                .count();
            println!("services  {} units, {active} active", states.len());
        }
        None => println!("services  unavailable (see the log)"),
    }
    if let Some(inv) = &inventory {
        println!(
            "inventory {} interfaces, {} disks, {} services, {} packages, {} users, {} memory modules; hash {}",
            inv.network_interfaces.len(),
            inv.disks.len(),
            inv.services.len(),
            inv.software.len(),
            inv.logged_in_users.len(),
            inv.memory_modules.len(),
            inv.hash
        );
        for (section, why) in &inv.unavailable {
            println!("          {section} unavailable: {why}");
        }
    }
    println!("(use --json for the full report)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meminfo_total_bytes() -> u64 {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap();
        let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    #[tokio::test]
    async fn collection_matches_this_machine() {
        let c = Collector::new().collect().await;
        assert!(!c.host.hostname.is_empty());
        assert_eq!(c.host.memory_total_bytes, Some(meminfo_total_bytes()));
        let metric = |name: &str| c.metrics.iter().find(|s| s.metric == name).map(|s| s.value);
        assert_eq!(
            metric(metric::MEMORY_TOTAL_BYTES),
            Some(meminfo_total_bytes() as f64)
        );
        let cpu = metric(metric::CPU_USAGE_PERCENT).expect("cpu usage sampled");
        assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
        assert!(metric(metric::PROCESS_COUNT).unwrap() >= 1.0);
        assert!(metric(metric::UPTIME_SECONDS).unwrap() > 0.0);
        for name in [
            metric::NET_RX_BYTES_PER_SECOND,
            metric::DISK_WRITE_BYTES_PER_SECOND,
        ] {
            assert!(metric(name).expect(name) >= 0.0);
        }
        let rss = metric(metric::AGENT_RSS_BYTES).expect("self RSS");
        assert!(rss > 1e6 && rss < 1e9, "rss {rss}");
        assert!(metric(metric::AGENT_CPU_SECONDS).expect("self CPU") >= 0.0);
        assert!(c.host.boot_time.unwrap() < Utc::now());
        if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
            assert_eq!(c.host.machine_id.as_deref(), Some(id.trim()));
        }
    }

    #[tokio::test]
    async fn disk_writes_show_in_the_write_rate() {
        let mut collector = Collector::new();
        collector.collect().await;
        // Beside the sources, not in /tmp: that may be a tmpfs, which no disk sees.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let mut f = std::fs::File::create(dir.path().join("blob")).unwrap();
        std::io::Write::write_all(&mut f, &vec![7u8; 16 << 20]).unwrap();
        f.sync_all().unwrap();
        let c = collector.collect().await;
        let rate = c
            .metrics
            .iter()
            .find(|s| s.metric == metric::DISK_WRITE_BYTES_PER_SECOND)
            .unwrap()
            .value;
        assert!(rate > 0.0, "16 MiB written and synced, write rate {rate}");
        // The same bytes, per disk: the disks' rates add up to the machine's.
        let per_disk: f64 = c.disk_io.iter().filter_map(|d| d.write_bytes_per_sec).sum();
        assert!(
            (per_disk - rate).abs() <= rate * 1e-9 + 1.0,
            "per disk {per_disk} vs machine {rate}"
        );
        assert!(
            c.disk_io
                .iter()
                .any(|d| d.writes_per_sec.is_some_and(|w| w > 0.0)),
            "{:?}",
            c.disk_io
        );
    }

    #[tokio::test]
    async fn root_volume_matches_df() {
        let c = Collector::new().collect().await;
        let root = c
            .volumes
            .iter()
            .find(|v| v.mount_point == "/")
            .expect("/ is reported");
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=size,avail", "/"])
            .output()
            .expect("df runs");
        let text = String::from_utf8(out.stdout).unwrap();
        let nums: Vec<u64> = text
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(root.total_bytes, nums[0], "total bytes differ from df");
        // Free space moves while tests write files; allow 64 MiB of drift.
        let drift = root.available_bytes.abs_diff(nums[1]);
        assert!(
            drift < 64 << 20,
            "available {} vs df {}",
            root.available_bytes,
            nums[1]
        );
        let mounts: std::collections::HashSet<_> =
            c.volumes.iter().map(|v| &v.mount_point).collect();
        assert_eq!(
            mounts.len(),
            c.volumes.len(),
            "mount points are deduplicated"
        );
    }
}
